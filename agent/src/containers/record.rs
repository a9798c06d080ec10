//! A container's row in the `containers` table, and the queries that read and write it.

use rusqlite::{params, Connection, Transaction};
use strata_drivers::LayerId;

use crate::error::{EngineError, Result};
use crate::model::{ContainerSpec, ContainerState, ResolvedConfig};

/// Everything the metadata store keeps about one container.
#[derive(Clone, Debug)]
pub(crate) struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// `sha256:...`
    pub image_id: String,
    /// What was asked for, as asked.
    pub spec: ContainerSpec,
    /// The spec merged with the image's config.
    pub config: ResolvedConfig,
    pub state: ContainerState,
    pub rw_layer: LayerId,
    pub init_layer: LayerId,
    /// RFC 3339.
    pub created_at: String,
    pub restart_count: i64,
}

fn to_json<T: serde::Serialize>(id: &str, what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| EngineError::Internal(format!("container {id}: encoding {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(id: &str, what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| EngineError::Internal(format!("container {id}: decoding stored {what}: {e}")))
}

/// Insert a new container row.
pub(crate) fn insert(tx: &Transaction<'_>, rec: &ContainerRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO containers (id, name, image_id, spec, config, state, rw_layer, init_layer, \
         created_at, restart_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            rec.id,
            rec.name,
            rec.image_id,
            to_json(&rec.id, "spec", &rec.spec)?,
            to_json(&rec.id, "config", &rec.config)?,
            to_json(&rec.id, "state", &rec.state)?,
            rec.rw_layer.as_str(),
            rec.init_layer.as_str(),
            rec.created_at,
            rec.restart_count,
        ],
    )
    .map_err(|e| EngineError::metadata(format!("recording container {}", rec.id), e))?;
    Ok(())
}

/// Replace the stored state of container `id`.
pub(crate) fn save_state(tx: &Transaction<'_>, id: &str, state: &ContainerState) -> Result<()> {
    let changed = tx
        .execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, to_json(id, "state", state)?],
        )
        .map_err(|e| EngineError::metadata(format!("saving state of container {id}"), e))?;
    if changed == 0 {
        return Err(EngineError::NoSuchContainer(id.to_string()));
    }
    Ok(())
}

/// Delete container `id`'s row.
pub(crate) fn delete(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.execute("DELETE FROM containers WHERE id = ?1", params![id])
        .map_err(|e| EngineError::metadata(format!("deleting container {id}"), e))?;
    Ok(())
}

/// Set (`true`) or clear the tombstone of container `id`: a removal under way, finished at
/// the next start if the agent dies before the row is deleted.
pub(crate) fn set_removing(tx: &Transaction<'_>, id: &str, removing: bool) -> Result<()> {
    tx.execute(
        "UPDATE containers SET removing = ?2 WHERE id = ?1",
        params![id, i64::from(removing)],
    )
    .map_err(|e| EngineError::metadata(format!("marking container {id} for removal"), e))?;
    Ok(())
}

/// The ids of the containers whose removal was under way (tombstoned).
pub(crate) fn removing_ids(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT id FROM containers WHERE removing != 0")
        .map_err(|e| EngineError::metadata("listing containers being removed", e))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| EngineError::metadata("listing containers being removed", e))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| EngineError::metadata("reading a container being removed", e))
}

/// Every stored container.
pub(crate) fn load_all(conn: &Connection) -> Result<Vec<ContainerRecord>> {
    let mut stmt = conn
        .prepare(
            "SELECT id, name, image_id, spec, config, state, rw_layer, init_layer, created_at, \
             restart_count FROM containers",
        )
        .map_err(|e| EngineError::metadata("listing containers", e))?;
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
    );
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .map_err(|e| EngineError::metadata("listing containers", e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, name, image_id, spec, config, state, rw, init, created_at, restart_count): Row =
            row.map_err(|e| EngineError::metadata("reading a container row", e))?;
        let layer = |raw: String| {
            LayerId::new(raw).map_err(|e| {
                EngineError::Internal(format!("container {id}: stored layer id is invalid: {e}"))
            })
        };
        out.push(ContainerRecord {
            spec: from_json(&id, "spec", &spec)?,
            config: from_json(&id, "config", &config)?,
            state: from_json(&id, "state", &state)?,
            rw_layer: layer(rw)?,
            init_layer: layer(init)?,
            id,
            name,
            image_id,
            created_at,
            restart_count,
        });
    }
    Ok(out)
}
