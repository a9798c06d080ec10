//! The overlay2 driver proper.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, warn};

use super::layout::{random_short_name, read_small, LayerPaths, LINK_DIR};
use super::mount::{mount_overlay_in, unmount};
use crate::archive::{apply_tar, write_overlay_diff, WhiteoutMode};
use crate::driver::DriverOptions;
use crate::driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
use crate::error::DriverError;
use crate::fsutil::atomic;
use crate::fsutil::meta::chmod;
use crate::fsutil::private::{private_dir, PRIVATE_DIR_MODE};
use crate::fsutil::remove::{clean_leftovers, finish_removal, rename_for_removal, TMP_PREFIX};
use crate::fsutil::{statfs, usage};
use crate::layer_id::LayerId;
use crate::mountinfo;
use crate::refcount::RefCounts;

/// Layers stacked with overlayfs, in moby's directory layout.
pub struct Overlay2Driver {
    home: PathBuf,
    /// Extra mount options the kernel understands (`index=off` where the module has it).
    extra_options: String,
    /// Use counts; the lock also orders mounting, unmounting, create and remove.
    state: Mutex<RefCounts>,
}

fn io_ctx(context: String) -> impl FnOnce(std::io::Error) -> DriverError {
    move |e| DriverError::io(context, e)
}

impl Overlay2Driver {
    /// Open (creating if needed) the driver in `opts.home` after checking overlayfs works there.
    pub fn open(opts: &DriverOptions) -> Result<Overlay2Driver, DriverError> {
        if let Some((key, value)) = opts.storage_opt.iter().next() {
            return Err(DriverError::InvalidOption {
                key: key.clone(),
                value: value.clone(),
                reason: "overlay2 takes no storage options yet".into(),
            });
        }
        private_dir(&opts.home).map_err(io_ctx(format!("creating {}", opts.home.display())))?;
        // The mount table names real paths: compare against the real home.
        let home = fs::canonicalize(&opts.home)
            .map_err(io_ctx(format!("resolving {}", opts.home.display())))?;
        super::probe::check(&home).map_err(|reason| DriverError::Unsupported {
            driver: "overlay2",
            reason,
        })?;
        let links = home.join(LINK_DIR);
        private_dir(&links).map_err(io_ctx(format!("creating {}", links.display())))?;
        clean_leftovers(&home).map_err(io_ctx(format!("cleaning {}", home.display())))?;
        remove_dangling_links(&links)?;
        let mut extra_options = String::new();
        if Path::new("/sys/module/overlay/parameters/index").exists() {
            // Several mounts share lower layers; the inode index would make them conflict.
            extra_options.push_str(",index=off");
        }
        Ok(Overlay2Driver {
            home,
            extra_options,
            state: Mutex::new(RefCounts::default()),
        })
    }

    fn paths(&self, id: &LayerId) -> LayerPaths {
        LayerPaths::new(&self.home, id)
    }

    fn lock(&self) -> MutexGuard<'_, RefCounts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn require(&self, id: &LayerId) -> Result<LayerPaths, DriverError> {
        let p = self.paths(id);
        if p.diff().is_dir() {
            Ok(p)
        } else {
            Err(DriverError::NotFound(id.clone()))
        }
    }

    /// The short link name of a layer.
    fn short_name(&self, id: &LayerId) -> Result<String, DriverError> {
        let p = self.require(id)?;
        read_small(&p.link_file())?.ok_or_else(|| {
            DriverError::io(
                format!("layer {id} has no short link"),
                std::io::ErrorKind::NotFound.into(),
            )
        })
    }

    /// The `lower` file's content (`l/A:l/B`, nearest parent first), empty without a parent.
    fn lower(&self, id: &LayerId) -> Result<String, DriverError> {
        let p = self.require(id)?;
        Ok(read_small(&p.lower_file())?.unwrap_or_default())
    }

    fn children(&self, id: &LayerId) -> Result<Vec<LayerId>, DriverError> {
        let mut out = Vec::new();
        for other in self.layers()? {
            if read_small(&self.paths(&other).parent_file())?.as_deref() == Some(id.as_str()) {
                out.push(other);
            }
        }
        Ok(out)
    }

    fn create_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        rw: bool,
    ) -> Result<(), DriverError> {
        if id.as_str() == LINK_DIR {
            return Err(DriverError::InvalidId(format!(
                "{id} (reserved by overlay2)"
            )));
        }
        let _guard = self.lock();
        if self.paths(id).root.exists() {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        let lower = match parent {
            Some(p) => {
                let short = self.short_name(p)?;
                let parent_lower = self.lower(p)?;
                if parent_lower.is_empty() {
                    format!("{LINK_DIR}/{short}")
                } else {
                    format!("{LINK_DIR}/{short}:{parent_lower}")
                }
            }
            None => String::new(),
        };
        let tmp = self.home.join(format!("{TMP_PREFIX}{id}"));
        let _ = fs::remove_dir_all(&tmp);
        let mut link_made = None;
        let result = (|| {
            let short = self.build(&tmp, parent, &lower, rw)?;
            // The link points at the final place; it dangles until the rename below.
            let link = self.home.join(LINK_DIR).join(&short);
            std::os::unix::fs::symlink(format!("../{id}/diff"), &link)
                .map_err(io_ctx(format!("creating {}", link.display())))?;
            link_made = Some(link);
            let dest = self.paths(id).root;
            fs::rename(&tmp, &dest)
                .map_err(io_ctx(format!("moving {} into place", dest.display())))?;
            if let Err(e) = atomic::sync_dir(&self.home) {
                warn!(dir = %self.home.display(), error = %e, "flushing the new layer's name to disk");
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
            if let Some(link) = link_made {
                let _ = fs::remove_file(link);
            }
        } else {
            debug!(layer = %id, parent = ?parent.map(|p| p.as_str()), rw, "overlay2 layer created");
        }
        result
    }

    /// Lay out a layer directory at `tmp`; returns its short name.
    fn build(
        &self,
        tmp: &Path,
        parent: Option<&LayerId>,
        lower: &str,
        rw: bool,
    ) -> Result<String, DriverError> {
        let mkdir = |p: &Path, mode: u32| -> Result<(), DriverError> {
            fs::create_dir(p).map_err(io_ctx(format!("creating {}", p.display())))?;
            chmod(p, mode).map_err(io_ctx(format!("chmod {}", p.display())))
        };
        // The layer directory is closed to other users; `diff` is the tree's root (its mode is
        // the one containers see).
        mkdir(tmp, PRIVATE_DIR_MODE)?;
        mkdir(&tmp.join("diff"), 0o755)?;
        mkdir(&tmp.join("merged"), 0o700)?;
        if rw {
            mkdir(&tmp.join("work"), 0o700)?;
        }
        let short = loop {
            let s = random_short_name().map_err(io_ctx("drawing a short link name".into()))?;
            if fs::symlink_metadata(self.home.join(LINK_DIR).join(&s)).is_err() {
                break s;
            }
        };
        let write = |name: &str, content: &str| -> Result<(), DriverError> {
            let p = tmp.join(name);
            atomic::write_file(&p, content.as_bytes())
                .map_err(io_ctx(format!("writing {}", p.display())))
        };
        write("link", &short)?;
        if let Some(p) = parent {
            write("lower", lower)?;
            write("parent", p.as_str())?;
        }
        Ok(short)
    }

    /// Mount the merged view of a layer that has parents.
    fn mount(&self, id: &LayerId, p: &LayerPaths, lower: &str) -> Result<(), DriverError> {
        let rw = p.work().is_dir();
        let data = if rw {
            format!(
                "lowerdir={lower},upperdir={id}/diff,workdir={id}/work{}",
                self.extra_options
            )
        } else {
            // Read-only view of an image layer: its own diff on top of its parents', no upper.
            let own = self.short_name(id)?;
            format!("lowerdir={LINK_DIR}/{own}:{lower}{}", self.extra_options)
        };
        let target = format!("{id}/merged");
        mount_overlay_in(&self.home, &target, &data, !rw).map_err(io_ctx(format!(
            "mounting overlay for layer {id} at {}",
            p.merged().display()
        )))?;
        debug!(layer = %id, rw, "overlay mounted");
        Ok(())
    }

    /// Check that `id` may go, unmount a leftover mount and rename the layer away (under the
    /// lock). Returns the renamed directory, to be deleted by the caller.
    fn unlink_layer(&self, id: &LayerId) -> Result<Option<PathBuf>, DriverError> {
        let counts = self.lock();
        let p = self.paths(id);
        if !p.root.is_dir() {
            return Err(DriverError::NotFound(id.clone()));
        }
        let children = self.children(id)?;
        if !children.is_empty() {
            return Err(DriverError::has_children(id, &children));
        }
        if counts.count(id) > 0 {
            return Err(DriverError::Busy(id.clone()));
        }
        // A mount nobody holds (left by an earlier process) must go before the files do.
        if mountinfo::is_mount_point(&p.merged()).unwrap_or(false) {
            unmount(&p.merged()).map_err(io_ctx(format!("unmounting {}", p.merged().display())))?;
        }
        let short = read_small(&p.link_file())?;
        let doomed = rename_for_removal(&p.root)
            .map_err(io_ctx(format!("removing {}", p.root.display())))?;
        if let Some(short) = short.filter(|s| !s.is_empty() && !s.contains('/')) {
            let link = self.home.join(LINK_DIR).join(short);
            if let Err(e) = fs::remove_file(&link) {
                warn!(link = %link.display(), error = %e, "removing a short link");
            }
        }
        Ok(doomed)
    }

    fn unmount_all(&self) -> Result<(), DriverError> {
        let mounts = mountinfo::mounts_under(&self.home)
            .map_err(io_ctx("reading the mount table".into()))?;
        for m in mounts {
            unmount(&m.mount_point)
                .map_err(io_ctx(format!("unmounting {}", m.mount_point.display())))?;
        }
        Ok(())
    }
}

fn remove_dangling_links(links: &Path) -> Result<(), DriverError> {
    for entry in fs::read_dir(links).map_err(io_ctx(format!("listing {}", links.display())))? {
        let entry = entry.map_err(io_ctx(format!("listing {}", links.display())))?;
        if fs::metadata(entry.path()).is_err() {
            warn!(link = %entry.path().display(), "removing a short link whose layer is gone");
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

impl GraphDriver for Overlay2Driver {
    fn name(&self) -> &'static str {
        "overlay2"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.create_layer(id, parent, false)
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
                reason: "overlay2 cannot limit a layer's size on this backing filesystem".into(),
            });
        }
        self.create_layer(id, parent, true)
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let doomed = self.unlink_layer(id)?;
        // The files go once the lock is released: deleting a big tree takes a while.
        if let Some(doomed) = doomed {
            finish_removal(&doomed);
        }
        debug!(layer = %id, "overlay2 layer removed");
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        id.as_str() != LINK_DIR && self.paths(id).diff().is_dir()
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        let p = self.require(id)?;
        read_small(&p.parent_file())?.map(LayerId::new).transpose()
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        let mut counts = self.lock();
        let p = self.require(id)?;
        let lower = self.lower(id)?;
        if lower.is_empty() {
            // Nothing to stack: the layer's own directory is its whole tree.
            counts.acquire(id);
            return Ok(p.diff());
        }
        if counts.count(id) == 0 && !mountinfo::is_mount_point(&p.merged()).unwrap_or(false) {
            self.mount(id, &p, &lower)?;
        }
        counts.acquire(id);
        Ok(p.merged())
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut counts = self.lock();
        match counts.release(id) {
            None => {
                warn!(layer = %id, "put without a matching get");
                Ok(())
            }
            Some(0) => {
                // Layers without parents were never mounted. `unmount` of a path that is not
                // mounted is fine, so no mount-table lookup is needed.
                if !self.lower(id)?.is_empty() {
                    let merged = self.paths(id).merged();
                    unmount(&merged).map_err(io_ctx(format!("unmounting {}", merged.display())))?;
                    debug!(layer = %id, "overlay unmounted");
                }
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        let p = self.require(id)?;
        write_overlay_diff(&p.diff(), out)
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        let p = self.require(id)?;
        apply_tar(&p.diff(), input, WhiteoutMode::Overlay, limits)
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        let p = self.require(id)?;
        usage::tree_usage(&p.diff()).map_err(io_ctx(format!("measuring {}", p.diff().display())))
    }

    fn status(&self) -> Vec<(String, String)> {
        vec![
            (
                "Backing Filesystem".into(),
                statfs::backing_fs_name(&self.home),
            ),
            // `open` refuses a home without d_type, which overlayfs needs.
            ("Supports d_type".into(), "true".into()),
            ("Using metacopy".into(), "false".into()),
            ("Native Overlay Diff".into(), "true".into()),
        ]
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        let p = self.require(id)?;
        let mut out = BTreeMap::new();
        let lower = self.lower(id)?;
        if !lower.is_empty() {
            let mut dirs = Vec::new();
            for link in lower.split(':') {
                let link_path = self.home.join(link);
                let target = fs::read_link(&link_path)
                    .map_err(io_ctx(format!("reading {}", link_path.display())))?;
                // Targets are `../<id>/diff`, relative to `l/`.
                let real = self.home.join(LINK_DIR).join(target);
                let real = normalize_dots(&real);
                dirs.push(real.to_string_lossy().into_owned());
            }
            out.insert("LowerDir".to_string(), dirs.join(":"));
        }
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        out.insert("MergedDir".to_string(), s(p.merged()));
        out.insert("UpperDir".to_string(), s(p.diff()));
        out.insert("WorkDir".to_string(), s(p.work()));
        Ok(out)
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        let ctx = || format!("listing {}", self.home.display());
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.home).map_err(io_ctx(ctx()))? {
            let entry = entry.map_err(io_ctx(ctx()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == LINK_DIR || !entry.file_type().map_err(io_ctx(ctx()))?.is_dir() {
                continue;
            }
            if let Ok(id) = LayerId::new(name) {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        let mut counts = self.lock();
        counts.clear();
        let mounts = mountinfo::mounts_under(&self.home)
            .map_err(io_ctx("reading the mount table".into()))?;
        for m in mounts {
            let owner = m
                .mount_point
                .strip_prefix(&self.home)
                .ok()
                .and_then(|rel| {
                    let mut c = rel.components();
                    let id = c.next()?.as_os_str().to_str()?.to_string();
                    (c.next()?.as_os_str() == "merged" && c.next().is_none()).then_some(id)
                })
                .and_then(|id| LayerId::new(id).ok());
            match owner {
                Some(id) if in_use.contains(&id) => {
                    debug!(layer = %id, "adopting a mount of a layer still in use");
                    counts.set(&id, 1);
                }
                _ => {
                    warn!(mount = %m.mount_point.display(), "unmounting a mount no running container holds");
                    unmount(&m.mount_point)
                        .map_err(io_ctx(format!("unmounting {}", m.mount_point.display())))?;
                }
            }
        }
        for id in in_use {
            // Layers without parents are never mounted: their users hold them all the same.
            if counts.count(id) == 0 && self.exists(id) && self.lower(id)?.is_empty() {
                counts.set(id, 1);
            }
        }
        Ok(())
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        let mut counts = self.lock();
        counts.clear();
        self.unmount_all()
    }
}

/// Resolve `.` and `..` components lexically (the paths are our own, with no symlinks between).
fn normalize_dots(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
