//! vfs: every layer a full copy of its parent (reflink where the filesystem can).
//! (Skeleton: filled in by the drivers work.)

use std::sync::Arc;

use crate::driver::GraphDriver;
use crate::error::DriverError;
use crate::registry::DriverOptions;


/// Open the vfs driver in `opts.home`.
pub fn open(_opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Err(DriverError::Unsupported { driver: "vfs", reason: "not implemented yet".into() })
}
