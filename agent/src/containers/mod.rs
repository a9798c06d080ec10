//! Containers: their records, layers, lifecycle and the streams attached to them.
//! (Skeleton: filled in by the container work.)

pub mod engine_api;
pub mod handles;

use std::sync::Arc;

use strata_drivers::{GraphDriver, LayerId};

use crate::config::EngineConfig;
use crate::error::Result;
use crate::metadata::Db;

/// Container counts for `docker info`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ContainerCounts {
    pub total: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
}

pub struct ContainerManager {
    #[allow(dead_code)]
    db: Arc<Db>,
    #[allow(dead_code)]
    driver: Arc<dyn GraphDriver>,
}

impl ContainerManager {
    pub fn open(db: Arc<Db>, driver: Arc<dyn GraphDriver>, _config: &EngineConfig) -> Result<Self> {
        Ok(ContainerManager { db, driver })
    }

    /// After an agent start: reattach to containers whose shim still runs, record the exit of
    /// those that ended while the agent was away. Returns the rw layer ids still in use.
    pub fn recover(&self) -> Result<Vec<LayerId>> {
        Ok(Vec::new())
    }

    /// The rw layers of running containers.
    pub fn running_layer_ids(&self) -> Result<Vec<LayerId>> {
        Ok(Vec::new())
    }

    /// Every driver layer that containers own (rw and -init layers).
    pub fn layer_ids(&self) -> Result<Vec<LayerId>> {
        Ok(Vec::new())
    }

    pub fn counts(&self) -> Result<ContainerCounts> {
        Ok(ContainerCounts::default())
    }
}
