//! Naive change detection for full-tree drivers: walk a layer's tree next to its parent's and
//! compare metadata (type, mode, owner, size, nanosecond mtime, symlink target, device number,
//! xattrs), as moby's naive diff does. Contents are not compared.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::writer::{write_diff, DiffItem};
use crate::error::DriverError;
use crate::fsutil::meta::{FileKind, FileTime};
use crate::fsutil::xattr;

/// How a path differs between a layer and its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One changed path, relative to the layer root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub kind: ChangeKind,
}

/// The changes of the tree `layer` against the tree `parent` (everything is Added without a
/// parent). A directory that holds changes is reported Modified so its own metadata travels
/// with them. A deleted directory is reported once, not its contents. Sorted by path.
pub fn changes(parent: Option<&Path>, layer: &Path) -> Result<Vec<Change>, DriverError> {
    let mut out = Vec::new();
    walk(Path::new(""), layer, parent, &mut out)?;
    out.sort_by(|a, b| {
        use std::os::unix::ffi::OsStrExt;
        a.path
            .as_os_str()
            .as_bytes()
            .cmp(b.path.as_os_str().as_bytes())
    });
    Ok(out)
}

/// Write the changes of `layer` against `parent` as an OCI layer tar. Returns bytes written.
pub fn write_naive_diff(
    parent: Option<&Path>,
    layer: &Path,
    out: &mut dyn Write,
) -> Result<u64, DriverError> {
    let items = changes(parent, layer)?
        .into_iter()
        .map(|c| match c.kind {
            ChangeKind::Deleted => DiffItem::Whiteout { rel: c.path },
            ChangeKind::Added | ChangeKind::Modified => DiffItem::Entry {
                source: layer.join(&c.path),
                rel: c.path,
            },
        })
        .collect();
    write_diff(items, out)
}

fn read_names(dir: &Path) -> Result<BTreeMap<OsString, fs::Metadata>, DriverError> {
    let ctx = |e| DriverError::io(format!("listing {}", dir.display()), e);
    let mut names = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(ctx)? {
        let entry = entry.map_err(ctx)?;
        let md = fs::symlink_metadata(entry.path())
            .map_err(|e| DriverError::io(format!("reading {}", entry.path().display()), e))?;
        names.insert(entry.file_name(), md);
    }
    Ok(names)
}

/// Compare the directory `rel` of `layer` with the same directory of `parent` (if the parent
/// has a real directory there). Returns whether anything below `rel` changed.
fn walk(
    rel: &Path,
    layer: &Path,
    parent: Option<&Path>,
    out: &mut Vec<Change>,
) -> Result<bool, DriverError> {
    let layer_dir = layer.join(rel);
    let ours = read_names(&layer_dir)?;
    let theirs = match parent {
        Some(p) => read_names(&p.join(rel))?,
        None => BTreeMap::new(),
    };
    let mut any = false;
    for (name, md) in &ours {
        let child_rel = rel.join(name);
        let old = theirs.get(name);
        let kind = FileKind::of(md);
        let changed = match old {
            None => Some(ChangeKind::Added),
            Some(old_md) => {
                if same(
                    &layer.join(&child_rel),
                    md,
                    &parent.unwrap_or(layer).join(&child_rel),
                    old_md,
                )? {
                    None
                } else {
                    Some(ChangeKind::Modified)
                }
            }
        };
        let mut below = false;
        if kind == FileKind::Dir {
            // Compare the contents with the parent's only where the parent has a directory too.
            let sub_parent = match old {
                Some(old_md) if old_md.is_dir() => parent,
                _ => None,
            };
            below = walk(&child_rel, layer, sub_parent, out)?;
        }
        match changed {
            Some(k) => out.push(Change {
                path: child_rel,
                kind: k,
            }),
            None if below => out.push(Change {
                path: child_rel,
                kind: ChangeKind::Modified,
            }),
            None => {}
        }
        any |= changed.is_some() || below;
    }
    for name in theirs.keys() {
        if !ours.contains_key(name) {
            out.push(Change {
                path: rel.join(name),
                kind: ChangeKind::Deleted,
            });
            any = true;
        }
    }
    Ok(any)
}

/// Whether two lstat'ed files are the same for diff purposes.
fn same(
    new_path: &Path,
    new: &fs::Metadata,
    old_path: &Path,
    old: &fs::Metadata,
) -> Result<bool, DriverError> {
    let kind = FileKind::of(new);
    if kind != FileKind::of(old)
        || new.mode() != old.mode()
        || new.uid() != old.uid()
        || new.gid() != old.gid()
        || new.rdev() != old.rdev()
    {
        return Ok(false);
    }
    if kind != FileKind::Dir
        && (new.len() != old.len() || FileTime::mtime_of(new) != FileTime::mtime_of(old))
    {
        return Ok(false);
    }
    if kind == FileKind::Symlink {
        let a = fs::read_link(new_path)
            .map_err(|e| DriverError::io(format!("reading {}", new_path.display()), e))?;
        let b = fs::read_link(old_path)
            .map_err(|e| DriverError::io(format!("reading {}", old_path.display()), e))?;
        if a != b {
            return Ok(false);
        }
    }
    let xa = xattr::all(new_path)
        .map_err(|e| DriverError::io(format!("reading xattrs of {}", new_path.display()), e))?;
    let xb = xattr::all(old_path)
        .map_err(|e| DriverError::io(format!("reading xattrs of {}", old_path.display()), e))?;
    Ok(xa == xb)
}
