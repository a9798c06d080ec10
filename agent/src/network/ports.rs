//! What a container asks to publish: `-p HOSTPORT:CPORT[/proto]`, `-p IP:HOSTPORT:CPORT`,
//! `-p CPORT` (ephemeral host port), `-P` (every EXPOSEd port, ephemeral), as the CLI sends them
//! in `HostConfig.PortBindings` / `PublishAllPorts`.

use std::collections::BTreeMap;

use crate::model::PortBinding;
use crate::network::error::NetworkError;

/// One port to publish, before binding (`host_port` 0 = ephemeral).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortRequest {
    pub proto: String,
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u16,
}

/// Split `80/tcp` (or `80`) into port and protocol.
pub(crate) fn parse_port_key(key: &str) -> Result<(u16, String), NetworkError> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if proto != "tcp" && proto != "udp" {
        return Err(NetworkError::InvalidRequest(format!(
            "invalid port {key:?}: protocol must be tcp or udp"
        )));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid_port(port))?;
    Ok((port, proto))
}

/// dockerd's refusal of a port number that is not one (`99999`, `http`).
fn invalid_port(text: &str) -> NetworkError {
    NetworkError::InvalidRequest(format!("invalid port specification: {text:?}"))
}

/// A host port (`8080`), a range (`8000-8010`) or empty (ephemeral: 0).
fn parse_host_port(text: &str) -> Result<u16, NetworkError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    // A range takes its first free port in Docker; here its first port.
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    match (first.parse::<u16>(), last.parse::<u16>()) {
        (Ok(first), Ok(last)) if first <= last => Ok(first),
        _ => Err(invalid_port(text)),
    }
}

/// Every port to publish for a container with these bindings and exposed ports.
pub(crate) fn requests(
    bindings: &BTreeMap<String, Vec<PortBinding>>,
    publish_all: bool,
    exposed: &[String],
) -> Result<Vec<PortRequest>, NetworkError> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (container_port, proto) = parse_port_key(key)?;
        let list: Vec<PortBinding> = if list.is_empty() {
            vec![PortBinding::default()]
        } else {
            list.clone()
        };
        for b in list {
            let host_ip = if b.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                b.host_ip
            };
            if host_ip.parse::<std::net::Ipv4Addr>().is_err() {
                return Err(NetworkError::InvalidRequest(format!(
                    "invalid host IP {host_ip:?} for {key}: only IPv4 is published"
                )));
            }
            out.push(PortRequest {
                proto: proto.clone(),
                container_port,
                host_ip,
                host_port: parse_host_port(&b.host_port)?,
            });
        }
    }
    if publish_all {
        for key in exposed {
            let (container_port, proto) = parse_port_key(key)?;
            let already = out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto);
            if !already {
                out.push(PortRequest {
                    proto,
                    container_port,
                    host_ip: "0.0.0.0".to_string(),
                    host_port: 0,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn port_string() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9]{0,6}(-[0-9]{0,6})?(/(tcp|udp|TCP|sctp|[a-z]{0,3}))?",
            "[0-9.:a-f]{0,16}",
        ]
    }

    proptest! {
        /// Fuzzing: arbitrary `-p` bindings and exposed ports never panic; bad ones are
        /// `InvalidRequest` (a 400).
        #[test]
        fn arbitrary_port_specs(
            bindings in prop::collection::btree_map(
                port_string(),
                prop::collection::vec((port_string(), port_string()), 0..3),
                0..4,
            ),
            publish_all in any::<bool>(),
            exposed in prop::collection::vec(port_string(), 0..4),
        ) {
            let bindings: BTreeMap<String, Vec<PortBinding>> = bindings
                .into_iter()
                .map(|(k, list)| {
                    let list = list
                        .into_iter()
                        .map(|(host_ip, host_port)| PortBinding { host_ip, host_port })
                        .collect();
                    (k, list)
                })
                .collect();
            if let Err(err) = requests(&bindings, publish_all, &exposed) {
                prop_assert!(matches!(err, NetworkError::InvalidRequest(_)), "{err:?}");
            }
        }
    }

    fn binding(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        }
    }

    #[test]
    fn bindings_and_publish_all() {
        let mut b = BTreeMap::new();
        b.insert("80/tcp".to_string(), vec![binding("", "8080")]);
        b.insert("53/udp".to_string(), vec![binding("127.0.0.1", "")]);
        let exposed = vec!["80/tcp".to_string(), "443/tcp".to_string()];
        let r = requests(&b, true, &exposed).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.contains(&PortRequest {
            proto: "tcp".into(),
            container_port: 80,
            host_ip: "0.0.0.0".into(),
            host_port: 8080
        }));
        assert!(r.contains(&PortRequest {
            proto: "udp".into(),
            container_port: 53,
            host_ip: "127.0.0.1".into(),
            host_port: 0
        }));
        assert!(r
            .iter()
            .any(|p| p.container_port == 443 && p.host_port == 0));
        assert_eq!(requests(&b, false, &exposed).unwrap().len(), 2);
    }

    #[test]
    fn bad_ports_are_refused() {
        assert!(parse_port_key("http/tcp").is_err());
        assert!(parse_port_key("80/sctp").is_err());
        let mut b = BTreeMap::new();
        b.insert("80/tcp".to_string(), vec![binding("", "eighty")]);
        assert!(requests(&b, false, &[]).is_err());
        b.insert("80/tcp".to_string(), vec![binding("", "99999")]);
        assert_eq!(
            requests(&b, false, &[]).unwrap_err().to_string(),
            "invalid port specification: \"99999\""
        );
        assert_eq!(
            parse_port_key("99999/tcp").unwrap_err().to_string(),
            "invalid port specification: \"99999\""
        );
    }
}
