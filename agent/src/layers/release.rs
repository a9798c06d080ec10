//! Releasing layers: rows go first, in one transaction with whatever made them unneeded (an
//! image deleted, a load abandoned); the driver's copies go after the commit, top down. A driver
//! failure then leaves an orphan that the next start collects.

use rusqlite::Transaction;
use strata_drivers::LayerId;

use super::digest::Digest;
use super::pins::{lock, LayerPins, LockTable};
use super::records;
use super::LayerStore;
use crate::error::Result;

/// A layer that was released.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleasedLayer {
    pub chain_id: Digest,
    pub cache_id: LayerId,
}

impl LayerStore {
    /// Run `change` in one transaction; it returns its value and the ChainIDs of layers it may
    /// have made unneeded (an image's top layer). In the same transaction each such layer and
    /// then its parents are deleted while no image, child layer or pin needs them. After the
    /// commit the driver copies are removed, top down.
    pub fn release_with<T>(
        &self,
        what: &str,
        change: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<Digest>)>,
    ) -> Result<(T, Vec<ReleasedLayer>)> {
        let (value, released) = {
            let table = lock(&self.locks)?;
            self.db.write(what, |tx| {
                let (value, tops) = change(tx)?;
                let mut released = Vec::new();
                for top in &tops {
                    released.extend(release_rows(tx, &table, top)?);
                }
                Ok((value, released))
            })?
        };
        self.remove_from_driver(&released);
        Ok((value, released))
    }

    /// Give up the layers a failed load pinned: unpin them and release those nothing else
    /// needs (the ones this load created, unless a concurrent load now uses them too).
    pub fn abandon(&self, pins: LayerPins) -> Result<Vec<ReleasedLayer>> {
        let released = {
            let mut table = lock(&self.locks)?;
            let held: Vec<Digest> = pins.held().to_vec();
            pins.release_locked(&mut table);
            self.db
                .write("releasing the layers of a failed load", |tx| {
                    let mut released = Vec::new();
                    for chain in held.iter().rev() {
                        released.extend(release_rows(tx, &table, chain)?);
                    }
                    Ok(released)
                })?
        };
        self.remove_from_driver(&released);
        Ok(released)
    }

    fn remove_from_driver(&self, released: &[ReleasedLayer]) {
        for layer in released {
            match self.driver.remove(&layer.cache_id) {
                Ok(()) => {
                    tracing::debug!(chain_id = %layer.chain_id, cache_id = %layer.cache_id, "layer removed")
                }
                Err(err) => tracing::warn!(chain_id = %layer.chain_id, cache_id = %layer.cache_id,
                    error = %err, "removing a released layer failed; it will be collected at next start"),
            }
            self.splits.remove(&layer.chain_id);
        }
    }
}

/// Delete `top` and then its parents, stopping at the first one still needed.
fn release_rows(
    tx: &Transaction<'_>,
    table: &LockTable,
    top: &Digest,
) -> Result<Vec<ReleasedLayer>> {
    let mut released = Vec::new();
    let mut next = Some(top.clone());
    while let Some(chain) = next {
        let Some(layer) = records::get(tx, &chain)? else {
            break;
        };
        if table.is_pinned(&chain) || records::is_needed(tx, &chain)? {
            break;
        }
        records::delete(tx, &chain)?;
        released.push(ReleasedLayer {
            chain_id: chain,
            cache_id: layer.cache_id,
        });
        next = layer.parent;
    }
    Ok(released)
}
