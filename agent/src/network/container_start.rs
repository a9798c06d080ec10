//! What a container's start needs from networking, by network mode: the namespace the bundle
//! joins and the extra mounts (`/etc/hosts` with the container's addresses; on user-defined
//! networks `/etc/resolv.conf` naming the network's embedded DNS).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::model::{ContainerStatus, EndpointRequest, HostSpec, ResolvedConfig};
use crate::network::error::NetworkError;
use crate::network::user_lifecycle::dns_gateway;
use crate::network::{hosts, ports, NetworkManager, NetworkRecord, Target, DEFAULT_NETWORK};
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
    /// A user-defined network's name (or id).
    User(String),
}

/// Parse a network mode (anything not predefined names a user-defined network).
pub(crate) fn mode(network_mode: &str) -> Result<Mode, NetworkError> {
    match network_mode {
        "" | "default" | "bridge" => Ok(Mode::Bridge),
        "none" => Ok(Mode::None),
        "host" => Ok(Mode::Host),
        other => match other.strip_prefix("container:") {
            Some(name) if !name.is_empty() => Ok(Mode::Container(name.to_string())),
            Some(_) => Err(NetworkError::InvalidRequest(format!(
                "network {other} not found"
            ))),
            None => Ok(Mode::User(other.to_string())),
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

/// The files of the container the start rewrites: `/etc/hosts` and `/etc/resolv.conf`.
pub(crate) struct IdentityPaths<'a> {
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// The endpoint request for network `key` (by name or id) in the create call's config.
fn request_for(host: &HostSpec, names: &[&str]) -> EndpointRequest {
    names
        .iter()
        .find_map(|n| host.endpoints_config.get(*n))
        .cloned()
        .unwrap_or_default()
}

fn parse_ip(text: &str) -> Result<Option<Ipv4Addr>, NetworkError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| NetworkError::InvalidRequest(format!("invalid IPv4 address: {text}")))
}

/// A user network as a target, with what the container asks of it.
pub(crate) fn user_target(
    record: NetworkRecord,
    request: &EndpointRequest,
) -> Result<Target, NetworkError> {
    Ok(Target {
        network: record.id.clone(),
        aliases: request.aliases.clone(),
        ip: parse_ip(&request.ipv4_address)?,
        user: Some(record),
    })
}

/// Every network container `id` attaches to at start: its NetworkMode's (primary), then those
/// it was connected to with `docker network connect`.
async fn targets(
    net: &NetworkManager,
    id: &str,
    host: &HostSpec,
    mode: &Mode,
) -> Result<Vec<Target>> {
    let mut out = Vec::new();
    match mode {
        Mode::User(name) => {
            let record = net
                .find_user_network(name)?
                .ok_or_else(|| EngineError::NoSuchNetwork(name.clone()))?;
            let request = request_for(host, &[name.as_str(), &record.name, &record.id]);
            out.push(user_target(record, &request)?);
        }
        _ => {
            let mut t = Target::default_bridge();
            if let Some(req) = host.endpoints_config.get(DEFAULT_NETWORK) {
                t.aliases = req.aliases.clone();
            }
            out.push(t);
        }
    }
    for c in net.connections(id)? {
        if out.iter().any(|t| t.network == c.network_id) {
            continue;
        }
        if let Some(record) = net.find_user_network(&c.network_id)? {
            out.push(user_target(record, &c.request)?);
        }
    }
    Ok(out)
}

/// Check a create request's network mode as Docker does at create: a user network must exist
/// and an `--ip` must be an IPv4 address of one. A missing network is a 400 here, not a 404:
/// the CLI answers any 404 of a create by pulling the image.
pub(crate) fn check_create(net: &NetworkManager, host: &HostSpec) -> Result<()> {
    if let Mode::User(name) = mode(&host.network_mode)? {
        let record = net.find_user_network(&name)?.ok_or_else(|| {
            EngineError::InvalidArgument(EngineError::NoSuchNetwork(name.clone()).to_string())
        })?;
        user_target(record, &request_for(host, &[name.as_str()]))?;
    } else if host
        .endpoints_config
        .values()
        .any(|r| !r.ipv4_address.is_empty())
    {
        return Err(NetworkError::InvalidRequest(
            "user specified IP address is supported on user defined networks only".into(),
        )
        .into());
    }
    Ok(())
}

/// Prepare container `id`'s network for a start. In bridge and user-network modes this
/// attaches it (the caller must [`NetworkManager::detach`] it when the run ends or the start
/// fails). `lender` looks up the container named by `container:X`.
pub(crate) async fn prepare(
    net: &NetworkManager,
    id: &str,
    name: &str,
    host: &HostSpec,
    config: &ResolvedConfig,
    paths: IdentityPaths<'_>,
    lender: impl Fn(&str) -> Option<Lender>,
) -> Result<StartNetwork> {
    let mode = mode(&host.network_mode)?;
    match &mode {
        Mode::None => Ok(StartNetwork::default()),
        Mode::Host => Ok(StartNetwork {
            namespace: NetworkNamespace::Host,
            mounts: Vec::new(),
        }),
        Mode::Container(name) => {
            let (other, status, pid) = lender(name).ok_or_else(|| {
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
        Mode::Bridge | Mode::User(_) => {
            let requests = ports::requests(
                &host.port_bindings,
                host.publish_all_ports,
                &config.exposed_ports,
            )?;
            let targets = targets(net, id, host, &mode).await?;
            net.attach(id, name, &targets, &requests).await?;
            let written = write_identity(net, id, config, &targets, &paths);
            let mounts = match written {
                Ok(mounts) => mounts,
                Err(e) => {
                    net.detach(id).await;
                    return Err(e);
                }
            };
            let primary = net.endpoint(id)?.ok_or_else(|| {
                EngineError::Internal(format!("container {id}: endpoint vanished after attach"))
            })?;
            Ok(StartNetwork {
                namespace: NetworkNamespace::Path(primary.netns_path.clone()),
                mounts,
            })
        }
    }
}

fn bind_mount(destination: &str, source: &Path) -> BundleMount {
    BundleMount {
        destination: destination.to_string(),
        kind: "bind".to_string(),
        source: source.display().to_string(),
        options: vec!["rbind".to_string(), "rprivate".to_string()],
    }
}

/// Write the hosts file with every address of the container and, on a user network, the
/// resolv.conf naming its DNS; returns the bind mounts for them.
fn write_identity(
    net: &NetworkManager,
    id: &str,
    config: &ResolvedConfig,
    targets: &[Target],
    paths: &IdentityPaths<'_>,
) -> Result<Vec<BundleMount>> {
    let addresses: Vec<Ipv4Addr> = net.endpoints_of(id)?.iter().map(|e| e.address).collect();
    write_hosts(paths.hosts, config, &addresses)?;
    let mut mounts = vec![bind_mount("/etc/hosts", paths.hosts)];
    if let Some(gateway) = dns_gateway(targets) {
        let host_text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        write_atomically(paths.resolv_conf, &resolv_conf(&host_text, gateway))?;
        mounts.push(bind_mount("/etc/resolv.conf", paths.resolv_conf));
    }
    Ok(mounts)
}

/// A container's resolv.conf on a user network: the network's DNS, with the host's `search`
/// and `options` lines.
pub(crate) fn resolv_conf(host_text: &str, gateway: Ipv4Addr) -> String {
    let mut out = format!("nameserver {gateway}\n");
    for line in host_text.lines() {
        let first = line.split_whitespace().next();
        if matches!(first, Some("search") | Some("domain") | Some("options")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Rewrite a running container's hosts file in place (its bind mount holds the inode, so a
/// rename would not be seen) with its current addresses.
pub(crate) fn refresh_hosts(
    path: &Path,
    config: &ResolvedConfig,
    addresses: &[Ipv4Addr],
) -> Result<()> {
    let created = std::fs::read_to_string(path).unwrap_or_default();
    let text = hosts::with_addresses(&created, &config.hostname, &config.domainname, addresses);
    std::fs::write(path, text)
        .map_err(|e| NetworkError::io(format!("writing {}", path.display()), e).into())
}

/// Rewrite the container's hosts file with its addresses (temporary name, then rename).
fn write_hosts(path: &Path, config: &ResolvedConfig, addresses: &[Ipv4Addr]) -> Result<()> {
    let created = std::fs::read_to_string(path).unwrap_or_default();
    let text = hosts::with_addresses(&created, &config.hostname, &config.domainname, addresses);
    write_atomically(path, &text)
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
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
        assert_eq!(mode("mynet").unwrap(), Mode::User("mynet".into()));
    }

    #[test]
    fn resolv_conf_names_the_network_dns_and_keeps_search() {
        let host = "nameserver 10.255.255.53\nsearch corp.example\noptions ndots:2\n";
        assert_eq!(
            resolv_conf(host, Ipv4Addr::new(10, 9, 0, 1)),
            "nameserver 10.9.0.1\nsearch corp.example\noptions ndots:2\n"
        );
    }
}
