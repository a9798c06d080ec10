//! What a container's start needs from networking, by network mode: the namespace the bundle
//! joins and the extra mounts (`/etc/hosts` with the container's address).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::{ContainerStatus, HostSpec, ResolvedConfig};
use crate::network::error::NetworkError;
use crate::network::{hosts, ports, NetworkManager};
use crate::runtime::bundle::{BundleMount, NetworkNamespace};

/// A container's network mode, parsed from `HostConfig.NetworkMode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `default`, `bridge` or empty: an endpoint on the agent's bridge.
    Bridge,
    /// `none`: loopback only.
    None,
    /// `host`: the host's namespace.
    Host,
    /// `container:NAME`: another container's namespace.
    Container(String),
}

/// Parse a network mode; user-defined networks are not supported yet.
pub(crate) fn mode(network_mode: &str) -> Result<Mode, NetworkError> {
    match network_mode {
        "" | "default" | "bridge" => Ok(Mode::Bridge),
        "none" => Ok(Mode::None),
        "host" => Ok(Mode::Host),
        other => match other.strip_prefix("container:") {
            Some(name) if !name.is_empty() => Ok(Mode::Container(name.to_string())),
            _ => Err(NetworkError::InvalidRequest(format!(
                "network {other} not found"
            ))),
        },
    }
}

/// What the bundle gets.
#[derive(Debug, Default)]
pub(crate) struct StartNetwork {
    pub namespace: NetworkNamespace,
    pub mounts: Vec<BundleMount>,
}

/// Another container as `--network container:X` sees it: id, status and pid.
pub(crate) type Lender = (String, ContainerStatus, i64);

/// Prepare container `id`'s network for a start. In bridge mode this attaches it (the caller
/// must [`NetworkManager::detach`] it when the run ends or the start fails). `lender` looks up
/// the container named by `container:X`.
pub(crate) async fn prepare(
    net: &NetworkManager,
    id: &str,
    host: &HostSpec,
    config: &ResolvedConfig,
    hosts_path: &Path,
    lender: impl Fn(&str) -> Option<Lender>,
) -> Result<StartNetwork> {
    match mode(&host.network_mode)? {
        Mode::None => Ok(StartNetwork::default()),
        Mode::Host => Ok(StartNetwork {
            namespace: NetworkNamespace::Host,
            mounts: Vec::new(),
        }),
        Mode::Container(name) => {
            let (other, status, pid) = lender(&name).ok_or_else(|| {
                NetworkError::InvalidRequest(format!("No such container: {name}"))
            })?;
            if other == id {
                return Err(NetworkError::InvalidRequest(
                    "cannot join own network namespace".into(),
                )
                .into());
            }
            if !matches!(status, ContainerStatus::Running | ContainerStatus::Paused) || pid <= 0 {
                return Err(NetworkError::JoinNotRunning(other).into());
            }
            let path = match net.endpoint(&other)? {
                Some(e) => e.netns_path,
                None => PathBuf::from(format!("/proc/{pid}/ns/net")),
            };
            Ok(StartNetwork {
                namespace: NetworkNamespace::Path(path),
                mounts: Vec::new(),
            })
        }
        Mode::Bridge => {
            let requests = ports::requests(
                &host.port_bindings,
                host.publish_all_ports,
                &config.exposed_ports,
            )?;
            let endpoint = net.attach(id, &requests).await?;
            let written = write_hosts(hosts_path, config, endpoint.address);
            if let Err(e) = written {
                net.detach(id).await;
                return Err(e);
            }
            Ok(StartNetwork {
                namespace: NetworkNamespace::Path(endpoint.netns_path.clone()),
                mounts: vec![BundleMount {
                    destination: "/etc/hosts".to_string(),
                    kind: "bind".to_string(),
                    source: hosts_path.display().to_string(),
                    options: vec!["rbind".to_string(), "rprivate".to_string()],
                }],
            })
        }
    }
}

/// Rewrite the container's hosts file with its address (temporary name, then rename).
fn write_hosts(path: &Path, config: &ResolvedConfig, address: std::net::Ipv4Addr) -> Result<()> {
    let created = std::fs::read_to_string(path).unwrap_or_default();
    let text = hosts::with_address(&created, &config.hostname, &config.domainname, address);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            NetworkError::io(format!("writing {}", path.display()), e).into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(mode("default").unwrap(), Mode::Bridge);
        assert_eq!(mode("").unwrap(), Mode::Bridge);
        assert_eq!(mode("none").unwrap(), Mode::None);
        assert_eq!(mode("host").unwrap(), Mode::Host);
        assert_eq!(
            mode("container:web").unwrap(),
            Mode::Container("web".into())
        );
        assert!(mode("container:").is_err());
        assert!(mode("mynet").is_err());
    }
}
