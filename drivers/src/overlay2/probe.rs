//! Whether overlayfs works for a data root: the kernel knows it, the filesystem has `d_type`,
//! and a real test mount in a scratch directory under the data root succeeds.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::debug;

use super::mount::{mount_overlay_in, unmount};
use crate::fsutil::statfs;

/// Whether the kernel lists overlay in /proc/filesystems.
pub fn kernel_has_overlay() -> bool {
    fs::read_to_string("/proc/filesystems")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false)
}

/// Try everything overlay2 needs under `data_root`; `Err` says what failed.
pub fn check(data_root: &Path) -> Result<(), String> {
    if !kernel_has_overlay() {
        return Err("the kernel does not list overlay in /proc/filesystems".into());
    }
    fs::create_dir_all(data_root).map_err(|e| format!("creating {}: {e}", data_root.display()))?;
    if !statfs::supports_d_type(data_root) {
        return Err(format!(
            "the filesystem of {} does not support d_type",
            data_root.display()
        ));
    }
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    let scratch = data_root.join(format!(".overlay-probe-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let result = (|| {
        // Closed to other users like the rest of the data root, even for the probe's moment.
        crate::fsutil::private::private_dir(&scratch)
            .map_err(|e| format!("creating {}: {e}", scratch.display()))?;
        for d in ["lower1", "lower2", "upper", "work", "merged"] {
            fs::create_dir_all(scratch.join(d)).map_err(|e| format!("creating probe dirs: {e}"))?;
        }
        mount_overlay_in(
            &scratch,
            "merged",
            "lowerdir=lower1:lower2,upperdir=upper,workdir=work",
            false,
        )
        .map_err(|e| {
            format!(
                "test mount of overlay under {} failed: {e}",
                data_root.display()
            )
        })?;
        let merged = scratch.join("merged");
        let write = fs::write(merged.join("probe"), b"ok");
        unmount(&merged).map_err(|e| format!("unmounting the test mount: {e}"))?;
        write.map_err(|e| format!("writing through the test mount: {e}"))
    })();
    if let Err(e) = fs::remove_dir_all(&scratch) {
        debug!(error = %e, "removing the overlay probe directory");
    }
    result
}

/// Whether overlay2 can stack layers kept under `data_root`.
pub fn supported_on(data_root: &Path) -> bool {
    match check(data_root) {
        Ok(()) => true,
        Err(reason) => {
            debug!(%reason, "overlay2 not usable");
            false
        }
    }
}
