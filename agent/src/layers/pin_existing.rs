//! Pinning a layer that is already registered (the parent of a layer about to be created by
//! `docker commit` or the layers `docker save` reads), so a concurrent `rmi` cannot release it
//! while the operation needs it.

use super::digest::Digest;
use super::pins::{lock, LayerPins};
use super::records::{self, LayerRecord};
use super::LayerStore;
use crate::error::{EngineError, Result};

impl LayerStore {
    /// Pin the registered layer `chain_id` in `pins` and return its record; `Internal` when no
    /// such layer is recorded (an image names a layer the store lost).
    pub fn pin_existing(&self, pins: &mut LayerPins, chain_id: &Digest) -> Result<LayerRecord> {
        let mut table = lock(&self.locks)?;
        let found = self.db.read(|conn| records::get(conn, chain_id))?;
        match found {
            Some(layer) => {
                pins.add(&mut table, chain_id);
                Ok(layer)
            }
            None => Err(EngineError::Internal(format!(
                "layer {chain_id} is not recorded in the layer store"
            ))),
        }
    }
}
