//! `docker pause` / `docker unpause`: freeze and thaw every process of a running container
//! through the runtime (`runc pause`/`resume`, the cgroup freezer). `State.Paused` and
//! `docker ps`' `(Paused)` follow the stored status.

use std::sync::Arc;

use tracing::{info, warn};

use crate::containers::live::Container;
use crate::containers::Shared;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::ContainerStatus;

impl Engine {
    /// `docker pause`: 409 when the container is not running or already paused.
    pub async fn pause_container(&self, id: &str) -> Result<()> {
        let shared = self.inner.containers.shared();
        let c = shared.find(id)?;
        pause(shared, &c).await
    }

    /// `docker unpause`: 409 when the container is not paused.
    pub async fn unpause_container(&self, id: &str) -> Result<()> {
        let shared = self.inner.containers.shared();
        let c = shared.find(id)?;
        unpause(shared, &c).await
    }
}

async fn pause(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<()> {
    let _guard = c.lifecycle.lock().await;
    let state = c.state();
    match state.status {
        ContainerStatus::Running => {}
        ContainerStatus::Paused => {
            return Err(EngineError::Conflict(format!(
                "Container {} is already paused",
                c.id
            )))
        }
        _ => {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )))
        }
    }
    shared
        .runtime
        .pause(&c.id)
        .await
        .map_err(|e| EngineError::Runtime(format!("Cannot pause container {}: {e}", c.id)))?;
    let mut paused = state;
    paused.status = ContainerStatus::Paused;
    shared.persist_state(c, &paused).await?;
    info!(id = %c.id, "container paused");
    Ok(())
}

async fn unpause(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<()> {
    let _guard = c.lifecycle.lock().await;
    let state = c.state();
    if state.status != ContainerStatus::Paused {
        return Err(EngineError::Conflict(format!(
            "Container {} is not paused",
            c.id
        )));
    }
    shared
        .runtime
        .resume(&c.id)
        .await
        .map_err(|e| EngineError::Runtime(format!("Cannot unpause container {}: {e}", c.id)))?;
    let mut running = state;
    running.status = ContainerStatus::Running;
    shared.persist_state(c, &running).await?;
    info!(id = %c.id, "container unpaused");
    Ok(())
}

/// After a signal was sent to container `c`: a frozen container cannot act on it, so thaw it
/// (as dockerd does for `stop`, `kill` and `rm -f` of a paused container). The status goes back
/// to running; the exit that follows is recorded as usual.
pub(crate) async fn thaw_after_signal(shared: &Arc<Shared>, c: &Arc<Container>) {
    if c.state().status != ContainerStatus::Paused {
        return;
    }
    let _guard = c.lifecycle.lock().await;
    thaw_locked(shared, c).await;
}

/// [`thaw_after_signal`] for callers that hold `c.lifecycle`.
pub(crate) async fn thaw_locked(shared: &Arc<Shared>, c: &Arc<Container>) {
    let mut state = c.state();
    if state.status != ContainerStatus::Paused {
        return;
    }
    if let Err(e) = shared.runtime.resume(&c.id).await {
        warn!(id = %c.id, error = %e, "thawing a paused container after a signal");
        return;
    }
    state.status = ContainerStatus::Running;
    if let Err(e) = shared.persist_state(c, &state).await {
        warn!(id = %c.id, error = %e, "recording the thaw of a paused container");
    }
}
