//! The one place that runs `dmsetup`, `losetup`, `mkfs.*` and `blockdev`, and reads their output.
//! Questions that change nothing (is a device active, suspended, which loop device reads a file)
//! are answered from sysfs instead (`sysfs`), without a process.
//!
//! Every `dmsetup` call passes `--noudevsync` (there may be no udev, e.g. in the test guest, and
//! waiting for a udev cookie would then hang) and, after activating a device, the driver runs
//! `dmsetup mknodes` so `/dev/mapper/<name>` exists whether or not udev made it.

use std::path::{Path, PathBuf};

pub use crate::cli_tool::CliFailure;
use crate::cli_tool::{self, RunOpts};
use crate::error::DriverError;

/// libdevmapper: do not expect udev to create nodes or to answer cookies.
const RUN_OPTS: RunOpts = RunOpts {
    env: &[("DM_DISABLE_UDEV", "1")],
    deadline: None,
    wedged_hint: "",
};

/// How `dmsetup`, `losetup` and the pool phrase their failures.
pub trait DmSaid {
    /// Whether the tool said the device (dm name or thin id) does not exist.
    fn is_not_found(&self) -> bool;
    /// Whether the pool said the thin device id is taken.
    fn is_exists(&self) -> bool;
}

impl DmSaid for CliFailure {
    fn is_not_found(&self) -> bool {
        self.said(&[
            "no such device",
            "does not exist",
            "not found",
            "no data available",
        ])
    }

    fn is_exists(&self) -> bool {
        self.said(&["file exists", "already exists"])
    }
}

/// Locate a tool or fail with `Unsupported` naming the Debian package to install.
pub fn require_tool(name: &str, package: &str) -> Result<PathBuf, DriverError> {
    cli_tool::require(name, "devicemapper", package)
}

/// Run `tool ARGS...`; standard output on success.
pub fn run(tool: &Path, args: &[&str]) -> Result<String, CliFailure> {
    cli_tool::run(tool, args, RUN_OPTS)
}

/// `dmsetup` with `--noudevsync` on every call.
#[derive(Clone, Debug)]
pub struct Dmsetup {
    path: PathBuf,
}

impl Dmsetup {
    /// Find `dmsetup` (Debian package `dmsetup`).
    pub fn locate() -> Result<Dmsetup, DriverError> {
        Ok(Dmsetup {
            path: require_tool("dmsetup", "the Debian package dmsetup")?,
        })
    }

    /// Run `dmsetup --noudevsync ARGS...`.
    pub fn run(&self, args: &[&str]) -> Result<String, CliFailure> {
        let mut all = vec!["--noudevsync"];
        all.extend_from_slice(args);
        run(&self.path, &all)
    }

    /// `dmsetup version`: the library and driver versions (fails without device-mapper).
    pub fn version(&self) -> Result<String, CliFailure> {
        run(&self.path, &["version"])
    }

    /// Create and activate `name` with `table`, then make sure its node exists.
    pub fn create(&self, name: &str, table: &str) -> Result<(), CliFailure> {
        self.run(&["create", name, "--table", table])?;
        // libdevmapper makes the node itself under DM_DISABLE_UDEV; make sure all the same.
        if !Path::new("/dev/mapper").join(name).exists() {
            self.run(&["mknodes", name])?;
        }
        Ok(())
    }

    /// Remove (deactivate) `name`; a device that is not there is not an error. "Busy" is tried
    /// again for a few seconds: right after an unmount, udev (where it runs) may still hold the
    /// device open while it probes it.
    pub fn remove(&self, name: &str) -> Result<(), CliFailure> {
        match cli_tool::retry_while_busy(|| self.run(&["remove", name])) {
            Ok(_) => Ok(()),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(f),
        }
    }

    /// Send `message` to sector 0 of `pool` (`create_thin 3`, `delete 3`, ...).
    pub fn message(&self, pool: &str, message: &str) -> Result<(), CliFailure> {
        self.run(&["message", pool, "0", message]).map(|_| ())
    }

    /// Suspend `name` (flushes its I/O), for a snapshot of it.
    pub fn suspend(&self, name: &str) -> Result<(), CliFailure> {
        self.run(&["suspend", name]).map(|_| ())
    }

    /// Resume `name` after a suspend.
    pub fn resume(&self, name: &str) -> Result<(), CliFailure> {
        self.run(&["resume", name]).map(|_| ())
    }

    /// `dmsetup status NAME`: the status line of the device's (first) target.
    pub fn status(&self, name: &str) -> Result<String, CliFailure> {
        self.run(&["status", name])
            .map(|s| s.lines().next().unwrap_or("").trim().to_string())
    }

    /// `dmsetup table NAME`: the table line of the device's (first) target.
    pub fn table(&self, name: &str) -> Result<String, CliFailure> {
        self.run(&["table", name])
            .map(|s| s.lines().next().unwrap_or("").trim().to_string())
    }
}
