//! `docker network ls` / `docker network inspect` of the networks every agent has: `bridge`
//! (the agent's bridge device), `host` and `none`. User-defined networks are not there yet.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::network::{endpoints, DEFAULT_NETWORK};

/// A network as `docker network inspect` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    /// Stable id: the name (the built-in networks have one each).
    pub id: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// `172.28.0.0/16` for the bridge once it is set up.
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    /// The bridge device (`com.docker.network.bridge.name`).
    pub bridge_device: Option<String>,
    pub containers: Vec<NetworkMember>,
}

/// A container attached to a network.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkMember {
    pub id: String,
    pub name: String,
    /// `172.28.0.2/16`.
    pub ipv4_address: String,
    pub mac_address: String,
    pub endpoint_id: String,
}

const BUILT_IN: [(&str, &str); 3] = [
    (DEFAULT_NETWORK, "bridge"),
    ("host", "host"),
    ("none", "null"),
];

impl Engine {
    /// Every network (`docker network ls`).
    pub async fn networks(&self) -> Result<Vec<NetworkInfo>> {
        let mut out = Vec::new();
        for (name, _) in BUILT_IN {
            out.push(self.network(name).await?);
        }
        Ok(out)
    }

    /// One network by name or id (`docker network inspect`).
    pub async fn network(&self, key: &str) -> Result<NetworkInfo> {
        let Some((name, driver)) = BUILT_IN.iter().find(|(n, _)| *n == key) else {
            return Err(EngineError::NoSuchNetwork(key.to_string()));
        };
        let mut info = NetworkInfo {
            name: name.to_string(),
            id: name.to_string(),
            driver: driver.to_string(),
            ..Default::default()
        };
        if *name != DEFAULT_NETWORK {
            return Ok(info);
        }
        let shared = self.inner.containers.shared();
        let net = &shared.network;
        info.bridge_device = Some(net.bridge_name().to_string());
        if let Ok(bridge) = net.bridge().await {
            info.subnet = Some(bridge.bip.subnet_string());
            info.gateway = Some(bridge.bip.addr.to_string());
        }
        for e in net.db.read(endpoints::all)? {
            let name = shared
                .find(&e.container_id)
                .map(|c| c.record().name)
                .unwrap_or_default();
            info.containers.push(NetworkMember {
                id: e.container_id.clone(),
                name,
                ipv4_address: format!("{}/{}", e.address, e.prefix),
                mac_address: e.mac.clone(),
                endpoint_id: e.host_veth.clone(),
            });
        }
        Ok(info)
    }
}
