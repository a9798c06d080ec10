//! The `layer_blobs` table: which compressed blob (digest, size, media type) holds a layer's
//! content on which registry repository, learned from pulls and pushes.

use rusqlite::{params, Connection};

use crate::error::{EngineError, Result};
use crate::layers::Digest;

/// One known compressed form of a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    pub diff_id: Digest,
    pub blob_digest: Digest,
    pub size: i64,
    pub media_type: String,
    pub registry: String,
    pub repository: String,
}

/// Remember a blob (no-op when already known).
pub fn insert(conn: &Connection, blob: &LayerBlob) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO layer_blobs
         (diff_id, blob_digest, size, media_type, registry, repository)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            blob.diff_id.as_str(),
            blob.blob_digest.as_str(),
            blob.size,
            blob.media_type,
            blob.registry,
            blob.repository
        ],
    )
    .map_err(|e| {
        EngineError::metadata(
            format!(
                "recording blob {} of layer {}",
                blob.blob_digest, blob.diff_id
            ),
            e,
        )
    })?;
    Ok(())
}

/// The known blobs of a layer on `registry`, those of `repository` first.
pub fn for_layer(
    conn: &Connection,
    diff_id: &Digest,
    registry: &str,
    repository: &str,
) -> Result<Vec<LayerBlob>> {
    let context = || format!("listing blobs of layer {diff_id}");
    let mut stmt = conn
        .prepare(
            "SELECT blob_digest, size, media_type, repository FROM layer_blobs
             WHERE diff_id = ?1 AND registry = ?2
             ORDER BY (repository = ?3) DESC, rowid",
        )
        .map_err(|e| EngineError::metadata(context(), e))?;
    let rows: Vec<(String, i64, String, String)> = stmt
        .query_map(params![diff_id.as_str(), registry, repository], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| EngineError::metadata(context(), e))?;
    rows.into_iter()
        .map(|(digest, size, media_type, repo)| {
            let blob_digest = Digest::parse(&digest)
                .map_err(|e| EngineError::Internal(format!("metadata store: blob digest: {e}")))?;
            Ok(LayerBlob {
                diff_id: diff_id.clone(),
                blob_digest,
                size,
                media_type,
                registry: registry.to_string(),
                repository: repo,
            })
        })
        .collect()
}
