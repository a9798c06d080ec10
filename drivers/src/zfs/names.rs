//! How layer ids map to ZFS names: layer `ID` is dataset `FSNAME/ID`; a child layer `C` of `P` is
//! a clone of the snapshot `FSNAME/P@C`, so a clone's `origin` property names its parent.

use crate::layer_id::LayerId;

/// The ZFS names of the layers under one parent dataset.
#[derive(Clone, Debug)]
pub struct Names {
    fsname: String,
}

impl Names {
    /// Names under the parent dataset `fsname` (e.g. `tank/strata`).
    pub fn new(fsname: impl Into<String>) -> Self {
        Names {
            fsname: fsname.into(),
        }
    }

    /// The parent dataset.
    pub fn fsname(&self) -> &str {
        &self.fsname
    }

    /// The dataset holding layer `id`.
    pub fn dataset(&self, id: &LayerId) -> String {
        format!("{}/{}", self.fsname, id)
    }

    /// The snapshot of `parent` that layer `child` is cloned from.
    pub fn origin_snapshot(&self, parent: &LayerId, child: &LayerId) -> String {
        format!("{}/{}@{}", self.fsname, parent, child)
    }

    /// The layer id of a dataset directly under the parent dataset, `None` for anything else
    /// (the parent itself, deeper datasets, snapshots, names that are no layer id).
    pub fn layer_of_dataset(&self, dataset: &str) -> Option<LayerId> {
        let rest = dataset.strip_prefix(&self.fsname)?.strip_prefix('/')?;
        if rest.contains('/') || rest.contains('@') {
            return None;
        }
        LayerId::new(rest).ok()
    }

    /// Split a snapshot name `FSNAME/P@C` into the layer it belongs to and the layer cloned
    /// from it; `None` when it does not have that form.
    pub fn split_snapshot(&self, snapshot: &str) -> Option<(LayerId, LayerId)> {
        let (dataset, snap) = snapshot.split_once('@')?;
        let parent = self.layer_of_dataset(dataset)?;
        let child = LayerId::new(snap).ok()?;
        Some((parent, child))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> LayerId {
        LayerId::new(s).unwrap()
    }

    #[test]
    fn names_round_trip() {
        let n = Names::new("tank/strata");
        assert_eq!(n.dataset(&id("abc")), "tank/strata/abc");
        assert_eq!(n.origin_snapshot(&id("p"), &id("c")), "tank/strata/p@c");
        assert_eq!(n.layer_of_dataset("tank/strata/abc"), Some(id("abc")));
        assert_eq!(n.layer_of_dataset("tank/strata"), None);
        assert_eq!(n.layer_of_dataset("tank/strata/a/b"), None);
        assert_eq!(n.layer_of_dataset("tank/strataX/a"), None);
        assert_eq!(n.layer_of_dataset("tank/strata/a@b"), None);
        assert_eq!(
            n.split_snapshot("tank/strata/p@c"),
            Some((id("p"), id("c")))
        );
        assert_eq!(n.split_snapshot("tank/strata/p"), None);
        assert_eq!(n.split_snapshot("other/p@c"), None);
    }
}
