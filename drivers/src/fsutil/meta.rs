//! File metadata that std cannot set: owner of a symlink, nanosecond times without following a
//! final symlink, device nodes.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// A point in time as seconds and nanoseconds since the epoch (what file times are made of).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FileTime {
    pub secs: i64,
    pub nanos: u32,
}

impl FileTime {
    /// The modification time recorded in lstat metadata.
    pub fn mtime_of(md: &std::fs::Metadata) -> FileTime {
        use std::os::unix::fs::MetadataExt;
        FileTime {
            secs: md.mtime(),
            nanos: md.mtime_nsec().clamp(0, 999_999_999) as u32,
        }
    }
}

/// Change the owner of `path` itself (a symlink is not followed).
pub fn lchown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// Set the permission bits (including setuid, setgid, sticky) of a non-symlink.
pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
}

/// Set access and modification time of `path` itself (a symlink is not followed).
pub fn set_times(path: &Path, atime: FileTime, mtime: FileTime) -> io::Result<()> {
    let p = cpath(path)?;
    let ts = [
        libc::timespec {
            tv_sec: atime.secs as libc::time_t,
            tv_nsec: atime.nanos as _,
        },
        libc::timespec {
            tv_sec: mtime.secs as libc::time_t,
            tv_nsec: mtime.nanos as _,
        },
    ];
    // SAFETY: `p` is a valid NUL-terminated path and `ts` points at two timespec values, as
    // utimensat requires.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Kind of special file `mknod` creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

/// Create a device node or fifo at `path` (which must not exist).
pub fn mknod(path: &Path, kind: NodeKind, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let p = cpath(path)?;
    let type_bits = match kind {
        NodeKind::Char => libc::S_IFCHR,
        NodeKind::Block => libc::S_IFBLK,
        NodeKind::Fifo => libc::S_IFIFO,
    };
    let dev = libc::makedev(major, minor);
    // SAFETY: `p` is a valid NUL-terminated path; mknod only reads it.
    let r = unsafe { libc::mknod(p.as_ptr(), type_bits | (mode & 0o7777), dev) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Major and minor number of a device number (`st_rdev`).
pub fn dev_major_minor(rdev: u64) -> (u32, u32) {
    (libc::major(rdev), libc::minor(rdev))
}

/// What kind of file an lstat mode describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Dir,
    Symlink,
    Char,
    Block,
    Fifo,
    Socket,
}

impl FileKind {
    /// The kind of file an `st_mode` describes.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFCHR => FileKind::Char,
            libc::S_IFBLK => FileKind::Block,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            _ => FileKind::Regular,
        }
    }

    /// The kind of file lstat metadata describes.
    pub fn of(md: &std::fs::Metadata) -> FileKind {
        use std::os::unix::fs::MetadataExt;
        FileKind::from_mode(md.mode())
    }
}

/// `lstat` that answers `None` for a missing path.
pub fn lstat_opt(path: &Path) -> io::Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(md) => Ok(Some(md)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove whatever is at `path` (a directory with all it holds); a missing path is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    match lstat_opt(path)? {
        None => Ok(()),
        Some(md) if md.is_dir() => std::fs::remove_dir_all(path),
        Some(_) => std::fs::remove_file(path),
    }
}
