//! The zfs graph driver: one dataset per layer under a parent dataset (`zfs.fsname`).
//!
//! A layer without parent is `zfs create -o mountpoint=legacy FSNAME/ID`; a child is a clone of
//! the snapshot `FSNAME/PARENT@ID`, so ZFS itself records the chain (a clone's `origin`) and the
//! driver keeps no files of its own besides the mount directories `<home>/graph/<id>`. Content
//! goes in by unpacking into the mounted dataset and comes out as a naive diff of the mounted
//! layer against its mounted parent.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, info, warn};

use super::cli::{Zfs, ZfsSaid};
use super::mounts::{self, LEGACY};
use super::names::Names;
use super::options::{parse_layer_size, ZfsOptions};
use super::status;
use super::xattr_probe::{self, XattrSupport};
use crate::archive::{apply_tar, own_usage, write_naive_diff, WhiteoutMode};
use crate::driver::DriverOptions;
use crate::driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
use crate::error::DriverError;
use crate::held::{with_layer_and_parent, HeldLayer};
use crate::layer_id::LayerId;
use crate::refcount::RefCounts;

/// The zfs driver. Every change of ZFS state and of the mount counts happens under one lock, so
/// `remove` cannot race a `get` of the same layer.
pub struct ZfsDriver {
    zfs: Zfs,
    names: Names,
    options: ZfsOptions,
    /// Absolute driver home; layers are mounted at `<home>/graph/<id>`.
    graph: PathBuf,
    /// What the probe at open found (shown by `status`).
    xattrs: XattrSupport,
    counts: Mutex<RefCounts>,
}

impl ZfsDriver {
    /// Open the driver: check the options, the tools and the parent dataset.
    pub fn open(opts: &DriverOptions) -> Result<ZfsDriver, DriverError> {
        let options = ZfsOptions::parse(&opts.storage_opt)?;
        let zfs = Zfs::locate()?;
        check_parent_dataset(&zfs, &options)?;
        let home = std::fs::canonicalize(&opts.home).map_err(|e| {
            DriverError::io(format!("resolving driver home {}", opts.home.display()), e)
        })?;
        // The datasets' mount points: closed to other users (each mounted root keeps its mode).
        let graph = home.join("graph");
        crate::fsutil::private::private_dir(&graph)
            .map_err(|e| DriverError::io(format!("creating {}", graph.display()), e))?;
        let xattrs = xattr_probe::probe(&zfs, &options.fsname, &home)?;
        check_xattrs(&xattrs, &options)?;
        info!(fsname = %options.fsname, home = %home.display(), "zfs driver ready");
        Ok(ZfsDriver {
            zfs,
            names: Names::new(options.fsname.clone()),
            options,
            graph,
            xattrs,
            counts: Mutex::new(RefCounts::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RefCounts> {
        // A panic while holding the lock leaves counts that are still meaningful: keep going.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mount_path(&self, id: &LayerId) -> PathBuf {
        self.graph.join(id.as_str())
    }

    fn dataset_exists(&self, id: &LayerId) -> Result<bool, DriverError> {
        Ok(self.zfs.exists(&self.names.dataset(id))?)
    }

    fn require(&self, id: &LayerId) -> Result<String, DriverError> {
        let dataset = self.names.dataset(id);
        if self.zfs.exists(&dataset)? {
            Ok(dataset)
        } else {
            Err(DriverError::NotFound(id.clone()))
        }
    }

    /// Every layer dataset with its `origin` (`-` for none).
    fn datasets_with_origin(&self) -> Result<Vec<(LayerId, String)>, DriverError> {
        let rows =
            self.zfs
                .list_recursive(self.names.fsname(), "filesystem", &["name", "origin"])?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = self.names.layer_of_dataset(row.first()?)?;
                Some((id, row.get(1).cloned().unwrap_or_else(|| "-".into())))
            })
            .collect())
    }

    fn create_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        quota: Option<u64>,
    ) -> Result<(), DriverError> {
        let _guard = self.lock();
        let dataset = self.names.dataset(id);
        if self.zfs.exists(&dataset)? {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        let mut props = vec![format!("mountpoint={LEGACY}")];
        if let Some(bytes) = quota {
            props.push(format!("quota={bytes}"));
        }
        let mut args: Vec<&str> = Vec::new();
        match parent {
            None => {
                args.push("create");
                for p in &props {
                    args.extend(["-o", p.as_str()]);
                }
                args.push(&dataset);
                self.zfs.run(&args)?;
            }
            Some(parent) => {
                let snapshot = self.names.origin_snapshot(parent, id);
                self.take_origin_snapshot(parent, &snapshot)?;
                args.push("clone");
                for p in &props {
                    args.extend(["-o", p.as_str()]);
                }
                args.extend([snapshot.as_str(), dataset.as_str()]);
                if let Err(e) = self.zfs.run(&args) {
                    if let Err(cleanup) = self.zfs.run_retrying_busy(&["destroy", &snapshot]) {
                        warn!(%snapshot, error = %cleanup, "removing the snapshot of a failed clone");
                    }
                    return Err(e.into());
                }
                debug!(layer = %id, %snapshot, "cloned");
            }
        }
        Ok(())
    }

    /// Snapshot `parent` as `snapshot` for a new child. A snapshot of that name can only be left
    /// by a crash between snapshot and clone (the child does not exist): it is replaced.
    fn take_origin_snapshot(&self, parent: &LayerId, snapshot: &str) -> Result<(), DriverError> {
        match self.zfs.run(&["snapshot", snapshot]) {
            Ok(_) => Ok(()),
            Err(f) if f.is_not_found() => Err(DriverError::NotFound(parent.clone())),
            Err(f) if f.is_already_exists() => {
                warn!(%snapshot, "replacing a snapshot left by an interrupted create");
                // Without -R: refused (and reported) should anything have been cloned from it.
                self.zfs.run_retrying_busy(&["destroy", snapshot])?;
                self.zfs.run(&["snapshot", snapshot])?;
                Ok(())
            }
            Err(f) => Err(f.into()),
        }
    }

    /// Unmount every layer dataset that carries a mountpoint (ours, from this process or an
    /// earlier one), except those in `keep`, which are counted as in use once each.
    fn unmount_all_except(&self, keep: &[LayerId]) -> Result<(), DriverError> {
        let mut counts = self.lock();
        counts.clear();
        let rows = self.zfs.list_recursive(
            self.names.fsname(),
            "filesystem",
            &["name", "mountpoint", "mounted"],
        )?;
        let mut first_error = None;
        for row in rows {
            let Some(id) = row
                .first()
                .and_then(|name| self.names.layer_of_dataset(name))
            else {
                continue;
            };
            let mountpoint = row.get(1).map(String::as_str).unwrap_or(LEGACY);
            let mounted = row.get(2).map(String::as_str) == Some("yes");
            let ours = Path::new(mountpoint) == self.mount_path(&id);
            if keep.contains(&id) && ours && mounted {
                counts.acquire(&id);
                info!(layer = %id, "adopted a mount left by an earlier process");
                continue;
            }
            if mountpoint == LEGACY && !mounted {
                continue;
            }
            let dataset = self.names.dataset(&id);
            if let Err(e) = mounts::unmount(&self.zfs, &id, &dataset, &self.mount_path(&id)) {
                warn!(layer = %id, error = %e, "unmounting");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Fail clearly when the parent dataset is missing, is no filesystem, or ZFS cannot be reached.
fn check_parent_dataset(zfs: &Zfs, options: &ZfsOptions) -> Result<(), DriverError> {
    match zfs.get(&options.fsname, "type") {
        Ok(kind) if kind == "filesystem" => Ok(()),
        Ok(kind) => Err(DriverError::InvalidOption {
            key: super::options::FSNAME_KEY.into(),
            value: options.fsname.clone(),
            reason: format!("{} is a {kind}, not a ZFS filesystem", options.fsname),
        }),
        Err(f) if f.is_not_found() => Err(DriverError::InvalidOption {
            key: super::options::FSNAME_KEY.into(),
            value: options.fsname.clone(),
            reason: format!(
                "the dataset {} does not exist (create it with `zfs create {}`)",
                options.fsname, options.fsname
            ),
        }),
        Err(f) => Err(DriverError::Unsupported {
            driver: "zfs",
            reason: format!(
                "cannot query dataset {} ({}: {}); is the ZFS daemon (zfs-fuse) or module loaded?",
                options.fsname, f.command, f.stderr
            ),
        }),
    }
}

/// Refuse a pool without xattrs unless the operator accepted what that loses.
fn check_xattrs(found: &XattrSupport, options: &ZfsOptions) -> Result<(), DriverError> {
    match found {
        XattrSupport::Supported => Ok(()),
        XattrSupport::Unsupported(how) if options.allow_no_xattr => {
            warn!(
                fsname = %options.fsname,
                probe = %how,
                "the pool cannot store xattrs: layers lose them (file capabilities too), as \
                 accepted by zfs.allow_no_xattr=true"
            );
            Ok(())
        }
        XattrSupport::Unsupported(how) => Err(DriverError::Unsupported {
            driver: "zfs",
            reason: format!(
                "the pool under {} cannot store extended attributes ({how}); image layers would \
                 lose theirs, file capabilities (security.capability) included. On zfs-fuse start \
                 the daemon with --enable-xattr (or uncomment enable-xattr in /etc/zfs/zfsrc and \
                 restart it); check the dataset's xattr property (zfs get xattr {}); or accept \
                 the loss with --storage-opt {}=true",
                options.fsname,
                options.fsname,
                super::options::ALLOW_NO_XATTR_KEY
            ),
        }),
    }
}

impl GraphDriver for ZfsDriver {
    fn name(&self) -> &'static str {
        "zfs"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.create_layer(id, parent, None)
    }

    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError> {
        let quota = parse_layer_size(&opts.storage_opt)?;
        self.create_layer(id, parent, quota)
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let counts = self.lock();
        let dataset = self.require(id)?;
        if counts.count(id) > 0 {
            return Err(DriverError::Busy(id.clone()));
        }
        let all = self.datasets_with_origin()?;
        let own_snapshots = format!("{dataset}@");
        let children: Vec<String> = all
            .iter()
            .filter(|(_, origin)| origin.starts_with(&own_snapshots))
            .map(|(child, _)| child.to_string())
            .collect();
        if !children.is_empty() {
            return Err(DriverError::has_children(id, &children));
        }
        let origin = all
            .iter()
            .find(|(layer, _)| layer == id)
            .map(|(_, origin)| origin.clone())
            .filter(|o| o != "-");
        mounts::unmount(&self.zfs, id, &dataset, &self.mount_path(id))?;
        // `-r` also takes snapshots of this layer that nothing was cloned from (an interrupted
        // create); it refuses, and so do we, if a clone still depends on one.
        self.zfs.run_retrying_busy(&["destroy", "-r", &dataset])?;
        if let Some(snapshot) = origin {
            match self.zfs.run_retrying_busy(&["destroy", &snapshot]) {
                Ok(_) => {}
                Err(f) if f.is_not_found() => {}
                Err(f) => return Err(f.into()),
            }
        }
        drop(counts);
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        match self.dataset_exists(id) {
            Ok(found) => found,
            Err(e) => {
                warn!(layer = %id, error = %e, "checking whether a layer exists");
                false
            }
        }
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        let dataset = self.names.dataset(id);
        let origin = match self.zfs.get(&dataset, "origin") {
            Ok(origin) => origin,
            Err(f) if f.is_not_found() => return Err(DriverError::NotFound(id.clone())),
            Err(f) => return Err(f.into()),
        };
        if origin == "-" || origin.is_empty() {
            return Ok(None);
        }
        match self.names.split_snapshot(&origin) {
            Some((parent, child)) if &child == id => Ok(Some(parent)),
            _ => Err(DriverError::Command {
                command: format!("zfs get origin {dataset}"),
                stderr: format!(
                    "origin {origin:?} is not a snapshot of a layer under {}",
                    self.names.fsname()
                ),
            }),
        }
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        let mut counts = self.lock();
        let path = self.mount_path(id);
        if counts.count(id) == 0 {
            mounts::mount(&self.zfs, id, &self.names.dataset(id), &path)?;
        }
        counts.acquire(id);
        Ok(path)
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut counts = self.lock();
        match counts.count(id) {
            0 => {
                warn!(layer = %id, "put without a matching get");
                Ok(())
            }
            1 => {
                // Unmount first: if that fails the layer stays mounted and counted.
                mounts::unmount(&self.zfs, id, &self.names.dataset(id), &self.mount_path(id))?;
                counts.release(id);
                Ok(())
            }
            _ => {
                counts.release(id);
                Ok(())
            }
        }
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        with_layer_and_parent(self, id, |parent, layer| {
            write_naive_diff(parent, layer, out)
        })
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        let layer = HeldLayer::hold(self, id)?;
        apply_tar(layer.path(), input, WhiteoutMode::Delete, limits)
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        with_layer_and_parent(self, id, own_usage)
    }

    fn status(&self) -> Vec<(String, String)> {
        status::status(&self.zfs, &self.options, &self.xattrs)
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        let dataset = self.require(id)?;
        let mut data = BTreeMap::new();
        data.insert("Dataset".to_string(), dataset);
        data.insert(
            "Mountpoint".to_string(),
            self.mount_path(id).display().to_string(),
        );
        Ok(data)
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        let mut ids: Vec<LayerId> = self
            .datasets_with_origin()?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        self.unmount_all_except(in_use)
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        self.unmount_all_except(&[])
    }
}
