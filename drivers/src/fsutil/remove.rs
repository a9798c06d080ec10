//! Deleting a layer directory so a crash never leaves it half-deleted under its real name:
//! rename it to `.removing-<name>` first (one atomic step), then delete.

use std::fs;
use std::io;
use std::path::Path;

use tracing::warn;

/// Prefix of directories being deleted.
pub const REMOVING_PREFIX: &str = ".removing-";
/// Prefix of directories being built.
pub const TMP_PREFIX: &str = ".tmp-";

/// Rename `dir` to a `.removing-` sibling, then delete it. A missing `dir` is fine.
pub fn remove_dir_atomically(dir: &Path) -> io::Result<()> {
    let Some(name) = dir.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no file name",
        ));
    };
    let mut doomed_name = std::ffi::OsString::from(REMOVING_PREFIX);
    doomed_name.push(name);
    let doomed = dir.with_file_name(doomed_name);
    if fs::symlink_metadata(&doomed).is_ok() {
        fs::remove_dir_all(&doomed)?;
    }
    match fs::rename(dir, &doomed) {
        Ok(()) => fs::remove_dir_all(&doomed),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
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
