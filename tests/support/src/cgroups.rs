//! The cgroup parent of a test daemon, and removing what its containers left there once the
//! harness has killed them (the agent removes its empty parent itself at a clean shutdown, but
//! containers still running then keep it; the harness kills those afterwards).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The agent's default cgroup parent for `data_root` (`strata serve` derives it the same way:
/// `/strata-<12 hex of the sha256 of the canonical data root>`), without the leading `/`.
pub fn default_parent(data_root: &Path) -> String {
    let root = std::fs::canonicalize(data_root).unwrap_or_else(|_| data_root.to_path_buf());
    let digest = Sha256::digest(std::os::unix::ffi::OsStrExt::as_bytes(root.as_os_str()));
    format!("strata-{}", &hex::encode(digest)[..12])
}

/// Mount points of every cgroup hierarchy (v1 controllers, named ones, v2).
pub fn hierarchies() -> Vec<PathBuf> {
    strata_drivers::mountinfo::mounts()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
        .collect()
}

/// `rmdir` `parent` (relative to each hierarchy's root) and its child cgroups, deepest first,
/// in every hierarchy; cgroups that still hold a process stay.
pub fn remove_parent(parent: &str) {
    let parent = parent.trim_matches('/');
    if parent.is_empty() {
        return;
    }
    for mount in hierarchies() {
        let dir = mount.join(parent);
        if dir.is_dir() {
            remove_tree(&dir);
        }
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}
