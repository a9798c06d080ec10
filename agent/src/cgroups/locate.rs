//! Where a process's cgroups are: its `/proc/<pid>/cgroup` lines joined with the cgroup mounts
//! this process sees in `/proc/self/mountinfo`.

use std::path::{Path, PathBuf};

use super::CgroupError;

/// The cgroup directories of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupDirs {
    /// cgroup v1 (also the hybrid layout): one directory per controller, `None` where the
    /// controller is not mounted.
    V1(V1Dirs),
    /// The unified v2 hierarchy: one directory.
    V2(PathBuf),
}

/// The v1 controllers the readers use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct V1Dirs {
    pub memory: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
}

/// One cgroup mount: its mount point, the cgroup path at its root, and (v1) its controllers.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CgroupMount {
    mount_point: PathBuf,
    root: String,
    v2: bool,
    controllers: Vec<String>,
}

impl CgroupDirs {
    /// Locate the cgroups of live process `pid`.
    pub fn of_pid(pid: u32) -> Result<CgroupDirs, CgroupError> {
        let proc_cgroup = Path::new("/proc").join(pid.to_string()).join("cgroup");
        let cgroups =
            std::fs::read_to_string(&proc_cgroup).map_err(|source| CgroupError::Read {
                path: proc_cgroup.clone(),
                source,
            })?;
        let mountinfo_path = Path::new("/proc/self/mountinfo");
        let mountinfo =
            std::fs::read_to_string(mountinfo_path).map_err(|source| CgroupError::Read {
                path: mountinfo_path.to_path_buf(),
                source,
            })?;
        from_texts(pid, &cgroups, &mountinfo)
    }
}

/// Locate from the texts of `/proc/<pid>/cgroup` and `/proc/self/mountinfo`.
pub(crate) fn from_texts(
    pid: u32,
    proc_cgroup: &str,
    mountinfo: &str,
) -> Result<CgroupDirs, CgroupError> {
    let mounts = cgroup_mounts(mountinfo);
    let mut v1 = V1Dirs::default();
    let mut any_v1 = false;
    let mut unified: Option<&str> = None;
    for line in proc_cgroup.lines() {
        // hierarchy-id:controller-list:path
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            unified = Some(path);
            continue;
        }
        for controller in controllers.split(',') {
            let slot = match controller {
                "memory" => &mut v1.memory,
                "cpuacct" => &mut v1.cpuacct,
                "pids" => &mut v1.pids,
                "blkio" => &mut v1.blkio,
                _ => continue,
            };
            let Some(mount) = mounts
                .iter()
                .find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))
            else {
                continue;
            };
            *slot = Some(join(mount, path));
            any_v1 = true;
        }
    }
    if any_v1 {
        return Ok(CgroupDirs::V1(v1));
    }
    let Some(path) = unified else {
        return Err(CgroupError::NotFound {
            pid,
            reason: "no memory, cpuacct, pids, blkio or unified cgroup in /proc/<pid>/cgroup"
                .into(),
        });
    };
    let mount = mounts
        .iter()
        .find(|m| m.v2)
        .ok_or_else(|| CgroupError::NotFound {
            pid,
            reason: "no cgroup2 file system mounted".into(),
        })?;
    Ok(CgroupDirs::V2(join(mount, path)))
}

/// The directory of cgroup `path` under `mount` (whose root may itself be a cgroup, inside a
/// cgroup namespace or a container).
fn join(mount: &CgroupMount, path: &str) -> PathBuf {
    let relative = path.strip_prefix(mount.root.as_str()).unwrap_or(path);
    mount.mount_point.join(relative.trim_start_matches('/'))
}

fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - fstype source super
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split_whitespace().collect();
            let right: Vec<&str> = right.split_whitespace().collect();
            let (root, mount_point) = (*left.get(3)?, *left.get(4)?);
            let fstype = *right.first()?;
            let super_opts = right.get(2).copied().unwrap_or("");
            match fstype {
                "cgroup2" => Some(CgroupMount {
                    mount_point: PathBuf::from(mount_point),
                    root: root.to_string(),
                    v2: true,
                    controllers: Vec::new(),
                }),
                "cgroup" => Some(CgroupMount {
                    mount_point: PathBuf::from(mount_point),
                    root: root.to_string(),
                    v2: false,
                    controllers: super_opts.split(',').map(str::to_string).collect(),
                }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_uses_the_v1_controllers() {
        let cgroup = "8:pids:/strata/c1\n7:blkio:/strata/c1\n4:memory:/strata/c1\n\
                      2:cpu,cpuacct:/strata/c1\n0::/\n";
        let CgroupDirs::V1(dirs) = from_texts(1, cgroup, HYBRID_MOUNTS).unwrap() else {
            panic!("hybrid must read v1 controllers");
        };
        assert_eq!(
            dirs.memory.unwrap(),
            Path::new("/sys/fs/cgroup/memory/strata/c1")
        );
        assert_eq!(
            dirs.cpuacct.unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/strata/c1")
        );
        assert_eq!(
            dirs.pids.unwrap(),
            Path::new("/sys/fs/cgroup/pids/strata/c1")
        );
        assert_eq!(
            dirs.blkio.unwrap(),
            Path::new("/sys/fs/cgroup/blkio/strata/c1")
        );
    }

    #[test]
    fn unified_only() {
        let mounts = "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let dirs = from_texts(1, "0::/strata/c1\n", mounts).unwrap();
        assert_eq!(
            dirs,
            CgroupDirs::V2(PathBuf::from("/sys/fs/cgroup/strata/c1"))
        );
    }

    #[test]
    fn mount_root_inside_a_cgroup_is_stripped() {
        let mounts = "30 25 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let dirs = from_texts(1, "0::/outer/strata/c1\n", mounts).unwrap();
        assert_eq!(
            dirs,
            CgroupDirs::V2(PathBuf::from("/sys/fs/cgroup/strata/c1"))
        );
    }

    #[test]
    fn nothing_mounted_is_an_error_naming_the_pid() {
        let err = from_texts(42, "0::/x\n", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap_err();
        assert!(err.to_string().contains("42"), "{err}");
    }
}
