//! Opening a driver by name, and choosing the default one.

use std::path::Path;
use std::sync::Arc;

pub use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;

/// Every driver name Strata knows, in the order `docker info` and `strata bench` list them.
pub const DRIVER_NAMES: &[&str] = &["vfs", "overlay2", "btrfs", "zfs", "devicemapper"];

/// Open the named driver, creating its home directory if needed; the home is closed to other
/// users (`fsutil::private`), an existing one included.
pub fn open_driver(name: &str, opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    crate::fsutil::private::private_dir(&opts.home)
        .map_err(|e| DriverError::io(format!("creating driver home {}", opts.home.display()), e))?;
    match name {
        "vfs" => crate::vfs::open(opts),
        "overlay2" => crate::overlay2::open(opts),
        "btrfs" => crate::btrfs::open(opts),
        "zfs" => crate::zfs::open(opts),
        "devicemapper" => crate::devicemapper::open(opts),
        other if DRIVER_NAMES.contains(&other) => Err(DriverError::Unsupported {
            driver: DRIVER_NAMES
                .iter()
                .find(|n| **n == other)
                .copied()
                .unwrap_or("unknown"),
            reason: "not built into this version of strata yet".into(),
        }),
        other => Err(DriverError::UnknownDriver(other.to_string())),
    }
}

/// The driver `strata serve` uses when none is named: overlay2 where the data root's filesystem
/// can carry it, vfs otherwise (as dockerd does).
pub fn default_driver_name(data_root: &Path) -> &'static str {
    if crate::overlay2::supported_on(data_root) {
        "overlay2"
    } else {
        "vfs"
    }
}
