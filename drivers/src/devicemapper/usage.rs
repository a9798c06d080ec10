//! What one layer holds by itself. A thin device's mapped blocks include those it still shares
//! with its origin, so the pool cannot say what a layer added; the driver counts what differs
//! from the parent's tree instead: the apparent size of added or changed regular files (hard
//! links once) and the number of added or changed entries.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::archive::{changes, ChangeKind};
use crate::driver::Usage;
use crate::error::DriverError;

/// Usage of the tree `layer` counting only what differs from the tree `parent`.
pub fn own_usage(parent: Option<&Path>, layer: &Path) -> Result<Usage, DriverError> {
    let mut usage = Usage::default();
    let mut seen = HashSet::new();
    for change in changes(parent, layer)? {
        if change.kind == ChangeKind::Deleted {
            continue;
        }
        let path = layer.join(&change.path);
        let md = std::fs::symlink_metadata(&path)
            .map_err(|e| DriverError::io(format!("reading {}", path.display()), e))?;
        if !seen.insert(md.ino()) {
            continue;
        }
        usage.inodes += 1;
        if md.is_file() {
            usage.size_bytes += md.len();
        }
    }
    Ok(usage)
}
