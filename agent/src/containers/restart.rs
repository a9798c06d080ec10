//! `docker restart` and the `--restart` policies (`no`, `on-failure[:N]`, `always`,
//! `unless-stopped`).
//!
//! After each exit the policy decides whether the container starts again, after a delay that
//! doubles from [`FIRST_DELAY`] up to [`MAX_DELAY`] and goes back to the start when a run lasted
//! [`STABLE_RUN`] or more (dockerd's backoff). `RestartCount` counts the restarts and is stored
//! with the container; a user's `docker start` resets it. `docker stop` and `docker kill` mark
//! the container stopped by hand: no policy restarts it until the user starts it again.
//!
//! While the delay runs the container shows as exited (dockerd shows `restarting`), so `docker
//! stop` during the delay answers 304 and still cancels the restart.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;
use tracing::{info, warn};

use crate::containers::live::Container;
use crate::containers::{start, stop, time, Shared};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::{ContainerState, RestartPolicy};

/// The first restart delay.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest restart delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// What the restart policy remembers about one container, in memory.
#[derive(Clone, Debug, Default)]
pub(crate) struct RestartMemory {
    /// Set by `docker stop`/`kill`, cleared by `docker start`.
    pub manually_stopped: bool,
    /// The delay before the next restart (zero: not restarted yet).
    pub delay: Duration,
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

/// `docker stop`/`kill` was asked for: no restart until the next manual start.
pub(crate) fn note_manual_stop(c: &Container) {
    c.live().restart.manually_stopped = true;
}

/// A user's `docker start`: the policy applies again, with a fresh delay and count.
pub(crate) async fn on_manual_start(shared: &Arc<Shared>, c: &Arc<Container>) {
    let had_restarts = {
        let mut live = c.live();
        live.restart = RestartMemory::default();
        live.record.restart_count != 0
    };
    if had_restarts {
        if let Err(e) = save_restart_count(shared, c, 0).await {
            warn!(id = %c.id, error = %e, "resetting the restart count");
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

/// The delay after `previous`, given how long the last run lasted.
fn next_delay(previous: Duration, ran_for: Option<Duration>) -> Duration {
    if previous.is_zero() || ran_for.is_some_and(|d| d >= STABLE_RUN) {
        FIRST_DELAY
    } else {
        (previous * 2).min(MAX_DELAY)
    }
}

/// Called once a run's end is recorded (with `c.lifecycle` held): schedule a restart when the
/// policy asks for one.
pub(crate) fn after_exit(shared: &Arc<Shared>, c: &Arc<Container>, state: &ContainerState) {
    let delay = {
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
            return;
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
        delay
    };
    info!(id = %c.id, delay_ms = delay.as_millis() as u64, "restart policy: restarting");
    tokio::spawn(restart_later(shared.clone(), c.clone(), delay));
}

async fn restart_later(shared: Arc<Shared>, c: Arc<Container>, delay: Duration) {
    tokio::select! {
        _ = shared.cancel.cancelled() => return,
        _ = tokio::time::sleep(delay) => {}
    }
    let count = {
        let live = c.live();
        if live.removed || live.restart.manually_stopped {
            return;
        }
        live.record.restart_count + 1
    };
    if c.is_running() {
        return;
    }
    if let Err(e) = save_restart_count(&shared, &c, count).await {
        warn!(id = %c.id, error = %e, "storing the restart count");
    }
    match start::start(&shared, &c).await {
        Ok(()) | Err(EngineError::NotModified { .. }) => {}
        // The failed start was recorded as an exit, which asked the policy again.
        Err(e) => warn!(id = %c.id, error = %e, "restart policy: start failed"),
    }
}

async fn save_restart_count(shared: &Arc<Shared>, c: &Arc<Container>, count: i64) -> Result<()> {
    let db = shared.db.clone();
    let id = c.id.clone();
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
    .await?;
    c.live().record.restart_count = count;
    Ok(())
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
