//! vfs: every layer a full copy of its parent (reflink where the filesystem can).
//!
//! Layout under the driver home: `dir/<id>` is the layer's whole tree, `meta/<id>.json` records
//! its parent. A layer is built under `dir/.tmp-<id>` and appears with one rename.

mod driver;
mod records;

use std::sync::Arc;

use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;

pub use driver::VfsDriver;

/// Open the vfs driver in `opts.home`.
pub fn open(opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Ok(Arc::new(VfsDriver::open(opts)?))
}
