//! User-defined networks' lifecycle in the agent: create (record, bridge, DNS responder),
//! remove, set up again at agent start, and shut down.

use std::net::Ipv4Addr;

use tracing::{info, warn};

use crate::error::{EngineError, Result};
use crate::network::error::NetworkError;
use crate::network::netlink::Netlink;
use crate::network::subnet::{self, Ipv4Cidr};
use crate::network::user_networks::{self, NetworkCreate, NetworkRecord};
use crate::network::{
    blocking, bridge, dns_server, endpoints, masquerade, NetworkManager, DEFAULT_NETWORK,
};

/// Names Docker reserves for its predefined networks.
pub(crate) const PREDEFINED: [&str; 3] = [DEFAULT_NETWORK, "host", "none"];

/// Docker's rule for network names.
fn validate_name(name: &str) -> Result<(), NetworkError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(NetworkError::InvalidRequest(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

impl NetworkManager {
    /// Every user-defined network.
    pub(crate) fn user_networks(&self) -> Result<Vec<NetworkRecord>> {
        self.db.read(user_networks::all)
    }

    /// The user-defined network named `key` (or with that id or id prefix).
    pub(crate) fn find_user_network(&self, key: &str) -> Result<Option<NetworkRecord>> {
        self.db.read(|conn| user_networks::find(conn, key))
    }

    /// `docker network create`: record the network, make its bridge, start its DNS responder.
    pub(crate) async fn create_network(&self, req: NetworkCreate) -> Result<NetworkRecord> {
        validate_name(&req.name)?;
        let driver = req.driver.clone().unwrap_or_else(|| "bridge".to_string());
        if driver != "bridge" {
            return Err(NetworkError::InvalidRequest(format!(
                "plugin \"{driver}\" not found: only the bridge driver is supported"
            ))
            .into());
        }
        if req.internal {
            return Err(
                NetworkError::InvalidRequest("internal networks are not supported".into()).into(),
            );
        }
        let _admin = self.admin.lock().await;
        if PREDEFINED.contains(&req.name.as_str()) || self.find_by_name(&req.name)?.is_some() {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let cidr = self.choose_cidr(&req).await?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let record = NetworkRecord {
            bridge: user_networks::bridge_name(&id),
            id,
            name: req.name.clone(),
            driver,
            cidr,
            options: req.options.clone(),
            labels: req.labels.clone(),
            created: chrono::Utc::now().to_rfc3339(),
        };
        let (db, rec2) = (self.db.clone(), record.clone());
        blocking("recording the network", move || {
            db.write("recording the network", |tx| {
                user_networks::insert(tx, &rec2)
            })
        })
        .await?;
        if let Err(e) = self.bring_up(&record).await {
            warn!(network = %record.name, error = %e, "setting up the network failed; undoing");
            self.tear_down(&record).await;
            let (db, id) = (self.db.clone(), record.id.clone());
            blocking("forgetting the network", move || {
                db.write("forgetting the network", |tx| {
                    user_networks::delete(tx, &id)
                })
            })
            .await?;
            return Err(e);
        }
        self.refresh_masquerade().await;
        info!(network = %record.name, id = %record.id, subnet = %record.cidr.subnet_string(), bridge = %record.bridge, "network created");
        Ok(record)
    }

    fn find_by_name(&self, name: &str) -> Result<Option<NetworkRecord>> {
        Ok(self.user_networks()?.into_iter().find(|n| n.name == name))
    }

    /// The gateway/prefix of a new network: as asked, or the first free pool subnet.
    async fn choose_cidr(&self, req: &NetworkCreate) -> Result<Ipv4Cidr> {
        let mut in_use: Vec<Ipv4Cidr> = self.user_networks()?.iter().map(|n| n.cidr).collect();
        if let Some(state) = *self.bridge.lock().await {
            in_use.push(state.bip);
        } else if let Ok(default) =
            Ipv4Cidr::parse(self.config.bip.as_deref().unwrap_or(subnet::DEFAULT_BIP))
        {
            in_use.push(default);
        }
        let mut taken = subnet::host_routes("")?;
        taken.extend(in_use.iter().copied());
        Ok(subnet::network_cidr(
            req.subnet.as_deref(),
            req.gateway.as_deref(),
            req.ip_range.as_deref(),
            &taken,
            &in_use,
        )?)
    }

    /// Make `record`'s bridge (with its gateway address, up) and start its DNS responder.
    async fn bring_up(&self, record: &NetworkRecord) -> Result<()> {
        let nl = Netlink::host()?;
        bridge::ensure(&nl, &record.bridge, record.cidr)
            .await
            .map_err(|e| NetworkError::BridgeUnavailable {
                bridge: record.bridge.clone(),
                reason: e.to_string(),
            })?;
        self.reload_dns(&record.id).await;
        let server = dns_server::DnsServer::start(
            self.dns_records.clone(),
            record.id.clone(),
            record.cidr.addr,
        )
        .await?;
        self.dns_lock().insert(record.id.clone(), server);
        Ok(())
    }

    /// Stop `record`'s DNS responder and delete its bridge when nothing is attached to it.
    async fn tear_down(&self, record: &NetworkRecord) {
        let server = self.dns_lock().remove(&record.id);
        if let Some(server) = server {
            server.stop().await;
        }
        self.dns_records.forget(&record.id);
        match Netlink::host() {
            Ok(nl) => {
                if let Err(e) = bridge::remove_if_unused(&nl, &record.bridge).await {
                    warn!(bridge = %record.bridge, error = %e, "removing the network's bridge");
                }
            }
            Err(e) => warn!(error = %e, "no netlink connection to remove the bridge"),
        }
    }

    fn dns_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, dns_server::DnsServer>> {
        self.dns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether any container is attached to user network `id`.
    pub(crate) fn has_endpoints(&self, id: &str) -> Result<bool> {
        Ok(!self
            .db
            .read(|conn| endpoints::on_network(conn, id))?
            .is_empty())
    }

    /// `docker network rm`: refused for the predefined networks and while containers are
    /// attached.
    pub(crate) async fn remove_network(&self, key: &str) -> Result<NetworkRecord> {
        if PREDEFINED.contains(&key) {
            return Err(EngineError::Conflict(format!(
                "{key} is a pre-defined network and cannot be removed"
            )));
        }
        let _admin = self.admin.lock().await;
        let record = self
            .find_user_network(key)?
            .ok_or_else(|| EngineError::NoSuchNetwork(key.to_string()))?;
        if self.has_endpoints(&record.id)? {
            return Err(EngineError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                record.name, record.id
            )));
        }
        // Bridge first, record last: a crash in between leaves a record whose bridge the next
        // start makes again (and `rm` can be repeated), never a bridge no record names.
        self.tear_down(&record).await;
        let (db, id) = (self.db.clone(), record.id.clone());
        blocking("removing the network", move || {
            db.write("removing the network", |tx| user_networks::delete(tx, &id))
        })
        .await?;
        self.refresh_masquerade().await;
        info!(network = %record.name, id = %record.id, "network removed");
        Ok(record)
    }

    /// Agent start: every recorded network gets its bridge and DNS responder back; the
    /// masquerade rules are rebuilt (or removed when `--ip-masq` is off).
    pub(crate) async fn setup_user_networks(&self) {
        let networks = match self.user_networks() {
            Ok(list) => list,
            Err(e) => {
                warn!(error = %e, "listing user-defined networks at start");
                return;
            }
        };
        if !self.config.ip_masq {
            self.remove_stale_masquerade().await;
        }
        if self.config.ip_masq && !masquerade::ip_forward_enabled() {
            warn!("--ip-masq is set but /proc/sys/net/ipv4/ip_forward is 0: outbound traffic from containers will not be routed (the agent does not change it)");
        }
        for record in networks {
            if self.dns_lock().contains_key(&record.id) {
                continue;
            }
            match self.bring_up(&record).await {
                Ok(()) => info!(network = %record.name, bridge = %record.bridge, "network ready"),
                Err(e) => warn!(network = %record.name, error = %e, "setting up the network"),
            }
        }
        self.refresh_masquerade().await;
    }

    /// Clean shutdown: DNS responders stop, bridges nothing is attached to are removed, the
    /// masquerade table is deleted.
    pub(crate) async fn shutdown_user_networks(&self) {
        let servers: Vec<_> = self.dns_lock().drain().collect();
        for (_, server) in servers {
            server.stop().await;
        }
        if let Ok(networks) = self.user_networks() {
            for record in networks {
                self.tear_down(&record).await;
            }
        }
        if self.config.ip_masq {
            let table = masquerade::table_name(&self.config.bridge);
            if let Err(e) = blocking("removing masquerade rules", move || {
                Ok(masquerade::remove(&table)?)
            })
            .await
            {
                warn!(error = %e, "removing the masquerade rules at shutdown");
            }
        }
    }

    /// Rebuild the masquerade table from the bridges' subnets (`--ip-masq`); without the flag,
    /// nothing is touched.
    pub(crate) async fn refresh_masquerade(&self) {
        if !self.config.ip_masq {
            return;
        }
        self.write_masquerade().await;
    }

    /// At start without `--ip-masq`: a table a previous run with the flag left (it crashed)
    /// is removed; without nft there is nothing to remove.
    async fn remove_stale_masquerade(&self) {
        let table = masquerade::table_name(&self.config.bridge);
        let removed = blocking("removing stale masquerade rules", move || {
            Ok(masquerade::remove_if_present(&table)?)
        })
        .await;
        if let Err(e) = removed {
            tracing::debug!(error = %e, "no stale masquerade table removed");
        }
    }

    async fn write_masquerade(&self) {
        let mut subnets: Vec<(String, Ipv4Cidr)> = Vec::new();
        match self.bridge().await {
            Ok(state) => subnets.push((self.config.bridge.clone(), state.bip)),
            Err(e) => warn!(error = %e, "the default bridge is not available for masquerading"),
        }
        if let Ok(networks) = self.user_networks() {
            subnets.extend(networks.into_iter().map(|n| (n.bridge, n.cidr)));
        }
        let table = masquerade::table_name(&self.config.bridge);
        let done = blocking("writing masquerade rules", move || {
            Ok(masquerade::apply(&table, &subnets)?)
        })
        .await;
        if let Err(e) = done {
            warn!(error = %e, "writing the masquerade rules");
        }
    }
}

/// The gateway of the first user network among `targets`, for the container's resolv.conf.
pub(crate) fn dns_gateway(targets: &[crate::network::Target]) -> Option<Ipv4Addr> {
    targets
        .iter()
        .find_map(|t| t.user.as_ref().map(|n| n.cidr.addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_follow_docker() {
        assert!(validate_name("my-net_1.a").is_ok());
        assert!(validate_name("-bad").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
    }
}
