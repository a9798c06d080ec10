//! Recovery at engine open: removals a crash cut short are finished first
//! (`repair_removal`). A container whose shim still runs is reconciled with its runtime
//! (`repair_run`: a start never recorded is adopted or killed, a container left frozen is
//! thawed) and, when it runs, reconnected and monitored again. One recorded as running whose
//! shim is gone ended while no agent was watching: record the exit from the shim's exit file, or
//! 255 "shim vanished"; auto-remove ones are removed; the restart policy then applies to that
//! exit as to any other. Stopped containers whose policy says so (`always`, `unless-stopped` not
//! stopped by hand: [`restart::starts_at_agent_start`]) are started. Both wait until the
//! driver's mounts are reconciled.

use std::sync::Arc;
use std::time::Duration;

use strata_drivers::LayerId;
use tracing::{debug, info, warn};

use crate::containers::exit::{finish_run, RunEnd};
use crate::containers::live::{is_active, Container};
use crate::containers::monitor::{self, exit_from_files};
use crate::containers::paths::remove_dir_if_present;
use crate::containers::repair_run::{self, LiveRun};
use crate::containers::{record, remove, repair_removal, restart, start, Shared};
use crate::error::{EngineError, Result};
use crate::model::{ContainerState, ContainerStatus};
use crate::runtime::shim_client;

/// Recover every container recorded as running; returns the rw layers still in use.
pub(crate) fn recover(shared: &Arc<Shared>) -> Result<Vec<LayerId>> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| {
        EngineError::Internal(
            "container recovery must run inside the engine's tokio runtime".into(),
        )
    })?;
    repair_removal::finish_removals(shared, &handle)?;
    let mut in_use = Vec::new();
    let shims = shim_client::shim_processes();
    for c in shared.registry.all() {
        let launched = std::path::absolute(&c.paths.shim_dir)
            .ok()
            .and_then(|dir| shims.get(&dir).copied());
        // Runs on a blocking thread of the engine's runtime (`Engine::open`), where waiting
        // for the runtime's answers is allowed.
        let discarded = match handle.block_on(repair_run::reconcile(shared, &c, launched))? {
            LiveRun::NoShim => false,
            LiveRun::Running => {
                in_use.push(c.record().rw_layer);
                c.begin_run();
                handle.spawn(reconnect(shared.clone(), c.clone()));
                continue;
            }
            LiveRun::Discarded => {
                if let Err(e) = remove_dir_if_present(&c.paths.exec_dir) {
                    warn!(dir = %c.paths.exec_dir.display(), error = %e, "removing the files of a start never completed");
                }
                true
            }
        };
        let rec = c.record();
        if !is_active(rec.state.status) {
            let manually_stopped = c.live().restart.manually_stopped;
            if restart::starts_at_agent_start(
                &rec.spec.host.restart_policy,
                &rec.state,
                manually_stopped,
            ) {
                info!(id = %c.id, policy = %rec.spec.host.restart_policy.name, "restart policy: starting at agent start");
                handle.spawn(start_at_agent_start(shared.clone(), c.clone()));
            }
            continue;
        }
        let end = if discarded {
            // A restart whose start was never completed (a discarded run is never one recorded
            // running or paused): the exit that caused it stands.
            previous_end(&rec.state)
        } else {
            exit_from_files(&c)
        };
        warn!(id = %c.id, exit_code = end.exit_code, error = %end.error, "container ended while the agent was away");
        // Done now, so open returns clean.
        if let Err(e) = handle.block_on(shared.runtime.delete(&c.id, true)) {
            debug!(id = %c.id, error = %e, "runtime delete of a container that ended while away");
        }
        if rec.spec.host.auto_remove {
            // Its layers are no longer named by any container: the repair that follows
            // recovery unmounts and removes them as orphans.
            remove::delete_record(&shared.db, &c.id)?;
            shared.registry.remove(&c.id);
            c.live().removed = true;
            for dir in [&c.paths.data_dir, &c.paths.exec_dir] {
                if let Err(e) = remove_dir_if_present(dir) {
                    warn!(dir = %dir.display(), error = %e, "removing directory of auto-removed container");
                }
            }
            info!(id = %c.id, "auto-remove container removed after its exit");
            continue;
        }
        let mut state = rec.state.clone();
        state.status = ContainerStatus::Exited;
        state.pid = 0;
        state.exit_code = end.exit_code;
        state.oom_killed = end.oom_killed;
        state.error = end.error;
        state.finished_at = end.finished_at;
        // Recorded `restarting`: the agent went away during a restart delay. That restart
        // was counted when it was decided and never happened: decide it again uncounted.
        let counted = i64::from(rec.state.status == ContainerStatus::Restarting);
        c.live().record.restart_count -= counted;
        let restart_in = restart::plan_after_exit(&c, &state);
        if restart_in.is_some() {
            state.status = ContainerStatus::Restarting;
        } else {
            c.live().record.restart_count += counted;
        }
        shared.db.write("recording exit found at start", |tx| {
            record::save_state(tx, &c.id, &state)
        })?;
        c.live().record.state = state;
        if let Some(delay) = restart_in {
            handle.spawn(restart_after_recovery(shared.clone(), c.clone(), delay));
        }
    }
    Ok(in_use)
}

/// The end of the run recorded in `state`.
fn previous_end(state: &ContainerState) -> RunEnd {
    RunEnd {
        exit_code: state.exit_code,
        oom_killed: state.oom_killed,
        finished_at: state.finished_at.clone(),
        error: state.error.clone(),
        rw_mounted: false,
    }
}

/// Wait until the engine has reconciled the driver's mounts with what recovery reported in
/// use; false when the engine closes first.
async fn mounts_reconciled(shared: &Shared) -> bool {
    let mut reconciled = shared.mounts_reconciled.subscribe();
    tokio::select! {
        _ = shared.cancel.cancelled() => false,
        ready = reconciled.wait_for(|done| *done) => ready.is_ok(),
    }
}

/// A stopped container whose policy starts it with the agent: started as dockerd's restore
/// does (restart count and manual-stop flag reset, as by a user's start).
async fn start_at_agent_start(shared: Arc<Shared>, c: Arc<Container>) {
    if !mounts_reconciled(&shared).await {
        return;
    }
    restart::on_manual_start(&shared, &c).await;
    match start::start(&shared, &c).await {
        Ok(()) | Err(EngineError::NotModified { .. }) => {}
        Err(e) => warn!(id = %c.id, error = %e, "restart policy: start at agent start failed"),
    }
}

/// A container that ended while the agent was away and whose policy restarts it.
async fn restart_after_recovery(shared: Arc<Shared>, c: Arc<Container>, delay: Duration) {
    if mounts_reconciled(&shared).await {
        restart::schedule(&shared, &c, delay);
    }
}

async fn reconnect(shared: Arc<Shared>, c: Arc<Container>) {
    // The driver adopts the running container's mount only after recovery returns; an exit
    // handled before that would release a use the driver does not count yet.
    if !mounts_reconciled(&shared).await {
        return;
    }
    match shim_client::connect(&c.paths.shim_dir).await {
        Ok(conn) => {
            c.open_stdin(conn.stdin);
            c.live().resize = Some(conn.resize);
            monitor::run(shared, c, conn.events).await;
        }
        Err(e) => {
            warn!(id = %c.id, error = %e, "reconnecting to the shim failed");
            let _guard = c.lifecycle.lock().await;
            let end = exit_from_files(&c);
            finish_run(&shared, &c, end).await;
        }
    }
}
