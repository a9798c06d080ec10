//! What `docker inspect` (`NetworkSettings`) and `docker ps` (`Ports`) show of a container's
//! network.

use std::collections::BTreeMap;

use crate::model::{BridgeEndpoint, NetworkSettingsInfo, PortBinding, PublishedPort};
use crate::network::endpoints::Endpoint;

/// An endpoint with the name of its network (`bridge` or the user network's name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedEndpoint {
    pub endpoint: Endpoint,
    pub network_name: String,
}

fn bridge_endpoint(n: &NamedEndpoint) -> BridgeEndpoint {
    let e = &n.endpoint;
    BridgeEndpoint {
        network: n.network_name.clone(),
        ip_address: e.address.to_string(),
        ip_prefix_len: i64::from(e.prefix),
        gateway: e.gateway.to_string(),
        mac_address: e.mac.clone(),
        host_interface: e.host_veth.clone(),
        network_id: e.network.clone(),
        aliases: e.aliases.clone(),
    }
}

/// `NetworkSettings` of a container with these exposed ports and its endpoints (primary
/// first; none when it is not running). Exposed ports that are not published show as `null`,
/// as Docker does. The top-level fields (`bridge`) are the default bridge's endpoint only.
pub fn network_settings(exposed: &[String], endpoints: &[NamedEndpoint]) -> NetworkSettingsInfo {
    let endpoint = endpoints.first().map(|n| &n.endpoint);
    let mut ports: BTreeMap<String, Option<Vec<PortBinding>>> = BTreeMap::new();
    if let Some(e) = endpoint {
        for key in exposed {
            ports.insert(normalize_key(key), None);
        }
        for p in &e.ports {
            let binding = PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port.to_string(),
            };
            ports
                .entry(format!("{}/{}", p.container_port, p.proto))
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push(binding);
        }
    }
    NetworkSettingsInfo {
        sandbox_key: endpoint
            .map(|e| e.netns_path.display().to_string())
            .unwrap_or_default(),
        ports,
        bridge: endpoints
            .iter()
            .find(|n| n.endpoint.network == crate::network::DEFAULT_NETWORK)
            .map(bridge_endpoint),
        networks: endpoints.iter().map(bridge_endpoint).collect(),
    }
}

/// `80` -> `80/tcp`.
fn normalize_key(key: &str) -> String {
    if key.contains('/') {
        key.to_string()
    } else {
        format!("{key}/tcp")
    }
}

/// `docker ps` `Ports` of an attached container.
pub fn published_ports(endpoint: &Endpoint) -> Vec<PublishedPort> {
    endpoint
        .ports
        .iter()
        .map(|p| PublishedPort {
            ip: p.host_ip.clone(),
            private_port: p.container_port,
            public_port: p.host_port,
            proto: p.proto.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::endpoints::BoundPort;

    #[test]
    fn ports_look_like_docker_listing_11() {
        let e = Endpoint {
            container_id: "c".into(),
            network: "bridge".into(),
            address: "172.28.0.2".parse().unwrap(),
            prefix: 16,
            gateway: "172.28.0.1".parse().unwrap(),
            mac: "02:42:ac:1c:00:02".into(),
            host_veth: "vethc".into(),
            netns_path: "/run/x/netns/c".into(),
            ports: vec![BoundPort {
                proto: "tcp".into(),
                container_port: 80,
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
            }],
            interface: "eth0".into(),
            dns_names: Vec::new(),
            aliases: Vec::new(),
        };
        let named = NamedEndpoint {
            endpoint: e,
            network_name: "bridge".into(),
        };
        let s = network_settings(&["80/tcp".into(), "443/tcp".into()], &[named]);
        let json = serde_json::to_value(&s.ports).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"80/tcp":[{"host_ip":"0.0.0.0","host_port":"8080"}],"443/tcp":null})
        );
        assert_eq!(s.bridge.unwrap().ip_address, "172.28.0.2");
        assert_eq!(s.networks.len(), 1);
        assert!(network_settings(&["80/tcp".into()], &[]).ports.is_empty());
    }
}
