//! The layer store: content-addressed layers (by ChainID) kept in the graph driver, shared
//! between images, registered only once their content is complete and verified.
//! (Skeleton: filled in by the image-store work.)

use std::sync::Arc;

use strata_drivers::{GraphDriver, LayerId};

use crate::config::EngineConfig;
use crate::error::Result;
use crate::metadata::Db;

pub struct LayerStore {
    #[allow(dead_code)]
    db: Arc<Db>,
    #[allow(dead_code)]
    driver: Arc<dyn GraphDriver>,
}

impl LayerStore {
    pub fn open(db: Arc<Db>, driver: Arc<dyn GraphDriver>, _config: &EngineConfig) -> Result<Self> {
        Ok(LayerStore { db, driver })
    }

    /// Driver ids of every registered layer.
    pub fn cache_ids(&self) -> Result<Vec<LayerId>> {
        Ok(Vec::new())
    }

    /// Remove every driver layer not in `keep` (left by a crash mid-creation), children first.
    pub fn remove_orphans(&self, _keep: &[LayerId]) -> Result<()> {
        Ok(())
    }
}
