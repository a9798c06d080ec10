//! Mounting a layer's dataset through its `mountpoint` property.
//!
//! zfs-fuse offers no `zfs` mount type to mount(2), so a dataset is mounted by pointing its
//! `mountpoint` property at `<home>/graph/<id>` (the ZFS tools then mount it; kernel OpenZFS does
//! the same) and unmounted by setting it back to `legacy`. A dataset that is not in use therefore
//! always has `mountpoint=legacy`, which is how a fresh agent tells our mounts from the rest.
//! Whether a mount really is there is read from this process's mount table, so a daemon running
//! in another mount namespace is reported instead of handing out an empty directory.

use std::io;
use std::path::Path;

use tracing::{debug, warn};

use super::cli::{Zfs, ZfsSaid};
use crate::error::DriverError;
use crate::layer_id::LayerId;
use crate::mountinfo;

/// The `mountpoint` value of a dataset that is not mounted by the driver.
pub const LEGACY: &str = "legacy";

/// The `mountpoint` and `mounted` properties of a dataset.
struct MountState {
    mountpoint: String,
    mounted: bool,
}

/// Read the mount properties of layer `id`'s dataset (`NotFound` when it does not exist).
fn mount_state(zfs: &Zfs, id: &LayerId, dataset: &str) -> Result<MountState, DriverError> {
    let props = match zfs.get_many(dataset, &["mountpoint", "mounted"]) {
        Ok(props) => props,
        Err(f) if f.is_not_found() => return Err(DriverError::NotFound(id.clone())),
        Err(f) => return Err(f.into()),
    };
    let mut state = MountState {
        mountpoint: String::new(),
        mounted: false,
    };
    for (name, value) in props {
        match name.as_str() {
            "mountpoint" => state.mountpoint = value,
            "mounted" => state.mounted = value == "yes",
            _ => {}
        }
    }
    Ok(state)
}

/// Whether this process sees `dataset` mounted at `path`.
pub(super) fn visible_at(dataset: &str, path: &Path) -> Result<bool, DriverError> {
    let table =
        mountinfo::mounts().map_err(|e| DriverError::io("reading /proc/self/mountinfo", e))?;
    Ok(table
        .iter()
        .any(|m| m.mount_point == path && m.source == dataset))
}

/// Mount layer `id`'s `dataset` at `path` (ZFS creates the directory). Mounting a dataset that is
/// already mounted there is a no-op.
pub fn mount(zfs: &Zfs, id: &LayerId, dataset: &str, path: &Path) -> Result<(), DriverError> {
    let target = path.to_str().ok_or_else(|| DriverError::InvalidOption {
        key: "home".into(),
        value: path.display().to_string(),
        reason: "a ZFS mountpoint must be valid UTF-8".into(),
    })?;
    let state = mount_state(zfs, id, dataset)?;
    if state.mountpoint == target && state.mounted && visible_at(dataset, path)? {
        return Ok(());
    }
    if state.mounted && state.mountpoint != target {
        // Mounted somewhere else (by hand, or a legacy mount): take it down first.
        unmount_dataset(zfs, id, dataset, Path::new(&state.mountpoint))?;
    }
    if state.mountpoint != target {
        let prop = format!("mountpoint={target}");
        zfs.run_retrying_busy(&["set", &prop, dataset])?;
    }
    if !visible_at(dataset, path)? {
        // Setting the property normally mounts; after a daemon restart, or when the property
        // already had this value, it has not.
        zfs.run_retrying_busy(&["mount", dataset])?;
    }
    if !visible_at(dataset, path)? {
        return Err(DriverError::Command {
            command: format!("zfs mount {dataset}"),
            stderr: format!(
                "ZFS reports the dataset mounted, but {target} is not a mount of it in this \
                 process's mount table (is the ZFS daemon in another mount namespace?)"
            ),
        });
    }
    debug!(dataset, path = target, "mounted");
    Ok(())
}

fn unmount_dataset(zfs: &Zfs, id: &LayerId, dataset: &str, path: &Path) -> Result<(), DriverError> {
    let state = mount_state(zfs, id, dataset)?;
    if state.mountpoint != LEGACY {
        let prop = format!("mountpoint={LEGACY}");
        zfs.run_retrying_busy(&["set", &prop, dataset])?;
    }
    if visible_at(dataset, path)? {
        zfs.run_retrying_busy(&["unmount", dataset])?;
    }
    Ok(())
}

/// Unmount layer `id`'s `dataset` from `path` (leaving `mountpoint=legacy`) and remove the
/// directory ZFS made for it.
pub fn unmount(zfs: &Zfs, id: &LayerId, dataset: &str, path: &Path) -> Result<(), DriverError> {
    unmount_dataset(zfs, id, dataset, path)?;
    remove_mount_dir(path);
    debug!(dataset, path = %path.display(), "unmounted");
    Ok(())
}

/// Remove an empty mount directory left behind by ZFS; anything else stays (with a warning).
pub fn remove_mount_dir(path: &Path) {
    match std::fs::remove_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!(path = %path.display(), error = %e, "could not remove mount directory"),
    }
}
