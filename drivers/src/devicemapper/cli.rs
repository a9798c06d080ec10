//! The one place that runs `dmsetup`, `losetup`, `mkfs.*` and `blockdev`, and reads their output.
//! Questions that change nothing (is a device active, suspended, which loop device reads a file)
//! are answered from sysfs instead (`sysfs`), without a process.
//!
//! Every `dmsetup` call passes `--noudevsync` (there may be no udev, e.g. in the test guest, and
//! waiting for a udev cookie would then hang) and, after activating a device, the driver runs
//! `dmsetup mknodes` so `/dev/mapper/<name>` exists whether or not udev made it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::error::DriverError;

/// How long removing a busy device is retried.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);
/// Pause between two tries of removing a busy device.
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Where the tools live when `PATH` does not name them (a test runner's `PATH` may lack sbin).
const FALLBACK_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"];

/// A failed tool run: the command line and what the tool said.
#[derive(Debug, thiserror::Error)]
#[error("{command} failed: {stderr}")]
pub struct CliFailure {
    /// The command line, for messages.
    pub command: String,
    /// The tool's standard error (or the spawn error).
    pub stderr: String,
}

impl CliFailure {
    /// Whether the tool said the device (dm name or thin id) does not exist.
    pub fn is_not_found(&self) -> bool {
        let s = self.stderr.to_ascii_lowercase();
        s.contains("no such device")
            || s.contains("does not exist")
            || s.contains("not found")
            || s.contains("no data available")
    }

    /// Whether the pool said the thin device id is taken.
    pub fn is_exists(&self) -> bool {
        let s = self.stderr.to_ascii_lowercase();
        s.contains("file exists") || s.contains("already exists")
    }

    /// Whether the device is busy (open, mounted).
    pub fn is_busy(&self) -> bool {
        let s = self.stderr.to_ascii_lowercase();
        s.contains("busy")
    }
}

impl From<CliFailure> for DriverError {
    fn from(f: CliFailure) -> Self {
        DriverError::Command {
            command: f.command,
            stderr: f.stderr,
        }
    }
}

/// Find `name` in `PATH`, then in the usual system directories.
pub fn locate(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Locate a tool or fail with `Unsupported` naming the Debian package to install.
pub fn require_tool(name: &str, package: &str) -> Result<PathBuf, DriverError> {
    locate(name).ok_or_else(|| DriverError::Unsupported {
        driver: "devicemapper",
        reason: format!(
            "the `{name}` command was not found in PATH or /usr/sbin, /sbin (install {package})"
        ),
    })
}

/// Run `tool ARGS...`; standard output on success.
pub fn run(tool: &Path, args: &[&str]) -> Result<String, CliFailure> {
    let command = format!(
        "{} {}",
        tool.file_name().and_then(|n| n.to_str()).unwrap_or("tool"),
        args.join(" ")
    );
    let started = Instant::now();
    let output = Command::new(tool)
        .args(args)
        .env("LC_ALL", "C")
        // libdevmapper: do not expect udev to create nodes or to answer cookies.
        .env("DM_DISABLE_UDEV", "1")
        .output()
        .map_err(|e| CliFailure {
            command: command.clone(),
            stderr: e.to_string(),
        })?;
    debug!(%command, elapsed_ms = started.elapsed().as_millis() as u64, "ran");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = format!("exited with {}", output.status);
        }
        Err(CliFailure { command, stderr })
    }
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
        let deadline = Instant::now() + BUSY_RETRY_FOR;
        loop {
            match self.run(&["remove", name]) {
                Ok(_) => return Ok(()),
                Err(f) if f.is_not_found() => return Ok(()),
                Err(f) if f.is_busy() && Instant::now() < deadline => {
                    debug!(device = name, "busy, trying the removal again");
                    std::thread::sleep(BUSY_RETRY_PAUSE);
                }
                Err(f) => return Err(f),
            }
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
