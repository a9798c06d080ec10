//! Container networking: the agent's bridge, a network namespace and veth pair per container,
//! IPAM leases in the metadata store, published ports through a userland proxy, and the repair
//! of leftovers after a crash.
//!
//! Network modes: `default`/`bridge` (this module's bridge endpoint), `none` (a new namespace with
//! loopback only), `host` (the host's namespace), `container:NAME` (another container's).

mod bridge;
pub(crate) mod container_start;
mod endpoints;
mod error;
mod hosts;
pub mod listing;
mod netlink;
mod netns;
mod ports;
mod proxy;
mod repair;
mod settings;
pub use settings::{network_settings, published_ports};
mod subnet;
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
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bridge: "strata0".to_string(),
            bip: None,
        }
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

    /// Attach container `id` to the bridge: lease an address, make its namespace and veth,
    /// bind its published ports. All or nothing: on error everything made is removed.
    pub(crate) async fn attach(
        &self,
        id: &str,
        requests: &[ports::PortRequest],
    ) -> Result<Endpoint> {
        let result = self.attach_steps(id, requests).await;
        if let Err(e) = &result {
            warn!(id, error = %e, "attaching the container to the bridge failed; undoing");
            self.detach(id).await;
        }
        result
    }

    async fn attach_steps(&self, id: &str, requests: &[ports::PortRequest]) -> Result<Endpoint> {
        let bridge = self.bridge().await?;
        let netns_path = self.netns_dir.join(id);
        let host_veth = veth::host_name(id);
        let (db, id2, path2, veth2) = (
            self.db.clone(),
            id.to_string(),
            netns_path.clone(),
            host_veth.clone(),
        );
        let mut endpoint = blocking("leasing an address", move || {
            db.write("leasing an address", |tx| {
                endpoints::delete(tx, &id2)?;
                endpoints::lease(tx, DEFAULT_NETWORK, &bridge.bip, |address| Endpoint {
                    container_id: id2.clone(),
                    network: DEFAULT_NETWORK.to_string(),
                    address,
                    prefix: bridge.bip.prefix,
                    gateway: bridge.bip.addr,
                    mac: veth::mac_string(&veth::mac_for(address)),
                    host_veth: veth2.clone(),
                    netns_path: path2.clone(),
                    ports: Vec::new(),
                })
            })
        })
        .await?;
        let path2 = netns_path.clone();
        blocking("creating the network namespace", move || {
            Ok(netns::create(&path2)?)
        })
        .await?;
        let host = Netlink::host()?;
        let mut cfg = veth::VethConfig {
            bridge_index: bridge.index,
            address: endpoint.address,
            prefix: endpoint.prefix,
            gateway: endpoint.gateway,
            mac: veth::mac_for(endpoint.address),
        };
        if let Err(first) = veth::create(&host, id, &netns_path, &cfg).await {
            // The bridge may have been removed and made again since it was looked up (another
            // agent sharing the name shut down): look it up once more and retry.
            let index = host.link_index(&self.config.bridge).await?;
            if index == Some(bridge.index) {
                return Err(first.into());
            }
            warn!(id, error = %first, "the bridge changed under the agent; setting it up again");
            *self.bridge.lock().await = None;
            cfg.bridge_index = self.bridge().await?.index;
            veth::create(&host, id, &netns_path, &cfg).await?;
        }
        if !requests.is_empty() {
            let (bound, set) = proxy::start(requests, endpoint.address).await?;
            self.proxies_lock().insert(id.to_string(), set);
            let (db, id2, ports) = (self.db.clone(), id.to_string(), bound.clone());
            blocking("recording published ports", move || {
                db.write("recording published ports", |tx| {
                    endpoints::set_ports(tx, &id2, &ports)
                })
            })
            .await?;
            endpoint.ports = bound;
        }
        info!(id, address = %endpoint.address, veth = %host_veth, "container attached to the bridge");
        Ok(endpoint)
    }

    fn proxies_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProxySet>> {
        self.proxies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Undo [`attach`](Self::attach): close the proxies, delete the veth and the namespace file,
    /// release the address. Nothing attached is fine; failures are logged (repair at the next
    /// start collects what is left).
    pub(crate) async fn detach(&self, id: &str) {
        if let Some(set) = self.proxies_lock().remove(id) {
            set.close();
        }
        let endpoint = match self.endpoint(id) {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                warn!(id, error = %e, "reading the network endpoint to remove it");
                return;
            }
        };
        self.remove_endpoint(&endpoint).await;
    }

    /// Remove what `endpoint` records, then its row.
    async fn remove_endpoint(&self, endpoint: &Endpoint) {
        let id = endpoint.container_id.clone();
        match Netlink::host() {
            Ok(nl) => {
                if let Err(e) = nl.delete_link_named(&endpoint.host_veth).await {
                    warn!(id = %id, veth = %endpoint.host_veth, error = %e, "deleting the host veth");
                }
            }
            Err(e) => warn!(id = %id, error = %e, "no netlink connection to delete the veth"),
        }
        let (db, path, id2) = (self.db.clone(), endpoint.netns_path.clone(), id.clone());
        let removed = blocking("removing the network endpoint", move || {
            if let Err(e) = netns::remove(&path) {
                warn!(id = %id2, error = %e, "removing the network namespace file");
            }
            db.write("releasing the address", |tx| endpoints::delete(tx, &id2))
        })
        .await;
        match removed {
            Ok(()) => {
                info!(id = %id, address = %endpoint.address, "container detached from the bridge")
            }
            Err(e) => warn!(id = %id, error = %e, "releasing the container's address"),
        }
    }

    /// Container `id`'s endpoint on the bridge, if it is attached.
    pub fn endpoint(&self, id: &str) -> Result<Option<Endpoint>> {
        self.db.read(|conn| endpoints::get(conn, id))
    }

    /// Clean shutdown: stop every proxy (running containers get theirs back at the next start)
    /// and remove the bridge when no container is attached to it.
    pub async fn shutdown(&self) {
        self.proxies_lock().clear();
        let attached = self.db.read(endpoints::all).map(|v| v.len()).unwrap_or(1);
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
