//! Space one layer takes by itself: the files it added or changed against its parent.
//!
//! Subvolume snapshots share every unchanged extent with their parent, so the layer's own cost
//! is what differs from the parent (found by the same naive comparison as `diff`). Exact
//! "exclusive" bytes would need qgroups, which cost on every write and are off unless a layer
//! asked for a size limit; this count needs nothing switched on.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::archive::{changes, ChangeKind};
use crate::driver::Usage;
use crate::error::DriverError;

/// Allocated bytes and inodes of the paths that `layer` added or modified against `parent`
/// (hard links counted once).
pub fn layer_usage(parent: Option<&Path>, layer: &Path) -> Result<Usage, DriverError> {
    let mut seen = HashSet::new();
    let mut usage = Usage::default();
    for change in changes(parent, layer)? {
        if change.kind == ChangeKind::Deleted {
            continue;
        }
        let path = layer.join(&change.path);
        let md = std::fs::symlink_metadata(&path)
            .map_err(|e| DriverError::io(format!("reading {}", path.display()), e))?;
        if seen.insert((md.dev(), md.ino())) {
            usage.size_bytes += md.blocks() * 512;
            usage.inodes += 1;
        }
    }
    Ok(usage)
}
