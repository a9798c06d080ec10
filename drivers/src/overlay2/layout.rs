//! Where overlay2 keeps things, in moby's layout:
//! `home/<id>/diff` (content), `link` (short name), `lower` (`l/A:l/B`, nearest parent first),
//! `work` (read-write layers only), `merged`, plus `parent` (the parent's id); and
//! `home/l/<SHORT>` -> `../<id>/diff`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::DriverError;
use crate::layer_id::LayerId;

/// Name of the directory of short links.
pub const LINK_DIR: &str = "l";
/// Length of a short link name.
pub const SHORT_LEN: usize = 26;

/// Paths of one layer.
pub struct LayerPaths {
    pub root: PathBuf,
}

impl LayerPaths {
    pub fn new(home: &Path, id: &LayerId) -> Self {
        LayerPaths {
            root: home.join(id.as_str()),
        }
    }
    pub fn diff(&self) -> PathBuf {
        self.root.join("diff")
    }
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }
    pub fn merged(&self) -> PathBuf {
        self.root.join("merged")
    }
    pub fn link_file(&self) -> PathBuf {
        self.root.join("link")
    }
    pub fn lower_file(&self) -> PathBuf {
        self.root.join("lower")
    }
    pub fn parent_file(&self) -> PathBuf {
        self.root.join("parent")
    }
}

/// A fresh random short name: 26 characters of `[A-Z0-9]`.
pub fn random_short_name() -> io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; SHORT_LEN];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        filled += n as usize;
    }
    // The slight modulo bias is irrelevant for names that only need to be unique.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect())
}

/// Read a small text file written by this driver (trimmed); `None` when missing.
pub fn read_small(path: &Path) -> Result<Option<String>, DriverError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DriverError::io(format!("reading {}", path.display()), e)),
    }
}
