//! Resource limits checked against this host at create, as dockerd does: impossible values are
//! 400s, limits the kernel cannot enforce are dropped with the warning Docker prints.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::model::Resources;

/// Docker's smallest memory limit (6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// What the host's cgroups offer (probed from `/sys/fs/cgroup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CgroupSupport {
    pub blkio_weight: bool,
    pub swap_limit: bool,
}

impl CgroupSupport {
    pub(crate) fn detect() -> Self {
        let root = Path::new("/sys/fs/cgroup");
        let v2_controllers = std::fs::read_to_string(root.join("cgroup.controllers")).ok();
        let v2_has = |c: &str| {
            v2_controllers
                .as_deref()
                .is_some_and(|l| l.split_whitespace().any(|x| x == c))
        };
        let exists = |p: &str| root.join(p).exists();
        CgroupSupport {
            blkio_weight: exists("blkio/blkio.weight")
                || exists("blkio/blkio.bfq.weight")
                || (v2_has("io") && (exists("io.weight") || exists("io.bfq.weight"))),
            swap_limit: exists("memory/memory.memsw.limit_in_bytes") || v2_has("memory"),
        }
    }
}

/// Check `r` and drop what the host cannot enforce; returns Docker's warnings.
pub(crate) fn adjust(r: &mut Resources, host: CgroupSupport, ncpu: i64) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if r.memory > 0 && r.memory < MIN_MEMORY {
        return Err(EngineError::InvalidArgument(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if r.nano_cpus > 0 && r.nano_cpus > ncpu.saturating_mul(1_000_000_000) {
        return Err(EngineError::InvalidArgument(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if r.memory > 0 && r.memory_swap != 0 && r.memory_swap != -1 && !host.swap_limit {
        warnings.push(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. \
             Memory limited without swap."
                .to_string(),
        );
        r.memory_swap = -1;
    }
    if r.blkio_weight > 0 && !host.blkio_weight {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight \
             discarded."
                .to_string(),
        );
        r.blkio_weight = 0;
    }
    Ok(warnings)
}

/// The CPUs this host has (for the `--cpus` range check).
pub(crate) fn host_cpus() -> i64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: CgroupSupport = CgroupSupport {
        blkio_weight: false,
        swap_limit: false,
    };

    #[test]
    fn unsupported_limits_are_dropped_with_dockers_warning() {
        let mut r = Resources {
            blkio_weight: 300,
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        let w = adjust(&mut r, NONE, 2).unwrap();
        assert_eq!(w.len(), 2);
        assert!(w[1].starts_with("Your kernel does not support Block I/O weight"));
        assert_eq!((r.blkio_weight, r.memory_swap), (0, -1));
        let mut r = Resources {
            blkio_weight: 300,
            ..Default::default()
        };
        let full = CgroupSupport {
            blkio_weight: true,
            swap_limit: true,
        };
        assert!(adjust(&mut r, full, 2).unwrap().is_empty());
        assert_eq!(r.blkio_weight, 300);
    }

    #[test]
    fn impossible_limits_are_refused() {
        let mut r = Resources {
            memory: 1 << 20,
            ..Default::default()
        };
        assert!(adjust(&mut r, NONE, 2).is_err());
        let mut r = Resources {
            nano_cpus: 3_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            adjust(&mut r, NONE, 2).unwrap_err().to_string(),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
    }
}
