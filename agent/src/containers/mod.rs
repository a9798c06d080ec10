//! Containers: their records, layers, lifecycle and the streams attached to them.
//!
//! Each container is a read-write layer `<id>` on an `<id>-init` layer on its image's top layer.
//! Its record lives in the `containers` table (written through on every change); what lives only
//! in memory (attach subscribers, stdin, waiters) is in [`live::Container`]. A monitor task per
//! running container consumes the shim's events.

pub mod engine_api;
pub mod exec;
pub mod handles;
pub mod stats;
pub mod logs;
pub mod pause;
pub mod prune;
pub mod rename;
pub mod restart;
pub mod top;

mod attach;
mod commit;
mod create;
mod exit;
mod export;
mod init_layer;
mod inspect;
mod list;
mod live;
mod log_replay;
mod merge;
mod monitor;
mod mounts;
mod names;
mod paths;
mod record;
mod recover;
mod registry;
mod remove;
mod repair_removal;
mod repair_run;
mod signal;
mod start;
mod status_text;
mod stop;
mod time;
mod wait;
pub(crate) mod validate;
mod security_opts;
mod volume_mounts;

use std::sync::Arc;

use strata_drivers::{GraphDriver, LayerId};
use tokio_util::sync::CancellationToken;

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::metadata::Db;
use crate::model::{ContainerState, ContainerStatus};
use crate::runtime::oci::OciRuntime;

use live::Container;
use registry::Registry;

/// Container counts for `docker info`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContainerCounts {
    pub total: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
}

/// The engine's container side. Cheap handles to it ([`Shared`]) are held by the monitor tasks;
/// dropping the manager (the engine) stops them, leaving containers to their shims.
pub struct ContainerManager {
    shared: Arc<Shared>,
}

/// What every container operation and task needs.
pub(crate) struct Shared {
    pub db: Arc<Db>,
    pub driver: Arc<dyn GraphDriver>,
    pub config: EngineConfig,
    pub runtime: OciRuntime,
    pub registry: Registry,
    /// Cancelled when the engine is dropped: monitors stop without touching anything.
    pub cancel: CancellationToken,
    /// Becomes true once the driver has reconciled its mounts with what recovery reported in
    /// use; monitors of recovered containers wait for it before they may release a mount.
    pub mounts_reconciled: tokio::sync::watch::Sender<bool>,
    /// The bridge, container endpoints and published ports.
    pub network: Arc<crate::network::NetworkManager>,
}

impl ContainerManager {
    /// Load every stored container.
    pub fn open(db: Arc<Db>, driver: Arc<dyn GraphDriver>, config: &EngineConfig) -> Result<Self> {
        let runtime = OciRuntime::new(config.default_runtime.clone(), paths::runtime_root(config));
        let records = db.read(record::load_all)?;
        let manual_stops = db.read(restart::load_manual_stops)?;
        let registry = Registry::default();
        let mut all_paths = Vec::with_capacity(records.len());
        for rec in records {
            let paths = paths::ContainerPaths::new(config, &rec.id);
            all_paths.push(paths.clone());
            let c = Container::new(rec, paths);
            c.live().restart.manually_stopped = manual_stops.contains(&c.id);
            registry.insert(Arc::new(c));
        }
        paths::close_to_others(config, &all_paths).map_err(|e| {
            EngineError::io("closing the containers' directories to other users", e)
        })?;
        let network = Arc::new(crate::network::NetworkManager::new(
            db.clone(),
            config.network.clone(),
            &config.exec_root,
        ));
        Ok(ContainerManager {
            shared: Arc::new(Shared {
                db,
                driver,
                config: config.clone(),
                runtime,
                registry,
                cancel: CancellationToken::new(),
                mounts_reconciled: tokio::sync::watch::Sender::new(false),
                network,
            }),
        })
    }

    /// After an agent start: reattach to containers whose shim still runs, record the exit of
    /// those that ended while the agent was away. Returns the rw layer ids still in use.
    pub fn recover(&self) -> Result<Vec<LayerId>> {
        recover::recover(&self.shared)
    }

    /// Remove container directories (under the data and exec roots) that no record names:
    /// what a crash left of a create or a removal. Called after [`recover`].
    ///
    /// [`recover`]: ContainerManager::recover
    pub fn remove_orphan_dirs(&self) -> Result<()> {
        repair_removal::remove_orphan_dirs(&self.shared)
    }

    /// Called by the engine once the driver's mounts are reconciled with what [`recover`]
    /// returned: from then on, recovered containers are watched again (and may release their
    /// mounts when they exit).
    ///
    /// [`recover`]: ContainerManager::recover
    pub fn mounts_reconciled(&self) {
        self.shared.mounts_reconciled.send_replace(true);
    }

    /// The rw layers of running containers (a `restarting` one holds none while its restart
    /// delay runs).
    pub fn running_layer_ids(&self) -> Result<Vec<LayerId>> {
        Ok(self
            .shared
            .registry
            .all()
            .into_iter()
            .filter(|c| c.has_process())
            .map(|c| c.live().record.rw_layer.clone())
            .collect())
    }

    /// Ids of the containers recorded as running or paused (not `restarting`: those have no
    /// process, endpoint or cgroup while their restart delay runs).
    pub fn running_ids(&self) -> std::collections::HashSet<String> {
        self.shared
            .registry
            .all()
            .into_iter()
            .filter(|c| c.has_process())
            .map(|c| c.id.clone())
            .collect()
    }

    /// Every driver layer that containers own (rw and -init layers).
    pub fn layer_ids(&self) -> Result<Vec<LayerId>> {
        let mut out = Vec::new();
        for c in self.shared.registry.all() {
            let live = c.live();
            out.push(live.record.rw_layer.clone());
            out.push(live.record.init_layer.clone());
        }
        Ok(out)
    }

    pub fn counts(&self) -> Result<ContainerCounts> {
        let mut counts = ContainerCounts::default();
        for c in self.shared.registry.all() {
            counts.total += 1;
            match c.live().record.state.status {
                ContainerStatus::Running | ContainerStatus::Restarting => counts.running += 1,
                ContainerStatus::Paused => counts.paused += 1,
                _ => counts.stopped += 1,
            }
        }
        Ok(counts)
    }

    /// Ids and names of the containers created from image `image_id` (`sha256:...`), for
    /// `docker rmi` conflicts.
    pub fn image_users(&self, image_id: &str) -> Vec<(String, String)> {
        self.shared
            .registry
            .all()
            .into_iter()
            .filter_map(|c| {
                let live = c.live();
                (live.record.image_id == image_id)
                    .then(|| (live.record.id.clone(), live.record.name.clone()))
            })
            .collect()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for ContainerManager {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl Shared {
    /// Run blocking filesystem or database work off the async threads.
    pub(crate) async fn blocking<T, F>(what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| EngineError::Internal(format!("{what}: task failed: {e}")))?
    }

    /// Store `state` as container `c`'s state, then show it in memory. Callers hold
    /// `c.lifecycle`.
    pub(crate) async fn persist_state(&self, c: &Container, state: &ContainerState) -> Result<()> {
        let db = self.db.clone();
        let id = c.id.clone();
        let stored = state.clone();
        Shared::blocking("saving container state", move || {
            db.write("saving container state", |tx| {
                record::save_state(tx, &id, &stored)
            })
        })
        .await?;
        c.live().record.state = state.clone();
        Ok(())
    }

    /// Find a container by full id, name (with or without `/`) or unique id prefix.
    pub(crate) fn find(&self, key: &str) -> Result<Arc<Container>> {
        self.registry.find(key)
    }
}
