//! Registering a layer from a tar stream: reuse it when its ChainID is known, otherwise create
//! it in the driver, unpack while verifying the diffID, and record it only once complete.

use std::io::Read;

use strata_drivers::error::ArchiveError;
use strata_drivers::{DriverError, LayerId};

use super::chain_id::chain_id;
use super::decompress::decompressing_reader;
use super::digest::{Digest, HashingReader};
use super::pins::{lock, LayerPins};
use super::records::{self, LayerRecord};
use super::LayerStore;
use crate::error::{EngineError, Result};

/// What registering a layer did.
#[derive(Clone, Debug)]
pub struct Registered {
    pub layer: LayerRecord,
    /// `true` when this call created the layer, `false` when it was already stored.
    pub created: bool,
}

impl LayerStore {
    /// Make sure the layer with diffID `diff_id` exists on `parent` (which the caller must have
    /// pinned in `pins`) and pin it in `pins`.
    ///
    /// `open` yields the layer blob (compressed or not); it is called once, also when the layer
    /// is already stored. `verify` gets the blob reader back after it was read to its end (by
    /// the unpacking, or not at all when the layer was reused) and checks what the archive
    /// claims about the blob; its failure undoes a creation. `label` names the layer in errors.
    pub fn register<R, O, V>(
        &self,
        pins: &mut LayerPins,
        parent: Option<&LayerRecord>,
        diff_id: &Digest,
        label: &str,
        open: O,
        verify: V,
    ) -> Result<Registered>
    where
        R: Read,
        O: FnOnce() -> Result<R>,
        V: FnOnce(R) -> Result<()>,
    {
        let chain = chain_id(parent.map(|p| &p.chain_id), diff_id);
        if let Some(layer) = self.pin_if_recorded(pins, &chain)? {
            verify(open()?)?;
            return Ok(Registered {
                layer,
                created: false,
            });
        }

        let creation_lock = lock(&self.locks)?.creation_lock(&chain);
        let outcome = {
            let _creating = creation_lock.lock().map_err(|_| {
                EngineError::Internal(format!("creation lock of layer {chain} poisoned"))
            })?;
            match self.pin_if_recorded(pins, &chain)? {
                Some(layer) => {
                    verify(open()?)?;
                    Ok(Registered {
                        layer,
                        created: false,
                    })
                }
                None => self.create(pins, parent, chain.clone(), diff_id, label, open, verify),
            }
        };
        drop(creation_lock);
        lock(&self.locks)?.forget_creation_lock(&chain);
        outcome
    }

    /// If the layer is recorded, pin it (under the table lock, so it cannot be released between
    /// the check and the pin) and return it.
    fn pin_if_recorded(&self, pins: &mut LayerPins, chain: &Digest) -> Result<Option<LayerRecord>> {
        let mut table = lock(&self.locks)?;
        let found = self.db.read(|conn| records::get(conn, chain))?;
        if found.is_some() {
            pins.add(&mut table, chain);
        }
        Ok(found)
    }

    #[allow(clippy::too_many_arguments)]
    fn create<R, O, V>(
        &self,
        pins: &mut LayerPins,
        parent: Option<&LayerRecord>,
        chain: Digest,
        diff_id: &Digest,
        label: &str,
        open: O,
        verify: V,
    ) -> Result<Registered>
    where
        R: Read,
        O: FnOnce() -> Result<R>,
        V: FnOnce(R) -> Result<()>,
    {
        let cache_id = new_cache_id()?;
        let parent_cache = parent.map(|p| &p.cache_id);
        self.driver.create(&cache_id, parent_cache)?;
        let unpacked = self.unpack(&cache_id, diff_id, label, open, verify);
        let recorded = unpacked.and_then(|(size, split)| {
            crate::faults::fault_point("layer-created");
            let layer = LayerRecord {
                chain_id: chain.clone(),
                diff_id: diff_id.clone(),
                parent: parent.map(|p| p.chain_id.clone()),
                cache_id: cache_id.clone(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
            };
            let mut table = lock(&self.locks)?;
            self.db
                .write("recording a layer", |tx| records::insert(tx, &layer))?;
            pins.add(&mut table, &chain);
            Ok((layer, split))
        });
        match recorded {
            Ok((layer, split)) => {
                if let Some(split) = split {
                    self.splits.publish(split, &chain);
                }
                tracing::debug!(chain_id = %chain, cache_id = %cache_id, size = layer.size, "layer registered");
                Ok(Registered {
                    layer,
                    created: true,
                })
            }
            Err(err) => {
                if let Err(remove_err) = self.driver.remove(&cache_id) {
                    tracing::warn!(cache_id = %cache_id, error = %remove_err,
                        "removing a failed layer; it will be collected at next start");
                }
                Err(err)
            }
        }
    }

    /// Unpack the blob into the driver layer, hashing the uncompressed stream and recording its
    /// tar-split; returns the size the driver reports and the split, not yet published.
    fn unpack<R, O, V>(
        &self,
        cache_id: &LayerId,
        diff_id: &Digest,
        label: &str,
        open: O,
        verify: V,
    ) -> Result<(u64, Option<super::tar_split::PendingSplit>)>
    where
        R: Read,
        O: FnOnce() -> Result<R>,
        V: FnOnce(R) -> Result<()>,
    {
        let mut blob = open()?;
        let unpacked = {
            let (_compression, decompressed) = decompressing_reader(&mut blob)
                .map_err(|e| EngineError::InvalidArchive(format!("layer {label}: reading: {e}")))?;
            let mut recorder = self.splits.recorder(decompressed);
            let mut hashing = HashingReader::new(&mut recorder);
            let size = self
                .driver
                .apply_diff_limited(cache_id, &mut hashing, &self.limits)
                .map_err(|e| layer_error(label, e))?;
            // The diffID covers the whole uncompressed stream, including what follows the tar's
            // end marker.
            hashing.drain().map_err(|e| {
                EngineError::InvalidArchive(format!(
                    "layer {label}: reading after the tar end: {e}"
                ))
            })?;
            let (actual, _) = hashing.finish();
            if &actual != diff_id {
                return Err(EngineError::DigestMismatch {
                    what: format!("layer {label} (diff id)"),
                    expected: diff_id.to_string(),
                    actual: actual.to_string(),
                });
            }
            (size, recorder.finish())
        };
        verify(blob)?;
        Ok(unpacked)
    }
}

/// Driver errors about the layer's content are the archive's fault: say which layer. A full
/// disk while writing an entry is not: it is a 500 saying so.
fn layer_error(label: &str, err: DriverError) -> EngineError {
    match err {
        DriverError::Archive(ArchiveError::Write { path, dest, source })
            if crate::error::is_disk_full(&source) =>
        {
            EngineError::io(
                format!(
                    "layer {label}: writing entry {path:?} to {}",
                    dest.display()
                ),
                source,
            )
        }
        DriverError::Archive(archive @ ArchiveError::TooLarge { .. }) => {
            EngineError::InvalidArchive(format!(
                "layer {label}: {archive} (strata serve --max-layer-size)"
            ))
        }
        DriverError::Archive(archive) => {
            EngineError::InvalidArchive(format!("layer {label}: {archive}"))
        }
        other => {
            tracing::warn!(layer = label, error = %other, "unpacking a layer failed");
            EngineError::Driver(other)
        }
    }
}

/// A fresh random driver id: 64 hex characters, as Docker's cache ids.
fn new_cache_id() -> Result<LayerId> {
    let bytes: [u8; 32] = rand::random();
    Ok(LayerId::new(hex::encode(bytes))?)
}
