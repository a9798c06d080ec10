//! The `network_endpoints` table: one row per container attached to a bridge. The row is the
//! container's IPAM lease (`UNIQUE (network, address)`: no address is handed out twice) and the
//! record of everything made for it (namespace file, host veth, published ports), written
//! before those are made so a crash leaves nothing unrecorded.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::network::error::NetworkError;
use crate::network::subnet::Ipv4Cidr;

/// A published port as bound on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundPort {
    /// `tcp` or `udp`.
    pub proto: String,
    pub container_port: u16,
    /// `0.0.0.0` unless `-p IP:...` named one.
    pub host_ip: String,
    pub host_port: u16,
}

/// A container's attachment to a bridge network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub container_id: String,
    /// `bridge` for the default bridge.
    pub network: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub host_veth: String,
    pub netns_path: PathBuf,
    pub ports: Vec<BoundPort>,
}

fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
    move |e| EngineError::metadata(what.to_string(), e)
}

/// Lease the lowest free address of `subnet` on `network` to `endpoint` and record it.
/// Fails with [`NetworkError::PoolExhausted`] when none is left.
pub(crate) fn lease(
    tx: &Transaction<'_>,
    network: &str,
    subnet: &Ipv4Cidr,
    make: impl FnOnce(Ipv4Addr) -> Endpoint,
) -> Result<Endpoint> {
    let mut stmt = tx
        .prepare("SELECT address FROM network_endpoints WHERE network = ?1")
        .map_err(db_err("reading leases"))?;
    let taken: BTreeSet<String> = stmt
        .query_map([network], |r| r.get::<_, String>(0))
        .map_err(db_err("reading leases"))?
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err("reading leases"))?;
    let address = subnet
        .host_addresses()
        .find(|ip| !taken.contains(&ip.to_string()))
        .ok_or_else(|| NetworkError::PoolExhausted {
            network: network.to_string(),
            subnet: subnet.subnet_string(),
        })?;
    let endpoint = make(address);
    insert(tx, &endpoint)?;
    Ok(endpoint)
}

fn insert(tx: &Transaction<'_>, e: &Endpoint) -> Result<()> {
    let ports = serde_json::to_string(&e.ports).map_err(|err| {
        EngineError::Internal(format!("encoding ports of {}: {err}", e.container_id))
    })?;
    tx.execute(
        "INSERT INTO network_endpoints (container_id, network, address, prefix_len, gateway, mac,
             host_veth, netns_path, ports, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.container_id,
            e.network,
            e.address.to_string(),
            e.prefix,
            e.gateway.to_string(),
            e.mac,
            e.host_veth,
            e.netns_path.to_string_lossy(),
            ports,
            chrono::Utc::now().to_rfc3339(),
        ],
    )
    .map_err(db_err("recording network endpoint"))?;
    Ok(())
}

/// Store the ports as bound.
pub(crate) fn set_ports(
    tx: &Transaction<'_>,
    container_id: &str,
    ports: &[BoundPort],
) -> Result<()> {
    let json = serde_json::to_string(ports)
        .map_err(|err| EngineError::Internal(format!("encoding ports of {container_id}: {err}")))?;
    tx.execute(
        "UPDATE network_endpoints SET ports = ?2 WHERE container_id = ?1",
        params![container_id, json],
    )
    .map_err(db_err("recording published ports"))?;
    Ok(())
}

/// Delete container `id`'s endpoint (releasing its address).
pub(crate) fn delete(tx: &Transaction<'_>, container_id: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM network_endpoints WHERE container_id = ?1",
        [container_id],
    )
    .map_err(db_err("releasing network endpoint"))?;
    Ok(())
}

const COLUMNS: &str =
    "container_id, network, address, prefix_len, gateway, mac, host_veth, netns_path, ports";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Endpoint, String)> {
    let parse_ip = |i: usize, text: String| {
        text.parse::<Ipv4Addr>().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok((
        Endpoint {
            container_id: r.get(0)?,
            network: r.get(1)?,
            address: parse_ip(2, r.get(2)?)?,
            prefix: r.get(3)?,
            gateway: parse_ip(4, r.get(4)?)?,
            mac: r.get(5)?,
            host_veth: r.get(6)?,
            netns_path: PathBuf::from(r.get::<_, String>(7)?),
            ports: Vec::new(),
        },
        r.get(8)?,
    ))
}

fn with_ports((mut e, json): (Endpoint, String)) -> Endpoint {
    e.ports = serde_json::from_str(&json).unwrap_or_else(|err| {
        tracing::warn!(id = %e.container_id, error = %err, "unreadable published ports record");
        Vec::new()
    });
    e
}

/// Container `id`'s endpoint, if it has one.
pub(crate) fn get(conn: &Connection, container_id: &str) -> Result<Option<Endpoint>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM network_endpoints WHERE container_id = ?1"),
        [container_id],
        from_row,
    )
    .optional()
    .map_err(db_err("reading network endpoint"))
    .map(|o| o.map(with_ports))
}

/// Every endpoint.
pub(crate) fn all(conn: &Connection) -> Result<Vec<Endpoint>> {
    let mut stmt = conn
        .prepare(&format!("SELECT {COLUMNS} FROM network_endpoints"))
        .map_err(db_err("listing network endpoints"))?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(db_err("listing network endpoints"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err("listing network endpoints"))?;
    Ok(rows.into_iter().map(with_ports).collect())
}
