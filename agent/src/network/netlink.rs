//! Thin helpers over `rtnetlink`: opening a connection (on the host or inside a namespace),
//! finding links by name, and the link/address/route requests the bridge and veths need.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::network::error::{is_exists, is_not_found, NetworkError};
use crate::network::netns;

/// A netlink connection; its task ends when the handle is dropped.
pub(crate) struct Netlink {
    pub handle: Handle,
}

impl Netlink {
    /// A connection in the agent's own (host) namespace.
    pub fn host() -> Result<Netlink, NetworkError> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| NetworkError::io("opening a netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection inside the namespace pinned at `path`.
    pub fn in_namespace(path: &Path) -> Result<Netlink, NetworkError> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle, _) = netns::in_namespace(path, rt, || {
            rtnetlink::new_connection()
                .map_err(|e| NetworkError::io("opening a netlink socket in a namespace", e))
        })?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The index of link `name`, or `None` when there is none.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, NetworkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(Some(msg.header.index)),
            Ok(None) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(NetworkError::netlink(format!("looking up link {name}"), e)),
        }
    }

    /// Names of the links whose controller (bridge) is `bridge_index`.
    pub async fn ports_of(&self, bridge_index: u32) -> Result<Vec<(u32, String)>, NetworkError> {
        let mut links = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = links
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing links", e))?
        {
            let mut name = None;
            let mut controller = None;
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = Some(n.clone()),
                    LinkAttribute::Controller(c) => controller = Some(*c),
                    _ => {}
                }
            }
            if let (Some(name), Some(c)) = (name, controller) {
                if c == bridge_index {
                    out.push((msg.header.index, name));
                }
            }
        }
        Ok(out)
    }

    /// IPv4 addresses (with prefix) on link `index`.
    pub async fn ipv4_addresses(&self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>, NetworkError> {
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = addrs
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink(format!("listing addresses of link {index}"), e))?
        {
            for attr in &msg.attributes {
                if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                    out.push((*ip, msg.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    /// Add `ip/prefix` to link `index`; an address already there is fine.
    pub async fn add_address(
        &self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetworkError> {
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_exists(&e) => Ok(()),
            Err(e) => Err(NetworkError::netlink(
                format!("adding {ip}/{prefix} to link {index}"),
                e,
            )),
        }
    }

    /// Bring link `index` up.
    pub async fn set_up(&self, index: u32) -> Result<(), NetworkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("setting link {index} up"), e))
    }

    /// Delete link `index`; a link already gone is fine.
    pub async fn delete_link(&self, index: u32) -> Result<(), NetworkError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(NetworkError::netlink(format!("deleting link {index}"), e)),
        }
    }

    /// Delete link `name` if it exists.
    pub async fn delete_link_named(&self, name: &str) -> Result<(), NetworkError> {
        match self.link_index(name).await? {
            Some(index) => self.delete_link(index).await,
            None => Ok(()),
        }
    }

    /// Add the default route via `gateway`.
    pub async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), NetworkError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_exists(&e) => Ok(()),
            Err(e) => Err(NetworkError::netlink(
                format!("adding default route via {gateway}"),
                e,
            )),
        }
    }
}
