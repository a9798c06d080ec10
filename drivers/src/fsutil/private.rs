//! Modes of the host-side directories and files that hold layers and the agent's state: closed
//! to other local users, as moby does since CVE-2021-41091 (any user could otherwise walk into
//! a layer and run a setuid binary of an image, or read a container's environment). What is
//! inside a layer keeps its own modes: only the directories above it are closed.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Directories only root may enter: driver homes, layer directories, state directories.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Files only root may read: the metadata database, container logs, temporary files.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Roots other users may traverse but not list (the data and exec roots, as moby's data root:
/// a socket path given under the exec root stays reachable for its group).
pub const TRAVERSE_ONLY_DIR_MODE: u32 = 0o711;

/// Make `dir` a directory with exactly `mode`: create it (missing parents get the default
/// mode: they are not ours) or set `mode` on the existing one, so a directory an older version
/// made with looser modes is fixed. Costs a `stat` when nothing changes.
pub fn dir_with_mode(dir: &Path, mode: u32) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let md = fs::metadata(dir)?;
    if !md.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        ));
    }
    // Set explicitly: the creation mode went through the umask.
    set_mode_if_other(dir, md.permissions().mode(), mode)
}

/// [`dir_with_mode`] with [`PRIVATE_DIR_MODE`].
pub fn private_dir(dir: &Path) -> io::Result<()> {
    dir_with_mode(dir, PRIVATE_DIR_MODE)
}

/// Give an existing file or directory `mode` if it has another one; a missing path is fine
/// (fixing what an older version left, when there is something).
pub fn restrict_if_present(path: &Path, mode: u32) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(md) => set_mode_if_other(path, md.permissions().mode(), mode),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Options that create a file with [`PRIVATE_FILE_MODE`] (set `read`/`write`/`create` on top).
pub fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(PRIVATE_FILE_MODE);
    options
}

fn set_mode_if_other(path: &Path, current: u32, mode: u32) -> io::Result<()> {
    if current & 0o7777 == mode {
        return Ok(());
    }
    super::meta::chmod(path, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn creates_with_the_mode_and_parents_with_the_default() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("parent/home");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_ne!(mode(&t.path().join("parent")), 0o700);
    }

    #[test]
    fn fixes_an_existing_loose_directory_and_file() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("root");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        dir_with_mode(&dir, TRAVERSE_ONLY_DIR_MODE).unwrap();
        assert_eq!(mode(&dir), 0o711);
        let file = dir.join("db");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        restrict_if_present(&file, PRIVATE_FILE_MODE).unwrap();
        assert_eq!(mode(&file), 0o600);
        restrict_if_present(&dir.join("missing"), PRIVATE_FILE_MODE).unwrap();
    }

    #[test]
    fn refuses_a_file_where_a_directory_belongs() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        fs::write(&file, b"x").unwrap();
        assert!(private_dir(&file).is_err());
    }

    #[test]
    fn private_files_are_created_0600() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        private_file_options()
            .write(true)
            .create_new(true)
            .open(&file)
            .unwrap();
        assert_eq!(mode(&file), 0o600);
    }
}
