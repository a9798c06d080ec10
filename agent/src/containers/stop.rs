//! `docker kill`, `docker stop` and terminal resizes of a running container.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::warn;

use crate::containers::live::{is_active, Container};
use crate::containers::{signal, Shared};
use crate::error::{EngineError, Result};
use crate::model::WaitOutcome;

/// How long `kill -s KILL` and the last step of `stop` wait for the exit to be recorded.
const KILL_WAIT: Duration = Duration::from_secs(30);
/// `docker stop`'s default grace period.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// A waiter for the next exit, when `c` is running now (checked and registered atomically).
fn exit_waiter_if_running(c: &Container) -> Option<oneshot::Receiver<WaitOutcome>> {
    let mut live = c.live();
    if live.removed || !is_active(live.record.state.status) {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    live.exit_waiters.push(tx);
    Some(rx)
}

/// Send `signal` (default SIGKILL) to the container's main process. For SIGKILL, returns once
/// the exit is recorded.
pub(crate) async fn kill(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    signal: Option<&str>,
) -> Result<()> {
    let number = signal::parse(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
    crate::containers::restart::note_manual_stop(shared, c).await;
    if crate::containers::restart::cancel_restarting(shared, c).await {
        return Ok(());
    }
    let Some(exited) = exit_waiter_if_running(c) else {
        return Err(EngineError::Conflict(format!(
            "Cannot kill container: {id}: container {id} is not running",
            id = c.id
        )));
    };
    shared.runtime.kill(&c.id, number, false).await?;
    crate::containers::pause::thaw_after_signal(shared, c).await;
    if number == libc::SIGKILL && tokio::time::timeout(KILL_WAIT, exited).await.is_err() {
        return Err(EngineError::Internal(format!(
            "container {} did not exit after SIGKILL",
            c.id
        )));
    }
    Ok(())
}

/// Send the stop signal, wait up to `timeout` seconds (the container's or 10; negative waits
/// forever), then SIGKILL. Stopping a stopped container answers `NotModified`.
pub(crate) async fn stop(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    timeout: Option<i64>,
) -> Result<()> {
    crate::containers::restart::note_manual_stop(shared, c).await;
    if crate::containers::restart::cancel_restarting(shared, c).await {
        return Ok(());
    }
    let Some(mut exited) = exit_waiter_if_running(c) else {
        return Err(EngineError::NotModified {
            id: c.id.clone(),
            state: "stopped".into(),
        });
    };
    let rec = c.record();
    let number = signal::parse(rec.config.stop_signal.as_deref().unwrap_or("SIGTERM"))?;
    let grace = timeout
        .or(rec.config.stop_timeout)
        .unwrap_or(DEFAULT_STOP_TIMEOUT);
    if let Err(e) = shared.runtime.kill(&c.id, number, false).await {
        warn!(id = %c.id, error = %e, "sending the stop signal");
    }
    crate::containers::pause::thaw_after_signal(shared, c).await;
    if grace < 0 {
        let _ = exited.await;
        return Ok(());
    }
    let grace = Duration::from_secs(grace.unsigned_abs());
    if tokio::time::timeout(grace, &mut exited).await.is_ok() {
        return Ok(());
    }
    if let Err(e) = shared.runtime.kill(&c.id, libc::SIGKILL, false).await {
        warn!(id = %c.id, error = %e, "sending SIGKILL after the stop timeout");
    }
    if tokio::time::timeout(KILL_WAIT, exited).await.is_err() {
        return Err(EngineError::Internal(format!(
            "container {} did not exit after SIGKILL",
            c.id
        )));
    }
    Ok(())
}

/// Resize the container's terminal.
pub(crate) async fn resize(c: &Arc<Container>, height: u16, width: u16) -> Result<()> {
    let sender = c.live().resize.clone();
    match sender {
        Some(tx) => tx
            .send((height, width))
            .await
            .map_err(|_| EngineError::NotRunning { id: c.id.clone() }),
        None => Err(EngineError::NotRunning { id: c.id.clone() }),
    }
}
