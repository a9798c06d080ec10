//! Start-up repair: forget recorded layers no image reaches, and remove driver layers nothing
//! records (a crash between `driver.create` and the database commit leaves those).

use std::collections::{BTreeSet, HashMap};

use strata_drivers::LayerId;

use super::records;
use super::LayerStore;
use crate::error::Result;

impl LayerStore {
    /// Delete the rows of layers no image reaches (recorded by a load that crashed before its
    /// image was). Their driver copies then count as orphans. Only safe before serving.
    pub(super) fn forget_unreachable(&self) -> Result<()> {
        let forgotten = self.db.write("forgetting unreferenced layers", |tx| {
            records::delete_unreachable(tx)
        })?;
        if !forgotten.is_empty() {
            tracing::info!(count = forgotten.len(), layers = ?forgotten,
                "forgot layers no image uses (left by an interrupted load)");
        }
        Ok(())
    }

    /// Remove every driver layer not in `keep` (left by a crash mid-creation), children first.
    /// Failures are logged, not fatal: the agent must still start, and the next start retries.
    pub fn remove_orphans(&self, keep: &[LayerId]) -> Result<()> {
        if let Err(err) = self.remove_orphan_splits() {
            tracing::warn!(error = %err, "removing orphaned tar-split files failed");
        }
        let keep: BTreeSet<&LayerId> = keep.iter().collect();
        let orphans: Vec<LayerId> = self
            .driver
            .layers()?
            .into_iter()
            .filter(|id| !keep.contains(id))
            .collect();
        if orphans.is_empty() {
            return Ok(());
        }
        tracing::info!(count = orphans.len(), "removing orphaned driver layers");
        for id in children_first(&orphans, |id| self.driver.parent(id).ok().flatten()) {
            match self.driver.remove(&id) {
                Ok(()) => tracing::info!(cache_id = %id, "removed orphaned layer"),
                Err(err) => {
                    tracing::warn!(cache_id = %id, error = %err, "removing orphaned layer failed")
                }
            }
        }
        Ok(())
    }
}

/// Order `layers` so that every layer comes before its parent (when both are in the set).
fn children_first(
    layers: &[LayerId],
    parent_of: impl Fn(&LayerId) -> Option<LayerId>,
) -> Vec<LayerId> {
    let set: BTreeSet<&LayerId> = layers.iter().collect();
    let parents: HashMap<LayerId, LayerId> = layers
        .iter()
        .filter_map(|id| {
            parent_of(id)
                .filter(|p| set.contains(p))
                .map(|p| (id.clone(), p))
        })
        .collect();
    // Depth = number of ancestors inside the set; deepest first puts children before parents.
    let depth = |start: &LayerId| -> usize {
        let mut depth = 0usize;
        let mut current = start;
        while let Some(parent) = parents.get(current) {
            depth += 1;
            current = parent;
            if depth > layers.len() {
                break; // a cycle would be a driver bug; do not loop forever
            }
        }
        depth
    };
    let mut ordered: Vec<(usize, LayerId)> =
        layers.iter().map(|id| (depth(id), id.clone())).collect();
    ordered.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    ordered.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> LayerId {
        LayerId::new(s).unwrap()
    }

    #[test]
    fn children_come_before_parents() {
        let parents: HashMap<LayerId, LayerId> = [
            (id("c"), id("b")),
            (id("b"), id("a")),
            (id("x"), id("a")),
            (id("y"), id("kept")),
        ]
        .into_iter()
        .collect();
        let orphans = vec![id("a"), id("b"), id("c"), id("x"), id("y")];
        let order = children_first(&orphans, |l| parents.get(l).cloned());
        let pos = |s: &str| order.iter().position(|l| l.as_str() == s).unwrap();
        assert!(pos("c") < pos("b"));
        assert!(pos("b") < pos("a"));
        assert!(pos("x") < pos("a"));
        assert_eq!(order.len(), 5);
    }
}
