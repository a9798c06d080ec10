//! cgroup v1 controller files: `memory.*`, `cpuacct.*`, `pids.*`, `blkio.*`.

use std::path::Path;

use super::locate::V1Dirs;
use super::model::{BlkioEntry, CgroupStats, CpuUsage, MemoryUsage, PidsUsage};
use super::parse::{key_values, max_or_number, numbers, read_number, read_optional, read_text};
use super::CgroupError;

/// v1 writes "unlimited" as the largest page-aligned i64; anything this large means no limit.
const UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// Read every controller that is mounted; a missing controller leaves its part zero.
pub fn read(dirs: &V1Dirs) -> Result<CgroupStats, CgroupError> {
    Ok(CgroupStats {
        cpu: match &dirs.cpuacct {
            Some(dir) => read_cpu(dir, clock_ticks_per_second())?,
            None => CpuUsage::default(),
        },
        memory: match &dirs.memory {
            Some(dir) => read_memory(dir)?,
            None => MemoryUsage::default(),
        },
        pids: match &dirs.pids {
            Some(dir) => read_pids(dir)?,
            None => PidsUsage::default(),
        },
        blkio: match &dirs.blkio {
            Some(dir) => read_blkio(dir)?,
            None => Vec::new(),
        },
    })
}

fn clock_ticks_per_second() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as u64,
        _ => 100,
    }
}

/// `cpuacct.usage` (ns), `cpuacct.usage_percpu` (ns), `cpuacct.stat` (user/system in ticks).
pub fn read_cpu(dir: &Path, ticks_per_second: u64) -> Result<CpuUsage, CgroupError> {
    let total_ns = read_number(&dir.join("cpuacct.usage"))?;
    let percpu_path = dir.join("cpuacct.usage_percpu");
    let percpu_ns = match read_optional(&percpu_path)? {
        Some(text) => numbers(&percpu_path, &text)?,
        None => Vec::new(),
    };
    let stat = key_values(&read_text(&dir.join("cpuacct.stat"))?);
    let ns_per_tick = 1_000_000_000 / ticks_per_second.max(1);
    Ok(CpuUsage {
        total_ns,
        user_ns: stat.get("user").copied().unwrap_or(0) * ns_per_tick,
        system_ns: stat.get("system").copied().unwrap_or(0) * ns_per_tick,
        percpu_ns,
    })
}

/// `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.limit_in_bytes`, `memory.stat`.
pub fn read_memory(dir: &Path) -> Result<MemoryUsage, CgroupError> {
    let limit = read_number(&dir.join("memory.limit_in_bytes"))?;
    let max_usage_path = dir.join("memory.max_usage_in_bytes");
    let max_usage = match read_optional(&max_usage_path)? {
        Some(text) => super::parse::number(&max_usage_path, &text)?,
        None => 0,
    };
    Ok(MemoryUsage {
        usage: read_number(&dir.join("memory.usage_in_bytes"))?,
        max_usage,
        limit: (limit < UNLIMITED_THRESHOLD).then_some(limit),
        stat: key_values(&read_text(&dir.join("memory.stat"))?),
    })
}

/// `pids.current`, `pids.max` (the root cgroup has neither: zero, unlimited).
pub fn read_pids(dir: &Path) -> Result<PidsUsage, CgroupError> {
    let current_path = dir.join("pids.current");
    let max_path = dir.join("pids.max");
    let current = match read_optional(&current_path)? {
        Some(text) => super::parse::number(&current_path, &text)?,
        None => return Ok(PidsUsage::default()),
    };
    Ok(PidsUsage {
        current,
        limit: max_or_number(&max_path, &read_text(&max_path)?)?,
    })
}

/// Bytes by device and operation: the throttle counters (kept by every I/O scheduler), or the
/// CFQ/BFQ ones where the throttle file is missing or empty.
pub fn read_blkio(dir: &Path) -> Result<Vec<BlkioEntry>, CgroupError> {
    for name in [
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes",
        "blkio.io_service_bytes_recursive",
    ] {
        let path = dir.join(name);
        if let Some(text) = read_optional(&path)? {
            let entries = blkio_entries(&text);
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
    }
    Ok(Vec::new())
}

/// `MAJOR:MINOR Op bytes` lines; the `Total N` summary line is skipped.
fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (device, op, value) = (parts.next()?, parts.next()?, parts.next()?);
            let (major, minor) = device.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn reads_every_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "cpuacct.usage", "3000000000\n");
        write(d, "cpuacct.usage_percpu", "1000000000 2000000000 \n");
        write(d, "cpuacct.stat", "user 150\nsystem 50\n");
        write(d, "memory.usage_in_bytes", "1048576\n");
        write(d, "memory.max_usage_in_bytes", "2097152\n");
        write(d, "memory.limit_in_bytes", "67108864\n");
        write(d, "memory.stat", "cache 4096\ntotal_inactive_file 4096\n");
        write(d, "pids.current", "3\n");
        write(d, "pids.max", "max\n");
        write(
            d,
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 512\n8:0 Write 1024\n8:16 Read 100\nTotal 1636\n",
        );
        let dirs = V1Dirs {
            memory: Some(d.into()),
            cpuacct: Some(d.into()),
            pids: Some(d.into()),
            blkio: Some(d.into()),
        };
        let stats = read(&dirs).unwrap();
        assert_eq!(stats.cpu.total_ns, 3_000_000_000);
        assert_eq!(stats.cpu.percpu_ns, vec![1_000_000_000, 2_000_000_000]);
        let tick = 1_000_000_000 / clock_ticks_per_second();
        assert_eq!(stats.cpu.user_ns, 150 * tick);
        assert_eq!(stats.memory.usage, 1_048_576);
        assert_eq!(stats.memory.max_usage, 2_097_152);
        assert_eq!(stats.memory.limit, Some(67_108_864));
        assert_eq!(stats.memory.stat.get("total_inactive_file"), Some(&4096));
        assert_eq!(
            stats.pids,
            PidsUsage {
                current: 3,
                limit: None
            }
        );
        assert_eq!(stats.blkio_read_bytes(), 612);
        assert_eq!(stats.blkio_write_bytes(), 1024);
    }

    #[test]
    fn unlimited_memory_is_none_and_missing_controllers_are_zero() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "memory.usage_in_bytes", "10\n");
        write(d, "memory.limit_in_bytes", "9223372036854771712\n");
        write(d, "memory.stat", "");
        let dirs = V1Dirs {
            memory: Some(d.into()),
            ..Default::default()
        };
        let stats = read(&dirs).unwrap();
        assert_eq!(stats.memory.limit, None);
        assert_eq!(stats.cpu, CpuUsage::default());
        assert!(stats.blkio.is_empty());
    }

    #[test]
    fn a_vanished_cgroup_is_a_read_error_naming_the_file() {
        let dirs = V1Dirs {
            memory: Some("/nonexistent/strata/x".into()),
            ..Default::default()
        };
        let err = read(&dirs).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/strata/x/memory."),
            "{err}"
        );
    }
}
