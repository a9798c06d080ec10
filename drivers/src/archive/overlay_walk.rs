//! overlay2's native diff: the upper (`diff/`) directory already holds exactly the layer's
//! changes, in overlayfs's form. Walk it and convert: a 0/0 character device is a deleted path
//! (`.wh.NAME`), a directory with `trusted.overlay.opaque=y` hides its lower contents
//! (`DIR/.wh..wh..opq` next to the directory entry itself).

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::whiteout::OVERLAY_OPAQUE_XATTR;
use super::writer::{write_diff, DiffItem};
use crate::error::DriverError;
use crate::fsutil::meta::FileKind;
use crate::fsutil::xattr;

/// The diff items an overlay upper directory stands for.
pub fn overlay_diff_items(upper: &Path) -> Result<Vec<DiffItem>, DriverError> {
    let mut items = Vec::new();
    let mut stack = vec![std::path::PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = upper.join(&rel);
        let ctx = |e| DriverError::io(format!("listing {}", dir.display()), e);
        for entry in fs::read_dir(&dir).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let child_rel = rel.join(entry.file_name());
            let abs = entry.path();
            let md = fs::symlink_metadata(&abs)
                .map_err(|e| DriverError::io(format!("reading {}", abs.display()), e))?;
            match FileKind::of(&md) {
                FileKind::Char if md.rdev() == 0 => {
                    items.push(DiffItem::Whiteout { rel: child_rel });
                }
                FileKind::Dir => {
                    let opaque =
                        xattr::get(&abs, OsStr::new(OVERLAY_OPAQUE_XATTR)).map_err(|e| {
                            DriverError::io(format!("reading xattrs of {}", abs.display()), e)
                        })?;
                    if opaque.as_deref() == Some(b"y") {
                        items.push(DiffItem::Opaque {
                            rel: child_rel.clone(),
                        });
                    }
                    items.push(DiffItem::Entry {
                        rel: child_rel.clone(),
                        source: abs,
                    });
                    stack.push(child_rel);
                }
                _ => items.push(DiffItem::Entry {
                    rel: child_rel,
                    source: abs,
                }),
            }
        }
    }
    Ok(items)
}

/// Write the layer tar of an overlay upper directory. Returns bytes written.
pub fn write_overlay_diff(upper: &Path, out: &mut dyn Write) -> Result<u64, DriverError> {
    write_diff(overlay_diff_items(upper)?, out)
}
