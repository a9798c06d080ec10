//! Extended attributes of a path itself (never following a final symlink).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// Attribute names to values, ordered by name so output built from them is deterministic.
pub type Xattrs = BTreeMap<OsString, Vec<u8>>;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn cname(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "xattr name contains a NUL byte",
        )
    })
}

/// Whether an error means "this filesystem or file type has no xattrs", not a real failure.
pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOTSUP))
}

/// Names of every extended attribute on `path` (empty when the filesystem has none).
pub fn list(path: &Path) -> io::Result<Vec<OsString>> {
    let p = cpath(path)?;
    let mut buf: Vec<u8> = vec![0; 1024];
    loop {
        // SAFETY: `p` is a valid NUL-terminated string and `buf` is a writable buffer of the
        // length passed; llistxattr writes at most that many bytes.
        let n = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            buf.truncate(n as usize);
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            _ => return Err(err),
        }
    }
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| OsString::from_vec(s.to_vec()))
        .collect())
}

/// The value of attribute `name` on `path`, `None` when it is not set.
pub fn get(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cname(name)?;
    let mut buf: Vec<u8> = vec![0; 256];
    loop {
        // SAFETY: `p` and `n` are valid NUL-terminated strings and `buf` is a writable buffer
        // of the length passed.
        let r =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            buf.truncate(r as usize);
            return Ok(Some(buf));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ERANGE) => buf.resize(buf.len() * 4, 0),
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => return Ok(None),
            _ => return Err(err),
        }
    }
}

/// Set attribute `name` on `path` to `value`.
pub fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: `p` and `n` are valid NUL-terminated strings; `value` is a readable buffer of the
    // length passed.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every attribute of `path` with its value.
pub fn all(path: &Path) -> io::Result<Xattrs> {
    let mut out = Xattrs::new();
    for name in list(path)? {
        if let Some(value) = get(path, &name)? {
            out.insert(name, value);
        }
    }
    Ok(out)
}

/// Whether an attribute belongs to overlayfs itself (never carried in layer archives).
pub fn is_overlay_private(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"trusted.overlay.")
}
