//! The agent's cgroup parent: every container's cgroup is `<parent>/<container id>` in each
//! hierarchy (runc's cgroupfs paths). The parent is per agent instance, so two agents on one
//! host (two data roots) never share it: `--cgroup-parent` (dockerd's flag) or, by default,
//! `/strata-<12 hex of the data root's sha256>`.
//!
//! runc removes a container's own cgroup when the container is deleted; the parent stays. At
//! start and at clean shutdown the agent removes its parent where it is empty, in every cgroup
//! hierarchy mounted (each v1 controller, the named `systemd` one, the unified v2 one), with
//! plain `rmdir`s: the kernel refuses to remove a cgroup that still holds a process or a child,
//! so a running container's cgroup is never touched, and another instance's parent is never
//! looked at.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::CgroupError;

/// The default parent of the agent whose data root is `data_root`.
pub fn default_parent(data_root: &Path) -> String {
    let root = std::fs::canonicalize(data_root).unwrap_or_else(|_| data_root.to_path_buf());
    let digest = Sha256::digest(std::os::unix::ffi::OsStrExt::as_bytes(root.as_os_str()));
    format!("/strata-{}", &hex::encode(digest)[..12])
}

/// Check a `--cgroup-parent` value and make it absolute: `/`-separated names, none of them
/// empty, `.` or `..`.
pub fn validate(parent: &str) -> Result<String, CgroupError> {
    let trimmed = parent.trim_matches('/');
    let bad = |reason: &str| CgroupError::Parse {
        path: PathBuf::from(parent),
        reason: format!("invalid cgroup parent: {reason}"),
    };
    if trimmed.is_empty() {
        return Err(bad("empty"));
    }
    for part in trimmed.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad("empty, '.' or '..' path component"));
        }
        if part.chars().any(|c| c.is_control()) {
            return Err(bad("control character"));
        }
    }
    Ok(format!("/{trimmed}"))
}

/// The cgroups path runc gets for container `id` under `parent`.
pub fn container_path(parent: &str, id: &str) -> String {
    format!("{}/{id}", parent.trim_end_matches('/'))
}

/// The mount points of every cgroup hierarchy this process sees (v1 and v2).
pub fn hierarchy_mounts() -> Result<Vec<PathBuf>, CgroupError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(mounts_in(&text))
}

fn mounts_in(mountinfo: &str) -> Vec<PathBuf> {
    strata_drivers::mountinfo::parse(mountinfo)
        .into_iter()
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
        .collect()
}

/// Remove the agent's parent `parent` in every hierarchy where it is empty, after removing
/// its empty child cgroups whose names are not in `keep` (containers still running). Returns
/// how many parent directories were removed. Failures are logged: this is hygiene, never a
/// reason to refuse to start or stop.
pub fn remove_empty(parent: &str, keep: &HashSet<String>) -> usize {
    let relative = parent.trim_matches('/');
    if relative.is_empty() {
        return 0;
    }
    let mounts = match hierarchy_mounts() {
        Ok(mounts) => mounts,
        Err(e) => {
            warn!(error = %e, "listing cgroup hierarchies to remove the agent's parent");
            return 0;
        }
    };
    let mut removed = 0;
    for mount in mounts {
        let dir = mount.join(relative);
        if !dir.is_dir() {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !keep.contains(&name) {
                    remove_tree(&entry.path());
                }
            }
        }
        match std::fs::remove_dir(&dir) {
            Ok(()) => removed += 1,
            Err(e) => debug!(dir = %dir.display(), error = %e, "cgroup parent still in use"),
        }
    }
    if removed > 0 {
        info!(
            parent,
            hierarchies = removed,
            "removed the agent's empty cgroup parent"
        );
    }
    removed
}

/// `rmdir` a cgroup and its child cgroups, deepest first (a cgroup's files are not files one
/// can unlink: only directories are removed). Busy cgroups stay.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        debug!(dir = %dir.display(), error = %e, "cgroup still in use");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_per_data_root_and_checked() {
        let a = default_parent(Path::new("/var/lib/strata-a"));
        let b = default_parent(Path::new("/var/lib/strata-b"));
        assert_ne!(a, b);
        assert!(
            a.starts_with("/strata-") && a.len() == "/strata-".len() + 12,
            "{a}"
        );
        assert_eq!(validate("docker").unwrap(), "/docker");
        assert_eq!(validate("/a/b/").unwrap(), "/a/b");
        assert!(validate("/").is_err());
        assert!(validate("/a/../b").is_err());
        assert!(validate("a//b").is_err());
        assert_eq!(container_path("/strata-x", "c1"), "/strata-x/c1");
    }

    #[test]
    fn every_cgroup_mount_is_a_hierarchy() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            mounts_in(text),
            vec![
                PathBuf::from("/sys/fs/cgroup/systemd"),
                PathBuf::from("/sys/fs/cgroup/memory"),
                PathBuf::from("/sys/fs/cgroup/unified"),
            ]
        );
    }

    /// On this host: a parent made for the test in every hierarchy, with an empty child, is
    /// removed; a child kept by name stays (and so does its parent).
    #[test]
    fn removes_an_empty_parent_everywhere_and_keeps_what_is_asked() {
        let parent = format!("/strata-unit-{}", std::process::id());
        let mounts = hierarchy_mounts().unwrap();
        assert!(
            !mounts.is_empty(),
            "no cgroup hierarchy mounted on this host"
        );
        for m in &mounts {
            std::fs::create_dir_all(m.join(&parent[1..]).join("kept")).unwrap();
            std::fs::create_dir_all(m.join(&parent[1..]).join("gone")).unwrap();
        }
        let keep: HashSet<String> = ["kept".to_string()].into();
        assert_eq!(remove_empty(&parent, &keep), 0);
        for m in &mounts {
            assert!(m.join(&parent[1..]).join("kept").is_dir());
            assert!(!m.join(&parent[1..]).join("gone").exists());
        }
        assert_eq!(remove_empty(&parent, &HashSet::new()), mounts.len());
        for m in &mounts {
            assert!(!m.join(&parent[1..]).exists());
        }
    }
}
