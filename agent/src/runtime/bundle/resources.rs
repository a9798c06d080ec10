//! `linux.resources` of the OCI spec from the engine's `Resources` (Docker's `HostConfig`
//! limits). The runtime maps them to cgroup v1 or v2 files.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use crate::model::Resources;
use crate::runtime::RuntimeError;

/// CFS period Docker uses with `--cpus`.
const CPU_PERIOD_US: u64 = 100_000;

/// What the host's cgroups can enforce, where that changes the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSupport {
    /// The memory controller accounts swap (`memory.memsw.*` on v1, `memory.swap.*` on v2).
    /// Docker ignores swap limits when it cannot enforce them; so do we.
    pub swap_limit: bool,
}

impl HostSupport {
    /// Probe this host's cgroup file system.
    pub fn detect() -> Self {
        let v1 = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
        let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .map(|c| c.split_whitespace().any(|c| c == "memory"))
            .unwrap_or(false);
        HostSupport {
            swap_limit: v1 || v2,
        }
    }
}

/// Build the resources object. Docker's rules: `memory_swap` -1 is unlimited swap, 0 with a
/// memory limit means twice the memory limit, and a swap limit needs a memory limit.
pub(crate) fn linux_resources(
    r: &Resources,
    privileged: bool,
    host: HostSupport,
) -> Result<LinuxResources, RuntimeError> {
    let err = |what: &str, e: oci_spec::OciSpecError| {
        RuntimeError::Bundle(format!("resources ({what}): {e}"))
    };
    // Device cgroup: deny everything; runc then allows its standard device set. Privileged
    // containers may use every device.
    let device_rule = LinuxDeviceCgroupBuilder::default()
        .allow(privileged)
        .access("rwm")
        .build()
        .map_err(|e| err("devices", e))?;
    let mut builder = LinuxResourcesBuilder::default().devices(vec![device_rule]);

    if r.memory < 0 {
        return Err(RuntimeError::InvalidSpec(format!(
            "invalid memory limit {}",
            r.memory
        )));
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return Err(RuntimeError::InvalidSpec(
            "You should always set the Memory limit when using Memoryswap limit".into(),
        ));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(RuntimeError::InvalidSpec(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if r.memory > 0 {
        let mut memory = LinuxMemoryBuilder::default().limit(r.memory);
        if host.swap_limit {
            let swap = match r.memory_swap {
                0 => r.memory.saturating_mul(2),
                n if n < 0 => -1,
                n => n,
            };
            memory = memory.swap(swap);
        }
        builder = builder.memory(memory.build().map_err(|e| err("memory", e))?);
    }

    if r.nano_cpus < 0 || r.cpu_shares < 0 {
        return Err(RuntimeError::InvalidSpec(
            "cpu limits must not be negative".into(),
        ));
    }
    let cfs = r.cpu_quota != 0 || r.cpu_period > 0;
    if r.nano_cpus > 0 || r.cpu_shares > 0 || !r.cpuset_cpus.is_empty() || cfs {
        let mut cpu = LinuxCpuBuilder::default();
        if r.nano_cpus > 0 {
            let quota = (r.nano_cpus as i128 * CPU_PERIOD_US as i128 / 1_000_000_000) as i64;
            cpu = cpu.period(CPU_PERIOD_US).quota(quota.max(1000));
        } else if cfs {
            // `--cpu-quota`/`--cpu-period` (create refuses them together with `--cpus`).
            if r.cpu_period > 0 {
                cpu = cpu.period(r.cpu_period as u64);
            }
            if r.cpu_quota != 0 {
                cpu = cpu.quota(r.cpu_quota);
            }
        }
        if r.cpu_shares > 0 {
            cpu = cpu.shares(r.cpu_shares as u64);
        }
        if !r.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(r.cpuset_cpus.clone());
        }
        builder = builder.cpu(cpu.build().map_err(|e| err("cpu", e))?);
    }

    if r.pids_limit > 0 {
        builder = builder.pids(
            LinuxPidsBuilder::default()
                .limit(r.pids_limit)
                .build()
                .map_err(|e| err("pids", e))?,
        );
    }
    if r.blkio_weight > 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(RuntimeError::InvalidSpec(format!(
                "invalid blkio weight {}: range is from 10 to 1000",
                r.blkio_weight
            )));
        }
        builder = builder.block_io(
            LinuxBlockIoBuilder::default()
                .weight(r.blkio_weight)
                .build()
                .map_err(|e| err("blkio", e))?,
        );
    }
    builder.build().map_err(|e| err("resources", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWAP: HostSupport = HostSupport { swap_limit: true };

    #[test]
    fn no_limits_gives_only_the_device_rule() {
        let r = linux_resources(&Resources::default(), false, SWAP).unwrap();
        assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
        let dev = &r.devices().as_ref().unwrap()[0];
        assert!(!dev.allow());
        assert_eq!(dev.access().as_deref(), Some("rwm"));
    }

    #[test]
    fn memory_swap_rules() {
        let mut res = Resources {
            memory: 64 << 20,
            ..Default::default()
        };
        let r = linux_resources(&res, false, SWAP).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().swap(), Some(128 << 20));
        res.memory_swap = -1;
        assert_eq!(
            linux_resources(&res, false, SWAP)
                .unwrap()
                .memory()
                .as_ref()
                .unwrap()
                .swap(),
            Some(-1)
        );
        let no_swap = linux_resources(&res, false, HostSupport { swap_limit: false }).unwrap();
        assert_eq!(no_swap.memory().as_ref().unwrap().swap(), None);
        res.memory_swap = 32 << 20;
        assert!(linux_resources(&res, false, SWAP).is_err());
        assert!(linux_resources(
            &Resources {
                memory_swap: 1 << 30,
                ..Default::default()
            },
            false,
            SWAP
        )
        .is_err());
    }

    #[test]
    fn cpus_become_quota_over_period() {
        let res = Resources {
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            cpuset_cpus: "0".into(),
            ..Default::default()
        };
        let r = linux_resources(&res, false, SWAP).unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(cpu.shares(), Some(512));
        assert_eq!(cpu.cpus().as_deref(), Some("0"));
    }

    #[test]
    fn cpu_quota_and_period_as_asked() {
        let res = Resources {
            cpu_quota: 50_000,
            cpu_period: 200_000,
            ..Default::default()
        };
        let r = linux_resources(&res, false, SWAP).unwrap();
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(200_000)));
    }

    #[test]
    fn pids_and_blkio() {
        let res = Resources {
            pids_limit: 20,
            blkio_weight: 300,
            ..Default::default()
        };
        let r = linux_resources(&res, false, SWAP).unwrap();
        assert_eq!(r.pids().as_ref().unwrap().limit(), 20);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(300));
        assert!(linux_resources(
            &Resources {
                blkio_weight: 5,
                ..Default::default()
            },
            false,
            SWAP
        )
        .is_err());
        assert!(linux_resources(
            &Resources {
                pids_limit: -1,
                ..Default::default()
            },
            false,
            SWAP
        )
        .unwrap()
        .pids()
        .is_none());
    }
}
