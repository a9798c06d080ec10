//! devicemapper: every layer a thin snapshot of its parent in a device-mapper thin pool, the
//! pool either named by `--storage-opt dm.thinpooldev=` or built by the driver on loop-backed
//! sparse files (testing only). Driven through `dmsetup` (see README.md for why), with thin
//! devices recorded transactionally so a crash between `create_snap` and the record is repaired
//! when the driver next opens. Inspect shows Docker's `DeviceId`, `DeviceName`, `DeviceSize`.

mod cli;
mod driver;
#[cfg(feature = "fault-injection")]
pub mod fault;
mod fs;
mod options;
mod pool;
mod records;
mod status;
mod sysfs;

use std::sync::Arc;

pub use driver::DevMapperDriver;
pub use options::{DmOptions, Filesystem, PoolSource};

use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;

/// Open the devicemapper driver in `opts.home` with `opts.storage_opt` (`dm.*`).
pub fn open(opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Ok(Arc::new(DevMapperDriver::open(opts)?))
}
