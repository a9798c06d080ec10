//! cgroup v2 (unified) files: `cpu.stat`, `memory.current`/`max`/`stat`, `pids.*`, `io.stat`.

use std::path::Path;

use super::model::{BlkioEntry, CgroupStats, CpuUsage, MemoryUsage, PidsUsage};
use super::parse::{key_values, max_or_number, read_optional, read_text};
use super::CgroupError;

/// Read one v2 cgroup directory. Controllers not enabled for it (missing files) leave their
/// part zero; `cpu.stat` exists in every v2 cgroup.
pub fn read(dir: &Path) -> Result<CgroupStats, CgroupError> {
    let cpu_stat = key_values(&read_text(&dir.join("cpu.stat"))?);
    let cpu = CpuUsage {
        total_ns: cpu_stat.get("usage_usec").copied().unwrap_or(0) * 1000,
        user_ns: cpu_stat.get("user_usec").copied().unwrap_or(0) * 1000,
        system_ns: cpu_stat.get("system_usec").copied().unwrap_or(0) * 1000,
        percpu_ns: Vec::new(),
    };
    let memory = match read_optional(&dir.join("memory.current"))? {
        Some(current) => {
            let max_path = dir.join("memory.max");
            let peak_path = dir.join("memory.peak");
            MemoryUsage {
                usage: super::parse::number(&dir.join("memory.current"), &current)?,
                max_usage: match read_optional(&peak_path)? {
                    Some(text) => super::parse::number(&peak_path, &text)?,
                    None => 0,
                },
                limit: max_or_number(&max_path, &read_text(&max_path)?)?,
                stat: key_values(&read_text(&dir.join("memory.stat"))?),
            }
        }
        None => MemoryUsage::default(),
    };
    let pids = match read_optional(&dir.join("pids.current"))? {
        Some(current) => {
            let max_path = dir.join("pids.max");
            PidsUsage {
                current: super::parse::number(&dir.join("pids.current"), &current)?,
                limit: max_or_number(&max_path, &read_text(&max_path)?)?,
            }
        }
        None => PidsUsage::default(),
    };
    let blkio = match read_optional(&dir.join("io.stat"))? {
        Some(text) => io_entries(&text),
        None => Vec::new(),
    };
    Ok(CgroupStats {
        cpu,
        memory,
        pids,
        blkio,
    })
}

/// `MAJOR:MINOR rbytes=N wbytes=N rios=N ...` lines, as Docker reports them: `Read`/`Write`.
fn io_entries(text: &str) -> Vec<BlkioEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some((major, minor)) = parts.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for field in parts {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let op = match key {
                "rbytes" => "read",
                "wbytes" => "write",
                _ => continue,
            };
            if let Ok(value) = value.parse() {
                entries.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_string(),
                    value,
                });
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_unified_cgroup() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let w = |n: &str, t: &str| std::fs::write(d.join(n), t).unwrap();
        w(
            "cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 0\n",
        );
        w("memory.current", "4096\n");
        w("memory.max", "67108864\n");
        w("memory.stat", "anon 4096\ninactive_file 0\n");
        w("pids.current", "2\n");
        w("pids.max", "100\n");
        w(
            "io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
        );
        let stats = read(d).unwrap();
        assert_eq!(stats.cpu.total_ns, 2_500_000);
        assert_eq!(stats.cpu.system_ns, 500_000);
        assert_eq!(stats.memory.usage, 4096);
        assert_eq!(stats.memory.limit, Some(67_108_864));
        assert_eq!(
            stats.pids,
            PidsUsage {
                current: 2,
                limit: Some(100)
            }
        );
        assert_eq!(stats.blkio_read_bytes(), 4096);
        assert_eq!(stats.blkio_write_bytes(), 8192);
    }

    #[test]
    fn unlimited_and_without_optional_controllers() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("cpu.stat"), "usage_usec 1\n").unwrap();
        std::fs::write(d.join("memory.current"), "1\n").unwrap();
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        std::fs::write(d.join("memory.stat"), "").unwrap();
        let stats = read(d).unwrap();
        assert_eq!(stats.memory.limit, None);
        assert_eq!(stats.pids, PidsUsage::default());
        assert!(stats.blkio.is_empty());
    }
}
