//! Which drivers to measure, where each one's scratch home goes, and opening them.
//!
//! Each measured driver gets a fresh home named after this process, `strata-bench-<pid>-<name>`,
//! under a base directory that suits it: `--root` for vfs and overlay2, `--btrfs-root` for btrfs,
//! the zfs dataset's mountpoint (or `--zfs-root`) for zfs. The home is deleted when the
//! [`OpenedDriver`] is dropped, after the driver has unmounted everything it mounted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use strata_drivers::fsutil::statfs::backing_fs_name;
use strata_drivers::{open_driver, DriverOptions, GraphDriver, DRIVER_NAMES};
use tracing::warn;

use crate::args::Plan;
use crate::error::BenchError;

/// A driver opened in its scratch home for this run.
pub struct OpenedDriver {
    pub name: &'static str,
    pub driver: Arc<dyn GraphDriver>,
    /// The driver's home (deleted on drop).
    pub home: PathBuf,
    /// What `docker info` would call its backing filesystem.
    pub backing_fs: String,
    /// The driver's own status pairs, as `docker info` shows them.
    pub status: Vec<(String, String)>,
    /// The base directory, removed on drop too when this run created it and it is then empty.
    base: Base,
}

/// A driver that was not asked for by name and does not work here.
#[derive(Clone, Debug)]
pub struct SkippedDriver {
    pub name: &'static str,
    pub reason: String,
}

/// The directory a home is made in, and whether this run created it.
#[derive(Clone, Debug)]
struct Base {
    dir: PathBuf,
    created: bool,
}

impl Base {
    fn ensure(dir: &Path) -> Result<Base, String> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Base {
            dir: dir.to_path_buf(),
            created,
        })
    }

    /// Remove the base if this run made it and nothing else is in it now.
    fn release(&self) {
        if self.created {
            // Fails harmlessly when another driver's home (or anything else) is still there.
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

/// The opened drivers, released last-opened first (so that a base directory the first one
/// created is empty, and removed, when that one goes).
pub struct OpenedDrivers {
    pub list: Vec<OpenedDriver>,
}

impl Drop for OpenedDrivers {
    fn drop(&mut self) {
        while let Some(driver) = self.list.pop() {
            drop(driver);
        }
    }
}

/// Open the drivers the plan names, or every known driver that works here.
/// Returns the opened drivers and, in the "every driver" mode, the ones skipped with why.
pub fn open_drivers(plan: &Plan) -> Result<(OpenedDrivers, Vec<SkippedDriver>), BenchError> {
    let explicit = plan.drivers.is_some();
    let names: Vec<&'static str> = plan
        .drivers
        .clone()
        .unwrap_or_else(|| DRIVER_NAMES.to_vec());
    let mut opened = OpenedDrivers { list: Vec::new() };
    let mut skipped = Vec::new();
    for name in names {
        match open_one(plan, name) {
            Ok(driver) => opened.list.push(driver),
            Err(reason) if explicit => {
                // `opened` drops here: the drivers opened so far are cleaned up.
                return Err(BenchError::DriverUnavailable {
                    driver: name.to_string(),
                    reason,
                });
            }
            Err(reason) => skipped.push(SkippedDriver { name, reason }),
        }
    }
    if opened.list.is_empty() {
        let why = skipped
            .iter()
            .map(|s| format!("{}: {}", s.name, s.reason))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(BenchError::NoDriver(why));
    }
    Ok((opened, skipped))
}

/// Open one driver in a fresh home, or say why it cannot be used.
fn open_one(plan: &Plan, name: &'static str) -> Result<OpenedDriver, String> {
    let mut storage_opt: BTreeMap<String, String> =
        plan.storage_opts.get(name).cloned().unwrap_or_default();
    let base_dir = match name {
        "btrfs" => plan.btrfs_root.clone().unwrap_or_else(|| plan.root.clone()),
        "zfs" => {
            let fsname = match (&plan.zfs_fsname, storage_opt.get("zfs.fsname")) {
                (_, Some(given)) => given.clone(),
                (Some(fsname), None) => fsname.clone(),
                (None, None) => {
                    return Err("no parent dataset: pass --zfs-fsname POOL/DATASET (or set \
                                STRATA_TEST_ZFS_FSNAME; `eval \"$(bash deploy/storage/zfs.sh up)\"` \
                                makes one)"
                        .into())
                }
            };
            storage_opt.insert("zfs.fsname".into(), fsname.clone());
            match &plan.zfs_root {
                Some(dir) => dir.clone(),
                None => zfs_mountpoint(&fsname)?,
            }
        }
        _ => plan.root.clone(),
    };
    let base = Base::ensure(&base_dir)?;
    let home = base
        .dir
        .join(format!("strata-bench-{}-{name}", std::process::id()));
    if home.exists() {
        base.release();
        return Err(format!(
            "{} already exists (left by an earlier run with this process id?); remove it first",
            home.display()
        ));
    }
    let opts = DriverOptions {
        home: home.clone(),
        storage_opt,
    };
    match open_driver(name, &opts) {
        Ok(driver) => {
            let backing_fs = backing_fs_name(&home);
            let status = driver.status();
            Ok(OpenedDriver {
                name,
                driver,
                home,
                backing_fs,
                status,
                base,
            })
        }
        Err(e) => {
            // open_driver made the (still empty) home before finding out.
            let _ = std::fs::remove_dir_all(&home);
            base.release();
            let mut reason = e.to_string();
            if name == "btrfs" && plan.btrfs_root.is_none() {
                reason.push_str(
                    " (pass --btrfs-root DIR on a btrfs filesystem, or set STRATA_TEST_BTRFS_ROOT; \
                     `eval \"$(bash deploy/storage/btrfs.sh up)\"` makes one)",
                );
            }
            Err(reason)
        }
    }
}

/// Where the zfs dataset `fsname` is mounted (`zfs get mountpoint`).
fn zfs_mountpoint(fsname: &str) -> Result<PathBuf, String> {
    let out = Command::new("zfs")
        .args(["get", "-H", "-o", "value", "mountpoint", fsname])
        .output()
        .map_err(|e| format!("cannot run the zfs tool to find where {fsname} is mounted: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "zfs get mountpoint {fsname} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mountpoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !mountpoint.starts_with('/') {
        return Err(format!(
            "dataset {fsname} has mountpoint {mountpoint:?}, not a directory; pass --zfs-root DIR \
             (a directory on that dataset)"
        ));
    }
    Ok(PathBuf::from(mountpoint))
}

impl OpenedDriver {
    /// The directory whose filesystem the disk-usage figure measures.
    pub fn backing_path(&self) -> &Path {
        &self.home
    }
}

impl Drop for OpenedDriver {
    fn drop(&mut self) {
        if let Err(e) = self.driver.cleanup() {
            warn!(driver = self.name, error = %e, "unmounting the driver's mounts failed");
        }
        // Never delete through a mount: if anything is still mounted below the home, leave it.
        match strata_drivers::mountinfo::mounts_under(&self.home) {
            Ok(left) if left.is_empty() => {
                if let Err(e) = std::fs::remove_dir_all(&self.home) {
                    warn!(home = %self.home.display(), error = %e, "removing the scratch home failed");
                }
            }
            Ok(left) => warn!(
                home = %self.home.display(),
                mounts = left.len(),
                "mounts remain below the scratch home; not deleting it"
            ),
            Err(e) => {
                warn!(error = %e, "cannot read the mount table; not deleting the scratch home")
            }
        }
        self.base.release();
    }
}
