//! In-memory holds on layers: a load in progress pins every layer it registered or reused, so a
//! concurrent `rmi` cannot release them before the image that needs them is recorded. Also the
//! per-ChainID locks that serialize concurrent creation of the same layer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::digest::Digest;
use crate::error::{EngineError, Result};

/// Shared state of the layer store's locks. Lock order: this mutex before the database's.
#[derive(Default)]
pub(super) struct LockTable {
    /// How many holders pin each layer.
    pins: HashMap<Digest, usize>,
    /// One mutex per ChainID being created right now.
    creating: HashMap<Digest, Arc<Mutex<()>>>,
}

impl LockTable {
    pub(super) fn is_pinned(&self, chain_id: &Digest) -> bool {
        self.pins.get(chain_id).is_some_and(|n| *n > 0)
    }

    fn pin(&mut self, chain_id: &Digest) {
        *self.pins.entry(chain_id.clone()).or_insert(0) += 1;
    }

    fn unpin(&mut self, chain_id: &Digest) {
        if let Some(count) = self.pins.get_mut(chain_id) {
            *count -= 1;
            if *count == 0 {
                self.pins.remove(chain_id);
            }
        }
    }

    /// The creation lock for a ChainID (made on first use).
    pub(super) fn creation_lock(&mut self, chain_id: &Digest) -> Arc<Mutex<()>> {
        self.creating.entry(chain_id.clone()).or_default().clone()
    }

    /// Forget a creation lock nobody else holds any more.
    pub(super) fn forget_creation_lock(&mut self, chain_id: &Digest) {
        if self
            .creating
            .get(chain_id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            self.creating.remove(chain_id);
        }
    }
}

pub(super) type SharedLocks = Arc<Mutex<LockTable>>;

pub(super) fn lock(table: &SharedLocks) -> Result<MutexGuard<'_, LockTable>> {
    table
        .lock()
        .map_err(|_| EngineError::Internal("layer store lock poisoned".into()))
}

/// The layers one operation (an image load) holds. Dropping it releases the pins; layers that
/// nothing else needs stay recorded until [`super::LayerStore::abandon`] or the next start
/// collects them, so drop it only after the image that needs them is committed.
pub struct LayerPins {
    table: SharedLocks,
    held: Vec<Digest>,
}

impl LayerPins {
    pub(super) fn new(table: SharedLocks) -> Self {
        LayerPins {
            table,
            held: Vec::new(),
        }
    }

    /// Record a pin; the caller holds the table lock (passed in) while it checks the database.
    pub(super) fn add(&mut self, table: &mut LockTable, chain_id: &Digest) {
        table.pin(chain_id);
        self.held.push(chain_id.clone());
    }

    /// The pinned ChainIDs, in the order they were pinned.
    pub fn held(&self) -> &[Digest] {
        &self.held
    }

    /// Unpin everything, with the table already locked by the caller.
    pub(super) fn release_locked(mut self, table: &mut LockTable) {
        for chain_id in self.held.drain(..) {
            table.unpin(&chain_id);
        }
    }
}

impl Drop for LayerPins {
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for chain_id in self.held.drain(..) {
            table.unpin(&chain_id);
        }
    }
}
