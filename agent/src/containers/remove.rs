//! `docker rm [-f]`: refuse a running container unless forced (then SIGKILL and wait for the
//! exit). The removal is recorded first (the `removing` tombstone), then the runtime state,
//! layers and directories are removed, then the record is deleted in one transaction. An agent
//! killed anywhere in between finishes the removal at its next start
//! (`repair_removal::finish_removals`). Whatever cannot be removed is logged; layers and
//! directories left that way are orphans the next start collects.

use std::sync::Arc;
use std::time::Duration;

use strata_drivers::{DriverError, GraphDriver, LayerId};
use tracing::{debug, info, warn};

use crate::containers::live::{is_active, resolve, Container, StdinState, RUN_REMOVED};
use crate::containers::paths::remove_dir_if_present;
use crate::containers::{record, Shared};
use crate::error::{EngineError, Result};
use crate::faults::fault_point;
use crate::metadata::Db;

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
        // Decided: an agent killed from here on removes it at its next start.
        mark_removing(shared, &c.id, true).await?;
        let exited = c.on_next_exit();
        if let Err(e) = shared.runtime.kill(&c.id, libc::SIGKILL, false).await {
            warn!(id = %c.id, error = %e, "SIGKILL for forced removal");
        }
        crate::containers::pause::thaw_locked(shared, c).await;
        // The monitor records the exit; it needs the lifecycle lock.
        drop(guard);
        if tokio::time::timeout(KILL_GRACE, exited).await.is_err() {
            // It stays: so must its record.
            if let Err(e) = mark_removing(shared, &c.id, false).await {
                warn!(id = %c.id, error = %e, "clearing the tombstone of a removal that failed");
            }
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
    mark_removing(shared, &c.id, true).await?;

    if let Err(e) = shared.runtime.delete(&c.id, true).await {
        debug!(id = %c.id, error = %e, "runtime delete at removal (nothing to delete is fine)");
    }
    fault_point("remove-runtime-deleted");
    let driver = shared.driver.clone();
    let paths = c.paths.clone();
    let (rw, init) = (rec.rw_layer.clone(), rec.init_layer.clone());
    let cleaned = Shared::blocking("removing container files", move || {
        remove_layer(driver.as_ref(), &rw);
        remove_layer(driver.as_ref(), &init);
        fault_point("remove-layers-removed");
        for dir in [&paths.data_dir, &paths.exec_dir] {
            if let Err(e) = remove_dir_if_present(dir) {
                warn!(dir = %dir.display(), error = %e, "removing container directory");
            }
        }
        fault_point("remove-files-removed");
        Ok(())
    })
    .await;
    if let Err(e) = cleaned {
        warn!(id = %c.id, error = %e, "removing container files");
    }

    let db = shared.db.clone();
    let id = c.id.clone();
    Shared::blocking("deleting container record", move || delete_record(&db, &id)).await?;
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
    let outcome = Container::outcome(&state);
    resolve(exit_waiters, &outcome);
    resolve(removed_waiters, &outcome);
    info!(id = %c.id, name = %rec.name, "container removed");
    Ok(())
}

/// Store (or clear) container `id`'s tombstone: from here on its removal is under way.
async fn mark_removing(shared: &Arc<Shared>, id: &str, removing: bool) -> Result<()> {
    let db = shared.db.clone();
    let key = id.to_string();
    Shared::blocking("recording the removal", move || {
        db.write("recording the removal", |tx| {
            record::set_removing(tx, &key, removing)
        })
    })
    .await?;
    if removing {
        fault_point("remove-tombstoned");
    }
    Ok(())
}

/// Delete container `id`'s record and what other tables keep of it, in one transaction.
pub(crate) fn delete_record(db: &Db, id: &str) -> Result<()> {
    db.write("deleting container", |tx| {
        record::delete(tx, id)?;
        crate::network::forget_container(tx, id)
    })
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
