//! The `layers` table: one row per complete, verified layer, keyed by ChainID.

use rusqlite::{params, Connection, OptionalExtension, Row};
use strata_drivers::LayerId;

use super::digest::Digest;
use crate::error::{EngineError, Result};

/// A registered layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// The ChainID of the layer below, `None` for a base layer.
    pub parent: Option<Digest>,
    /// The graph driver's id for this layer.
    pub cache_id: LayerId,
    /// Unpacked size in bytes (as `apply_diff` reported it).
    pub size: i64,
}

const COLUMNS: &str = "chain_id, diff_id, parent, cache_id, size";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, Option<String>, String, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn decode(raw: (String, String, Option<String>, String, i64)) -> Result<LayerRecord> {
    let (chain_id, diff_id, parent, cache_id, size) = raw;
    let bad = |what: &str, reason: String| {
        EngineError::Internal(format!(
            "metadata store: layer {chain_id}: bad {what}: {reason}"
        ))
    };
    Ok(LayerRecord {
        chain_id: Digest::parse(&chain_id).map_err(|e| bad("chain_id", e))?,
        diff_id: Digest::parse(&diff_id).map_err(|e| bad("diff_id", e))?,
        parent: parent
            .as_deref()
            .map(Digest::parse)
            .transpose()
            .map_err(|e| bad("parent", e))?,
        cache_id: LayerId::new(cache_id.clone()).map_err(|e| bad("cache_id", e.to_string()))?,
        size,
    })
}

/// The layer with this ChainID, if registered.
pub fn get(conn: &Connection, chain_id: &Digest) -> Result<Option<LayerRecord>> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM layers WHERE chain_id = ?1"),
            params![chain_id.as_str()],
            from_row,
        )
        .optional()
        .map_err(|e| EngineError::metadata(format!("reading layer {chain_id}"), e))?;
    raw.map(decode).transpose()
}

/// Record a complete layer.
pub fn insert(conn: &Connection, layer: &LayerRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            layer.chain_id.as_str(),
            layer.diff_id.as_str(),
            layer.parent.as_ref().map(|p| p.as_str()),
            layer.cache_id.as_str(),
            layer.size,
            chrono::Utc::now().to_rfc3339(),
        ],
    )
    .map_err(|e| EngineError::metadata(format!("recording layer {}", layer.chain_id), e))?;
    Ok(())
}

/// Whether an image has this layer on top or another layer sits on it.
pub fn is_needed(conn: &Connection, chain_id: &Digest) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM images WHERE top_layer = ?1)
             OR EXISTS(SELECT 1 FROM layers WHERE parent = ?1)",
        params![chain_id.as_str()],
        |row| row.get::<_, bool>(0),
    )
    .map_err(|e| EngineError::metadata(format!("checking users of layer {chain_id}"), e))
}

/// Delete a layer's row (its children must be gone already).
pub fn delete(conn: &Connection, chain_id: &Digest) -> Result<()> {
    conn.execute(
        "DELETE FROM layers WHERE chain_id = ?1",
        params![chain_id.as_str()],
    )
    .map_err(|e| EngineError::metadata(format!("deleting layer {chain_id}"), e))?;
    Ok(())
}

/// The driver ids of every registered layer.
pub fn all_cache_ids(conn: &Connection) -> Result<Vec<LayerId>> {
    let mut stmt = conn
        .prepare("SELECT cache_id FROM layers")
        .map_err(|e| EngineError::metadata("listing layer cache ids", e))?;
    let ids = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(|e| EngineError::metadata("listing layer cache ids", e))?;
    ids.into_iter()
        .map(|id| {
            LayerId::new(id.clone()).map_err(|e| {
                EngineError::Internal(format!("metadata store: bad layer cache id {id:?}: {e}"))
            })
        })
        .collect()
}

/// Delete every layer no image reaches (left by a crash between recording a layer and recording
/// the image that needed it). Returns the ChainIDs deleted.
pub fn delete_unreachable(conn: &Connection) -> Result<Vec<String>> {
    const NEEDED: &str = "WITH RECURSIVE needed(chain_id) AS (
            SELECT top_layer FROM images WHERE top_layer IS NOT NULL
            UNION
            SELECT l.parent FROM layers l JOIN needed n ON l.chain_id = n.chain_id
            WHERE l.parent IS NOT NULL
        )";
    let mut stmt = conn
        .prepare(&format!(
            "{NEEDED} SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM needed)"
        ))
        .map_err(|e| EngineError::metadata("finding unreferenced layers", e))?;
    let doomed = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(|e| EngineError::metadata("finding unreferenced layers", e))?;
    if !doomed.is_empty() {
        // One statement: foreign keys are checked at its end, so parent/child order is moot.
        conn.execute(
            &format!(
                "{NEEDED} DELETE FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM needed)"
            ),
            [],
        )
        .map_err(|e| EngineError::metadata("deleting unreferenced layers", e))?;
    }
    Ok(doomed)
}
