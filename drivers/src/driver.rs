//! The one trait every graph driver implements.
//!
//! Shape (moby's graphdriver, see ARCHITECTURE.md for why): the driver owns its mounts. `get`
//! makes a layer's merged tree available at a path and counts users; `put` releases one use and
//! unmounts at zero. Layers form chains through their parent; a driver refuses to remove a layer
//! that still has children.
//!
//! Every method is blocking (filesystem work); async callers use `spawn_blocking`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use crate::error::DriverError;
use crate::layer_id::LayerId;

/// Options for creating a read-write layer (`--storage-opt` per container, e.g. `size=10G`).
#[derive(Clone, Debug, Default)]
pub struct CreateOpts {
    pub storage_opt: BTreeMap<String, String>,
}

/// Bounds on what unpacking one layer tar (`apply_diff_limited`) may write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyLimits {
    /// Largest sum of the apparent sizes of the regular files the tar writes, in bytes (a
    /// sparse file counts its full size, a hard link nothing). Checked before each file is
    /// written, so a layer over it is refused without writing the file that crosses it.
    pub max_size: u64,
}

impl ApplyLimits {
    /// No bound (tests, benchmarks, trusted input).
    pub const UNLIMITED: ApplyLimits = ApplyLimits { max_size: u64::MAX };
}

impl Default for ApplyLimits {
    fn default() -> Self {
        ApplyLimits::UNLIMITED
    }
}

/// Space a single layer takes on disk, counting only what this layer itself holds
/// (not what it shares with its parents).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub size_bytes: u64,
    pub inodes: u64,
}

pub trait GraphDriver: Send + Sync {
    /// The driver's name as users type it: `vfs`, `overlay2`, `btrfs`, `zfs`, `devicemapper`.
    fn name(&self) -> &'static str;

    /// Create an (image) layer on an optional parent. Its content is then written once by
    /// `apply_diff` and never changed after that.
    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError>;

    /// Create a read-write (container or `-init`) layer on an optional parent.
    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError>;

    /// Remove a layer. Refused with `HasChildren` while another layer names it as parent and with
    /// `Busy` while it is in use (`get` without matching `put`).
    fn remove(&self, id: &LayerId) -> Result<(), DriverError>;

    /// Whether the layer exists.
    fn exists(&self, id: &LayerId) -> bool;

    /// The parent the layer was created on.
    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError>;

    /// Make the layer's full tree (its parents' content with its own on top) available at a path
    /// and return that path. Reference counted: each `get` needs one `put`.
    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError>;

    /// Release one use taken by `get`; the last release unmounts.
    fn put(&self, id: &LayerId) -> Result<(), DriverError>;

    /// Write the layer's changes against its parent to `out` as a tar stream in OCI layer form
    /// (deleted paths as `.wh.NAME`, opaque directories as `.wh..wh..opq`). Returns bytes written.
    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError>;

    /// Unpack an OCI layer tar stream (uncompressed) into the layer, converting whiteouts to the
    /// driver's native form. Hostile entries (`..`, writes through symlinks, links out of the root)
    /// are refused with `DriverError::Archive`. Returns the unpacked size in bytes (sum of
    /// regular file sizes, as Docker reports layer size). Unbounded: see `apply_diff_limited`.
    fn apply_diff(&self, id: &LayerId, input: &mut dyn Read) -> Result<u64, DriverError> {
        self.apply_diff_limited(id, input, &ApplyLimits::UNLIMITED)
    }

    /// `apply_diff` within `limits`: a tar that would expand past them is refused with
    /// `ArchiveError::TooLarge` (the caller removes the half-filled layer).
    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError>;

    /// Space this layer alone takes on disk.
    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError>;

    /// Driver-wide status pairs for `docker info` `DriverStatus` (backing filesystem, pool, space).
    fn status(&self) -> Vec<(String, String)>;

    /// Per-layer facts for `docker inspect` `GraphDriver.Data` (overlay2: LowerDir, MergedDir,
    /// UpperDir, WorkDir; zfs: Dataset, Mountpoint; ...).
    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError>;

    /// Every layer id present in the driver's storage, complete or not. The agent compares this
    /// with its metadata at start and removes orphans left by a crash.
    fn layers(&self) -> Result<Vec<LayerId>, DriverError>;

    /// Bring mounts in line with a fresh agent process: layers in `in_use` that are still mounted
    /// from a previous process are adopted with one use each (a running container holds them);
    /// every other mount the driver made is unmounted.
    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError>;

    /// Unmount everything this driver has mounted, whatever the counts (tests, benchmarks,
    /// shutdown without running containers).
    fn cleanup(&self) -> Result<(), DriverError>;
}

/// Where a driver keeps its data and how it is tuned.
#[derive(Clone, Debug)]
pub struct DriverOptions {
    /// The driver's own directory, `<data-root>/<driver name>`.
    pub home: PathBuf,
    /// `--storage-opt KEY=VALUE` pairs meant for the driver (e.g. `zfs.fsname`, `dm.thinpooldev`).
    pub storage_opt: BTreeMap<String, String>,
}

impl DriverOptions {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        DriverOptions {
            home: home.into(),
            storage_opt: BTreeMap::new(),
        }
    }
}
