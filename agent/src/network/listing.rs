//! `docker network ls` / `docker network inspect`: the networks every agent has (`bridge`, the
//! agent's bridge device; `host`; `none`) and the user-defined ones.

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::network::{endpoints, NetworkRecord, DEFAULT_NETWORK};

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
    /// RFC 3339; empty for the predefined networks.
    #[serde(default)]
    pub created: String,
    /// Whether this is a user-defined network.
    #[serde(default)]
    pub user_defined: bool,
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
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
        let net = &self.inner.containers.shared().network;
        for record in net.user_networks()? {
            out.push(self.user_network_info(&record)?);
        }
        Ok(out)
    }

    fn members(&self, network: &str) -> Result<Vec<NetworkMember>> {
        let shared = self.inner.containers.shared();
        let mut out = Vec::new();
        for e in shared
            .network
            .db
            .read(|conn| endpoints::on_network(conn, network))?
        {
            let name = shared
                .find(&e.container_id)
                .map(|c| c.record().name)
                .unwrap_or_default();
            out.push(NetworkMember {
                id: e.container_id.clone(),
                name,
                ipv4_address: format!("{}/{}", e.address, e.prefix),
                mac_address: e.mac.clone(),
                endpoint_id: e.host_veth.clone(),
            });
        }
        Ok(out)
    }

    fn user_network_info(&self, record: &NetworkRecord) -> Result<NetworkInfo> {
        Ok(NetworkInfo {
            name: record.name.clone(),
            id: record.id.clone(),
            driver: record.driver.clone(),
            subnet: Some(record.cidr.subnet_string()),
            gateway: Some(record.cidr.addr.to_string()),
            bridge_device: Some(record.bridge.clone()),
            containers: self.members(&record.id)?,
            created: record.created.clone(),
            user_defined: true,
            options: record.options.clone(),
            labels: record.labels.clone(),
        })
    }

    /// One network by name or id (`docker network inspect`).
    pub async fn network(&self, key: &str) -> Result<NetworkInfo> {
        let Some((name, driver)) = BUILT_IN.iter().find(|(n, _)| *n == key) else {
            let net = &self.inner.containers.shared().network;
            return match net.find_user_network(key)? {
                Some(record) => self.user_network_info(&record),
                None => Err(EngineError::NoSuchNetwork(key.to_string())),
            };
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
        info.containers = self.members(DEFAULT_NETWORK)?;
        Ok(info)
    }
}

/// Whether `n` passes `docker network ls --filter` filters: `name` (substring), `id` (prefix),
/// `driver`, `type` (`builtin`/`custom`), `label` (`KEY` or `KEY=VALUE`). Every key must match
/// one of its values; unknown keys are refused by the caller's wording.
pub fn matches_filters(
    n: &NetworkInfo,
    filters: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<bool> {
    for (key, values) in filters {
        if values.is_empty() {
            continue;
        }
        let one = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
        let ok = match key.as_str() {
            "name" => one(&|v| n.name.contains(v)),
            "id" => one(&|v| n.id.starts_with(v)),
            "driver" => one(&|v| n.driver == v),
            "type" => one(&|v| match v {
                "custom" => n.user_defined,
                "builtin" => !n.user_defined,
                _ => false,
            }),
            "label" => one(&|v| match v.split_once('=') {
                Some((k, val)) => n.labels.get(k).map(String::as_str) == Some(val),
                None => n.labels.contains_key(v),
            }),
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid filter '{other}'"
                )))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ls_filters_match_as_docker() {
        let mut n = NetworkInfo {
            name: "appnet".into(),
            id: "abc123".into(),
            driver: "bridge".into(),
            user_defined: true,
            ..Default::default()
        };
        n.labels.insert("team".into(), "a".into());
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        assert!(matches_filters(&n, &f("name", "app")).unwrap());
        assert!(!matches_filters(&n, &f("name", "db")).unwrap());
        assert!(matches_filters(&n, &f("id", "abc")).unwrap());
        assert!(matches_filters(&n, &f("type", "custom")).unwrap());
        assert!(!matches_filters(&n, &f("type", "builtin")).unwrap());
        assert!(matches_filters(&n, &f("label", "team=a")).unwrap());
        assert!(!matches_filters(&n, &f("label", "team=b")).unwrap());
        assert!(matches_filters(&n, &f("driver", "bridge")).unwrap());
        assert!(matches_filters(&n, &f("bogus", "x")).is_err());
    }
}
