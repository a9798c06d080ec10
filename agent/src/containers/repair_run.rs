//! At start, a container whose shim still runs is brought in line with what its runtime says
//! (`recover` calls this before reconnecting). A shim the dead agent launched that is still
//! creating the container is waited for first (until it is ready or gone). Then, when the
//! container is:
//! - recorded neither running nor paused (`created`, `exited`, `restarting`): a start the agent
//!   did not live to record. Adopted as running when the runtime started its process; otherwise
//!   killed, its shim gone, its record left as it was (the start never happened);
//! - recorded running but frozen (a commit or a pause cut short): thawed, as it was before;
//! - recorded paused but thawed (an unpause cut short): recorded running.
//!
//! A container the user paused stays paused. The runtime reads the freezer (cgroup v1
//! `freezer.state`, v2 `cgroup.freeze`) for `state` and writes it for `resume`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::containers::live::Container;
use crate::containers::{time, Shared};
use crate::error::Result;
use crate::model::ContainerStatus;
use crate::runtime::shim_client::{live_shim_pid, shim_alive, shim_state_dir};

/// How long a shim may take to exit once its container is killed before it is killed too.
const SHIM_EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long a shim launched by an agent that died before it reported may take to become
/// ready (the agent's own launch waits as long).
const SHIM_READY_GRACE: Duration = Duration::from_secs(30);

/// What became of a run whose shim outlived the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveRun {
    /// No shim serves the container.
    NoShim,
    /// The container runs (or is paused by its user): reconnect to its shim.
    Running,
    /// Its start was never completed: container and shim are gone, the record is unchanged.
    Discarded,
}

/// Reconcile container `c` with its shim, if one runs (`launched`: the pid of a shim process
/// of its state directory, ready or not), and with its runtime state.
pub(crate) async fn reconcile(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    launched: Option<i32>,
) -> Result<LiveRun> {
    if !shim_alive(&c.paths.shim_dir) {
        // A shim still finishing the run of a container recorded running is no launch: its
        // exit is read from its files.
        let Some(pid) = launched.filter(|_| !c.has_process()) else {
            return Ok(LiveRun::NoShim);
        };
        // The agent died while the runtime was creating the container.
        settle_launch(c, pid).await;
        if !shim_alive(&c.paths.shim_dir) {
            discard_run(shared, c).await;
            return Ok(LiveRun::Discarded);
        }
    }
    reconcile_live_run(shared, c).await
}

/// Wait until the shim `pid` launched for `c`, which has not reported yet, is ready or gone;
/// one still not ready after [`SHIM_READY_GRACE`] is killed.
async fn settle_launch(c: &Container, pid: i32) {
    let deadline = Instant::now() + SHIM_READY_GRACE;
    while !shim_alive(&c.paths.shim_dir) && shim_state_dir(pid).is_some() {
        if Instant::now() > deadline {
            warn!(id = %c.id, pid, "a shim launched by the previous agent never became ready; killing it");
            kill(pid);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reconcile container `c`, whose shim is alive, with its runtime state.
async fn reconcile_live_run(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<LiveRun> {
    let runtime = match shared.runtime.state(&c.id).await {
        Ok(state) => state,
        Err(e) => {
            warn!(id = %c.id, error = %e, "reading the runtime state of a container found running");
            None
        }
    };
    let (runtime_status, runtime_pid) = runtime.map(|s| (s.status, s.pid)).unwrap_or_default();
    let state = c.state();
    let started = matches!(runtime_status.as_str(), "running" | "paused");
    let recorded_started = c.has_process();
    if !recorded_started && !started {
        info!(id = %c.id, runtime = %runtime_status, "killing a container whose start the previous agent did not complete");
        discard_run(shared, c).await;
        return Ok(LiveRun::Discarded);
    }
    let mut target = state.clone();
    if !recorded_started {
        info!(id = %c.id, "adopting a container the previous agent started but did not record");
        target.pid = runtime_pid;
        target.exit_code = 0;
        target.oom_killed = false;
        target.error = String::new();
        target.started_at = time::now_rfc3339();
    }
    target.status = ContainerStatus::Running;
    if runtime_status == "paused" {
        if state.status == ContainerStatus::Paused {
            target.status = ContainerStatus::Paused;
        } else if let Err(e) = shared.runtime.resume(&c.id).await {
            // It cannot be thawed here: show it paused, so `docker unpause` and `rm -f` work.
            warn!(id = %c.id, error = %e, "thawing a container the previous agent left frozen");
            target.status = ContainerStatus::Paused;
        } else {
            info!(id = %c.id, "thawed a container the previous agent left frozen");
        }
    }
    if target != state {
        shared.persist_state(c, &target).await?;
    }
    info!(id = %c.id, status = %target.status.as_str(), "container's shim reconciled");
    Ok(LiveRun::Running)
}

/// Kill container `c`'s run (`RUNTIME delete --force`) and wait for its shim to go; a shim
/// still there after [`SHIM_EXIT_GRACE`] is killed.
pub(crate) async fn discard_run(shared: &Arc<Shared>, c: &Container) {
    if let Err(e) = shared.runtime.delete(&c.id, true).await {
        warn!(id = %c.id, error = %e, "killing a container nobody will start");
    }
    wait_shim_gone(&c.paths.shim_dir).await;
}

/// Wait until the shim of `state_dir` has exited, SIGKILLing it after [`SHIM_EXIT_GRACE`].
async fn wait_shim_gone(state_dir: &Path) {
    let deadline = Instant::now() + SHIM_EXIT_GRACE;
    while let Some(pid) = live_shim_pid(state_dir) {
        if Instant::now() > deadline {
            warn!(pid, state_dir = %state_dir.display(), "the shim outlived its container; killing it");
            kill(pid);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGKILL process `pid` (a shim); one already gone is fine.
fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}
