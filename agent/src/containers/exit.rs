//! The end of a run, whoever saw it (the monitor, a failed start, recovery): release the
//! runtime record and the mount, record the exit, close the streams, wake the waiters, and
//! remove the container when it was created with `--rm`.

use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::containers::live::{resolve, Container};
use crate::containers::{remove, Shared};
use crate::model::ContainerStatus;

/// How a run ended.
#[derive(Clone, Debug)]
pub(crate) struct RunEnd {
    pub exit_code: i64,
    pub oom_killed: bool,
    /// RFC 3339.
    pub finished_at: String,
    /// `State.Error`; empty when the run ended normally.
    pub error: String,
    /// Whether this run holds a `get` of the rw layer.
    pub rw_mounted: bool,
}

/// Record the end of container `c`'s run. Callers hold `c.lifecycle`. Failures here are logged:
/// the exit itself must always be recorded.
pub(crate) async fn finish_run(shared: &Arc<Shared>, c: &Arc<Container>, end: RunEnd) {
    if let Err(e) = shared.runtime.delete(&c.id, true).await {
        debug!(id = %c.id, error = %e, "runtime delete after exit (nothing to delete is fine)");
    }
    shared.network.detach(&c.id).await;
    let rec = c.record();
    if end.rw_mounted {
        let driver = shared.driver.clone();
        let rw = rec.rw_layer.clone();
        if let Err(e) = Shared::blocking("releasing the container's layer", move || {
            Ok(driver.put(&rw)?)
        })
        .await
        {
            warn!(id = %c.id, error = %e, "releasing the rw layer after exit");
        }
    }
    let mut state = rec.state.clone();
    state.status = ContainerStatus::Exited;
    state.pid = 0;
    state.exit_code = end.exit_code;
    state.oom_killed = end.oom_killed;
    state.error = end.error;
    state.finished_at = end.finished_at;
    let restart_in = crate::containers::restart::plan_after_exit(c, &state);
    if restart_in.is_some() {
        state.status = ContainerStatus::Restarting;
    }
    if let Err(e) = shared.persist_state(c, &state).await {
        warn!(id = %c.id, error = %e, "could not store the exit; the next start reads it from the shim's exit file");
    }
    let waiters = c.end_run(state.clone());
    resolve(waiters, &Container::outcome(&state));
    info!(id = %c.id, exit_code = state.exit_code, "container exited");
    if let Some(delay) = restart_in {
        crate::containers::restart::schedule(shared, c, delay);
        return;
    }
    if rec.spec.host.auto_remove {
        // `--rm` takes the container's anonymous volumes with it, as Docker does.
        let anonymous = crate::containers::volume_mounts::anonymous_volumes(shared, &c.id).await;
        match remove::remove_locked(shared, c).await {
            Ok(()) => crate::containers::volume_mounts::remove_volumes(shared, anonymous).await,
            Err(e) => warn!(id = %c.id, error = %e, "auto-removing the container after its exit"),
        }
    }
}
