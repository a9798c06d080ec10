//! The layer store: content-addressed layers (by ChainID) kept in the graph driver, shared
//! between images, registered only once their content is complete and verified.
//!
//! Life of a layer: [`LayerStore::register`] creates it in the driver, unpacks and verifies it,
//! then records it (one transaction). Images reference their top layer; a layer is needed while
//! an image has it on top, another layer sits on it, or a load in progress pins it.
//! [`LayerStore::release_with`] deletes unneeded rows in the transaction that made them
//! unneeded, then removes the driver copies. At start, rows no image reaches are forgotten and
//! driver layers nothing records are removed ([`LayerStore::remove_orphans`]).

pub mod chain_id;
pub mod decompress;
pub mod digest;
mod orphans;
mod pin_existing;
mod pins;
pub mod records;
mod register;
mod release;
pub mod tar_split;

use std::sync::Arc;

use strata_drivers::{ApplyLimits, GraphDriver, LayerId};

use crate::config::EngineConfig;
use crate::error::Result;
use crate::metadata::Db;

pub use digest::Digest;
pub use pins::LayerPins;
pub use records::LayerRecord;
pub use register::Registered;
pub use release::ReleasedLayer;

/// Layers by ChainID, on top of one graph driver.
pub struct LayerStore {
    db: Arc<Db>,
    driver: Arc<dyn GraphDriver>,
    locks: pins::SharedLocks,
    /// Tar-split files, to give back layers' original tars (`docker save`).
    splits: tar_split::SplitStore,
    /// What unpacking one layer may write (`--max-layer-size`).
    limits: ApplyLimits,
}

impl LayerStore {
    /// Open the store. Recorded layers that no image reaches are forgotten here (the engine
    /// opens the store before serving, so no load can be in progress); the driver copies of
    /// those are then removed with the other orphans by [`LayerStore::remove_orphans`].
    pub fn open(db: Arc<Db>, driver: Arc<dyn GraphDriver>, config: &EngineConfig) -> Result<Self> {
        let store = LayerStore {
            db,
            driver,
            locks: Default::default(),
            splits: tar_split::SplitStore::create(&config.data_root)?,
            limits: ApplyLimits {
                max_size: config.max_layer_size,
            },
        };
        store.forget_unreachable()?;
        Ok(store)
    }

    /// Driver ids of every registered layer.
    pub fn cache_ids(&self) -> Result<Vec<LayerId>> {
        self.db.read(records::all_cache_ids)
    }

    /// The layer with this ChainID, if registered.
    pub fn get(&self, chain_id: &Digest) -> Result<Option<LayerRecord>> {
        self.db.read(|conn| records::get(conn, chain_id))
    }

    /// A fresh, empty set of pins for one operation.
    pub fn pins(&self) -> LayerPins {
        LayerPins::new(self.locks.clone())
    }

    /// The driver the layers live in.
    pub fn driver(&self) -> &Arc<dyn GraphDriver> {
        &self.driver
    }
}
