//! Use counts of layers handed out by `get` (in memory: a fresh agent adopts running
//! containers' layers through `reconcile_mounts`).

use std::collections::HashMap;

use crate::layer_id::LayerId;

/// How many `get`s of each layer have no matching `put` yet.
#[derive(Debug, Default)]
pub struct RefCounts(HashMap<LayerId, usize>);

impl RefCounts {
    /// Current count of `id` (0 when unused).
    pub fn count(&self, id: &LayerId) -> usize {
        self.0.get(id).copied().unwrap_or(0)
    }

    /// Add one use; returns the new count.
    pub fn acquire(&mut self, id: &LayerId) -> usize {
        let c = self.0.entry(id.clone()).or_insert(0);
        *c += 1;
        *c
    }

    /// Drop one use; returns the new count, or `None` when `id` had no use to drop.
    pub fn release(&mut self, id: &LayerId) -> Option<usize> {
        let c = self.0.get_mut(id)?;
        *c -= 1;
        let left = *c;
        if left == 0 {
            self.0.remove(id);
        }
        Some(left)
    }

    /// Set the count of `id` outright (adoption after a restart).
    pub fn set(&mut self, id: &LayerId, count: usize) {
        if count == 0 {
            self.0.remove(id);
        } else {
            self.0.insert(id.clone(), count);
        }
    }

    /// Forget every use.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Ids with at least one use.
    pub fn ids(&self) -> Vec<LayerId> {
        self.0.keys().cloned().collect()
    }
}
