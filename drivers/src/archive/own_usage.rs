//! What one layer holds by itself, for drivers whose layers are full trees (zfs datasets, thin
//! devices): the files it added or changed against its parent, as a naive diff sees them.
//!
//! Their own accounting cannot say it: ZFS's `used` (and `st_blocks`) are only brought up to date
//! when a transaction group is written (zfs-fuse: up to about 30 s later), and a thin device's
//! mapped blocks include those it still shares with its origin. So usage is the apparent size of
//! every regular file the layer added or modified (hard links counted once) and the number of
//! entries it added or modified.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{changes, ChangeKind};
use crate::driver::Usage;
use crate::error::DriverError;

/// How the bytes of a changed entry are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bytes {
    /// Apparent size of regular files: what zfs and thin devices report honestly at once
    /// (their block counts lag behind).
    Apparent,
    /// Allocated blocks of every entry (btrfs: a snapshot's unchanged extents are shared, so
    /// only what the layer wrote is allocated to it).
    Allocated,
}

/// Usage of the tree `layer` counting only what differs from the tree `parent`.
pub fn own_usage(parent: Option<&Path>, layer: &Path) -> Result<Usage, DriverError> {
    own_usage_in(parent, layer, Bytes::Apparent)
}

/// [`own_usage`] with the bytes counted as `bytes` says.
pub fn own_usage_in(
    parent: Option<&Path>,
    layer: &Path,
    bytes: Bytes,
) -> Result<Usage, DriverError> {
    let mut usage = Usage::default();
    let mut seen = HashSet::new();
    for change in changes(parent, layer)? {
        if change.kind == ChangeKind::Deleted {
            continue;
        }
        let path = layer.join(&change.path);
        let md = std::fs::symlink_metadata(&path)
            .map_err(|e| DriverError::io(format!("reading {}", path.display()), e))?;
        if !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        usage.inodes += 1;
        usage.size_bytes += match bytes {
            Bytes::Apparent if md.is_file() => md.len(),
            Bytes::Apparent => 0,
            Bytes::Allocated => md.blocks() * 512,
        };
    }
    Ok(usage)
}
