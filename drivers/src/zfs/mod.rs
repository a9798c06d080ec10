//! zfs: every layer a ZFS dataset under a parent dataset named by `--storage-opt zfs.fsname`;
//! a child layer is a clone of a snapshot of its parent.
//!
//! Works with zfs-fuse (no /dev/zfs, no `zfs` mount type in the kernel) and kernel OpenZFS alike:
//! datasets are created, cloned and destroyed with the `zfs` command line tool (libzfs is not
//! packaged here, see `cli`), and mounted by setting their `mountpoint` property (see `mounts`).
//! Inspect shows `{"Dataset": "<fsname>/<id>", "Mountpoint": "<home>/graph/<id>"}`.

mod cli;
mod driver;
mod mounts;
mod names;
mod options;
mod status;
mod xattr_probe;

use std::sync::Arc;

pub use driver::ZfsDriver;
pub use options::{ALLOW_NO_XATTR_KEY, FSNAME_KEY, SIZE_KEY};

use crate::driver::DriverOptions;
use crate::driver::GraphDriver;
use crate::error::DriverError;

/// Open the zfs driver in `opts.home` on the dataset `opts.storage_opt["zfs.fsname"]`.
pub fn open(opts: &DriverOptions) -> Result<Arc<dyn GraphDriver>, DriverError> {
    Ok(Arc::new(ZfsDriver::open(opts)?))
}
