//! Host-wide figures `docker stats` computes CPU percentages against: the host's total CPU time
//! and its number of online CPUs (both from `/proc/stat`), and its memory.

use std::path::Path;

use super::parse::read_text;
use super::CgroupError;

/// The host's CPU time so far in nanoseconds (the first seven `cpu` fields of `/proc/stat`, as
/// Docker sums them) and the number of `cpuN` lines.
pub fn system_cpu() -> Result<(u64, u32), CgroupError> {
    let path = Path::new("/proc/stat");
    let text = read_text(path)?;
    let ticks = match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    };
    parse_proc_stat(&text, ticks).ok_or_else(|| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: "no aggregate cpu line".into(),
    })
}

fn parse_proc_stat(text: &str, ticks_per_second: u64) -> Option<(u64, u32)> {
    let mut total = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let sum: u64 = fields.take(7).filter_map(|f| f.parse::<u64>().ok()).sum();
                total = Some(sum * (1_000_000_000 / ticks_per_second.max(1)));
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    Some((total?, cpus.max(1)))
}

/// The host's memory in bytes (`MemTotal` of `/proc/meminfo`), 0 when unknown.
pub fn memory_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sums_and_counts() {
        let text = "cpu  10 0 10 80 0 0 0 5 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\n\
                    cpu1 5 0 5 40 0 0 0 0 0 0\nintr 1\n";
        assert_eq!(parse_proc_stat(text, 100), Some((100 * 10_000_000, 2)));
        assert!(system_cpu().unwrap().0 > 0);
        assert!(memory_total() > 0);
    }
}
