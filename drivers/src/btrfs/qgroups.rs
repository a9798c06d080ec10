//! Size limits through btrfs quota groups, and removing each layer's qgroup with its subvolume.
//!
//! Quotas are switched on for the filesystem the first time a layer asks for `size=` (as
//! Docker's btrfs driver does); from then on the kernel gives every new subvolume a level-0
//! qgroup `0/<subvolume id>`. Stale qgroups were a long-standing complaint about Docker's driver,
//! so every deleted subvolume's qgroup is destroyed too. Recent kernels refuse that with `EBUSY`
//! until the cleaner has dropped the subvolume (and then remove the qgroup themselves); such
//! qgroups are remembered in `<home>/stale-qgroups/<id>` and destroyed later (at start, at
//! `cleanup` and after each removal) until the kernel says they are gone.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use tracing::{debug, warn};

use super::ioctl;
use crate::error::DriverError;

/// Quota-group bookkeeping of one driver home.
#[derive(Clone, Debug)]
pub struct Qgroups {
    /// Any directory on the filesystem (the driver home), for filesystem-wide ioctls.
    fs_dir: PathBuf,
    /// Markers of qgroups still to destroy.
    pending_dir: PathBuf,
}

/// What destroying one qgroup came to.
enum Outcome {
    Gone,
    StillDropping,
}

impl Qgroups {
    /// Bookkeeping for the filesystem holding `fs_dir`; `pending_dir` must exist.
    pub fn new(fs_dir: PathBuf, pending_dir: PathBuf) -> Self {
        Qgroups {
            fs_dir,
            pending_dir,
        }
    }

    fn open_fs(&self) -> Result<File, DriverError> {
        File::open(&self.fs_dir)
            .map_err(|e| DriverError::io(format!("opening {}", self.fs_dir.display()), e))
    }

    /// Limit the referenced bytes of the subvolume open as `subvol` (shown as `shown`),
    /// switching quotas on for the filesystem first if needed.
    pub fn limit(&self, subvol: &File, shown: &str, bytes: u64) -> Result<(), DriverError> {
        let fs = self.open_fs()?;
        ioctl::quota_enable(fs.as_fd()).map_err(|e| {
            DriverError::io(
                format!("enabling btrfs quotas on {}", self.fs_dir.display()),
                e,
            )
        })?;
        ioctl::qgroup_limit_referenced(subvol.as_fd(), bytes).map_err(|e| {
            DriverError::io(
                format!("setting the qgroup limit of {shown} to {bytes} bytes"),
                e,
            )
        })
    }

    /// Destroy the qgroups of these deleted subvolumes, remembering those the kernel still
    /// holds. Failures are logged, not returned: the subvolumes are gone already.
    pub fn forget(&self, subvol_ids: &[u64]) {
        let fs = match self.open_fs() {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "cannot open the driver home to remove qgroups");
                return;
            }
        };
        for &id in subvol_ids {
            match destroy(&fs, id) {
                Ok(Outcome::Gone) => {}
                Ok(Outcome::StillDropping) => self.remember(id),
                Err(e) => {
                    warn!(qgroup = %format!("0/{id}"), error = %e, "cannot remove qgroup");
                    self.remember(id);
                }
            }
        }
        self.retry_pending();
    }

    fn remember(&self, id: u64) {
        let marker = self.pending_dir.join(id.to_string());
        if let Err(e) = std::fs::write(&marker, b"") {
            warn!(marker = %marker.display(), error = %e, "cannot record a qgroup to remove later");
        }
    }

    /// Try again to destroy the qgroups remembered earlier; forget those that are gone.
    pub fn retry_pending(&self) {
        let entries = match std::fs::read_dir(&self.pending_dir) {
            Ok(e) => e,
            Err(e) => {
                warn!(dir = %self.pending_dir.display(), error = %e, "cannot list stale qgroups");
                return;
            }
        };
        let ids: Vec<(PathBuf, u64)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| Some((e.path(), e.file_name().to_str()?.parse::<u64>().ok()?)))
            .collect();
        if ids.is_empty() {
            return;
        }
        let Ok(fs) = self.open_fs() else { return };
        for (marker, id) in ids {
            match destroy(&fs, id) {
                Ok(Outcome::Gone) => {
                    if let Err(e) = std::fs::remove_file(&marker) {
                        warn!(marker = %marker.display(), error = %e, "cannot remove marker");
                    }
                }
                Ok(Outcome::StillDropping) => {
                    debug!(qgroup = %format!("0/{id}"), "subvolume still being dropped")
                }
                Err(e) => warn!(qgroup = %format!("0/{id}"), error = %e, "cannot remove qgroup"),
            }
        }
    }

    /// Whether quotas are on for the filesystem (for `docker info`).
    pub fn enabled(&self) -> Option<bool> {
        let fs = self.open_fs().ok()?;
        let uuid = ioctl::fs_uuid(fs.as_fd()).ok()?;
        let sysfs = PathBuf::from("/sys/fs/btrfs").join(uuid);
        if !sysfs.is_dir() {
            return None;
        }
        Some(sysfs.join("qgroups").is_dir())
    }
}

fn destroy(fs: &File, id: u64) -> std::io::Result<Outcome> {
    match ioctl::qgroup_destroy(fs.as_fd(), id) {
        Ok(()) => {
            debug!(qgroup = %format!("0/{id}"), "removed qgroup");
            Ok(Outcome::Gone)
        }
        // ENOENT: no such qgroup (or the kernel removed it already); ENOTCONN: quotas are off,
        // so there are no qgroups at all.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTCONN)) => {
            Ok(Outcome::Gone)
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(Outcome::StillDropping),
        Err(e) => Err(e),
    }
}
