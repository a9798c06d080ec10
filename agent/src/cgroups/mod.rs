//! Reading a container's resource use from its cgroups: cgroup v1 (including the hybrid layout,
//! v1 controllers beside a `cgroup2` mount at `/sys/fs/cgroup/unified`) and the unified v2
//! hierarchy. Used by the metrics collector and by `docker stats`.
//!
//! A process's cgroups are found from `/proc/<pid>/cgroup` and `/proc/self/mountinfo`
//! ([`locate`]); the controller files are read directly ([`v1`], [`v2`]) at the moment of the call.
//! [`parent`] names the agent's own cgroup parent and removes it when it is empty.

pub mod error;
pub mod host;
pub mod locate;
pub mod model;
pub mod parent;
pub mod parse;
pub mod v1;
pub mod v2;

pub use error::CgroupError;
pub use locate::CgroupDirs;
pub use model::{BlkioEntry, CgroupStats, CpuUsage, MemoryUsage, PidsUsage};

/// Read the current resource use of the cgroups `pid` belongs to.
pub fn read_for_pid(pid: u32) -> Result<CgroupStats, CgroupError> {
    let dirs = CgroupDirs::of_pid(pid)?;
    read_dirs(&dirs)
}

/// Read the current resource use from already located cgroup directories.
pub fn read_dirs(dirs: &CgroupDirs) -> Result<CgroupStats, CgroupError> {
    match dirs {
        CgroupDirs::V1(v1dirs) => v1::read(v1dirs),
        CgroupDirs::V2(dir) => v2::read(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real cgroup file system of this host (v1 hybrid or v2): this test process's own
    /// cgroups must be found and read.
    #[test]
    fn reads_this_process_on_this_host() {
        let stats = read_for_pid(std::process::id()).unwrap();
        assert!(
            stats.memory.usage > 0,
            "memory usage of this process's cgroup: {stats:?}"
        );
        assert!(
            stats.cpu.total_ns > 0,
            "cpu time of this process's cgroup: {stats:?}"
        );
    }
}
