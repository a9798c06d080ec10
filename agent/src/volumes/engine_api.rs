//! The engine's volume methods (what `docker volume create/ls/inspect/rm/prune` reach).

use std::collections::BTreeMap;

use crate::containers::Shared;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::{VolumeCreateSpec, VolumeInfo, VolumePruneReport};
use crate::volumes::{VolumeFilters, VolumeStore};

impl Engine {
    /// The volume store of this engine's data root.
    pub(crate) fn volume_store(&self) -> VolumeStore {
        VolumeStore::new(self.inner.db.clone(), &self.inner.config.data_root)
    }

    /// `docker volume create`: a new volume, or the existing one of that name.
    pub async fn create_volume(&self, spec: VolumeCreateSpec) -> Result<VolumeInfo> {
        let store = self.volume_store();
        Shared::blocking("creating a volume", move || store.create(&spec, false)).await
    }

    /// `docker volume inspect NAME` (404 `get NAME: no such volume`).
    pub async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo> {
        let store = self.volume_store();
        let name = name.to_string();
        Shared::blocking("reading a volume", move || store.get(&name)).await
    }

    /// `docker volume ls [--filter dangling|name|driver|label]`, by name.
    pub async fn list_volumes(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<VolumeInfo>> {
        let store = self.volume_store();
        Shared::blocking("listing volumes", move || {
            let filters = VolumeFilters::for_list(&filters)?;
            Ok(store
                .list_with_users()?
                .into_iter()
                .filter(|(v, users)| filters.lists(v, !users.is_empty()))
                .map(|(v, _)| v)
                .collect())
        })
        .await
    }

    /// `docker volume rm [-f] NAME`: 409 while a container uses it.
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let store = self.volume_store();
        let name = name.to_string();
        Shared::blocking("removing a volume", move || store.remove(&name, force)).await
    }

    /// `docker volume prune [-a] [--filter label=...]`: unused anonymous volumes (all unused
    /// volumes with `all=true`).
    pub async fn prune_volumes(
        &self,
        filters: BTreeMap<String, Vec<String>>,
    ) -> Result<VolumePruneReport> {
        let store = self.volume_store();
        Shared::blocking("pruning volumes", move || {
            store.prune(&VolumeFilters::for_prune(&filters)?)
        })
        .await
    }
}
