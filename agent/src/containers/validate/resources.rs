//! Resource limits checked against this host at create, as dockerd's
//! `verifyPlatformContainerResources` does: impossible values are refused, limits the kernel
//! cannot enforce are dropped with the warning Docker prints.

use std::path::Path;

use crate::containers::validate::cpuset;
use crate::containers::validate::error::ValidationError;
use crate::model::Resources;

/// Docker's smallest memory limit (6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The kernel's largest `cpu.shares`.
const MAX_CPU_SHARES: i64 = 262_144;

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

/// The host facts resource checks depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostResources {
    pub cgroups: CgroupSupport,
    /// CPUs of this host (for the `--cpus` range).
    pub ncpu: i64,
    /// The CPUs containers may use, as a cpuset list (`0-1`).
    pub cpuset: String,
}

impl HostResources {
    pub(crate) fn detect() -> Self {
        HostResources {
            cgroups: CgroupSupport::detect(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            cpuset: cpuset::host_cpus(),
        }
    }
}

/// Check `r` and drop what the host cannot enforce; returns Docker's warnings.
pub(crate) fn check(
    r: &mut Resources,
    host: &HostResources,
) -> Result<Vec<String>, ValidationError> {
    memory(r)?;
    cpu(r, host)?;
    cpuset::check(&r.cpuset_cpus, &host.cpuset)?;
    let mut warnings = Vec::new();
    if r.memory > 0 && r.memory_swap != 0 && r.memory_swap != -1 && !host.cgroups.swap_limit {
        warnings.push(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. \
             Memory limited without swap."
                .to_string(),
        );
        r.memory_swap = -1;
    }
    if r.blkio_weight > 0 && !host.cgroups.blkio_weight {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight \
             discarded."
                .to_string(),
        );
        r.blkio_weight = 0;
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(ValidationError::BlkioWeightRange);
    }
    Ok(warnings)
}

fn memory(r: &Resources) -> Result<(), ValidationError> {
    if r.memory != 0 && r.memory < MIN_MEMORY {
        return Err(ValidationError::MemoryTooSmall);
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(ValidationError::SwapBelowMemory);
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return Err(ValidationError::SwapWithoutMemory);
    }
    Ok(())
}

fn cpu(r: &Resources, host: &HostResources) -> Result<(), ValidationError> {
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(ValidationError::NanoCpusAndPeriod);
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(ValidationError::NanoCpusAndQuota);
    }
    if r.nano_cpus < 0 || r.nano_cpus > host.ncpu.saturating_mul(1_000_000_000) {
        return Err(ValidationError::NanoCpusRange { ncpu: host.ncpu });
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(ValidationError::CpuPeriodRange);
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(ValidationError::CpuQuotaTooSmall);
    }
    if r.cpu_shares < 0 || r.cpu_shares > MAX_CPU_SHARES {
        return Err(ValidationError::CpuSharesRange(r.cpu_shares));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(blkio_weight: bool, swap_limit: bool) -> HostResources {
        HostResources {
            cgroups: CgroupSupport {
                blkio_weight,
                swap_limit,
            },
            ncpu: 2,
            cpuset: "0-1".into(),
        }
    }

    #[test]
    fn unsupported_limits_are_dropped_with_dockers_warning() {
        let mut r = Resources {
            blkio_weight: 300,
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        let w = check(&mut r, &host(false, false)).unwrap();
        assert_eq!(w.len(), 2);
        assert!(w[1].starts_with("Your kernel does not support Block I/O weight"));
        assert_eq!((r.blkio_weight, r.memory_swap), (0, -1));
        let mut r = Resources {
            blkio_weight: 300,
            ..Default::default()
        };
        assert!(check(&mut r, &host(true, true)).unwrap().is_empty());
        assert_eq!(r.blkio_weight, 300);
    }

    #[test]
    fn impossible_limits_are_refused_with_dockers_messages() {
        let cases: &[(Resources, &str)] = &[
            (
                Resources {
                    memory: 1 << 20,
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                Resources {
                    memory: -1,
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                Resources {
                    memory: 64 << 20,
                    memory_swap: 32 << 20,
                    ..Default::default()
                },
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ),
            (
                Resources {
                    nano_cpus: 3_000_000_000,
                    ..Default::default()
                },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources {
                    nano_cpus: -1,
                    ..Default::default()
                },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources {
                    cpu_quota: 999,
                    ..Default::default()
                },
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ),
            (
                Resources {
                    nano_cpus: 1_000_000_000,
                    cpu_quota: 50_000,
                    ..Default::default()
                },
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ),
            (
                Resources {
                    cpu_shares: 1 << 40,
                    ..Default::default()
                },
                "invalid CPU shares 1099511627776: it must be from 0 (the default) to 262144",
            ),
            (
                Resources {
                    blkio_weight: 5,
                    ..Default::default()
                },
                "Range of blkio weight is from 10 to 1000",
            ),
        ];
        for (r, message) in cases {
            let mut r = r.clone();
            assert_eq!(
                check(&mut r, &host(true, true)).unwrap_err().to_string(),
                *message
            );
        }
    }
}
