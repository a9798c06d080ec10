//! The vfs driver proper.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, warn};

use super::records::Records;
use crate::archive::{apply_tar, write_naive_diff, WhiteoutMode};
use crate::driver::DriverOptions;
use crate::driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
use crate::error::DriverError;
use crate::fsutil::remove::{clean_leftovers, finish_removal, rename_for_removal, TMP_PREFIX};
use crate::fsutil::{atomic, statfs, tree, usage};
use crate::layer_id::LayerId;
use crate::refcount::RefCounts;

/// Layers as full directory trees in `home/dir/<id>`.
pub struct VfsDriver {
    home: PathBuf,
    dirs: PathBuf,
    records: Records,
    /// Use counts; the lock also orders the check-then-act steps of create and remove.
    state: Mutex<RefCounts>,
}

impl VfsDriver {
    /// Open (creating if needed) the driver in `opts.home`, clearing leftovers of a crash.
    pub fn open(opts: &DriverOptions) -> Result<VfsDriver, DriverError> {
        if let Some((key, value)) = opts.storage_opt.iter().next() {
            return Err(DriverError::InvalidOption {
                key: key.clone(),
                value: value.clone(),
                reason: "the vfs driver takes no storage options".into(),
            });
        }
        let home = opts.home.clone();
        let dirs = home.join("dir");
        let meta = home.join("meta");
        // Closed to other users: each layer directory is a tree's root and keeps its own mode.
        for d in [&home, &dirs, &meta] {
            crate::fsutil::private::private_dir(d)
                .map_err(|e| DriverError::io(format!("creating {}", d.display()), e))?;
        }
        clean_leftovers(&dirs)
            .map_err(|e| DriverError::io(format!("cleaning {}", dirs.display()), e))?;
        clean_leftovers(&meta)
            .map_err(|e| DriverError::io(format!("cleaning {}", meta.display()), e))?;
        let driver = VfsDriver {
            home,
            dirs,
            records: Records::new(meta),
            state: Mutex::new(RefCounts::default()),
        };
        // A record whose tree never got renamed into place belongs to an interrupted create.
        for (id, _) in driver.records.all()? {
            if !driver.exists(&id) {
                warn!(layer = %id, "removing the record of a layer whose creation did not finish");
                driver.records.remove(&id)?;
            }
        }
        Ok(driver)
    }

    fn dir(&self, id: &LayerId) -> PathBuf {
        self.dirs.join(id.as_str())
    }

    fn lock(&self) -> MutexGuard<'_, RefCounts> {
        // A panic while holding the lock leaves counts that are still meaningful.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn require(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        let dir = self.dir(id);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(DriverError::NotFound(id.clone()))
        }
    }

    fn children(&self, id: &LayerId) -> Result<Vec<LayerId>, DriverError> {
        Ok(self
            .records
            .all()?
            .into_iter()
            .filter(|(child, parent)| parent.as_ref() == Some(id) && self.exists(child))
            .map(|(child, _)| child)
            .collect())
    }

    fn create_layer(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        if self.exists(id) {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        let parent_dir = parent.map(|p| self.require(p)).transpose()?;
        // A name of its own per attempt: two creates racing for one id never share a tree.
        static ATTEMPTS: AtomicU64 = AtomicU64::new(0);
        let attempt = ATTEMPTS.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dirs.join(format!("{TMP_PREFIX}{id}-{attempt}"));
        let result = self.build_and_commit(id, parent, parent_dir.as_deref(), &tmp);
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn build_and_commit(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        parent_dir: Option<&Path>,
        tmp: &Path,
    ) -> Result<(), DriverError> {
        match parent_dir {
            Some(src) => tree::copy_tree(src, tmp).map_err(|e| {
                DriverError::io(
                    format!(
                        "copying layer {} into {id} at {}",
                        src.display(),
                        e.path.display()
                    ),
                    e.source,
                )
            })?,
            None => {
                fs::create_dir(tmp)
                    .map_err(|e| DriverError::io(format!("creating {}", tmp.display()), e))?;
                crate::fsutil::meta::chmod(tmp, 0o755)
                    .map_err(|e| DriverError::io(format!("chmod {}", tmp.display()), e))?;
            }
        }
        let _guard = self.lock();
        if let Some(p) = parent {
            self.require(p)?;
        }
        if self.exists(id) {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        self.records.write(id, parent)?;
        let dest = self.dir(id);
        if let Err(e) = fs::rename(tmp, &dest) {
            let _ = self.records.remove(id);
            return Err(DriverError::io(
                format!("moving {} into place", dest.display()),
                e,
            ));
        }
        if let Err(e) = atomic::sync_dir(&self.dirs) {
            warn!(dir = %self.dirs.display(), error = %e, "flushing the new layer's name to disk");
        }
        debug!(layer = %id, parent = ?parent.map(|p| p.as_str()), "vfs layer created");
        Ok(())
    }
}

impl GraphDriver for VfsDriver {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.create_layer(id, parent)
    }

    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError> {
        if let Some((key, value)) = opts.storage_opt.iter().next() {
            return Err(DriverError::InvalidOption {
                key: key.clone(),
                value: value.clone(),
                reason: "the vfs driver cannot limit a layer's size".into(),
            });
        }
        self.create_layer(id, parent)
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let dir = {
            let counts = self.lock();
            let dir = self.require(id)?;
            let children = self.children(id)?;
            if !children.is_empty() {
                return Err(DriverError::has_children(id, &children));
            }
            if counts.count(id) > 0 {
                return Err(DriverError::Busy(id.clone()));
            }
            // One rename and the layer is gone for everyone; the files go after the lock.
            let doomed = rename_for_removal(&dir)
                .map_err(|e| DriverError::io(format!("removing {}", dir.display()), e))?;
            self.records.remove(id)?;
            doomed
        };
        if let Some(doomed) = dir {
            finish_removal(&doomed);
        }
        debug!(layer = %id, "vfs layer removed");
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.dir(id).is_dir()
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        self.require(id)?;
        self.records.parent(id)
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        let mut counts = self.lock();
        let dir = self.require(id)?;
        counts.acquire(id);
        Ok(dir)
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut counts = self.lock();
        if counts.release(id).is_none() {
            warn!(layer = %id, "put without a matching get");
        }
        Ok(())
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        let dir = self.require(id)?;
        let parent_dir = self
            .records
            .parent(id)?
            .map(|p| self.require(&p))
            .transpose()?;
        write_naive_diff(parent_dir.as_deref(), &dir, out)
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        let dir = self.require(id)?;
        apply_tar(&dir, input, WhiteoutMode::Delete, limits)
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        let dir = self.require(id)?;
        usage::tree_usage(&dir)
            .map_err(|e| DriverError::io(format!("measuring {}", dir.display()), e))
    }

    fn status(&self) -> Vec<(String, String)> {
        vec![(
            "Backing Filesystem".into(),
            statfs::backing_fs_name(&self.home),
        )]
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        let dir = self.require(id)?;
        Ok(BTreeMap::from([(
            "Dir".to_string(),
            dir.to_string_lossy().into_owned(),
        )]))
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        let ctx = |e| DriverError::io(format!("listing {}", self.dirs.display()), e);
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dirs).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| LayerId::new(n).ok())
            {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        let mut counts = self.lock();
        counts.clear();
        for id in in_use {
            if self.exists(id) {
                counts.set(id, 1);
            }
        }
        Ok(())
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        self.lock().clear();
        Ok(())
    }
}
