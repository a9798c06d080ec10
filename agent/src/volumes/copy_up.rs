//! Populating a volume from the image on first use, as Docker does: when a container mounts an
//! empty volume over a directory that has content in its image, that content is copied into the
//! volume (owners, modes, times and symlinks kept), and the volume directory takes the image
//! directory's owner and mode.
//!
//! The copy is made in a temporary directory beside the volume's `_data` and then moved in entry
//! by entry (renames on one file system), so a failed copy leaves the volume empty.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tracing::{debug, info};

use crate::error::{EngineError, Result};

/// The directory `destination` names inside `rootfs`, when it is a real directory reached
/// without symlinks (a symlink could point out of the container's root).
fn source_dir(rootfs: &Path, destination: &str) -> Option<PathBuf> {
    let mut path = rootfs.to_path_buf();
    for component in Path::new(destination).components() {
        match component {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(name) => path.push(name),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() {
            debug!(path = %path.display(), "volume destination crosses a symlink; not copying image content");
            return None;
        }
    }
    fs::symlink_metadata(&path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|_| path)
}

fn is_empty_dir(dir: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(dir)?.next().is_none())
}

/// If `volume_dir` is empty and the image has a directory at `destination`, copy its content in.
/// Returns whether anything was copied.
pub(crate) fn populate_if_empty(
    rootfs: &Path,
    destination: &str,
    volume_dir: &Path,
) -> Result<bool> {
    let ctx = |what: &str| {
        format!(
            "populating volume {} from {destination}: {what}",
            volume_dir.display()
        )
    };
    if !volume_dir.exists() {
        fs::create_dir_all(volume_dir).map_err(|e| EngineError::io(ctx("creating it"), e))?;
    }
    if !is_empty_dir(volume_dir).map_err(|e| EngineError::io(ctx("reading it"), e))? {
        return Ok(false);
    }
    let Some(source) = source_dir(rootfs, destination) else {
        return Ok(false);
    };
    let parent = volume_dir
        .parent()
        .ok_or_else(|| EngineError::Internal(ctx("volume directory has no parent")))?;
    let suffix = super::random_name();
    let staging = parent.join(format!(".populate-{}", suffix.get(..12).unwrap_or("x")));
    let result = (|| -> io::Result<bool> {
        fs::create_dir(&staging)?;
        copy_dir_content(&source, &staging)?;
        if is_empty_dir(&staging)? {
            copy_owner_and_mode(&source, volume_dir)?;
            return Ok(false);
        }
        for entry in fs::read_dir(&staging)? {
            let entry = entry?;
            fs::rename(entry.path(), volume_dir.join(entry.file_name()))?;
        }
        copy_owner_and_mode(&source, volume_dir)?;
        Ok(true)
    })();
    let _ = fs::remove_dir_all(&staging);
    let copied = result.map_err(|e| EngineError::io(ctx("copying"), e))?;
    if copied {
        info!(volume = %volume_dir.display(), destination, "volume populated from the image");
    }
    Ok(copied)
}

fn copy_owner_and_mode(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
}

fn copy_times(meta: &fs::Metadata, to: &Path) -> io::Result<()> {
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, to, &atime, &mtime, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

/// Copy everything in `from` into the existing directory `to`, never following symlinks.
fn copy_dir_content(from: &Path, to: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir_content(&src, &dst)?;
        } else if kind.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
        } else {
            debug!(path = %src.display(), "special file not copied into the volume");
            continue;
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !kind.is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        copy_times(&meta, &dst)?;
    }
    Ok(())
}

/// Bytes of regular files under `path` (symlinks not followed); 0 when unreadable.
pub(crate) fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| tree_size(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_once_and_keeps_modes_and_links() {
        let root = tempfile::tempdir().unwrap();
        let vol = tempfile::tempdir().unwrap();
        let data = vol.path().join("_data");
        let src = root.path().join("srv/app");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.txt"), "hello").unwrap();
        fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(src.join("sub/b"), "b").unwrap();
        symlink("a.txt", src.join("link")).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();

        assert!(populate_if_empty(root.path(), "/srv/app", &data).unwrap());
        assert_eq!(fs::read_to_string(data.join("a.txt")).unwrap(), "hello");
        assert_eq!(fs::read_to_string(data.join("sub/b")).unwrap(), "b");
        assert_eq!(
            fs::read_link(data.join("link")).unwrap(),
            Path::new("a.txt")
        );
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&data.join("a.txt")), 0o600);
        assert_eq!(mode(&data), 0o750);
        assert_eq!(tree_size(&data), 6);

        // Not empty any more: a second use copies nothing.
        fs::write(src.join("new"), "x").unwrap();
        assert!(!populate_if_empty(root.path(), "/srv/app", &data).unwrap());
        assert!(!data.join("new").exists());
        // No staging directory is left beside the volume.
        let names: Vec<_> = fs::read_dir(vol.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("_data")]);
    }

    #[test]
    fn never_follows_a_symlinked_destination() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        symlink(outside.path(), root.path().join("data")).unwrap();
        let vol = tempfile::tempdir().unwrap();
        assert!(!populate_if_empty(root.path(), "/data", vol.path()).unwrap());
        assert!(is_empty_dir(vol.path()).unwrap());
        assert!(!populate_if_empty(root.path(), "/missing", vol.path()).unwrap());
    }
}
