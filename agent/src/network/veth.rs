//! A container's veth pair: the host end on the bridge, the other end moved into the
//! container's namespace as `eth0` with its address, MAC and default route, and `lo` up.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use rtnetlink::{LinkUnspec, LinkVeth};

use crate::network::error::NetworkError;
use crate::network::netlink::Netlink;

/// The host-side name of container `id`'s veth on the default bridge (`veth` + 11 hex digits:
/// 15 characters).
pub(crate) fn host_name(id: &str) -> String {
    format!("veth{}", &id[..id.len().min(11)])
}

/// The host-side and temporary peer names of container `id`'s veth on `network`: the default
/// bridge's are made from the id, a user network's from a digest of id and network id (one
/// container has one veth per network).
pub(crate) fn names(id: &str, network: &str) -> (String, String) {
    if network == crate::network::DEFAULT_NETWORK {
        return (host_name(id), format!("vpeer{}", &id[..id.len().min(10)]));
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(format!("{id}/{network}").as_bytes()));
    (
        format!("veth{}", &digest[..11]),
        format!("vpeer{}", &digest[..10]),
    )
}

/// How the container's interface is configured.
#[derive(Clone, Debug)]
pub(crate) struct VethConfig {
    pub bridge_index: u32,
    /// The name inside the namespace (`eth0`, `eth1`...).
    pub ifname: String,
    /// Whether this interface carries the default route (the primary one does).
    pub default_route: bool,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
}

/// Create the pair `host_if`/`peer_if` and configure the peer inside the namespace at `netns`.
/// On failure the pair is deleted again.
pub(crate) async fn create(
    host: &Netlink,
    (host_if, peer_if): (&str, &str),
    netns: &Path,
    cfg: &VethConfig,
) -> Result<(), NetworkError> {
    // Leftovers of an interrupted attempt with the same names.
    host.delete_link_named(host_if).await?;
    host.delete_link_named(peer_if).await?;
    host.handle
        .link()
        .add(LinkVeth::new(host_if, peer_if).build())
        .execute()
        .await
        .map_err(|e| NetworkError::netlink(format!("creating veth pair {host_if}/{peer_if}"), e))?;
    let result = configure(host, host_if, peer_if, netns, cfg).await;
    if result.is_err() {
        let _ = host.delete_link_named(host_if).await;
    }
    result
}

async fn configure(
    host: &Netlink,
    host_if: &str,
    peer_if: &str,
    netns: &Path,
    cfg: &VethConfig,
) -> Result<(), NetworkError> {
    let missing = |name: &str| NetworkError::Netlink {
        context: format!("looking up {name}"),
        message: "link vanished".into(),
    };
    let host_index = host
        .link_index(host_if)
        .await?
        .ok_or_else(|| missing(host_if))?;
    let peer_index = host
        .link_index(peer_if)
        .await?
        .ok_or_else(|| missing(peer_if))?;
    host.handle
        .link()
        .set(
            LinkUnspec::new_with_index(host_index)
                .controller(cfg.bridge_index)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| NetworkError::netlink(format!("attaching {host_if} to the bridge"), e))?;
    let ns_file = std::fs::File::open(netns)
        .map_err(|e| NetworkError::io(format!("opening {}", netns.display()), e))?;
    host.handle
        .link()
        .set(
            LinkUnspec::new_with_index(peer_index)
                .setns_by_fd(ns_file.as_raw_fd())
                .build(),
        )
        .execute()
        .await
        .map_err(|e| NetworkError::netlink(format!("moving {peer_if} into the namespace"), e))?;
    drop(ns_file);

    let inside = Netlink::in_namespace(netns)?;
    let index = inside
        .link_index(peer_if)
        .await?
        .ok_or_else(|| missing(peer_if))?;
    inside
        .handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .name(cfg.ifname.clone())
                .address(cfg.mac.to_vec())
                .build(),
        )
        .execute()
        .await
        .map_err(|e| {
            NetworkError::netlink(format!("renaming the container end to {}", cfg.ifname), e)
        })?;
    inside.add_address(index, cfg.address, cfg.prefix).await?;
    inside.set_up(index).await?;
    if let Some(lo) = inside.link_index("lo").await? {
        inside.set_up(lo).await?;
    }
    if cfg.default_route {
        inside.add_default_route(cfg.gateway).await?;
    }
    Ok(())
}

/// Docker's MAC scheme: `02:42` followed by the IPv4 address.
pub(crate) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `02:42:ac:1c:00:02`.
pub(crate) fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_and_mac_follows_docker() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for network in ["bridge", "f00d"] {
            let (host, peer) = names(id, network);
            assert!(host.len() <= 15 && peer.len() <= 15, "{host} {peer}");
        }
        assert_eq!(names(id, "bridge").0, host_name(id));
        assert_ne!(names(id, "a").0, names(id, "b").0);
        assert_eq!(
            mac_string(&mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
