//! `docker rename OLD NEW`: the new name is taken in the registry first (so two renames or a
//! create cannot both get it), then stored in one statement, then shown.

use rusqlite::params;
use tracing::info;

use crate::containers::names;
use crate::containers::Shared;
use crate::engine::Engine;
use crate::error::{EngineError, Result};

impl Engine {
    /// `POST /containers/{id}/rename?name=NEW`: 400 for an empty, invalid or unchanged name,
    /// 409 when another container has it.
    pub async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let shared = self.inner.containers.shared().clone();
        let c = shared.find(id)?;
        if new_name.trim_start_matches('/').is_empty() {
            return Err(EngineError::InvalidArgument(
                "Neither old nor new names may be empty".into(),
            ));
        }
        let new_name = names::validate(new_name)?;
        let _guard = c.lifecycle.lock().await;
        let old_name = c.name();
        if old_name == new_name {
            return Err(EngineError::InvalidArgument(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        shared.registry.reserve_name(&new_name, &c.id)?;
        let db = shared.db.clone();
        let (cid, stored) = (c.id.clone(), new_name.clone());
        let saved = Shared::blocking("renaming container", move || {
            db.write("renaming container", |tx| {
                let changed = tx
                    .execute(
                        "UPDATE containers SET name = ?2 WHERE id = ?1",
                        params![cid, stored],
                    )
                    .map_err(|e| {
                        EngineError::metadata(format!("renaming container {cid} to {stored}"), e)
                    })?;
                if changed == 0 {
                    return Err(EngineError::NoSuchContainer(cid.clone()));
                }
                Ok(())
            })
        })
        .await;
        if let Err(e) = saved {
            shared.registry.release_name(&new_name);
            return Err(e);
        }
        c.live().record.name = new_name.clone();
        shared.registry.release_name(&new_name);
        info!(id = %c.id, from = %old_name, to = %new_name, "container renamed");
        Ok(())
    }
}
