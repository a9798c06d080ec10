//! Disk usage of a directory tree, like `du`: allocated blocks, each inode counted once.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::driver::Usage;

/// Allocated bytes and inode count of the tree at `root` (hard links counted once).
pub fn tree_usage(root: &Path) -> io::Result<Usage> {
    let mut seen = HashSet::new();
    let mut usage = Usage::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let md = fs::symlink_metadata(&path)?;
        if seen.insert((md.dev(), md.ino())) {
            usage.size_bytes += md.blocks() * 512;
            usage.inodes += 1;
        }
        if md.is_dir() {
            for entry in fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(usage)
}
