//! Container networking: the agent's bridge, user-defined bridge networks (each with its own
//! bridge and embedded DNS responder), a network namespace per container with one veth per
//! network, IPAM leases in the metadata store, published ports through a userland proxy,
//! optional masquerading (`--ip-masq`), and the repair of leftovers after a crash.
//!
//! Network modes: `default`/`bridge` (the default bridge), a user network's name, `none` (a new
//! namespace with loopback only), `host` (the host's namespace), `container:NAME` (another
//! container's).

mod bridge;
pub(crate) mod container_start;
mod dns_server;
mod dns_wire;
mod endpoints;
mod error;
mod hosts;
pub mod listing;
mod masquerade;
mod netlink;
mod netns;
pub(crate) mod ports;
mod proxy;
mod repair;
mod settings;
pub use settings::{network_settings, published_ports, NamedEndpoint};
mod subnet;
mod user_api;
mod user_lifecycle;
mod user_networks;
pub use user_networks::{NetworkCreate, NetworkRecord};
mod veth;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::error::Result;
use crate::metadata::Db;

pub use endpoints::{BoundPort, Endpoint};
pub use error::NetworkError;
pub use subnet::Ipv4Cidr;

use netlink::Netlink;
use proxy::ProxySet;

/// The name Docker shows for the default bridge network.
pub const DEFAULT_NETWORK: &str = "bridge";

/// `strata serve --bridge/--bip`.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The bridge device's name (`strata0`); two agents on one host need different ones.
    pub bridge: String,
    /// The bridge's address and subnet (`172.28.0.1/16`); `None` picks one that no host route
    /// covers.
    pub bip: Option<String>,
    /// `--ip-masq`: masquerade outbound traffic of every bridge subnet (nftables table of its
    /// own, named after `bridge`).
    pub ip_masq: bool,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bridge: "strata0".to_string(),
            bip: None,
            ip_masq: false,
        }
    }
}

/// A network a container is attached to: the default bridge or a user-defined network, with
/// what the container asked of its endpoint there.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// `bridge` or the user network's id.
    pub network: String,
    /// The user network; `None` for the default bridge.
    pub user: Option<NetworkRecord>,
    /// `--network-alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<std::net::Ipv4Addr>,
}

impl Target {
    /// The default bridge.
    pub fn default_bridge() -> Self {
        Target {
            network: DEFAULT_NETWORK.to_string(),
            user: None,
            aliases: Vec::new(),
            ip: None,
        }
    }

    /// The network's name as users see it.
    pub fn display_name(&self) -> String {
        self.user
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_else(|| DEFAULT_NETWORK.to_string())
    }
}

/// The bridge as set up: its link index and address.
#[derive(Clone, Copy, Debug)]
struct BridgeState {
    index: u32,
    bip: Ipv4Cidr,
}

/// Owns the bridge, the endpoints of containers and their port proxies.
pub struct NetworkManager {
    db: Arc<Db>,
    config: NetworkConfig,
    netns_dir: PathBuf,
    /// Set up on first use (or at repair when running containers need it).
    bridge: tokio::sync::Mutex<Option<BridgeState>>,
    proxies: Mutex<HashMap<String, ProxySet>>,
    /// The embedded DNS responder of each user network, by network id.
    dns: Mutex<HashMap<String, dns_server::DnsServer>>,
    /// What the responders answer, reloaded from the endpoint records after each change.
    dns_records: dns_server::Records,
    /// Serializes network create/remove (subnet choice, bridge and rules).
    admin: tokio::sync::Mutex<()>,
}

impl NetworkManager {
    /// A manager for the agent with this exec root; nothing is created yet.
    pub fn new(db: Arc<Db>, config: NetworkConfig, exec_root: &std::path::Path) -> Self {
        NetworkManager {
            db,
            config,
            netns_dir: netns::netns_dir(exec_root),
            bridge: tokio::sync::Mutex::new(None),
            proxies: Mutex::new(HashMap::new()),
            dns: Mutex::new(HashMap::new()),
            dns_records: dns_server::Records::default(),
            admin: tokio::sync::Mutex::new(()),
        }
    }

    /// The bridge device's name.
    pub fn bridge_name(&self) -> &str {
        &self.config.bridge
    }

    /// Set the bridge up if it is not yet; returns its state.
    async fn bridge(&self) -> Result<BridgeState, NetworkError> {
        let mut slot = self.bridge.lock().await;
        if let Some(state) = *slot {
            return Ok(state);
        }
        bridge::validate_name(&self.config.bridge)?;
        let nl = Netlink::host()?;
        let bip = bridge::resolve_bip(&nl, &self.config.bridge, self.config.bip.as_deref()).await?;
        let index = bridge::ensure(&nl, &self.config.bridge, bip)
            .await
            .map_err(|e| NetworkError::BridgeUnavailable {
                bridge: self.config.bridge.clone(),
                reason: e.to_string(),
            })?;
        info!(bridge = %self.config.bridge, bip = %bip, "bridge ready");
        let state = BridgeState { index, bip };
        *slot = Some(state);
        Ok(state)
    }

    /// Attach container `id` (named `name`) to `targets` (the first is its primary network:
    /// `eth0`, the default route and the published ports): one namespace, one veth and one
    /// address lease per network. All or nothing: on error everything made is removed.
    pub(crate) async fn attach(
        &self,
        id: &str,
        name: &str,
        targets: &[Target],
        requests: &[ports::PortRequest],
    ) -> Result<Endpoint> {
        let result = self.attach_steps(id, name, targets, requests).await;
        if let Err(e) = &result {
            warn!(id, error = %e, "attaching the container to its networks failed; undoing");
            self.detach(id).await;
        }
        result
    }

    async fn attach_steps(
        &self,
        id: &str,
        name: &str,
        targets: &[Target],
        requests: &[ports::PortRequest],
    ) -> Result<Endpoint> {
        let netns_path = self.netns_dir.join(id);
        let stale = self.endpoints_of(id)?;
        let (db, id2) = (self.db.clone(), id.to_string());
        blocking("clearing old endpoints", move || {
            db.write("clearing old endpoints", |tx| endpoints::delete(tx, &id2))
        })
        .await?;
        for e in &stale {
            self.reload_dns(&e.network).await;
        }
        let path2 = netns_path.clone();
        blocking("creating the network namespace", move || {
            Ok(netns::create(&path2)?)
        })
        .await?;
        let mut primary = None;
        for (index, target) in targets.iter().enumerate() {
            let ifname = format!("eth{index}");
            let e = self
                .add_endpoint(id, name, target, &netns_path, &ifname, index == 0)
                .await?;
            primary.get_or_insert(e);
        }
        let mut endpoint = primary.ok_or_else(|| {
            crate::error::EngineError::Internal(format!("container {id}: no network to attach"))
        })?;
        if !requests.is_empty() {
            let (bound, set) = proxy::start(requests, endpoint.address).await?;
            self.proxies_lock().insert(id.to_string(), set);
            let (db, id2, net, ports) = (
                self.db.clone(),
                id.to_string(),
                endpoint.network.clone(),
                bound.clone(),
            );
            blocking("recording published ports", move || {
                db.write("recording published ports", |tx| {
                    endpoints::set_ports(tx, &id2, &net, &ports)
                })
            })
            .await?;
            endpoint.ports = bound;
        }
        Ok(endpoint)
    }

    /// The bridge `target` attaches to, set up if needed: its link index and address.
    async fn bridge_for(&self, target: &Target) -> Result<BridgeState, NetworkError> {
        match &target.user {
            None => self.bridge().await,
            Some(record) => {
                let nl = Netlink::host()?;
                let index = bridge::ensure(&nl, &record.bridge, record.cidr)
                    .await
                    .map_err(|e| NetworkError::BridgeUnavailable {
                        bridge: record.bridge.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(BridgeState {
                    index,
                    bip: record.cidr,
                })
            }
        }
    }

    /// Lease an address on `target` for container `id`, record it, and make the veth whose
    /// container end is `ifname` in the namespace at `netns_path`. On error the lease and the
    /// veth are removed again.
    async fn add_endpoint(
        &self,
        id: &str,
        name: &str,
        target: &Target,
        netns_path: &std::path::Path,
        ifname: &str,
        default_route: bool,
    ) -> Result<Endpoint> {
        let bridge = self.bridge_for(target).await?;
        let (host_veth, peer) = veth::names(id, &target.network);
        let mut dns_names = vec![name.to_string(), id[..id.len().min(12)].to_string()];
        dns_names.extend(target.aliases.iter().cloned());
        let template = Endpoint {
            container_id: id.to_string(),
            network: target.network.clone(),
            address: bridge.bip.addr,
            prefix: bridge.bip.prefix,
            gateway: bridge.bip.addr,
            mac: String::new(),
            host_veth: host_veth.clone(),
            netns_path: netns_path.to_path_buf(),
            ports: Vec::new(),
            interface: ifname.to_string(),
            dns_names,
            aliases: target.aliases.clone(),
        };
        let (db, requested) = (self.db.clone(), target.ip);
        let endpoint = blocking("leasing an address", move || {
            db.write("leasing an address", |tx| {
                endpoints::lease(
                    tx,
                    &template.network.clone(),
                    &bridge.bip,
                    requested,
                    |address| Endpoint {
                        address,
                        mac: veth::mac_string(&veth::mac_for(address)),
                        ..template
                    },
                )
            })
        })
        .await?;
        let made = self
            .make_veth(
                target,
                (&host_veth, &peer),
                bridge,
                &endpoint,
                ifname,
                default_route,
            )
            .await;
        if let Err(e) = made {
            self.remove_interface(&endpoint).await;
            return Err(e);
        }
        self.reload_dns(&target.network).await;
        info!(id, network = %target.network, address = %endpoint.address, veth = %host_veth, interface = ifname, "container attached");
        Ok(endpoint)
    }

    async fn make_veth(
        &self,
        target: &Target,
        names: (&str, &str),
        bridge: BridgeState,
        endpoint: &Endpoint,
        ifname: &str,
        default_route: bool,
    ) -> Result<()> {
        let host = Netlink::host()?;
        let mut cfg = veth::VethConfig {
            bridge_index: bridge.index,
            ifname: ifname.to_string(),
            default_route,
            address: endpoint.address,
            prefix: endpoint.prefix,
            gateway: endpoint.gateway,
            mac: veth::mac_for(endpoint.address),
        };
        let netns_path = &endpoint.netns_path;
        if let Err(first) = veth::create(&host, names, netns_path, &cfg).await {
            // The bridge may have been removed and made again since it was looked up (another
            // agent sharing the name shut down): look it up once more and retry.
            let bridge_name = match &target.user {
                Some(record) => record.bridge.clone(),
                None => self.config.bridge.clone(),
            };
            let index = host.link_index(&bridge_name).await?;
            if index == Some(bridge.index) {
                return Err(first.into());
            }
            warn!(id = %endpoint.container_id, error = %first, "the bridge changed under the agent; setting it up again");
            if target.user.is_none() {
                *self.bridge.lock().await = None;
            }
            cfg.bridge_index = self.bridge_for(target).await?.index;
            veth::create(&host, names, netns_path, &cfg).await?;
        }
        Ok(())
    }

    /// Attach running container `id` to one more network, live: a new interface (the lowest
    /// free `ethN`) in the namespace it already has.
    pub(crate) async fn connect_live(
        &self,
        id: &str,
        name: &str,
        target: &Target,
    ) -> Result<Endpoint> {
        let existing = self.endpoints_of(id)?;
        let Some(primary) = existing.first() else {
            return Err(NetworkError::InvalidRequest(format!(
                "container {id} has no network namespace of its own to connect"
            ))
            .into());
        };
        if existing.iter().any(|e| e.network == target.network) {
            return Err(crate::error::EngineError::Conflict(format!(
                "endpoint with name {name} already exists in network {}",
                target.display_name()
            )));
        }
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !existing.iter().any(|e| &e.interface == n))
            .unwrap_or_else(|| "eth9".into());
        let netns_path = primary.netns_path.clone();
        self.add_endpoint(id, name, target, &netns_path, &ifname, false)
            .await
    }

    /// Remove container `id`'s interface on `network` while it runs; returns whether it had one.
    pub(crate) async fn disconnect_live(&self, id: &str, network: &str) -> Result<bool> {
        let Some(endpoint) = self
            .endpoints_of(id)?
            .into_iter()
            .find(|e| e.network == network)
        else {
            return Ok(false);
        };
        if !endpoint.ports.is_empty() {
            if let Some(set) = self.proxies_lock().remove(id) {
                set.close();
            }
        }
        self.remove_interface(&endpoint).await;
        Ok(true)
    }

    fn proxies_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProxySet>> {
        self.proxies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Undo [`attach`](Self::attach): close the proxies, delete the veths and the namespace
    /// file, release the addresses. Nothing attached is fine; failures are logged (repair at
    /// the next start collects what is left).
    pub(crate) async fn detach(&self, id: &str) {
        if let Some(set) = self.proxies_lock().remove(id) {
            set.close();
        }
        let endpoints = match self.endpoints_of(id) {
            Ok(list) => list,
            Err(e) => {
                warn!(id, error = %e, "reading the network endpoints to remove them");
                return;
            }
        };
        for endpoint in &endpoints {
            self.remove_endpoint(endpoint).await;
        }
        // A namespace made before the first lease failed has no endpoint naming it.
        let path = self.netns_dir.join(id);
        let removed = blocking("removing the network namespace", move || {
            Ok(netns::remove(&path)?)
        })
        .await;
        if let Err(e) = removed {
            warn!(id, error = %e, "removing the network namespace file");
        }
    }

    /// Remove what `endpoint` records (veth, namespace file), then its row.
    async fn remove_endpoint(&self, endpoint: &Endpoint) {
        self.remove_interface(endpoint).await;
        let (path, id) = (endpoint.netns_path.clone(), endpoint.container_id.clone());
        let removed = blocking("removing the network namespace", move || {
            if let Err(e) = netns::remove(&path) {
                warn!(id = %id, error = %e, "removing the network namespace file");
            }
            Ok(())
        })
        .await;
        if let Err(e) = removed {
            warn!(id = %endpoint.container_id, error = %e, "removing the network namespace file");
        }
    }

    /// Delete `endpoint`'s veth and release its address (the namespace stays).
    async fn remove_interface(&self, endpoint: &Endpoint) {
        let id = endpoint.container_id.clone();
        match Netlink::host() {
            Ok(nl) => {
                if let Err(e) = nl.delete_link_named(&endpoint.host_veth).await {
                    warn!(id = %id, veth = %endpoint.host_veth, error = %e, "deleting the host veth");
                }
            }
            Err(e) => warn!(id = %id, error = %e, "no netlink connection to delete the veth"),
        }
        let (db, id2, network) = (self.db.clone(), id.clone(), endpoint.network.clone());
        let removed = blocking("releasing the address", move || {
            db.write("releasing the address", |tx| {
                endpoints::delete_one(tx, &id2, &network)
            })
        })
        .await;
        match removed {
            Ok(()) => {
                info!(id = %id, network = %endpoint.network, address = %endpoint.address, "container detached")
            }
            Err(e) => warn!(id = %id, error = %e, "releasing the container's address"),
        }
        self.reload_dns(&endpoint.network).await;
    }

    /// Reload user network `network`'s DNS records from the endpoint records (the default
    /// bridge has no DNS). A read error keeps the old records and is logged.
    pub(crate) async fn reload_dns(&self, network: &str) {
        if network == DEFAULT_NETWORK {
            return;
        }
        let (db, net) = (self.db.clone(), network.to_string());
        let read = blocking("reading DNS records", move || {
            db.read(|conn| endpoints::on_network(conn, &net))
        })
        .await;
        match read {
            Ok(list) => self
                .dns_records
                .set(network, list.iter().map(dns_server::Record::from).collect()),
            Err(e) => warn!(network, error = %e, "reloading the network's DNS records"),
        }
    }

    /// Container `id`'s primary endpoint, if it is attached.
    pub fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.db.read(|conn| endpoints::get(conn, id))
    }

    /// Every endpoint of container `id`, primary first.
    pub fn endpoints_of(&self, id: &str) -> Result<Vec<Endpoint>> {
        self.db.read(|conn| endpoints::of_container(conn, id))
    }

    /// Every endpoint of container `id` with its network's name (for inspect); a read error
    /// shows as no endpoint.
    pub fn named_endpoints(&self, id: &str) -> Vec<NamedEndpoint> {
        let list = match self.endpoints_of(id) {
            Ok(list) => list,
            Err(e) => {
                warn!(id, error = %e, "reading the container's endpoints");
                return Vec::new();
            }
        };
        list.into_iter()
            .map(|endpoint| {
                let network_name = if endpoint.network == DEFAULT_NETWORK {
                    DEFAULT_NETWORK.to_string()
                } else {
                    self.find_user_network(&endpoint.network)
                        .ok()
                        .flatten()
                        .map(|n| n.name)
                        .unwrap_or_else(|| endpoint.network.clone())
                };
                NamedEndpoint {
                    endpoint,
                    network_name,
                }
            })
            .collect()
    }

    /// The user networks container `id` was connected to with `docker network connect`.
    pub(crate) fn connections(&self, id: &str) -> Result<Vec<user_networks::NetworkConnection>> {
        self.db.read(|conn| user_networks::connections(conn, id))
    }

    /// Clean shutdown: stop every proxy and DNS responder (running containers get theirs back at
    /// the next start), remove the masquerade rules, and remove the bridges no container is
    /// attached to.
    pub async fn shutdown(&self) {
        self.proxies_lock().clear();
        self.shutdown_user_networks().await;
        let attached = self
            .db
            .read(|conn| endpoints::on_network(conn, DEFAULT_NETWORK))
            .map(|v| v.len())
            .unwrap_or(1);
        if attached > 0 {
            return;
        }
        let was_set_up = self.bridge.lock().await.take().is_some();
        if !was_set_up {
            return;
        }
        match Netlink::host() {
            Ok(nl) => {
                if let Err(e) = bridge::remove_if_unused(&nl, &self.config.bridge).await {
                    warn!(bridge = %self.config.bridge, error = %e, "removing the bridge at shutdown");
                }
            }
            Err(e) => warn!(error = %e, "no netlink connection to remove the bridge"),
        }
    }
}

/// Forget container `id`'s recorded network connections (it is being removed), inside the
/// transaction that deletes its record.
pub(crate) fn forget_container(tx: &rusqlite::Transaction<'_>, id: &str) -> Result<()> {
    user_networks::forget_container(tx, id)
}

/// Run blocking work (files, database) off the async threads.
async fn blocking<T, F>(what: &str, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::error::EngineError::Internal(format!("{what}: task failed: {e}")))?
}
