//! Whether the pool under `zfs.fsname` can store extended attributes.
//!
//! zfs-fuse refuses every xattr call (`EOPNOTSUPP`) unless its daemon was started with
//! `--enable-xattr` (or `enable-xattr` in `/etc/zfs/zfsrc`), and any ZFS refuses them on datasets
//! with `xattr=off`. Layers unpacked there silently lose their xattrs, `security.capability`
//! included (a `ping` that relies on a file capability stops working), so the driver asks once,
//! at open, by writing one `user.*` attribute on a scratch dataset below the parent, and refuses
//! to open unless the operator accepted the loss (`zfs.allow_no_xattr=true`).

use std::ffi::OsStr;
use std::path::Path;

use tracing::{debug, warn};

use super::cli::Zfs;
use super::mounts::{self, LEGACY};
use crate::error::DriverError;
use crate::fsutil::xattr;

/// The scratch dataset's last name component. Not a layer the agent would ever name (its ids are
/// hex digests), and destroyed again before `open` returns.
const PROBE_DATASET: &str = "strata-xattr-probe";

/// The attribute written to find out.
const PROBE_XATTR: &str = "user.strata.probe";

/// What the probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XattrSupport {
    Supported,
    /// Writing an xattr failed as unsupported; the text says what was tried.
    Unsupported(String),
}

impl XattrSupport {
    pub fn is_supported(&self) -> bool {
        matches!(self, XattrSupport::Supported)
    }
}

/// Make a scratch dataset below `fsname`, mount it under `home`, try to set an xattr on it, and
/// destroy it again. A failure of the attempt that is not "unsupported" is an error: the pool is
/// not usable in some other way the caller should hear about.
pub fn probe(zfs: &Zfs, fsname: &str, home: &Path) -> Result<XattrSupport, DriverError> {
    let dataset = format!("{fsname}/{PROBE_DATASET}");
    let mount_path = home.join(PROBE_DATASET);
    remove_probe(zfs, &dataset, &mount_path)?;
    let target = mount_path
        .to_str()
        .ok_or_else(|| DriverError::InvalidOption {
            key: "home".into(),
            value: home.display().to_string(),
            reason: "a ZFS mountpoint must be valid UTF-8".into(),
        })?;
    let mountpoint = format!("mountpoint={target}");
    zfs.run(&["create", "-o", &mountpoint, &dataset])?;
    let outcome = try_xattr(zfs, &dataset, &mount_path);
    if let Err(e) = remove_probe(zfs, &dataset, &mount_path) {
        warn!(%dataset, error = %e, "removing the xattr probe dataset");
    }
    outcome
}

fn try_xattr(zfs: &Zfs, dataset: &str, path: &Path) -> Result<XattrSupport, DriverError> {
    if !mounts::visible_at(dataset, path)? {
        // A freshly created dataset with a mountpoint is normally mounted already.
        zfs.run_retrying_busy(&["mount", dataset])?;
    }
    match xattr::set(path, OsStr::new(PROBE_XATTR), b"1") {
        Ok(()) => {
            debug!(dataset, "the pool stores xattrs");
            Ok(XattrSupport::Supported)
        }
        Err(e) if xattr::is_unsupported(&e) => Ok(XattrSupport::Unsupported(format!(
            "setting {PROBE_XATTR} on a dataset below the parent failed: {e}"
        ))),
        Err(e) => Err(DriverError::io(
            format!("probing xattr support on {}", path.display()),
            e,
        )),
    }
}

/// Unmount and destroy the scratch dataset if it exists (left by a crash, or just used).
fn remove_probe(zfs: &Zfs, dataset: &str, mount_path: &Path) -> Result<(), DriverError> {
    if !zfs.exists(dataset)? {
        return Ok(());
    }
    let legacy = format!("mountpoint={LEGACY}");
    zfs.run_retrying_busy(&["set", &legacy, dataset])?;
    if mounts::visible_at(dataset, mount_path)? {
        zfs.run_retrying_busy(&["unmount", dataset])?;
    }
    zfs.run_retrying_busy(&["destroy", "-r", dataset])?;
    mounts::remove_mount_dir(mount_path);
    Ok(())
}
