//! overlay2: layers stacked with overlayfs, in moby's on-disk layout (see `layout`).
//!
//! Image layers are read-only: their merged view (for inspect, export, commit) is a read-only
//! overlay of their own `diff` over their parents'. Read-write layers mount with `upperdir` =
//! their `diff` and a `work` directory. A layer without parents is never mounted: its `diff`
//! directory is its tree.

mod driver;
mod layout;
mod mount;
mod probe;

use std::path::Path;
use std::sync::Arc;

use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;

pub use driver::Overlay2Driver;

/// Whether overlayfs can stack layers kept under `data_root`: the kernel has overlay and a real
/// test mount in a scratch directory under `data_root` (created if needed) works.
pub fn supported_on(data_root: &Path) -> bool {
    probe::supported_on(data_root)
}

/// Open the overlay2 driver in `opts.home`.
pub fn open(opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Ok(Arc::new(Overlay2Driver::open(opts)?))
}
