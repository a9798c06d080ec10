//! Facts about the machine a report was made on.

use serde::Serialize;

/// What the JSON report records about the machine.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// `uname -m`.
    pub arch: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os: Option<String>,
    /// CPUs this process may run on.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: Option<String>,
    /// `MemTotal` of /proc/meminfo, in bytes.
    pub memory_bytes: Option<u64>,
}

impl Machine {
    /// Look the facts up; whatever cannot be read is left empty.
    pub fn detect() -> Machine {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            kernel: field(|u| u.release()),
            arch: field(|u| u.machine()),
            os: read_key("/etc/os-release", "PRETTY_NAME", '=')
                .map(|v| v.trim_matches('"').to_string()),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: read_key("/proc/cpuinfo", "model name", ':'),
            memory_bytes: read_key("/proc/meminfo", "MemTotal", ':').and_then(|v| {
                let kib: u64 = v.trim_end_matches("kB").trim().parse().ok()?;
                Some(kib * 1024)
            }),
        }
    }
}

/// The value of the first `KEY<sep>VALUE` line of a text file, trimmed.
fn read_key(path: &str, key: &str, sep: char) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}
