//! The filesystem on the thin devices: made once on the base device (every layer is a snapshot
//! of it), grown for a larger `size=`, mounted on `get` and unmounted on the last `put`.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use tracing::debug;

use super::cli;
use super::options::Filesystem;
use crate::error::DriverError;

/// `mkfs` the base device. ext4 skips discards and lazily initialised inode tables and journal
/// (unprovisioned thin blocks read as zeros, so nothing has to be written to them).
pub fn make(fs: Filesystem, device: &str) -> Result<(), DriverError> {
    match fs {
        Filesystem::Ext4 => {
            let mkfs = cli::require_tool("mkfs.ext4", "the Debian package e2fsprogs")?;
            cli::run(
                &mkfs,
                &[
                    "-q",
                    "-F",
                    "-E",
                    "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
                    device,
                ],
            )?;
        }
        Filesystem::Xfs => {
            let mkfs = cli::require_tool("mkfs.xfs", "the Debian package xfsprogs")?;
            cli::run(&mkfs, &["-q", "-f", "-K", device])?;
        }
    }
    Ok(())
}

/// Mount options: ext4 must not zero inode tables in the background (that would copy every
/// table block into each snapshot); snapshots of one xfs share its UUID.
fn options(fs: Filesystem) -> &'static str {
    match fs {
        Filesystem::Ext4 => "noinit_itable",
        Filesystem::Xfs => "nouuid",
    }
}

/// Mount `device` on `target` (created if missing).
pub fn mount_device(fs: Filesystem, device: &str, target: &Path) -> Result<(), DriverError> {
    std::fs::create_dir_all(target)
        .map_err(|e| DriverError::io(format!("creating mount point {}", target.display()), e))?;
    mount(
        Some(device),
        target,
        Some(fs.name()),
        MsFlags::empty(),
        Some(options(fs)),
    )
    .map_err(|e| {
        DriverError::io(
            format!("mounting {device} ({}) on {}", fs.name(), target.display()),
            std::io::Error::from(e),
        )
    })?;
    debug!(device, target = %target.display(), "mounted");
    Ok(())
}

/// How long an unmount refused with EBUSY is retried.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);

/// Unmount `target`; not mounted is not an error. EBUSY is retried for a few seconds: a child
/// process another thread is starting holds copies of open descriptors until its `exec`.
pub fn unmount(target: &Path) -> Result<(), DriverError> {
    let deadline = Instant::now() + BUSY_RETRY_FOR;
    loop {
        match umount2(target, MntFlags::empty()) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) if Instant::now() < deadline => {
                debug!(target = %target.display(), "busy, trying the unmount again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                return Err(DriverError::io(
                    format!("unmounting {}", target.display()),
                    std::io::Error::from(e),
                ))
            }
        }
    }
}

/// Grow the filesystem on `device` to the device's size (a `size=` larger than the parent).
/// xfs grows only when mounted, so it is mounted on `scratch` for the time of `xfs_growfs`.
pub fn grow(fs: Filesystem, device: &str, scratch: &Path) -> Result<(), DriverError> {
    match fs {
        Filesystem::Ext4 => {
            let e2fsck = cli::require_tool("e2fsck", "the Debian package e2fsprogs")?;
            // resize2fs insists on a freshly checked filesystem when offline.
            if let Err(f) = cli::run(&e2fsck, &["-f", "-p", device]) {
                return Err(f.into());
            }
            let resize = cli::require_tool("resize2fs", "the Debian package e2fsprogs")?;
            cli::run(&resize, &[device])?;
        }
        Filesystem::Xfs => {
            let grow = cli::require_tool("xfs_growfs", "the Debian package xfsprogs")?;
            mount_device(fs, device, scratch)?;
            let result = cli::run(&grow, &[&scratch.to_string_lossy()]);
            unmount(scratch)?;
            let _ = std::fs::remove_dir(scratch);
            result?;
        }
    }
    Ok(())
}
