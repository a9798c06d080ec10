//! overlay2: layers stacked with overlayfs.
//! (Skeleton: filled in by the drivers work.)

use std::path::Path;

use std::sync::Arc;

use crate::driver::GraphDriver;
use crate::error::DriverError;
use crate::registry::DriverOptions;


/// Whether overlayfs can stack layers kept under `data_root`.
pub fn supported_on(_data_root: &Path) -> bool {
    false
}

/// Open the overlay2 driver in `opts.home`.
pub fn open(_opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Err(DriverError::Unsupported { driver: "overlay2", reason: "not implemented yet".into() })
}
