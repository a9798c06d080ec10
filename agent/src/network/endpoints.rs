//! The `network_endpoints` table: one row per container and network it is attached to (the
//! default bridge or a user-defined network). The row is the container's IPAM lease (`UNIQUE (network, address)`: no address is handed out twice) and the
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
    /// The interface's name in the container's namespace (`eth0`, `eth1`...).
    pub interface: String,
    /// The names the embedded DNS answers with this address (name, aliases, short id).
    pub dns_names: Vec<String>,
    /// `--network-alias` names.
    pub aliases: Vec<String>,
}

fn db_err(what: &str) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
    move |e| EngineError::metadata(what.to_string(), e)
}

/// Lease `requested` (or, when `None`, the lowest free address of `subnet`) on `network` to
/// `endpoint` and record it. Fails with [`NetworkError::PoolExhausted`] when none is left and
/// with Docker's "Address already in use" when the requested one is taken.
pub(crate) fn lease(
    tx: &Transaction<'_>,
    network: &str,
    subnet: &Ipv4Cidr,
    requested: Option<Ipv4Addr>,
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
    let address = match requested {
        Some(ip) => {
            let usable = subnet.contains(ip)
                && ip != subnet.addr
                && ip != subnet.network()
                && ip != subnet.broadcast();
            if !usable {
                return Err(NetworkError::InvalidRequest(format!(
                    "no configured subnet contains IP address {ip}"
                ))
                .into());
            }
            if taken.contains(&ip.to_string()) {
                return Err(EngineError::Conflict(format!(
                    "Address already in use: {ip} on network {network}"
                )));
            }
            ip
        }
        None => subnet
            .host_addresses()
            .find(|ip| !taken.contains(&ip.to_string()))
            .ok_or_else(|| NetworkError::PoolExhausted {
                network: network.to_string(),
                subnet: subnet.subnet_string(),
            })?,
    };
    let endpoint = make(address);
    insert(tx, &endpoint)?;
    Ok(endpoint)
}

fn insert(tx: &Transaction<'_>, e: &Endpoint) -> Result<()> {
    let ports = serde_json::to_string(&e.ports).map_err(|err| {
        EngineError::Internal(format!("encoding ports of {}: {err}", e.container_id))
    })?;
    let json = |list: &Vec<String>| serde_json::to_string(list).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "INSERT INTO network_endpoints (container_id, network, address, prefix_len, gateway, mac,
             host_veth, netns_path, ports, created_at, interface, dns_names, aliases)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
            e.interface,
            json(&e.dns_names),
            json(&e.aliases),
        ],
    )
    .map_err(db_err("recording network endpoint"))?;
    Ok(())
}

/// Store the ports as bound on container `container_id`'s endpoint on `network`.
pub(crate) fn set_ports(
    tx: &Transaction<'_>,
    container_id: &str,
    network: &str,
    ports: &[BoundPort],
) -> Result<()> {
    let json = serde_json::to_string(ports)
        .map_err(|err| EngineError::Internal(format!("encoding ports of {container_id}: {err}")))?;
    tx.execute(
        "UPDATE network_endpoints SET ports = ?3 WHERE container_id = ?1 AND network = ?2",
        params![container_id, network, json],
    )
    .map_err(db_err("recording published ports"))?;
    Ok(())
}

/// Delete container `id`'s endpoint on `network` (releasing its address).
pub(crate) fn delete_one(tx: &Transaction<'_>, container_id: &str, network: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM network_endpoints WHERE container_id = ?1 AND network = ?2",
        [container_id, network],
    )
    .map_err(db_err("releasing network endpoint"))?;
    Ok(())
}

/// Delete every endpoint of container `id` (releasing its addresses).
pub(crate) fn delete(tx: &Transaction<'_>, container_id: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM network_endpoints WHERE container_id = ?1",
        [container_id],
    )
    .map_err(db_err("releasing network endpoint"))?;
    Ok(())
}

const COLUMNS: &str = "container_id, network, address, prefix_len, gateway, mac, host_veth,
    netns_path, ports, interface, dns_names, aliases";

/// Primary endpoint first: `eth0`, `eth1`, ... `eth10`.
const ORDER: &str = "ORDER BY length(interface), interface";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Endpoint, String)> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    };
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
            interface: r.get(9)?,
            dns_names: list(10)?,
            aliases: list(11)?,
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

/// Container `id`'s primary endpoint (its `eth0`), if it has one.
pub(crate) fn get(conn: &Connection, container_id: &str) -> Result<Option<Endpoint>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM network_endpoints WHERE container_id = ?1 {ORDER} LIMIT 1"),
        [container_id],
        from_row,
    )
    .optional()
    .map_err(db_err("reading network endpoint"))
    .map(|o| o.map(with_ports))
}

fn select(conn: &Connection, filter: &str, args: &[&str]) -> Result<Vec<Endpoint>> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM network_endpoints {filter} {ORDER}"
        ))
        .map_err(db_err("listing network endpoints"))?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), from_row)
        .map_err(db_err("listing network endpoints"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(db_err("listing network endpoints"))?;
    Ok(rows.into_iter().map(with_ports).collect())
}

/// Every endpoint.
pub(crate) fn all(conn: &Connection) -> Result<Vec<Endpoint>> {
    select(conn, "", &[])
}

/// Every endpoint of container `id`, primary first.
pub(crate) fn of_container(conn: &Connection, container_id: &str) -> Result<Vec<Endpoint>> {
    select(conn, "WHERE container_id = ?1", &[container_id])
}

/// Every endpoint on `network` (`bridge` or a network id).
pub(crate) fn on_network(conn: &Connection, network: &str) -> Result<Vec<Endpoint>> {
    select(conn, "WHERE network = ?1", &[network])
}
