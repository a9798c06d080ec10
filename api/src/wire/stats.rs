//! `GET /containers/{id}/stats`: the engine's sample as Docker's stats JSON (`cpu_stats`,
//! `precpu_stats`, `memory_stats`, `pids_stats`, `blkio_stats`, `read`, `preread`, `name`, `id`).

use bollard_stubs::models::{
    ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
    ContainerMemoryStats, ContainerPidsStats, ContainerStatsResponse, ContainerThrottlingData,
};
use strata_agent::containers::stats::ContainerStats;

/// Docker's zero time, for `preread` when there is no previous sample.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `now` as Docker's stats JSON, with `previous` as `precpu_stats`/`preread` (zeros when
/// `None`, as Docker sends in the first sample of a stream).
pub fn stats(now: &ContainerStats, previous: Option<&ContainerStats>) -> ContainerStatsResponse {
    ContainerStatsResponse {
        id: Some(now.id.clone()),
        name: Some(format!("/{}", now.name)),
        os_type: Some("linux".into()),
        read: Some(now.read.clone()),
        preread: Some(previous.map_or_else(|| ZERO_TIME.to_string(), |p| p.read.clone())),
        cpu_stats: Some(cpu(now)),
        precpu_stats: Some(previous.map(cpu).unwrap_or_default()),
        memory_stats: Some(memory(now)),
        pids_stats: Some(pids(now)),
        blkio_stats: Some(blkio(now)),
        num_procs: Some(0),
        ..Default::default()
    }
}

fn cpu(s: &ContainerStats) -> ContainerCpuStats {
    if !s.running {
        return ContainerCpuStats::default();
    }
    let c = &s.cgroup.cpu;
    ContainerCpuStats {
        cpu_usage: Some(ContainerCpuUsage {
            total_usage: Some(c.total_ns),
            percpu_usage: (!c.percpu_ns.is_empty()).then(|| c.percpu_ns.clone()),
            usage_in_kernelmode: Some(c.system_ns),
            usage_in_usermode: Some(c.user_ns),
        }),
        system_cpu_usage: Some(s.system_cpu_ns),
        online_cpus: Some(s.online_cpus),
        throttling_data: Some(ContainerThrottlingData {
            periods: Some(0),
            throttled_periods: Some(0),
            throttled_time: Some(0),
        }),
    }
}

fn memory(s: &ContainerStats) -> ContainerMemoryStats {
    if !s.running {
        return ContainerMemoryStats::default();
    }
    let m = &s.cgroup.memory;
    // As dockerd: an unlimited container (or one limited above the host's memory) shows the
    // host's memory as its limit.
    let host = s.host_memory_bytes;
    let limit = match m.limit {
        Some(limit) if host == 0 || limit <= host => limit,
        _ => host,
    };
    ContainerMemoryStats {
        usage: Some(m.usage),
        max_usage: (m.max_usage > 0).then_some(m.max_usage),
        stats: Some(m.stat.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        limit: Some(limit),
        ..Default::default()
    }
}

fn pids(s: &ContainerStats) -> ContainerPidsStats {
    if !s.running {
        return ContainerPidsStats::default();
    }
    ContainerPidsStats {
        current: Some(s.cgroup.pids.current),
        limit: s.cgroup.pids.limit,
    }
}

fn blkio(s: &ContainerStats) -> ContainerBlkioStats {
    let entries: Vec<ContainerBlkioStatEntry> = s
        .cgroup
        .blkio
        .iter()
        .map(|e| ContainerBlkioStatEntry {
            major: Some(e.major),
            minor: Some(e.minor),
            op: Some(e.op.clone()),
            value: Some(e.value),
        })
        .collect();
    ContainerBlkioStats {
        io_service_bytes_recursive: Some(entries),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_agent::cgroups::{CgroupStats, MemoryUsage};

    fn sample(limit: Option<u64>) -> ContainerStats {
        ContainerStats {
            id: "abc".into(),
            name: "web".into(),
            read: "2025-01-01T00:00:01Z".into(),
            running: true,
            cgroup: CgroupStats {
                memory: MemoryUsage {
                    usage: 4096,
                    limit,
                    ..Default::default()
                },
                ..Default::default()
            },
            system_cpu_ns: 10,
            online_cpus: 2,
            host_memory_bytes: 1 << 30,
        }
    }

    #[test]
    fn docker_shape() {
        let json = serde_json::to_value(stats(&sample(Some(64 << 20)), None)).unwrap();
        assert_eq!(json["name"], "/web");
        assert_eq!(json["memory_stats"]["limit"], 64 << 20);
        assert_eq!(json["memory_stats"]["usage"], 4096);
        assert_eq!(json["cpu_stats"]["online_cpus"], 2);
        assert_eq!(json["preread"], ZERO_TIME);
    }

    #[test]
    fn unlimited_shows_host_memory() {
        let json = serde_json::to_value(stats(&sample(None), None)).unwrap();
        assert_eq!(json["memory_stats"]["limit"], 1u64 << 30);
    }
}
