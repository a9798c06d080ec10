//! `NetworkSettings` of `docker inspect` and `Ports` of `docker ps`, from the engine's
//! [`NetworkSettingsInfo`](model::NetworkSettingsInfo).

use std::collections::HashMap;

use bollard_stubs::models::{
    EndpointSettings, NetworkSettings, PortBinding, PortMap, PortSummary, PortSummaryTypeEnum,
};
use serde_json::{json, Value};
use strata_agent::model;

/// `NetworkSettings` with `Ports` as Docker's Listing 11 shows them
/// (`{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null}`) and the bridge
/// endpoint under `Networks.bridge`.
pub fn network_settings(info: &model::NetworkSettingsInfo) -> NetworkSettings {
    let ports: PortMap = info
        .ports
        .iter()
        .map(|(key, bindings)| {
            let bindings = bindings.as_ref().map(|list| {
                list.iter()
                    .map(|b| PortBinding {
                        host_ip: Some(b.host_ip.clone()),
                        host_port: Some(b.host_port.clone()),
                    })
                    .collect()
            });
            (key.clone(), bindings)
        })
        .collect();
    let mut networks = HashMap::new();
    let endpoints = if info.networks.is_empty() {
        info.bridge.iter().cloned().collect::<Vec<_>>()
    } else {
        info.networks.clone()
    };
    for e in &endpoints {
        networks.insert(
            e.network.clone(),
            EndpointSettings {
                network_id: Some(if e.network_id.is_empty() {
                    e.network.clone()
                } else {
                    e.network_id.clone()
                }),
                endpoint_id: Some(e.host_interface.clone()),
                gateway: Some(e.gateway.clone()),
                ip_address: Some(e.ip_address.clone()),
                ip_prefix_len: Some(e.ip_prefix_len),
                mac_address: Some(e.mac_address.clone()),
                aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
                ipv6_gateway: Some(String::new()),
                global_ipv6_address: Some(String::new()),
                global_ipv6_prefix_len: Some(0),
                ..Default::default()
            },
        );
    }
    NetworkSettings {
        sandbox_id: Some(String::new()),
        sandbox_key: Some(info.sandbox_key.clone()),
        ports: Some(ports),
        networks: Some(networks),
    }
}

/// Add the top-level `NetworkSettings` fields that API 1.47 clients still read
/// (`IPAddress`, `Gateway`, `IPPrefixLen`, `MacAddress`, `Bridge`) to an inspect document.
pub fn add_top_level_fields(inspect: &mut Value, info: &model::NetworkSettingsInfo) {
    let Some(settings) = inspect
        .get_mut("NetworkSettings")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let e = info.bridge.clone().unwrap_or_default();
    let fields = json!({
        "Bridge": "",
        "IPAddress": e.ip_address,
        "IPPrefixLen": e.ip_prefix_len,
        "Gateway": e.gateway,
        "MacAddress": e.mac_address,
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPv6Gateway": "",
        "EndpointID": e.host_interface,
    });
    if let Value::Object(fields) = fields {
        for (k, v) in fields {
            settings.insert(k, v);
        }
    }
}

/// `Ports` of a `docker ps` line.
pub fn port_summaries(ports: &[model::PublishedPort]) -> Vec<PortSummary> {
    ports
        .iter()
        .map(|p| PortSummary {
            ip: Some(p.ip.clone()),
            private_port: p.private_port,
            public_port: Some(p.public_port),
            typ: Some(match p.proto.as_str() {
                "udp" => PortSummaryTypeEnum::UDP,
                _ => PortSummaryTypeEnum::TCP,
            }),
        })
        .collect()
}

/// A network as `GET /networks/{id}` answers it.
pub fn network(n: &strata_agent::network::listing::NetworkInfo) -> Value {
    let config: Vec<Value> = match (&n.subnet, &n.gateway) {
        (Some(subnet), Some(gateway)) => vec![json!({"Subnet": subnet, "Gateway": gateway})],
        _ => Vec::new(),
    };
    let containers: serde_json::Map<String, Value> = n
        .containers
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                json!({
                    "Name": c.name,
                    "EndpointID": c.endpoint_id,
                    "MacAddress": c.mac_address,
                    "IPv4Address": c.ipv4_address,
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    let mut options: serde_json::Map<String, Value> = n
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if let Some(device) = &n.bridge_device {
        options.insert("com.docker.network.bridge.name".into(), json!(device));
        if !n.user_defined {
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                json!("true"),
            );
        }
    }
    let created = if n.created.is_empty() {
        "0001-01-01T00:00:00Z".to_string()
    } else {
        n.created.clone()
    };
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": config},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_serialize_as_listing_11() {
        let mut info = model::NetworkSettingsInfo::default();
        info.ports.insert(
            "80/tcp".into(),
            Some(vec![model::PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: "8080".into(),
            }]),
        );
        info.ports.insert("443/tcp".into(), None);
        info.bridge = Some(model::BridgeEndpoint {
            network: "bridge".into(),
            ip_address: "172.28.0.2".into(),
            ip_prefix_len: 16,
            gateway: "172.28.0.1".into(),
            mac_address: "02:42:ac:1c:00:02".into(),
            host_interface: "vethabc".into(),
            ..Default::default()
        });
        let mut doc =
            json!({ "NetworkSettings": serde_json::to_value(network_settings(&info)).unwrap() });
        add_top_level_fields(&mut doc, &info);
        let ns = &doc["NetworkSettings"];
        assert_eq!(
            ns["Ports"],
            json!({"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}],"443/tcp":null})
        );
        assert_eq!(ns["IPAddress"], "172.28.0.2");
        assert_eq!(ns["IPPrefixLen"], 16);
        assert_eq!(ns["Networks"]["bridge"]["IPAddress"], "172.28.0.2");
        assert_eq!(ns["Networks"]["bridge"]["Gateway"], "172.28.0.1");
    }
}
