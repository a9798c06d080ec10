//! Between runs: let the driver's filesystem give back what the last run removed, when the next
//! run needs that space.
//!
//! btrfs deletes subvolumes in the background: `remove` returns at once and a kernel thread
//! frees the space later (slowly on a loop device: tens of seconds for a few hundred MiB). Runs
//! of a deep, large image on a small btrfs store (the 4 GiB test store) would otherwise fill it
//! with the space of earlier runs' deleted layers and fail with ENOSPC. So after a run on btrfs,
//! when less than twice the image plus 1 GiB is free, we wait for the cleaner (`btrfs subvolume
//! sync`, with a deadline). Small images (`--quick`, CI) never wait. It is never timed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::BenchError;

/// How long to wait for btrfs to finish deleting the last run's subvolumes.
const BTRFS_SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// Room to keep free besides twice the image.
const SPARE_BYTES: u64 = 1 << 30;

/// After a run that applied `image_bytes`: for drivers whose removal is asynchronous (btrfs),
/// wait until the space it freed is really free if the next run could otherwise run short. A
/// failure or timeout is logged, not fatal: the next run may still fit.
pub fn after_run(driver: &str, home: &Path, image_bytes: u64) {
    if driver != "btrfs" {
        return;
    }
    let wanted = image_bytes.saturating_mul(2).saturating_add(SPARE_BYTES);
    match available_bytes(home) {
        Ok(available) if available >= wanted => return,
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "cannot tell the free space; waiting for btrfs's cleaner")
        }
    }
    let child = Command::new("btrfs")
        .arg("subvolume")
        .arg("sync")
        .arg(home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!(%error, home = %home.display(), "cannot run `btrfs subvolume sync` (btrfs-progs); deleted subvolumes are reclaimed in the background");
            return;
        }
    };
    let deadline = Instant::now() + BTRFS_SYNC_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                tracing::warn!(%status, stderr = stderr.trim(), home = %home.display(), "`btrfs subvolume sync` failed");
                return;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                tracing::warn!(home = %home.display(), timeout = ?BTRFS_SYNC_TIMEOUT, "`btrfs subvolume sync` did not finish in time; going on");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "waiting for `btrfs subvolume sync`");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}

/// Bytes available to this process on the filesystem holding `path`.
pub fn available_bytes(path: &Path) -> Result<u64, BenchError> {
    let st = nix::sys::statvfs::statvfs(path)
        .map_err(|e| BenchError::io(format!("statvfs of {}", path.display()), e.into()))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}
