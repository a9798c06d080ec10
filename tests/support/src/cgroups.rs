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

/// The containers (cgroups directly under `parent`, by name) whose freezer is frozen in any
/// hierarchy: cgroup v1 `freezer.state` `FROZEN` or `FREEZING`, v2 `cgroup.freeze` `1`.
pub fn frozen_under(parent: &str) -> Vec<String> {
    let parent = parent.trim_matches('/');
    let mut frozen = Vec::new();
    for mount in hierarchies() {
        let Ok(entries) = std::fs::read_dir(mount.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            let v1 = read("freezer.state");
            let is_frozen =
                matches!(v1.trim(), "FROZEN" | "FREEZING") || read("cgroup.freeze").trim() == "1";
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_frozen && !frozen.contains(&name) {
                frozen.push(name);
            }
        }
    }
    frozen
}

/// A process in one of the cgroups under an agent's parent.
#[derive(Clone, Debug)]
pub struct CgroupProcess {
    pub pid: i32,
    /// The cgroup directly under the parent it is in: a container id.
    pub container: String,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
}

/// Every process in a cgroup under `parent` (in any hierarchy).
pub fn processes_under(parent: &str) -> Vec<CgroupProcess> {
    let prefix = format!("/{}/", parent.trim_matches('/'));
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let Ok(cgroups) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            continue;
        };
        let container = cgroups.lines().find_map(|line| {
            let path = line.splitn(3, ':').nth(2)?;
            let rest = path.strip_prefix(&prefix)?;
            Some(rest.split('/').next()?.to_string())
        });
        if let Some(container) = container {
            let cmdline = crate::daemon::cmdline_of(pid).unwrap_or_default();
            out.push(CgroupProcess {
                pid,
                container,
                cmdline,
            });
        }
    }
    out
}
