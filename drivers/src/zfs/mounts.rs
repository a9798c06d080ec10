//! Mounting a layer's dataset through its `mountpoint` property, and counting its users.
//!
//! zfs-fuse offers no `zfs` mount type to mount(2), so a dataset is mounted by pointing its
//! `mountpoint` property at `<home>/graph/<id>` (the ZFS tools then mount it; kernel OpenZFS does
//! the same) and unmounted by setting it back to `legacy`. A dataset that is not in use therefore
//! always has `mountpoint=legacy`, which is how a fresh agent tells our mounts from the rest.

use std::io;
use std::path::Path;

use tracing::{debug, warn};

use super::cli::Zfs;
use crate::error::DriverError;

/// The `mountpoint` value of a dataset that is not mounted by the driver.
pub const LEGACY: &str = "legacy";

/// The `mountpoint` and `mounted` properties of a dataset.
struct MountState {
    mountpoint: String,
    mounted: bool,
}

fn mount_state(zfs: &Zfs, dataset: &str) -> Result<MountState, DriverError> {
    let props = zfs.get_many(dataset, &["mountpoint", "mounted"])?;
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

/// Mount `dataset` at `path` (creating the directory as ZFS does). Mounting a dataset that is
/// already mounted there is a no-op.
pub fn mount(zfs: &Zfs, dataset: &str, path: &Path) -> Result<(), DriverError> {
    let target = path.to_str().ok_or_else(|| DriverError::InvalidOption {
        key: "home".into(),
        value: path.display().to_string(),
        reason: "a ZFS mountpoint must be valid UTF-8".into(),
    })?;
    let state = mount_state(zfs, dataset)?;
    if state.mountpoint == target && state.mounted {
        return Ok(());
    }
    if state.mounted && state.mountpoint != target {
        // Mounted somewhere else (by hand, or a legacy mount): take it down first.
        unmount_dataset(zfs, dataset)?;
    }
    if state.mountpoint != target {
        let prop = format!("mountpoint={target}");
        zfs.run_retrying_busy(&["set", &prop, dataset])?;
    }
    if !mount_state(zfs, dataset)?.mounted {
        // Setting the property normally mounts; after a daemon restart or a busy window it may
        // not have.
        zfs.run_retrying_busy(&["mount", dataset])?;
    }
    if !mount_state(zfs, dataset)?.mounted {
        return Err(DriverError::Command {
            command: format!("zfs mount {dataset}"),
            stderr: format!("the dataset is still not mounted at {target}"),
        });
    }
    debug!(dataset, path = target, "mounted");
    Ok(())
}

fn unmount_dataset(zfs: &Zfs, dataset: &str) -> Result<(), DriverError> {
    let state = mount_state(zfs, dataset)?;
    if state.mountpoint != LEGACY {
        let prop = format!("mountpoint={LEGACY}");
        zfs.run_retrying_busy(&["set", &prop, dataset])?;
    }
    if mount_state(zfs, dataset)?.mounted {
        zfs.run_retrying_busy(&["unmount", dataset])?;
    }
    Ok(())
}

/// Unmount `dataset` (leaving `mountpoint=legacy`) and remove the now empty directory `path`.
pub fn unmount(zfs: &Zfs, dataset: &str, path: &Path) -> Result<(), DriverError> {
    unmount_dataset(zfs, dataset)?;
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
