//! Graph drivers: where layer trees live on disk.
//!
//! A driver stores layers (directory trees stacked on an optional parent) and makes them available
//! at a path. It knows nothing of images or containers: ids are opaque, content arrives as tar
//! streams (`apply_diff`) and leaves as tar streams (`diff`), in OCI layer form.

pub mod archive;
pub mod cli_tool;
pub mod driver;
pub mod error;
pub mod fsutil;
pub mod held;
pub mod layer_id;
pub mod mountinfo;
pub mod refcount;
pub mod registry;
pub mod units;

pub mod btrfs;
pub mod devicemapper;
pub mod overlay2;
pub mod vfs;
pub mod zfs;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
pub use error::DriverError;
pub use layer_id::LayerId;
pub use registry::{open_driver, DriverOptions, DRIVER_NAMES};
