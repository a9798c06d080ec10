//! `docker restart` and the `--restart` policies (`no`, `on-failure[:N]`, `always`,
//! `unless-stopped`).
//!
//! After each exit the policy decides whether the container starts again, after a delay that
//! doubles from [`FIRST_DELAY`] up to [`MAX_DELAY`] and goes back to the start when a run lasted
//! [`STABLE_RUN`] or more (dockerd's backoff). While the delay runs the container is
//! `restarting` (`docker ps`: `Restarting (CODE) N seconds ago`); `RestartCount` is incremented
//! when the restart is decided and stored with the container; a user's `docker start` resets it.
//!
//! `docker stop` and `docker kill` mark the container stopped by hand (stored in the metadata
//! store, so it survives a `kill -9` of the agent): no policy restarts it until the user starts
//! it again. Either verb during the delay cancels the pending restart; the container ends
//! `exited` with the exit code of its last run.
//!
//! At agent start ([`crate::containers::recover`]), see [`starts_at_agent_start`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::containers::live::{resolve, Container};
use crate::containers::{start, stop, time, Shared};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::{ContainerState, ContainerStatus, RestartPolicy};

/// The first restart delay.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest restart delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// What the restart policy remembers about one container, in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct RestartMemory {
    /// Set by `docker stop`/`kill`, cleared by `docker start` (stored: `manually_stopped`).
    pub manually_stopped: bool,
    /// The delay before the next restart (zero: not restarted yet).
    pub delay: Duration,
    /// Cancels the restart whose delay is running (the container is `restarting`).
    pub pending: Option<CancellationToken>,
}

impl Engine {
    /// `docker restart [-t SECONDS]`: stop (when running), then start.
    pub async fn restart_container(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let shared = self.inner.containers.shared();
        let c = shared.find(id)?;
        match stop::stop(shared, &c, timeout).await {
            Ok(()) | Err(EngineError::NotModified { .. }) => {}
            Err(e) => return Err(e),
        }
        on_manual_start(shared, &c).await;
        match start::start(shared, &c).await {
            // A restart policy started it meanwhile: it runs, which is what was asked.
            Ok(()) | Err(EngineError::NotModified { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The ids of the containers stored as stopped by hand.
pub(crate) fn load_manual_stops(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn
        .prepare("SELECT id FROM containers WHERE manually_stopped != 0")
        .map_err(|e| EngineError::metadata("listing containers stopped by hand", e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| EngineError::metadata("listing containers stopped by hand", e))?;
    rows.collect::<std::result::Result<HashSet<_>, _>>()
        .map_err(|e| EngineError::metadata("reading a container stopped by hand", e))
}

async fn save_manual_stop(shared: &Arc<Shared>, id: &str, stopped: bool) -> Result<()> {
    let db = shared.db.clone();
    let id = id.to_string();
    Shared::blocking("saving the manual stop flag", move || {
        db.write("saving the manual stop flag", |tx| {
            tx.execute(
                "UPDATE containers SET manually_stopped = ?2 WHERE id = ?1",
                params![id, i64::from(stopped)],
            )
            .map_err(|e| EngineError::metadata(format!("saving manual stop of {id}"), e))?;
            Ok(())
        })
    })
    .await
}

/// `docker stop`/`kill` was asked for: no restart until the next manual start. Stored before
/// the signal is sent, so an agent killed right after still knows.
pub(crate) async fn note_manual_stop(shared: &Arc<Shared>, c: &Container) {
    let changed = {
        let mut live = c.live();
        !std::mem::replace(&mut live.restart.manually_stopped, true)
    };
    if changed {
        if let Err(e) = save_manual_stop(shared, &c.id, true).await {
            warn!(id = %c.id, error = %e, "storing the manual stop");
        }
    }
}

/// A user's `docker start`: the policy applies again, with a fresh delay and count.
pub(crate) async fn on_manual_start(shared: &Arc<Shared>, c: &Arc<Container>) {
    let (had_restarts, was_stopped) = {
        let mut live = c.live();
        let was_stopped = live.restart.manually_stopped;
        let pending = live.restart.pending.take();
        live.restart = RestartMemory {
            pending,
            ..RestartMemory::default()
        };
        (live.record.restart_count != 0, was_stopped)
    };
    if had_restarts {
        if let Err(e) = save_restart_count(shared, c, 0).await {
            warn!(id = %c.id, error = %e, "resetting the restart count");
        }
    }
    if was_stopped {
        if let Err(e) = save_manual_stop(shared, &c.id, false).await {
            warn!(id = %c.id, error = %e, "clearing the manual stop");
        }
    }
}

/// Whether `policy` restarts a container that exited with `exit_code` after `restarts`
/// restarts.
fn wants_restart(policy: &RestartPolicy, exit_code: i64, restarts: i64) -> bool {
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            exit_code != 0
                && (policy.maximum_retry_count <= 0 || restarts < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// Whether a container that is not running when the agent starts (and whose exit was recorded
/// by an agent that watched it) is started by its policy, as dockerd's `restore` does.
///
/// moby's `restore` starts a stopped container that has been started before when
/// `ShouldRestart` says so, asked with the stored exit code and `HasBeenManuallyStopped` of a
/// fresh restart manager: `always` restarts whatever happened (even after `docker stop`),
/// `unless-stopped` unless stopped by hand. We match those two. For `on-failure` moby's restart
/// manager ignores the manual-stop flag, so a container ended by `docker stop` (exit 143/137)
/// would come back; Docker's documentation says on-failure "doesn't restart the container if
/// the daemon restarts", and that is what we do. An on-failure container that was waiting out
/// its delay when the agent went away is recorded `restarting`, so recovery sees an exit and
/// applies the policy (as to any exit seen at start): it is restarted then.
pub(crate) fn starts_at_agent_start(
    policy: &RestartPolicy,
    state: &ContainerState,
    manually_stopped: bool,
) -> bool {
    if state.status != ContainerStatus::Exited {
        // `created` was never started (moby: `HasBeenStartedBefore`); running, paused and
        // restarting ones are recovery's.
        return false;
    }
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !manually_stopped,
        _ => false,
    }
}

/// The delay after `previous`, given how long the last run lasted.
fn next_delay(previous: Duration, ran_for: Option<Duration>) -> Duration {
    if previous.is_zero() || ran_for.is_some_and(|d| d >= STABLE_RUN) {
        FIRST_DELAY
    } else {
        (previous * 2).min(MAX_DELAY)
    }
}

/// Decide, as a run's end is recorded (with `c.lifecycle` held), whether the policy restarts
/// the container; returns the delay (the caller then records the state `restarting` and calls
/// [`schedule`]).
pub(crate) fn plan_after_exit(c: &Container, state: &ContainerState) -> Option<Duration> {
    let mut live = c.live();
    let rec = &live.record;
    if live.removed
        || rec.spec.host.auto_remove
        || live.restart.manually_stopped
        || !wants_restart(
            &rec.spec.host.restart_policy,
            state.exit_code,
            rec.restart_count,
        )
    {
        return None;
    }
    let ran_for = match (
        time::parse(&state.started_at),
        time::parse(&state.finished_at),
    ) {
        (Some(s), Some(f)) => (f - s).to_std().ok(),
        _ => None,
    };
    let delay = next_delay(live.restart.delay, ran_for);
    live.restart.delay = delay;
    Some(delay)
}

/// Count the restart and start the container again after `delay`, unless `docker stop`,
/// `kill` or `rm -f` cancels it first. Called with the state `restarting` recorded. Not async
/// (the task it spawns may end in another exit that schedules again).
pub(crate) fn schedule(shared: &Arc<Shared>, c: &Arc<Container>, delay: Duration) {
    let token = CancellationToken::new();
    let count = {
        let mut live = c.live();
        live.record.restart_count += 1;
        if let Some(old) = live.restart.pending.replace(token.clone()) {
            old.cancel();
        }
        live.record.restart_count
    };
    info!(id = %c.id, delay_ms = delay.as_millis() as u64, restart_count = count, "restart policy: restarting");
    tokio::spawn(restart_later(
        shared.clone(),
        c.clone(),
        delay,
        token,
        count,
    ));
}

async fn restart_later(
    shared: Arc<Shared>,
    c: Arc<Container>,
    delay: Duration,
    token: CancellationToken,
    count: i64,
) {
    if let Err(e) = store_restart_count(&shared, &c.id, count).await {
        warn!(id = %c.id, error = %e, "storing the restart count");
    }
    tokio::select! {
        _ = shared.cancel.cancelled() => return,
        _ = token.cancelled() => return,
        _ = tokio::time::sleep(delay) => {}
    }
    match start::start_restarting(&shared, &c).await {
        Ok(()) | Err(EngineError::NotModified { .. }) => {}
        // The failed start was recorded as an exit, which asked the policy again.
        Err(e) => warn!(id = %c.id, error = %e, "restart policy: start failed"),
    }
}

/// `docker stop`/`kill`/`rm -f` of a container waiting out its restart delay: cancel the
/// restart and record it `exited` (exit code of its last run). Returns whether it was
/// restarting. Takes `c.lifecycle`.
pub(crate) async fn cancel_restarting(shared: &Arc<Shared>, c: &Arc<Container>) -> bool {
    if c.state().status != ContainerStatus::Restarting {
        return false;
    }
    let _guard = c.lifecycle.lock().await;
    cancel_restarting_locked(shared, c).await
}

/// [`cancel_restarting`] for callers that hold `c.lifecycle`.
pub(crate) async fn cancel_restarting_locked(shared: &Arc<Shared>, c: &Arc<Container>) -> bool {
    let mut state = {
        let mut live = c.live();
        if live.record.state.status != ContainerStatus::Restarting {
            return false;
        }
        if let Some(token) = live.restart.pending.take() {
            token.cancel();
        }
        live.record.state.clone()
    };
    state.status = ContainerStatus::Exited;
    if let Err(e) = shared.persist_state(c, &state).await {
        warn!(id = %c.id, error = %e, "storing the end of a cancelled restart");
        c.live().record.state = state.clone();
    }
    let waiters = std::mem::take(&mut c.live().exit_waiters);
    resolve(waiters, &Container::outcome(&state));
    info!(id = %c.id, "restart policy: pending restart cancelled");
    true
}

async fn save_restart_count(shared: &Arc<Shared>, c: &Arc<Container>, count: i64) -> Result<()> {
    store_restart_count(shared, &c.id, count).await?;
    c.live().record.restart_count = count;
    Ok(())
}

async fn store_restart_count(shared: &Arc<Shared>, id: &str, count: i64) -> Result<()> {
    let db = shared.db.clone();
    let id = id.to_string();
    Shared::blocking("saving the restart count", move || {
        db.write("saving the restart count", |tx| {
            tx.execute(
                "UPDATE containers SET restart_count = ?2 WHERE id = ?1",
                params![id, count],
            )
            .map_err(|e| EngineError::metadata(format!("saving restart count of {id}"), e))?;
            Ok(())
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn policies_as_docker() {
        assert!(!wants_restart(&policy("no", 0), 1, 0));
        assert!(!wants_restart(&policy("", 0), 1, 0));
        assert!(wants_restart(&policy("always", 0), 0, 5));
        assert!(wants_restart(&policy("on-failure", 2), 1, 1));
        assert!(!wants_restart(&policy("on-failure", 2), 1, 2));
        assert!(!wants_restart(&policy("on-failure", 2), 0, 0));
        assert!(wants_restart(&policy("on-failure", 0), 3, 100));
    }

    #[test]
    fn agent_start_follows_dockerd_restore() {
        let exited = ContainerState {
            status: ContainerStatus::Exited,
            exit_code: 137,
            ..Default::default()
        };
        assert!(starts_at_agent_start(&policy("always", 0), &exited, false));
        assert!(starts_at_agent_start(&policy("always", 0), &exited, true));
        assert!(starts_at_agent_start(
            &policy("unless-stopped", 0),
            &exited,
            false
        ));
        assert!(!starts_at_agent_start(
            &policy("unless-stopped", 0),
            &exited,
            true
        ));
        assert!(!starts_at_agent_start(
            &policy("on-failure", 0),
            &exited,
            false
        ));
        assert!(!starts_at_agent_start(&policy("no", 0), &exited, false));
        let created = ContainerState::default();
        assert!(!starts_at_agent_start(
            &policy("always", 0),
            &created,
            false
        ));
    }

    #[test]
    fn backoff_doubles_and_resets() {
        let first = next_delay(Duration::ZERO, None);
        assert_eq!(first, FIRST_DELAY);
        assert_eq!(
            next_delay(first, Some(Duration::from_secs(1))),
            FIRST_DELAY * 2
        );
        assert_eq!(next_delay(MAX_DELAY, None), MAX_DELAY);
        assert_eq!(next_delay(MAX_DELAY, Some(STABLE_RUN)), FIRST_DELAY);
    }
}
