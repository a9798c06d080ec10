//! The agent's bridge (`--bridge`, default `strata0`): created if missing, given the `--bip`
//! address, brought up; removed at clean shutdown when no container is attached any more.

use rtnetlink::{LinkBridge, LinkUnspec};
use tracing::{info, warn};

use crate::network::error::{is_exists, NetworkError};
use crate::network::netlink::Netlink;
use crate::network::subnet::{self, Ipv4Cidr};

/// Linux's limit on interface names (IFNAMSIZ - 1).
pub(crate) const MAX_IFNAME: usize = 15;

/// Check a bridge name the kernel would accept.
pub(crate) fn validate_name(name: &str) -> Result<(), NetworkError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(NetworkError::InvalidConfig(format!(
            "bridge name {name:?}: 1 to {MAX_IFNAME} characters of [A-Za-z0-9._-]"
        )))
    }
}

/// The bridge address to use: `--bip` when given; else the address the bridge already has (a
/// previous run's); else the default /16, or another private /16 when a host route covers it.
pub(crate) async fn resolve_bip(
    nl: &Netlink,
    bridge: &str,
    requested: Option<&str>,
) -> Result<Ipv4Cidr, NetworkError> {
    if let Some(text) = requested {
        return Ipv4Cidr::parse(text);
    }
    if let Some(index) = nl.link_index(bridge).await? {
        if let Some((addr, prefix)) = nl.ipv4_addresses(index).await?.into_iter().next() {
            return Ok(Ipv4Cidr { addr, prefix });
        }
    }
    let routes = subnet::host_routes(bridge)?;
    let default = Ipv4Cidr::parse(subnet::DEFAULT_BIP)?;
    if !routes.iter().any(|r| r.overlaps(&default)) {
        return Ok(default);
    }
    let chosen = subnet::choose_free(&routes).ok_or_else(|| {
        NetworkError::InvalidConfig("every candidate private /16 clashes with a host route".into())
    })?;
    warn!(default = %default, chosen = %chosen, "the default bridge subnet clashes with a host route; using another");
    Ok(chosen)
}

/// Make sure bridge `name` exists with `bip` and is up; returns its link index.
pub(crate) async fn ensure(nl: &Netlink, name: &str, bip: Ipv4Cidr) -> Result<u32, NetworkError> {
    let index = match nl.link_index(name).await? {
        Some(index) => index,
        None => {
            match nl
                .handle
                .link()
                .add(LinkBridge::new(name).build())
                .execute()
                .await
            {
                Ok(()) => info!(bridge = name, "bridge created"),
                // Another agent made it in between: adopt it.
                Err(e) if is_exists(&e) => {}
                Err(e) => return Err(NetworkError::netlink(format!("creating bridge {name}"), e)),
            }
            nl.link_index(name)
                .await?
                .ok_or_else(|| NetworkError::BridgeUnavailable {
                    bridge: name.to_string(),
                    reason: "created but not found".into(),
                })?
        }
    };
    // A bridge without an address of its own takes the lowest MAC of its ports, so it would
    // change whenever a container joins, leaving the containers' neighbour entries for the
    // gateway (and its DNS) pointing at a port for up to a minute. Fix one, as Docker does.
    let mac = crate::network::veth::mac_for(bip.addr);
    nl.handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .address(mac.to_vec())
                .build(),
        )
        .execute()
        .await
        .map_err(|e| {
            NetworkError::netlink(format!("setting the MAC address of bridge {name}"), e)
        })?;
    nl.add_address(index, bip.addr, bip.prefix).await?;
    nl.set_up(index).await?;
    Ok(index)
}

/// Remove bridge `name` when nothing is attached to it; returns whether it was removed.
pub(crate) async fn remove_if_unused(nl: &Netlink, name: &str) -> Result<bool, NetworkError> {
    let Some(index) = nl.link_index(name).await? else {
        return Ok(false);
    };
    if !nl.ports_of(index).await?.is_empty() {
        return Ok(false);
    }
    nl.delete_link(index).await?;
    info!(bridge = name, "bridge removed");
    Ok(true)
}
