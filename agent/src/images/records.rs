//! The `images` and `refs` tables (and the read-only view of `containers` that image removal
//! needs).

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{EngineError, Result};
use crate::layers::Digest;

/// A stored image.
#[derive(Clone, Debug)]
pub struct ImageRecord {
    pub id: Digest,
    /// The config JSON exactly as loaded.
    pub config: Vec<u8>,
    /// ChainID of the top layer; `None` for an image without layers.
    pub top_layer: Option<Digest>,
    /// Sum of the unpacked sizes of its layers.
    pub size: i64,
    /// Local parent image (`docker commit`), if any.
    pub parent_id: Option<String>,
}

/// A container that uses an image.
#[derive(Clone, Debug)]
pub struct ContainerUse {
    pub id: String,
    pub running: bool,
}

fn db_err(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> EngineError {
    let context = context.into();
    move |e| EngineError::metadata(context, e)
}

fn bad_row(what: String) -> EngineError {
    EngineError::Internal(format!("metadata store: {what}"))
}

type RawImage = (String, Vec<u8>, Option<String>, i64, Option<String>);

fn decode(raw: RawImage) -> Result<ImageRecord> {
    let (id, config, top_layer, size, parent_id) = raw;
    Ok(ImageRecord {
        id: Digest::parse(&id).map_err(|e| bad_row(format!("image id {id:?}: {e}")))?,
        config,
        top_layer: top_layer
            .map(|t| Digest::parse(&t).map_err(|e| bad_row(format!("image {id}: top layer: {e}"))))
            .transpose()?,
        size,
        parent_id: parent_id.filter(|p| !p.is_empty()),
    })
}

const IMAGE_COLUMNS: &str = "id, config, top_layer, size, parent_id";

/// The image with this id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<ImageRecord>> {
    conn.query_row(
        &format!("SELECT {IMAGE_COLUMNS} FROM images WHERE id = ?1"),
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .optional()
    .map_err(db_err(format!("reading image {id}")))?
    .map(decode)
    .transpose()
}

/// Every image.
pub fn all(conn: &Connection) -> Result<Vec<ImageRecord>> {
    let mut stmt = conn
        .prepare(&format!("SELECT {IMAGE_COLUMNS} FROM images"))
        .map_err(db_err("listing images"))?;
    let rows: Vec<RawImage> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(db_err("listing images"))?;
    rows.into_iter().map(decode).collect()
}

/// How many images are stored.
pub fn count(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0))
        .map_err(db_err("counting images"))
}

/// Insert an image unless one with its id exists; returns whether it was inserted.
pub fn insert_if_absent(conn: &Connection, image: &ImageRecord) -> Result<bool> {
    let changed = conn
        .execute(
            "INSERT OR IGNORE INTO images (id, config, top_layer, size, parent_id, loaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                image.id.as_str(),
                image.config,
                image.top_layer.as_ref().map(|t| t.as_str()),
                image.size,
                image.parent_id,
                chrono::Utc::now().to_rfc3339(),
            ],
        )
        .map_err(db_err(format!("recording image {}", image.id)))?;
    Ok(changed == 1)
}

/// Delete an image row (its refs must be gone).
pub fn delete(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM images WHERE id = ?1", params![id])
        .map_err(db_err(format!("deleting image {id}")))?;
    Ok(())
}

/// Ids starting with `sha256:<hex_prefix>`, at most `limit`.
pub fn ids_with_prefix(conn: &Connection, hex_prefix: &str, limit: usize) -> Result<Vec<String>> {
    let prefix = format!("sha256:{hex_prefix}");
    let mut stmt = conn
        .prepare("SELECT id FROM images WHERE substr(id, 1, ?1) = ?2 ORDER BY id LIMIT ?3")
        .map_err(db_err("searching images by id prefix"))?;
    let ids = stmt
        .query_map(params![prefix.len() as i64, prefix, limit as i64], |r| {
            r.get(0)
        })
        .and_then(|rows| rows.collect())
        .map_err(db_err("searching images by id prefix"))?;
    Ok(ids)
}

/// The normalized references naming an image, sorted.
pub fn refs_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT name FROM refs WHERE image_id = ?1 ORDER BY name")
        .map_err(db_err(format!("listing references of {id}")))?;
    let names = stmt
        .query_map(params![id], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(db_err(format!("listing references of {id}")))?;
    Ok(names)
}

/// Every reference, by image id.
pub fn all_refs(conn: &Connection) -> Result<HashMap<String, Vec<String>>> {
    let mut stmt = conn
        .prepare("SELECT name, image_id FROM refs ORDER BY name")
        .map_err(db_err("listing references"))?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(db_err("listing references"))?;
    let mut by_image: HashMap<String, Vec<String>> = HashMap::new();
    for (name, image) in rows {
        by_image.entry(image).or_default().push(name);
    }
    Ok(by_image)
}

/// The image a reference names.
pub fn ref_target(conn: &Connection, name: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT image_id FROM refs WHERE name = ?1",
        params![name],
        |r| r.get(0),
    )
    .optional()
    .map_err(db_err(format!("reading reference {name}")))
}

/// Point a reference at an image; returns the image it named before, if another.
pub fn set_ref(conn: &Connection, name: &str, id: &str) -> Result<Option<String>> {
    let previous = ref_target(conn, name)?;
    conn.execute(
        "INSERT INTO refs (name, image_id) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
        params![name, id],
    )
    .map_err(db_err(format!("setting reference {name}")))?;
    Ok(previous.filter(|p| p != id))
}

/// Remove a reference.
pub fn delete_ref(conn: &Connection, name: &str) -> Result<()> {
    conn.execute("DELETE FROM refs WHERE name = ?1", params![name])
        .map_err(db_err(format!("deleting reference {name}")))?;
    Ok(())
}

/// Containers created from an image, with whether each is running (or paused/restarting).
pub fn containers_using(conn: &Connection, id: &str) -> Result<Vec<ContainerUse>> {
    let mut stmt = conn
        .prepare("SELECT id, state FROM containers WHERE image_id = ?1 ORDER BY created_at, id")
        .map_err(db_err(format!("listing containers of image {id}")))?;
    let rows: Vec<(String, String)> = stmt
        .query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(db_err(format!("listing containers of image {id}")))?;
    Ok(rows
        .into_iter()
        .map(|(id, state)| {
            let status = serde_json::from_str::<serde_json::Value>(&state)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_default();
            let running = matches!(status.as_str(), "running" | "paused" | "restarting");
            ContainerUse { id, running }
        })
        .collect())
}

/// How many containers use each image.
pub fn container_counts(conn: &Connection) -> Result<HashMap<String, i64>> {
    let mut stmt = conn
        .prepare("SELECT image_id, COUNT(*) FROM containers GROUP BY image_id")
        .map_err(db_err("counting containers per image"))?;
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(db_err("counting containers per image"))?;
    Ok(rows.into_iter().collect())
}

/// Images whose local parent is `id`.
pub fn children_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT id FROM images WHERE parent_id = ?1")
        .map_err(db_err(format!("listing child images of {id}")))?;
    let ids = stmt
        .query_map(params![id], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(db_err(format!("listing child images of {id}")))?;
    Ok(ids)
}
