//! Size limits through btrfs quota groups, and removing each layer's qgroup with its subvolume.
//!
//! Quotas are switched on for the filesystem the first time a layer asks for `size=` (as
//! Docker's btrfs driver does); from then on the kernel gives every new subvolume a level-0
//! qgroup `0/<subvolume id>`. Limits are only enforced while the qgroup counts are consistent,
//! so a limit is set only after any pending recount (rescan) has finished.
//!
//! Stale qgroups were a long-standing complaint about Docker's driver, so the qgroup of every
//! deleted subvolume is destroyed right after the subvolume. Older kernels allow that at once.
//! Recent ones (6.18 here) answer `EBUSY` while the cleaner has not dropped the subvolume yet and
//! then remove the qgroup themselves when it is dropped; the driver leaves it to them. It does
//! not retry later: destroying a qgroup whose counts the kernel has not brought to zero yet
//! marks all qgroups inconsistent, which switches every size limit off until a rescan.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use tracing::{debug, info, warn};

use super::ioctl;
use crate::error::DriverError;

/// Quota-group bookkeeping of one driver home.
#[derive(Clone, Debug)]
pub struct Qgroups {
    /// Any directory on the filesystem (the driver home), for filesystem-wide ioctls.
    fs_dir: PathBuf,
}

/// The state of quotas on a filesystem, as its sysfs directory tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaState {
    pub enabled: bool,
    /// Counts need a rescan (limits are not enforced meanwhile).
    pub inconsistent: bool,
}

impl Qgroups {
    /// Bookkeeping for the filesystem holding `fs_dir`.
    pub fn new(fs_dir: PathBuf) -> Self {
        Qgroups { fs_dir }
    }

    fn open_fs(&self) -> Result<File, DriverError> {
        File::open(&self.fs_dir)
            .map_err(|e| DriverError::io(format!("opening {}", self.fs_dir.display()), e))
    }

    /// Limit the referenced bytes of the subvolume open as `subvol` (shown as `shown`),
    /// switching quotas on for the filesystem and waiting for a consistent count first.
    pub fn limit(&self, subvol: &File, shown: &str, bytes: u64) -> Result<(), DriverError> {
        let fs = self.open_fs()?;
        let before = self.state();
        let enabling = before.map(|s| !s.enabled).unwrap_or(true);
        if enabling {
            ioctl::quota_enable(fs.as_fd()).map_err(|e| {
                DriverError::io(
                    format!("enabling btrfs quotas on {}", self.fs_dir.display()),
                    e,
                )
            })?;
            info!(fs = %self.fs_dir.display(), "enabled btrfs quotas for a size limit");
        }
        // Enabling starts a recount; inconsistent counts need one. Either way, wait for it.
        if enabling || self.state().map(|s| s.inconsistent).unwrap_or(true) {
            debug!(fs = %self.fs_dir.display(), "rescanning qgroups before setting a limit");
            ioctl::quota_rescan_and_wait(fs.as_fd()).map_err(|e| {
                DriverError::io(
                    format!("rescanning btrfs quotas on {}", self.fs_dir.display()),
                    e,
                )
            })?;
        }
        ioctl::qgroup_limit_referenced(subvol.as_fd(), bytes).map_err(|e| {
            DriverError::io(
                format!("setting the qgroup limit of {shown} to {bytes} bytes"),
                e,
            )
        })
    }

    /// Destroy the qgroups of these just-deleted subvolumes where the kernel allows it now
    /// (see the module comment for `EBUSY`). Failures are logged, not returned: the
    /// subvolumes are gone already.
    pub fn forget(&self, subvol_ids: &[u64]) {
        let fs = match self.open_fs() {
            Ok(f) => f,
            Err(e) => return warn!(error = %e, "cannot open the driver home to remove qgroups"),
        };
        for &id in subvol_ids {
            match ioctl::qgroup_destroy(fs.as_fd(), id) {
                Ok(()) => debug!(qgroup = %format!("0/{id}"), "removed qgroup"),
                // ENOENT: no such qgroup; ENOTCONN: quotas are off, so there are no qgroups.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTCONN)) => {
                }
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    debug!(qgroup = %format!("0/{id}"), "the kernel removes it once the subvolume is dropped")
                }
                Err(e) => warn!(qgroup = %format!("0/{id}"), error = %e, "cannot remove qgroup"),
            }
        }
    }

    /// Quotas of the filesystem, from `/sys/fs/btrfs/<uuid>/qgroups` (`None` without sysfs).
    pub fn state(&self) -> Option<QuotaState> {
        let fs = self.open_fs().ok()?;
        let uuid = ioctl::fs_uuid(fs.as_fd()).ok()?;
        let sysfs = PathBuf::from("/sys/fs/btrfs").join(uuid);
        if !sysfs.is_dir() {
            return None;
        }
        let qgroups = sysfs.join("qgroups");
        let inconsistent = std::fs::read_to_string(qgroups.join("inconsistent"))
            .map(|s| s.trim() != "0")
            .unwrap_or(false);
        Some(QuotaState {
            enabled: qgroups.is_dir(),
            inconsistent,
        })
    }
}
