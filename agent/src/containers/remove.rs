//! `docker rm [-f]`: refuse a running container unless forced (then SIGKILL and wait for the
//! exit), then delete the record in one transaction, and remove the layers, directories and
//! runtime state. Whatever cannot be removed after the record is gone is logged; layers left
//! that way are orphans the next start collects.

use std::sync::Arc;
use std::time::Duration;

use strata_drivers::{DriverError, GraphDriver, LayerId};
use tracing::{debug, info, warn};

use crate::containers::live::{is_active, resolve, Container, StdinState, RUN_REMOVED};
use crate::containers::paths::remove_dir_if_present;
use crate::containers::{record, Shared};
use crate::error::{EngineError, Result};

/// How long a forced removal waits for the container to die after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// Remove container `c`.
pub(crate) async fn remove(shared: &Arc<Shared>, c: &Arc<Container>, force: bool) -> Result<()> {
    loop {
        let guard = c.lifecycle.lock().await;
        let (removed, status, name) = {
            let live = c.live();
            (
                live.removed,
                live.record.state.status,
                live.record.name.clone(),
            )
        };
        if removed {
            return Err(EngineError::NoSuchContainer(c.id.clone()));
        }
        if !is_active(status) {
            return remove_locked(shared, c).await;
        }
        if force && crate::containers::restart::cancel_restarting_locked(shared, c).await {
            // It was waiting out a restart delay: nothing runs; now `exited`.
            return remove_locked(shared, c).await;
        }
        if !force {
            return Err(EngineError::Conflict(format!(
                "cannot remove container \"/{name}\": container is running: stop the container \
                 before removing or force remove"
            )));
        }
        let exited = c.on_next_exit();
        if let Err(e) = shared.runtime.kill(&c.id, libc::SIGKILL, false).await {
            warn!(id = %c.id, error = %e, "SIGKILL for forced removal");
        }
        crate::containers::pause::thaw_locked(shared, c).await;
        // The monitor records the exit; it needs the lifecycle lock.
        drop(guard);
        if tokio::time::timeout(KILL_GRACE, exited).await.is_err() {
            return Err(EngineError::Internal(format!(
                "container {} did not exit within {}s of SIGKILL",
                c.id,
                KILL_GRACE.as_secs()
            )));
        }
    }
}

/// Remove a container that is not running. Callers hold `c.lifecycle`.
pub(crate) async fn remove_locked(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<()> {
    let rec = c.record();
    let db = shared.db.clone();
    let id = c.id.clone();
    Shared::blocking("deleting container record", move || {
        db.write("deleting container", |tx| {
            record::delete(tx, &id)?;
            crate::network::forget_container(tx, &id)
        })
    })
    .await?;
    shared.registry.remove(&c.id);
    let (exit_waiters, removed_waiters, state) = {
        let mut live = c.live();
        live.removed = true;
        live.subscribers.clear();
        live.resize = None;
        (
            std::mem::take(&mut live.exit_waiters),
            std::mem::take(&mut live.removed_waiters),
            live.record.state.clone(),
        )
    };
    c.stdin.send_modify(|slot| {
        slot.run = RUN_REMOVED;
        slot.state = StdinState::Closed;
    });

    if let Err(e) = shared.runtime.delete(&c.id, true).await {
        debug!(id = %c.id, error = %e, "runtime delete at removal (nothing to delete is fine)");
    }
    let driver = shared.driver.clone();
    let paths = c.paths.clone();
    let (rw, init) = (rec.rw_layer.clone(), rec.init_layer.clone());
    let cleaned = Shared::blocking("removing container files", move || {
        remove_layer(driver.as_ref(), &rw);
        remove_layer(driver.as_ref(), &init);
        for dir in [&paths.data_dir, &paths.exec_dir] {
            if let Err(e) = remove_dir_if_present(dir) {
                warn!(dir = %dir.display(), error = %e, "removing container directory");
            }
        }
        Ok(())
    })
    .await;
    if let Err(e) = cleaned {
        warn!(id = %c.id, error = %e, "removing container files");
    }
    let outcome = Container::outcome(&state);
    resolve(exit_waiters, &outcome);
    resolve(removed_waiters, &outcome);
    info!(id = %c.id, name = %rec.name, "container removed");
    Ok(())
}

/// Remove a driver layer; a layer still mounted (a use nobody released) is released once first.
fn remove_layer(driver: &dyn GraphDriver, layer: &LayerId) {
    let result = match driver.remove(layer) {
        Err(DriverError::Busy(_)) => driver.put(layer).and_then(|()| driver.remove(layer)),
        other => other,
    };
    match result {
        Ok(()) | Err(DriverError::NotFound(_)) => {}
        Err(e) => {
            warn!(layer = %layer, error = %e, "removing container layer; it is collected at next start")
        }
    }
}
