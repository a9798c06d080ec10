//! Network requests on the wire: `NetworkingConfig.EndpointsConfig` of a container create,
//! `POST /networks/create`, `/connect` and `/disconnect` bodies, to the engine's types.

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{EndpointSettings, NetworkCreateRequest, NetworkingConfig};
use strata_agent::model::EndpointRequest;
use strata_agent::network::NetworkCreate;

/// One endpoint's settings -> what the engine acts on (`--network-alias`, `--ip`).
pub fn endpoint_request(settings: EndpointSettings) -> EndpointRequest {
    EndpointRequest {
        aliases: settings.aliases.unwrap_or_default(),
        ipv4_address: settings
            .ipam_config
            .and_then(|c| c.ipv4_address)
            .unwrap_or_default(),
    }
}

/// `NetworkingConfig` of a create call -> endpoint requests by network name.
pub fn endpoint_requests(config: Option<NetworkingConfig>) -> BTreeMap<String, EndpointRequest> {
    config
        .and_then(|c| c.endpoints_config)
        .unwrap_or_default()
        .into_iter()
        .map(|(network, settings)| (network, endpoint_request(settings)))
        .collect()
}

fn sorted(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

/// `POST /networks/create` body -> the engine's request (first IPAM config only: IPv4).
pub fn network_create(body: NetworkCreateRequest) -> NetworkCreate {
    let first = body
        .ipam
        .and_then(|i| i.config)
        .and_then(|list| list.into_iter().next())
        .unwrap_or_default();
    NetworkCreate {
        name: body.name,
        driver: body.driver.filter(|d| !d.is_empty()),
        subnet: first.subnet.filter(|s| !s.is_empty()),
        gateway: first.gateway.filter(|s| !s.is_empty()),
        ip_range: first.ip_range.filter(|s| !s.is_empty()),
        internal: body.internal.unwrap_or(false),
        options: sorted(body.options),
        labels: sorted(body.labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_create_bodies_parse() {
        let body: NetworkCreateRequest = serde_json::from_str(
            r#"{"Name":"n1","Driver":"bridge","IPAM":{"Driver":"default","Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]},"Options":{},"Labels":{"a":"b"}}"#,
        )
        .unwrap();
        let req = network_create(body);
        assert_eq!(req.name, "n1");
        assert_eq!(req.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(req.gateway.as_deref(), Some("10.9.0.1"));
        assert_eq!(req.labels.get("a").map(String::as_str), Some("b"));

        let cfg: NetworkingConfig = serde_json::from_str(
            r#"{"EndpointsConfig":{"n1":{"Aliases":["web"],"IPAMConfig":{"IPv4Address":"10.9.0.7"}}}}"#,
        )
        .unwrap();
        let reqs = endpoint_requests(Some(cfg));
        assert_eq!(reqs["n1"].aliases, vec!["web".to_string()]);
        assert_eq!(reqs["n1"].ipv4_address, "10.9.0.7");
    }
}
