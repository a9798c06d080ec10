//! A container's veth pair: the host end on the bridge, the other end moved into the
//! container's namespace as `eth0` with its address, MAC and default route, and `lo` up.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use rtnetlink::{LinkUnspec, LinkVeth};

use crate::network::error::NetworkError;
use crate::network::netlink::Netlink;

/// The host-side name of container `id`'s veth (`veth` + 11 hex digits: 15 characters).
pub(crate) fn host_name(id: &str) -> String {
    format!("veth{}", &id[..id.len().min(11)])
}

/// The temporary name of the container end before it is renamed `eth0` in the namespace.
fn peer_name(id: &str) -> String {
    format!("vpeer{}", &id[..id.len().min(10)])
}

/// How the container's interface is configured.
#[derive(Clone, Debug)]
pub(crate) struct VethConfig {
    pub bridge_index: u32,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: [u8; 6],
}

/// Create the pair for container `id` and configure its end inside the namespace at `netns`.
/// On failure the pair is deleted again.
pub(crate) async fn create(
    host: &Netlink,
    id: &str,
    netns: &Path,
    cfg: &VethConfig,
) -> Result<(), NetworkError> {
    let host_if = host_name(id);
    let peer_if = peer_name(id);
    // Leftovers of an interrupted attempt with the same names.
    host.delete_link_named(&host_if).await?;
    host.delete_link_named(&peer_if).await?;
    host.handle
        .link()
        .add(LinkVeth::new(&host_if, &peer_if).build())
        .execute()
        .await
        .map_err(|e| NetworkError::netlink(format!("creating veth pair {host_if}/{peer_if}"), e))?;
    let result = configure(host, &host_if, &peer_if, netns, cfg).await;
    if result.is_err() {
        let _ = host.delete_link_named(&host_if).await;
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
                .name("eth0".to_string())
                .address(cfg.mac.to_vec())
                .build(),
        )
        .execute()
        .await
        .map_err(|e| NetworkError::netlink("renaming the container end to eth0", e))?;
    inside.add_address(index, cfg.address, cfg.prefix).await?;
    inside.set_up(index).await?;
    if let Some(lo) = inside.link_index("lo").await? {
        inside.set_up(lo).await?;
    }
    inside.add_default_route(cfg.gateway).await?;
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
        assert!(host_name(id).len() <= 15);
        assert!(peer_name(id).len() <= 15);
        assert_eq!(
            mac_string(&mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
