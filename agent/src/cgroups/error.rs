//! Errors of the cgroup readers.

use std::path::PathBuf;

/// Why a cgroup could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A file could not be read (the cgroup is gone when the process exited).
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file did not hold what the kernel writes there.
    #[error("parsing {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The process's cgroups are not mounted where this process can see them.
    #[error("cgroups of pid {pid}: {reason}")]
    NotFound { pid: u32, reason: String },
}
