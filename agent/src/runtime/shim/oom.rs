//! Whether the kernel OOM-killed something in the container's memory cgroup: the `oom_kill`
//! counter of `memory.oom_control` (cgroup v1) or `memory.events` (cgroup v2), compared with
//! its value when the container was created.

use std::path::{Path, PathBuf};

/// The counter file of one container's memory cgroup and its value at creation.
#[derive(Clone, Debug)]
pub(crate) struct OomWatch {
    counter_file: PathBuf,
    baseline: u64,
}

impl OomWatch {
    /// Find the memory cgroup of `pid` (read while the process lives). `None` when the host
    /// has no memory controller or the process is gone.
    pub(crate) fn for_pid(pid: i32) -> Option<OomWatch> {
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let counter_file = counter_file(&cgroups, &mountinfo)?;
        let baseline = read_counter(&counter_file).unwrap_or(0);
        Some(OomWatch {
            counter_file,
            baseline,
        })
    }

    /// Whether the OOM killer struck since creation.
    pub(crate) fn oom_killed(&self) -> bool {
        read_counter(&self.counter_file).is_some_and(|n| n > self.baseline)
    }
}

/// `oom_kill N` from a v1 `memory.oom_control` or v2 `memory.events`.
fn read_counter(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// The counter file, preferring a v1 memory hierarchy (hybrid hosts have both).
fn counter_file(proc_cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let mut v2_path = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hier), Some(controllers), Some(path)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            let mount = mount_point(mountinfo, |fstype, super_opts| {
                fstype == "cgroup" && super_opts.split(',').any(|o| o == "memory")
            })?;
            return Some(join_cgroup(&mount, path).join("memory.oom_control"));
        }
        if hier == "0" && controllers.is_empty() {
            v2_path = Some(path.to_string());
        }
    }
    let path = v2_path?;
    let mount = mount_point(mountinfo, |fstype, _| fstype == "cgroup2")?;
    let file = join_cgroup(&mount, &path).join("memory.events");
    // On hybrid hosts the v2 hierarchy has no memory controller.
    file.exists().then_some(file)
}

fn join_cgroup(mount: &Path, cgroup: &str) -> PathBuf {
    mount.join(cgroup.trim_start_matches('/'))
}

/// The mount point of the first mount whose file system type and super options match.
fn mount_point(mountinfo: &str, matches: impl Fn(&str, &str) -> bool) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount = left.split(' ').nth(4)?;
        let mut right = right.split(' ');
        let (Some(fstype), Some(_source), Some(super_opts)) =
            (right.next(), right.next(), right.next())
        else {
            continue;
        };
        if matches(fstype, super_opts) {
            return Some(PathBuf::from(mount.replace("\\040", " ")));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
35 25 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
36 25 0:32 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
";

    #[test]
    fn v1_memory_hierarchy_wins_on_hybrid_hosts() {
        let cg = "9:name=systemd:/\n4:memory:/strata-test/c1\n0::/\n";
        assert_eq!(
            counter_file(cg, MOUNTINFO),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/strata-test/c1/memory.oom_control"
            ))
        );
    }

    #[test]
    fn counter_is_parsed_from_either_format() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.oom_control");
        std::fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(read_counter(&f), Some(2));
        std::fs::write(&f, "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n").unwrap();
        assert_eq!(read_counter(&f), Some(1));
    }
}
