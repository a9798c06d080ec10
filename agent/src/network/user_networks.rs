//! The `networks` table (user-defined bridge networks) and `container_networks` (networks a
//! container was connected to beyond its NetworkMode, kept across stop/start).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::error::{EngineError, Result};
use crate::model::EndpointRequest;
use crate::network::subnet::Ipv4Cidr;

/// What `docker network create` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    /// `bridge` (or `None`, meaning bridge); other drivers are refused.
    pub driver: Option<String>,
    /// `--subnet A.B.C.D/N`; `None` picks a free private one.
    pub subnet: Option<String>,
    /// `--gateway`; `None` is the subnet's first address.
    pub gateway: Option<String>,
    /// `--ip-range`: refused (outside the subnet with Docker's message; inside as unsupported).
    pub ip_range: Option<String>,
    /// `--internal`: refused (no isolation rules are made).
    pub internal: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// A user-defined network as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRecord {
    /// 64 hex.
    pub id: String,
    pub name: String,
    pub driver: String,
    /// The gateway (the bridge's address) and the subnet's prefix length.
    pub cidr: Ipv4Cidr,
    /// `br-<12 hex of id>`.
    pub bridge: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
}

/// The bridge device of network `id`: `br-` and the id's first 12 hex digits (15 characters).
pub(crate) fn bridge_name(id: &str) -> String {
    format!("br-{}", &id[..id.len().min(12)])
}

fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
    move |e| EngineError::metadata(what.to_string(), e)
}

fn json_map(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".into())
}

/// Record `n` (a duplicate name fails on the UNIQUE constraint: check first).
pub(crate) fn insert(tx: &Transaction<'_>, n: &NetworkRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO networks (id, name, driver, subnet, gateway, bridge, options, labels,
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            n.id,
            n.name,
            n.driver,
            n.cidr.subnet_string(),
            n.cidr.addr.to_string(),
            n.bridge,
            json_map(&n.options),
            json_map(&n.labels),
            n.created,
        ],
    )
    .map_err(db_err("recording network"))?;
    Ok(())
}

/// Forget network `id` and every container's connection to it.
pub(crate) fn delete(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.execute("DELETE FROM container_networks WHERE network_id = ?1", [id])
        .map_err(db_err("removing network connections"))?;
    tx.execute("DELETE FROM networks WHERE id = ?1", [id])
        .map_err(db_err("removing network"))?;
    Ok(())
}

const COLUMNS: &str = "id, name, driver, subnet, gateway, bridge, options, labels, created_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NetworkRecord> {
    let subnet: String = r.get(3)?;
    let gateway: String = r.get(4)?;
    let prefix = subnet
        .split_once('/')
        .and_then(|(_, p)| p.parse::<u8>().ok())
        .unwrap_or(24);
    let addr = gateway.parse::<Ipv4Addr>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    let map = |i: usize| -> rusqlite::Result<BTreeMap<String, String>> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    };
    Ok(NetworkRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        driver: r.get(2)?,
        cidr: Ipv4Cidr { addr, prefix },
        bridge: r.get(5)?,
        options: map(6)?,
        labels: map(7)?,
        created: r.get(8)?,
    })
}

/// Every user-defined network, by name.
pub(crate) fn all(conn: &Connection) -> Result<Vec<NetworkRecord>> {
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM networks ORDER BY name"))
        .map_err(db_err("listing networks"))?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(db_err("listing networks"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err("listing networks"))?;
    Ok(rows)
}

/// The network named `key`, or whose id is `key` or starts with it (Docker's lookup order:
/// full id, name, unique id prefix).
pub(crate) fn find(conn: &Connection, key: &str) -> Result<Option<NetworkRecord>> {
    let by = |sql: &str| {
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM networks {sql}"),
            [key],
            from_row,
        )
        .optional()
        .map_err(db_err("looking up network"))
    };
    if let Some(n) = by("WHERE id = ?1")? {
        return Ok(Some(n));
    }
    if let Some(n) = by("WHERE name = ?1")? {
        return Ok(Some(n));
    }
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let matches: Vec<NetworkRecord> = all(conn)?
        .into_iter()
        .filter(|n| n.id.starts_with(key))
        .collect();
    Ok(if matches.len() == 1 {
        matches.into_iter().next()
    } else {
        None
    })
}

/// A container's connection to a network made by `docker network connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NetworkConnection {
    pub network_id: String,
    pub request: EndpointRequest,
}

/// Record that container `container_id` is connected to `network_id` (replacing an older
/// record of the same pair).
pub(crate) fn connect(
    tx: &Transaction<'_>,
    container_id: &str,
    network_id: &str,
    request: &EndpointRequest,
) -> Result<()> {
    let aliases = serde_json::to_string(&request.aliases).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT OR REPLACE INTO container_networks (container_id, network_id, aliases,
             ipv4_address) VALUES (?1, ?2, ?3, ?4)",
        params![container_id, network_id, aliases, request.ipv4_address],
    )
    .map_err(db_err("recording a network connection"))?;
    Ok(())
}

/// Forget container `container_id`'s connection to `network_id`; returns whether there was one.
pub(crate) fn disconnect(
    tx: &Transaction<'_>,
    container_id: &str,
    network_id: &str,
) -> Result<bool> {
    let n = tx
        .execute(
            "DELETE FROM container_networks WHERE container_id = ?1 AND network_id = ?2",
            [container_id, network_id],
        )
        .map_err(db_err("removing a network connection"))?;
    Ok(n > 0)
}

/// Forget every connection of container `container_id` (it is removed).
pub(crate) fn forget_container(tx: &Transaction<'_>, container_id: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM container_networks WHERE container_id = ?1",
        [container_id],
    )
    .map_err(db_err("removing network connections"))?;
    Ok(())
}

/// The networks container `container_id` was connected to, in the order of connection.
pub(crate) fn connections(conn: &Connection, container_id: &str) -> Result<Vec<NetworkConnection>> {
    let mut stmt = conn
        .prepare(
            "SELECT network_id, aliases, ipv4_address FROM container_networks
             WHERE container_id = ?1 ORDER BY rowid",
        )
        .map_err(db_err("listing network connections"))?;
    let rows = stmt
        .query_map([container_id], |r| {
            let aliases: String = r.get(1)?;
            Ok(NetworkConnection {
                network_id: r.get(0)?,
                request: EndpointRequest {
                    aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                    ipv4_address: r.get(2)?,
                },
            })
        })
        .map_err(db_err("listing network connections"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err("listing network connections"))?;
    Ok(rows)
}
