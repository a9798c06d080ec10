//! btrfs: every layer a subvolume; a child layer a snapshot of its parent's subvolume.
//!
//! Layout of the driver home (which must be on btrfs):
//! - `subvolumes/<id>`: the layer's subvolume. Image layers (`create`) are snapshots (or new
//!   subvolumes) filled once by `apply_diff` and then made read-only; container layers
//!   (`create_rw`) are writable snapshots, optionally size-limited through their qgroup.
//! - `layers/<id>`: the layer's record (parent, kind, size limit), written after the subvolume.
//!
//! `get` needs no mount: it counts a use and returns the subvolume's path. `diff` is the naive
//! comparison of the layer's subvolume with its parent's. The subvolume ioctls are called
//! directly (see `ioctl.rs` and README.md for why not through libbtrfsutil).

mod graph_driver;
mod ioctl;
mod qgroups;
mod records;
mod status;
mod storage_opt;
mod subvol;

use std::path::Path;
use std::sync::Arc;

use tracing::info;

pub use graph_driver::BtrfsDriver;

use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;
use crate::fsutil::private::private_dir;

/// Whether the btrfs driver can keep layers under `path` (it is on btrfs).
pub fn supported_on(path: &Path) -> bool {
    graph_driver::is_btrfs(path)
}

/// Open the btrfs driver in `opts.home`, which must be on a btrfs filesystem.
pub fn open(opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    let home = &opts.home;
    for (key, value) in &opts.storage_opt {
        if key.starts_with("btrfs.") {
            return Err(DriverError::InvalidOption {
                key: key.clone(),
                value: value.clone(),
                reason: "the btrfs driver has no driver-wide options".into(),
            });
        }
    }
    private_dir(home)
        .map_err(|e| DriverError::io(format!("creating driver home {}", home.display()), e))?;
    if !graph_driver::is_btrfs(home) {
        let fs = crate::fsutil::statfs::backing_fs_name(home);
        return Err(DriverError::Unsupported {
            driver: "btrfs",
            reason: format!("{} is on {fs}, not btrfs", home.display()),
        });
    }
    // Closed to other users: each subvolume is a tree's root and keeps its own mode.
    for dir in ["subvolumes", "layers"] {
        let path = home.join(dir);
        private_dir(&path)
            .map_err(|e| DriverError::io(format!("creating {}", path.display()), e))?;
    }
    let driver = BtrfsDriver::new(home.clone());
    info!(home = %home.display(), "btrfs driver ready");
    Ok(Arc::new(driver))
}
