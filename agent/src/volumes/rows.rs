//! The `volumes` and `container_volumes` rows and their queries.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::error::{EngineError, Result};
use crate::model::VolumeInfo;

/// One row of `volumes`.
#[derive(Clone, Debug)]
pub(crate) struct VolumeRow {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub anonymous: bool,
    pub created_at: String,
}

impl VolumeRow {
    pub(crate) fn into_info(self, mountpoint: String) -> VolumeInfo {
        VolumeInfo {
            name: self.name,
            driver: self.driver,
            mountpoint,
            created_at: self.created_at,
            labels: self.labels,
            options: self.options,
            anonymous: self.anonymous,
        }
    }
}

/// A volume mounted into a container (one row of `container_volumes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContainerVolume {
    pub destination: String,
    pub volume: String,
    pub read_only: bool,
    /// As `docker inspect` `Mounts[].Mode` shows it.
    pub mode: String,
    /// Populate the volume from the image's content at `destination` when it is empty.
    pub copy_data: bool,
    /// The volume was made for this container (removed with it by `rm -v` / `--rm`).
    pub anonymous: bool,
}

fn map_json(name: &str, what: &str, text: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(text)
        .map_err(|e| EngineError::Internal(format!("volume {name}: decoding stored {what}: {e}")))
}

fn to_json(map: &BTreeMap<String, String>) -> Result<String> {
    serde_json::to_string(map)
        .map_err(|e| EngineError::Internal(format!("encoding volume labels: {e}")))
}

type RawRow = (String, String, String, String, bool, String);

fn decode(raw: RawRow) -> Result<VolumeRow> {
    let (name, driver, labels, options, anonymous, created_at) = raw;
    Ok(VolumeRow {
        labels: map_json(&name, "labels", &labels)?,
        options: map_json(&name, "options", &options)?,
        name,
        driver,
        anonymous,
        created_at,
    })
}

const COLUMNS: &str = "name, driver, labels, options, anonymous, created_at";

fn read_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// The row of volume `name`, if any.
pub(crate) fn get(conn: &Connection, name: &str) -> Result<Option<VolumeRow>> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM volumes WHERE name = ?1"),
            params![name],
            read_raw,
        )
        .optional()
        .map_err(|e| EngineError::metadata(format!("reading volume {name}"), e))?;
    raw.map(decode).transpose()
}

/// Every volume, by name.
pub(crate) fn list(conn: &Connection) -> Result<Vec<VolumeRow>> {
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM volumes ORDER BY name"))
        .map_err(|e| EngineError::metadata("listing volumes", e))?;
    let raws = stmt
        .query_map([], read_raw)
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| EngineError::metadata("listing volumes", e))?;
    raws.into_iter().map(decode).collect()
}

pub(crate) fn insert(tx: &Transaction<'_>, row: &VolumeRow) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO volumes ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            row.name,
            row.driver,
            to_json(&row.labels)?,
            to_json(&row.options)?,
            row.anonymous,
            row.created_at
        ],
    )
    .map_err(|e| EngineError::metadata(format!("recording volume {}", row.name), e))?;
    Ok(())
}

pub(crate) fn delete(tx: &Transaction<'_>, name: &str) -> Result<()> {
    tx.execute("DELETE FROM volumes WHERE name = ?1", params![name])
        .map_err(|e| EngineError::metadata(format!("deleting volume {name}"), e))?;
    Ok(())
}

/// Ids of the containers that reference volume `name`.
pub(crate) fn users(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("SELECT DISTINCT container_id FROM container_volumes WHERE volume = ?1 ORDER BY container_id")
        .map_err(|e| EngineError::metadata(format!("reading users of volume {name}"), e))?;
    let ids = stmt
        .query_map(params![name], |r| r.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(|e| EngineError::metadata(format!("reading users of volume {name}"), e))?;
    Ok(ids)
}

/// Record the volumes container `id` mounts (in the transaction that records the container:
/// the rows go away with the container's row).
pub(crate) fn record_container_volumes(
    tx: &Transaction<'_>,
    id: &str,
    mounts: &[ContainerVolume],
) -> Result<()> {
    for m in mounts {
        tx.execute(
            "INSERT INTO container_volumes (container_id, destination, volume, read_only, mode, \
             copy_data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                m.destination,
                m.volume,
                m.read_only,
                m.mode,
                m.copy_data
            ],
        )
        .map_err(|e| {
            EngineError::metadata(
                format!(
                    "recording volume {} at {} of container {id}",
                    m.volume, m.destination
                ),
                e,
            )
        })?;
    }
    Ok(())
}

/// The volumes container `id` mounts, shallowest destination first.
pub(crate) fn container_volumes(conn: &Connection, id: &str) -> Result<Vec<ContainerVolume>> {
    let mut stmt = conn
        .prepare(
            "SELECT cv.destination, cv.volume, cv.read_only, cv.mode, cv.copy_data, v.anonymous \
             FROM container_volumes cv JOIN volumes v ON v.name = cv.volume \
             WHERE cv.container_id = ?1 ORDER BY cv.destination",
        )
        .map_err(|e| EngineError::metadata(format!("reading volumes of container {id}"), e))?;
    let list = stmt
        .query_map(params![id], |r| {
            Ok(ContainerVolume {
                destination: r.get(0)?,
                volume: r.get(1)?,
                read_only: r.get(2)?,
                mode: r.get(3)?,
                copy_data: r.get(4)?,
                anonymous: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| EngineError::metadata(format!("reading volumes of container {id}"), e))?;
    Ok(list)
}
