//! The directory of layer subvolumes (`<home>/subvolumes/<id>`) and what is done to them:
//! create, snapshot, make read-only, delete (with any subvolumes nested inside).

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use tracing::debug;

use super::ioctl;
use crate::error::DriverError;
use crate::layer_id::LayerId;

/// How deep subvolumes nested inside a layer are followed when deleting it.
const MAX_NESTING: usize = 64;

/// The directory holding one subvolume per layer.
#[derive(Clone, Debug)]
pub struct SubvolDir {
    dir: PathBuf,
}

/// Open a directory below `base` without following symlinks or leaving `base`.
fn open_dir_beneath(base: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = nix::fcntl::openat2(std::os::fd::AsRawFd::as_raw_fd(base), rel, how)
        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    // SAFETY: openat2 just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open the directory at `path` (which must not be a symlink).
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    Ok(OwnedFd::from(f))
}

impl SubvolDir {
    /// The subvolume directory at `dir` (created by the caller).
    pub fn new(dir: PathBuf) -> Self {
        SubvolDir { dir }
    }

    /// Where the layer's subvolume is (or would be).
    pub fn path(&self, id: &LayerId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    fn open_self(&self) -> Result<OwnedFd, DriverError> {
        open_dir(&self.dir)
            .map_err(|e| DriverError::io(format!("opening {}", self.dir.display()), e))
    }

    /// Whether the layer's subvolume exists (its root directory is a subvolume root).
    pub fn exists(&self, id: &LayerId) -> bool {
        match std::fs::symlink_metadata(self.path(id)) {
            Ok(md) => md.is_dir() && md.ino() == ioctl::SUBVOL_ROOT_INO,
            Err(_) => false,
        }
    }

    /// Layer ids with a subvolume (or anything else) in the directory, sorted.
    pub fn list(&self) -> Result<Vec<LayerId>, DriverError> {
        let ctx = |e| DriverError::io(format!("listing {}", self.dir.display()), e);
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| LayerId::new(n).ok())
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Create the layer's subvolume: empty without a parent, a writable snapshot of the
    /// parent's subvolume with one.
    pub fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        let dir = self.open_self()?;
        let name = OsStr::new(id.as_str());
        match parent {
            None => ioctl::subvol_create(dir.as_fd(), name).map_err(|e| {
                DriverError::io(format!("creating subvolume {}", self.path(id).display()), e)
            }),
            Some(p) => {
                let source = open_dir(&self.path(p)).map_err(|e| {
                    DriverError::io(
                        format!("opening parent subvolume {}", self.path(p).display()),
                        e,
                    )
                })?;
                ioctl::snapshot(source.as_fd(), dir.as_fd(), name, false).map_err(|e| {
                    DriverError::io(
                        format!(
                            "snapshotting {} to {}",
                            self.path(p).display(),
                            self.path(id).display()
                        ),
                        e,
                    )
                })
            }
        }
    }

    /// Open the layer's subvolume root directory.
    pub fn open(&self, id: &LayerId) -> Result<File, DriverError> {
        let path = self.path(id);
        let fd = open_dir(&path)
            .map_err(|e| DriverError::io(format!("opening subvolume {}", path.display()), e))?;
        Ok(File::from(fd))
    }

    /// Make the layer's subvolume read-only (image layers, once their content is in) or
    /// writable again.
    pub fn set_readonly(&self, id: &LayerId, readonly: bool) -> Result<(), DriverError> {
        let sub = self.open(id)?;
        ioctl::set_readonly(sub.as_fd(), readonly).map_err(|e| {
            let what = if readonly { "read-only" } else { "writable" };
            DriverError::io(
                format!("making subvolume {} {what}", self.path(id).display()),
                e,
            )
        })
    }

    /// Whether the layer's subvolume is read-only.
    pub fn is_readonly(&self, id: &LayerId) -> Result<bool, DriverError> {
        let sub = self.open(id)?;
        ioctl::is_readonly(sub.as_fd()).map_err(|e| {
            DriverError::io(
                format!("reading flags of subvolume {}", self.path(id).display()),
                e,
            )
        })
    }

    /// Delete the layer's subvolume and every subvolume nested inside it (a container may have
    /// made some). Read-only subvolumes are made writable first. Returns the ids of the deleted
    /// subvolumes, so their qgroups can be removed too.
    pub fn delete(&self, id: &LayerId) -> Result<Vec<u64>, DriverError> {
        let dir = self.open_self()?;
        let mut deleted = Vec::new();
        delete_subvol(
            &dir,
            OsStr::new(id.as_str()),
            &self.path(id),
            0,
            &mut deleted,
        )?;
        Ok(deleted)
    }
}

/// Delete subvolume `name` in the directory `dir` (shown to users as `shown`), nested ones first.
fn delete_subvol(
    dir: &OwnedFd,
    name: &OsStr,
    shown: &Path,
    depth: usize,
    deleted: &mut Vec<u64>,
) -> Result<(), DriverError> {
    let ctx = |what: &str, e| DriverError::io(format!("{what} subvolume {}", shown.display()), e);
    let sub = open_dir_beneath(dir, Path::new(name)).map_err(|e| ctx("opening", e))?;
    let subvol_id = ioctl::subvol_id(sub.as_fd()).map_err(|e| ctx("looking up the id of", e))?;
    if ioctl::is_readonly(sub.as_fd()).map_err(|e| ctx("reading flags of", e))? {
        ioctl::set_readonly(sub.as_fd(), false).map_err(|e| ctx("making writable", e))?;
    }
    match ioctl::subvol_destroy(dir.as_fd(), name) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) && depth < MAX_NESTING => {
            let children = ioctl::child_subvols(sub.as_fd())
                .map_err(|e| ctx("listing subvolumes nested in", e))?;
            for child in children {
                let child_shown = shown.join(&child.path);
                debug!(subvolume = %child_shown.display(), "deleting nested subvolume");
                let parent_rel = child.path.parent().unwrap_or(Path::new(""));
                let child_name = child.path.file_name().ok_or_else(|| {
                    ctx(
                        "deleting",
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("nested subvolume with no name at {:?}", child.path),
                        ),
                    )
                })?;
                let child_dir = open_dir_beneath(&sub, parent_rel).map_err(|e| {
                    DriverError::io(format!("opening {}", shown.join(parent_rel).display()), e)
                })?;
                delete_subvol(&child_dir, child_name, &child_shown, depth + 1, deleted)?;
            }
            ioctl::subvol_destroy(dir.as_fd(), name).map_err(|e| ctx("deleting", e))?;
        }
        Err(e) => return Err(ctx("deleting", e)),
    }
    deleted.push(subvol_id);
    Ok(())
}
