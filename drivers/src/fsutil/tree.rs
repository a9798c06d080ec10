//! Copying a whole directory tree with everything a layer carries: owners, modes (setuid,
//! sticky), xattrs, nanosecond mtimes, hard links, symlinks, device nodes and fifos.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::clone::clone_file;
use super::meta::{self, FileKind, FileTime, NodeKind};
use super::xattr;

/// A copy failure with the path it happened at.
#[derive(Debug)]
pub struct CopyError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// Copy the tree at `src` to `dst` (`dst` must not exist, its parent must). Hard links inside
/// the tree stay hard links; file data is reflinked where the filesystem can.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let mut links = HashMap::new();
    let md = fs::symlink_metadata(src).map_err(|e| CopyError {
        path: src.into(),
        source: e,
    })?;
    copy_entry(src, dst, &md, &mut links)
}

fn copy_entry(
    src: &Path,
    dst: &Path,
    md: &fs::Metadata,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), CopyError> {
    let at = |e: io::Error| CopyError {
        path: src.to_path_buf(),
        source: e,
    };
    let kind = FileKind::of(md);
    match kind {
        FileKind::Dir => {
            fs::create_dir(dst).map_err(at)?;
            let mut names: Vec<_> = fs::read_dir(src)
                .map_err(at)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(at)?;
            names.sort();
            for name in names {
                let child = src.join(&name);
                let cmd = fs::symlink_metadata(&child).map_err(|e| CopyError {
                    path: child.clone(),
                    source: e,
                })?;
                copy_entry(&child, &dst.join(&name), &cmd, links)?;
            }
        }
        FileKind::Regular => {
            if md.nlink() > 1 {
                let key = (md.dev(), md.ino());
                if let Some(first) = links.get(&key) {
                    fs::hard_link(first, dst).map_err(at)?;
                    return Ok(());
                }
                links.insert(key, dst.to_path_buf());
            }
            clone_file(src, dst).map_err(at)?;
        }
        FileKind::Symlink => {
            let target = fs::read_link(src).map_err(at)?;
            std::os::unix::fs::symlink(target, dst).map_err(at)?;
        }
        FileKind::Char | FileKind::Block | FileKind::Fifo => {
            let node = match kind {
                FileKind::Char => NodeKind::Char,
                FileKind::Block => NodeKind::Block,
                _ => NodeKind::Fifo,
            };
            let (major, minor) = meta::dev_major_minor(md.rdev());
            meta::mknod(dst, node, md.mode(), major, minor).map_err(at)?;
        }
        FileKind::Socket => {
            // Sockets are live endpoints of a process, not content: layers never carry them.
            return Ok(());
        }
    }
    restore_metadata(src, dst, md, kind).map_err(|e| CopyError {
        path: dst.into(),
        source: e,
    })
}

/// Give `dst` the owner, mode, xattrs and times `src` has (`md` is `src`'s lstat).
fn restore_metadata(src: &Path, dst: &Path, md: &fs::Metadata, kind: FileKind) -> io::Result<()> {
    meta::lchown(dst, md.uid(), md.gid())?;
    if kind != FileKind::Symlink {
        meta::chmod(dst, md.mode())?;
    }
    for (name, value) in xattr::all(src)? {
        if let Err(e) = xattr::set(dst, &name, &value) {
            if xattr::is_unsupported(&e) || e.raw_os_error() == Some(libc::EPERM) {
                warn!(path = %dst.display(), xattr = ?name, error = %e, "xattr not copied");
            } else {
                return Err(e);
            }
        }
    }
    let mtime = FileTime::mtime_of(md);
    let atime = FileTime {
        secs: md.atime(),
        nanos: md.atime_nsec().clamp(0, 999_999_999) as u32,
    };
    meta::set_times(dst, atime, mtime)
}
