//! Deleting a layer directory so a crash never leaves it half-deleted under its real name:
//! rename it to `.removing-<name>` first (one atomic step), then delete.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::warn;

/// Prefix of directories being deleted.
pub const REMOVING_PREFIX: &str = ".removing-";
/// Prefix of directories being built.
pub const TMP_PREFIX: &str = ".tmp-";

/// Rename `dir` to a fresh `.removing-` sibling so it disappears under its real name in one
/// step. Returns where it went, `None` when `dir` does not exist.
pub fn rename_for_removal(dir: &Path) -> io::Result<Option<PathBuf>> {
    static RENAMES: AtomicU64 = AtomicU64::new(0);
    let Some(name) = dir.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no file name",
        ));
    };
    let n = RENAMES.fetch_add(1, Ordering::Relaxed);
    let mut doomed_name = std::ffi::OsString::from(REMOVING_PREFIX);
    doomed_name.push(name);
    doomed_name.push(format!("-{}-{n}", std::process::id()));
    let doomed = dir.with_file_name(doomed_name);
    match fs::rename(dir, &doomed) {
        Ok(()) => Ok(Some(doomed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Delete a directory renamed by [`rename_for_removal`]. A failure only leaves a `.removing-`
/// leftover, which `clean_leftovers` deletes at the next open: it is logged, not returned.
pub fn finish_removal(doomed: &Path) {
    if let Err(e) = fs::remove_dir_all(doomed) {
        warn!(path = %doomed.display(), error = %e, "deleting a removed layer's files; retried at next start");
    }
}

/// Rename `dir` to a `.removing-` sibling, then delete it. A missing `dir` is fine.
pub fn remove_dir_atomically(dir: &Path) -> io::Result<()> {
    if let Some(doomed) = rename_for_removal(dir)? {
        fs::remove_dir_all(&doomed)?;
    }
    Ok(())
}

/// Delete leftovers of interrupted builds and deletions (`.tmp-*`, `.removing-*`) in `dir`.
pub fn clean_leftovers(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(REMOVING_PREFIX) || name.starts_with(TMP_PREFIX) {
            warn!(path = %entry.path().display(), "removing leftover of an interrupted operation");
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}
