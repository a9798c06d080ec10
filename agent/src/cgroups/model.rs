//! What the readers return, the same for cgroup v1 and v2.

use std::collections::BTreeMap;

/// One sample of a cgroup's resource use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub cpu: CpuUsage,
    pub memory: MemoryUsage,
    pub pids: PidsUsage,
    /// Block I/O bytes by device and operation (`Read`, `Write`, ...).
    pub blkio: Vec<BlkioEntry>,
}

/// CPU time used, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    pub total_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    /// Per CPU (v1 `cpuacct.usage_percpu`; empty on v2, which has no such file).
    pub percpu_ns: Vec<u64>,
}

/// Memory use, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    pub usage: u64,
    /// Highest usage seen (v1 only; 0 where unknown).
    pub max_usage: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
    /// The `memory.stat` counters as the kernel names them.
    pub stat: BTreeMap<String, u64>,
}

/// Process (task) counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PidsUsage {
    pub current: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

/// One block I/O counter: device, operation, bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// Docker's spelling: `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`.
    pub op: String,
    pub value: u64,
}

impl CgroupStats {
    /// Bytes read from block devices, over every device.
    pub fn blkio_read_bytes(&self) -> u64 {
        self.blkio_sum("Read")
    }

    /// Bytes written to block devices, over every device.
    pub fn blkio_write_bytes(&self) -> u64 {
        self.blkio_sum("Write")
    }

    fn blkio_sum(&self, op: &str) -> u64 {
        self.blkio
            .iter()
            .filter(|e| e.op.eq_ignore_ascii_case(op))
            .map(|e| e.value)
            .sum()
    }
}
