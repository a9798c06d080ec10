//! Start-up repair: endpoints of containers that no longer run (crash, exit while the agent was
//! away, removed records) are torn down and their addresses released; namespace files and veths
//! on our bridge that no endpoint names are removed; running containers get their port proxies
//! back on the host ports they had.

use std::collections::HashSet;

use tracing::{info, warn};

use crate::error::Result;
use crate::network::netlink::Netlink;
use crate::network::ports::PortRequest;
use crate::network::{endpoints, netns, proxy, NetworkManager};

impl NetworkManager {
    /// Repair from a blocking thread of the engine's runtime (engine open).
    pub fn repair_blocking(&self, running: &HashSet<String>) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            crate::error::EngineError::Internal("network repair needs the engine's runtime".into())
        })?;
        handle.block_on(self.repair(running))
    }

    /// Bring the network state in line with the containers in `running`.
    pub async fn repair(&self, running: &HashSet<String>) -> Result<()> {
        if self.netns_dir.exists() {
            // Closed to other users, as `netns::create` makes it (an older version did not).
            strata_drivers::fsutil::private::private_dir(&self.netns_dir).map_err(|e| {
                crate::error::EngineError::io(format!("chmod {}", self.netns_dir.display()), e)
            })?;
        }
        let all = self.db.read(endpoints::all)?;
        let mut kept = Vec::new();
        for endpoint in all {
            if running.contains(&endpoint.container_id) && endpoint.netns_path.exists() {
                kept.push(endpoint);
            } else {
                info!(id = %endpoint.container_id, address = %endpoint.address, "removing the network endpoint of a container that is not running");
                self.remove_endpoint(&endpoint).await;
            }
        }
        let kept_ids: HashSet<&str> = kept.iter().map(|e| e.container_id.as_str()).collect();
        for path in netns::list(&self.netns_dir) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !kept_ids.contains(name.as_str()) {
                info!(path = %path.display(), "removing a leftover network namespace");
                if let Err(e) = netns::remove(&path) {
                    warn!(path = %path.display(), error = %e, "removing a leftover network namespace");
                }
            }
        }
        self.remove_stray_veths(&kept).await;
        if kept
            .iter()
            .any(|e| e.network == crate::network::DEFAULT_NETWORK)
        {
            self.bridge().await?;
        }
        self.setup_user_networks().await;
        for endpoint in kept {
            if endpoint.ports.is_empty() {
                continue;
            }
            let requests: Vec<PortRequest> = endpoint
                .ports
                .iter()
                .map(|p| PortRequest {
                    proto: p.proto.clone(),
                    container_port: p.container_port,
                    host_ip: p.host_ip.clone(),
                    host_port: p.host_port,
                })
                .collect();
            match proxy::start(&requests, endpoint.address).await {
                Ok((_, set)) => {
                    info!(id = %endpoint.container_id, ports = requests.len(), "published ports restored");
                    self.proxies_lock()
                        .insert(endpoint.container_id.clone(), set);
                }
                Err(e) => {
                    warn!(id = %endpoint.container_id, error = %e, "restoring the published ports")
                }
            }
        }
        Ok(())
    }

    /// Delete veths on our bridges that no kept endpoint names (their container is gone).
    async fn remove_stray_veths(&self, kept: &[endpoints::Endpoint]) {
        let nl = match Netlink::host() {
            Ok(nl) => nl,
            Err(e) => {
                warn!(error = %e, "no netlink connection to look for stray veths");
                return;
            }
        };
        let mut bridges = vec![self.config.bridge.clone()];
        match self.user_networks() {
            Ok(list) => bridges.extend(list.into_iter().map(|n| n.bridge)),
            Err(e) => warn!(error = %e, "listing user networks to look for stray veths"),
        }
        for bridge in bridges {
            self.remove_stray_veths_on(&nl, &bridge, kept).await;
        }
    }

    async fn remove_stray_veths_on(
        &self,
        nl: &Netlink,
        bridge: &str,
        kept: &[endpoints::Endpoint],
    ) {
        let bridge_index = match nl.link_index(bridge).await {
            Ok(Some(index)) => index,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "looking up the bridge");
                return;
            }
        };
        let ports = match nl.ports_of(bridge_index).await {
            Ok(p) => p,
            Err(e) => {
                warn!(error = %e, "listing the bridge's ports");
                return;
            }
        };
        let named: HashSet<&str> = kept.iter().map(|e| e.host_veth.as_str()).collect();
        for (index, name) in ports {
            if name.starts_with("veth") && !named.contains(name.as_str()) {
                info!(veth = %name, "removing a stray veth");
                if let Err(e) = nl.delete_link(index).await {
                    warn!(veth = %name, error = %e, "removing a stray veth");
                }
            }
        }
    }
}
