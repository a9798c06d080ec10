//! `docker stats` and the per-container metrics: a container's resource use read from its
//! cgroups at the moment of the call (found from its init process, which runc put there).

use tracing::debug;

use crate::cgroups::{self, host, CgroupStats};
use crate::containers::live::Container;
use crate::containers::{time, ContainerManager, Shared};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// One `docker stats` sample of a container.
#[derive(Clone, Debug, Default)]
pub struct ContainerStats {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339 time of the sample.
    pub read: String,
    /// False when the container is not running (its figures are then zero, as Docker's).
    pub running: bool,
    pub cgroup: CgroupStats,
    /// The host's CPU time so far (ns), the base of the CPU percentage.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// The host's memory: what Docker reports as the limit of an unlimited container.
    pub host_memory_bytes: u64,
}

/// The cgroup figures of one running container, with the labels metrics carry.
#[derive(Clone, Debug)]
pub struct ContainerUsage {
    pub id: String,
    pub name: String,
    /// The image reference as the user gave it.
    pub image: String,
    pub cgroup: CgroupStats,
}

/// The init pid of `c` when it runs.
fn running_pid(c: &Container) -> Option<u32> {
    let state = c.state();
    if !c.is_running() || state.pid <= 0 {
        return None;
    }
    u32::try_from(state.pid).ok()
}

impl ContainerManager {
    /// The state of every container.
    pub fn statuses(&self) -> Vec<crate::model::ContainerStatus> {
        self.shared()
            .registry
            .all()
            .iter()
            .map(|c| c.state().status)
            .collect()
    }

    /// Read the cgroups of every running container. One that exits meanwhile is left out.
    pub fn running_usage(&self) -> Vec<ContainerUsage> {
        let mut out = Vec::new();
        for c in self.shared().registry.all() {
            let Some(pid) = running_pid(&c) else { continue };
            match cgroups::read_for_pid(pid) {
                Ok(cgroup) => {
                    let rec = c.record();
                    out.push(ContainerUsage {
                        id: rec.id,
                        name: rec.name,
                        image: rec.config.image,
                        cgroup,
                    });
                }
                Err(e) => debug!(id = %c.id, pid, error = %e, "container cgroups not readable"),
            }
        }
        out
    }
}

fn sample(c: &Container) -> Result<ContainerStats> {
    let (system_cpu_ns, online_cpus) =
        host::system_cpu().map_err(|e| EngineError::Internal(format!("host CPU time: {e}")))?;
    let mut stats = ContainerStats {
        id: c.id.clone(),
        name: c.name(),
        read: time::now_rfc3339(),
        running: false,
        cgroup: CgroupStats::default(),
        system_cpu_ns,
        online_cpus,
        host_memory_bytes: host::memory_total(),
    };
    if let Some(pid) = running_pid(c) {
        match cgroups::read_for_pid(pid) {
            Ok(cgroup) => {
                stats.cgroup = cgroup;
                stats.running = true;
            }
            // The container exited between the check and the read: report it as stopped.
            Err(e) if !c.is_running() => {
                debug!(id = %c.id, error = %e, "container exited while its stats were read")
            }
            Err(e) => {
                return Err(EngineError::Internal(format!(
                    "reading the cgroups of container {} (pid {pid}): {e}",
                    c.id
                )))
            }
        }
    }
    Ok(stats)
}

impl Engine {
    /// One sample of container `id`'s resource use (`GET /containers/{id}/stats`): full id,
    /// name or unique id prefix.
    pub async fn container_stats(&self, id: &str) -> Result<ContainerStats> {
        let c = self.inner.containers.shared().find(id)?;
        Shared::blocking("reading container stats", move || sample(&c)).await
    }
}
