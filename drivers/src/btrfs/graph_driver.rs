//! `BtrfsDriver`: the `GraphDriver` over one subvolume per layer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, info, warn};

use super::qgroups::Qgroups;
use super::records::{LayerKind, LayerRecord, RecordDir};
use super::storage_opt;
use super::subvol::SubvolDir;
use crate::archive::{apply_tar, write_naive_diff, WhiteoutMode};
use crate::archive::{own_usage_in, Bytes};
use crate::driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
use crate::error::DriverError;
use crate::layer_id::LayerId;
use crate::refcount::RefCounts;

/// Layers as btrfs subvolumes under `<home>/subvolumes`, records under `<home>/layers`.
pub struct BtrfsDriver {
    home: PathBuf,
    subvols: SubvolDir,
    records: RecordDir,
    qgroups: Qgroups,
    /// Uses taken by `get` (and held while a diff is read or written), by layer. Creating and
    /// removing layers also happen under this lock, so a check and its action are one step.
    uses: Mutex<RefCounts>,
}

/// One use of a layer held for the length of a diff, so it cannot be removed meanwhile.
struct UseGuard<'a> {
    driver: &'a BtrfsDriver,
    id: LayerId,
}

impl Drop for UseGuard<'_> {
    fn drop(&mut self) {
        self.driver.release(&self.id);
    }
}

impl BtrfsDriver {
    /// A driver over the prepared directories of `home` (see `super::open`).
    pub(super) fn new(home: PathBuf) -> Self {
        BtrfsDriver {
            subvols: SubvolDir::new(home.join("subvolumes")),
            records: RecordDir::new(home.join("layers")),
            qgroups: Qgroups::new(home.clone()),
            home,
            uses: Mutex::new(RefCounts::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RefCounts> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.uses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The layer's record, if the layer is complete (record and subvolume both there).
    fn complete(&self, id: &LayerId) -> Result<LayerRecord, DriverError> {
        match self.records.read(id)? {
            Some(record) if self.subvols.exists(id) => Ok(record),
            _ => Err(DriverError::NotFound(id.clone())),
        }
    }

    /// Take one use of a complete layer.
    fn acquire(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut uses = self.lock();
        self.complete(id)?;
        uses.acquire(id);
        Ok(())
    }

    /// Take one use for the length of the returned guard.
    fn take_use(&self, id: &LayerId) -> Result<UseGuard<'_>, DriverError> {
        self.acquire(id)?;
        Ok(UseGuard {
            driver: self,
            id: id.clone(),
        })
    }

    /// Give back one use; false when the layer had none.
    fn release(&self, id: &LayerId) -> bool {
        self.lock().release(id).is_some()
    }

    /// Create a layer's subvolume and then its record; nothing is left behind on failure.
    fn create_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        kind: LayerKind,
        size_limit: Option<u64>,
    ) -> Result<(), DriverError> {
        let _uses = self.lock();
        if self.records.read(id)?.is_some() || self.subvols.path(id).symlink_metadata().is_ok() {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        if let Some(p) = parent {
            self.complete(p)
                .map_err(|_| DriverError::NotFound(p.clone()))?;
        }
        self.subvols.create(id, parent)?;
        let record = LayerRecord {
            parent: parent.map(|p| p.to_string()),
            kind,
            size_limit,
        };
        let finish = || -> Result<(), DriverError> {
            if let Some(bytes) = size_limit {
                let sub = self.subvols.open(id)?;
                self.qgroups
                    .limit(&sub, &self.subvols.path(id).display().to_string(), bytes)?;
            }
            self.records.write(id, &record)
        };
        if let Err(e) = finish() {
            match self.subvols.delete(id) {
                Ok(ids) => self.qgroups.forget(&ids),
                Err(undo) => warn!(layer = %id, error = %undo, "cannot delete half-made subvolume"),
            }
            return Err(e);
        }
        debug!(layer = %id, parent = ?parent.map(|p| p.as_str()), ?kind, "created subvolume");
        Ok(())
    }
}

impl GraphDriver for BtrfsDriver {
    fn name(&self) -> &'static str {
        "btrfs"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.create_layer(id, parent, LayerKind::Image, None)
    }

    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError> {
        let rw = storage_opt::parse(&opts.storage_opt)?;
        self.create_layer(id, parent, LayerKind::Rw, rw.size_limit)
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut uses = self.lock();
        let record = self.records.read(id)?;
        let path = self.subvols.path(id);
        let on_disk = path.symlink_metadata().is_ok();
        if record.is_none() && !on_disk {
            return Err(DriverError::NotFound(id.clone()));
        }
        if uses.count(id) > 0 {
            return Err(DriverError::Busy(id.clone()));
        }
        let children = self.records.children(id)?;
        if !children.is_empty() {
            return Err(DriverError::has_children(id, &children));
        }
        if self.subvols.exists(id) {
            let ids = self.subvols.delete(id)?;
            self.qgroups.forget(&ids);
        } else if on_disk {
            // Not a subvolume: something a crash or a person left under our name.
            warn!(path = %path.display(), "removing a non-subvolume entry in the subvolume directory");
            crate::fsutil::meta::remove_any(&path)
                .map_err(|e| DriverError::io(format!("removing {}", path.display()), e))?;
        }
        self.records.remove(id)?;
        uses.set(id, 0);
        debug!(layer = %id, "removed subvolume");
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.complete(id).is_ok()
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        self.complete(id)?.parent_id()
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        self.acquire(id)?;
        Ok(self.subvols.path(id))
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        if !self.release(id) {
            if !self.exists(id) {
                return Err(DriverError::NotFound(id.clone()));
            }
            debug!(layer = %id, "put without a matching get");
        }
        Ok(())
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        let record = self.complete(id)?;
        let _use = self.take_use(id)?;
        let parent = record.parent_id()?.map(|p| self.subvols.path(&p));
        write_naive_diff(parent.as_deref(), &self.subvols.path(id), out)
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        let record = self.complete(id)?;
        let _use = self.take_use(id)?;
        if self.subvols.is_readonly(id)? {
            self.subvols.set_readonly(id, false)?;
        }
        let size = apply_tar(&self.subvols.path(id), input, WhiteoutMode::Delete, limits)?;
        if record.kind == LayerKind::Image {
            self.subvols.set_readonly(id, true)?;
        }
        Ok(size)
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        let record = self.complete(id)?;
        let _use = self.take_use(id)?;
        let parent = record.parent_id()?.map(|p| self.subvols.path(&p));
        // What differs from the parent, in allocated blocks: a snapshot shares every unchanged
        // extent with its parent. Exact exclusive bytes would need qgroups, which cost on every
        // write and are on only for layers with a size limit.
        own_usage_in(parent.as_deref(), &self.subvols.path(id), Bytes::Allocated)
    }

    fn status(&self) -> Vec<(String, String)> {
        super::status::status(&self.home, &self.qgroups)
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        self.complete(id)?;
        let mut data = BTreeMap::new();
        data.insert(
            "Dir".to_string(),
            self.subvols.path(id).display().to_string(),
        );
        Ok(data)
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        let mut ids: BTreeSet<LayerId> = self.subvols.list()?.into_iter().collect();
        ids.extend(self.records.all()?.into_iter().map(|(id, _)| id));
        Ok(ids.into_iter().collect())
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        let mut uses = self.lock();
        uses.clear();
        for id in in_use {
            if self.complete(id).is_ok() {
                uses.set(id, 1);
            } else {
                warn!(layer = %id, "a running container names a layer the driver does not have");
            }
        }
        info!(
            adopted = uses.ids().len(),
            "btrfs layers need no mounts; adopted uses of running containers"
        );
        Ok(())
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        self.lock().clear();
        Ok(())
    }
}

/// Whether `path` is on btrfs (statfs magic).
// The width of `f_type` differs across targets: the cast is needed on some.
#[allow(clippy::unnecessary_cast)]
pub fn is_btrfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 as i64 == super::ioctl::BTRFS_SUPER_MAGIC)
        .unwrap_or(false)
}
