//! The `/etc/hosts` a bridged container sees: the file written at create, with the container's
//! own name on its bridge address instead of loopback (as Docker writes it).

use std::net::Ipv4Addr;

/// Rewrite `created` (the create-time hosts file) for a container whose `hostname` (and
/// optional `domainname`) now has `address`.
pub(crate) fn with_address(
    created: &str,
    hostname: &str,
    domainname: &str,
    address: Ipv4Addr,
) -> String {
    let own = if domainname.is_empty() {
        format!("{address}\t{hostname}")
    } else {
        format!("{address}\t{hostname}.{domainname} {hostname}")
    };
    let mut out = String::new();
    let mut replaced = false;
    for line in created.lines() {
        let mut words = line.split_whitespace();
        let is_own = words.next() == Some("127.0.0.1")
            && words.any(|w| w == hostname || w.starts_with(&format!("{hostname}.")));
        if is_own && !replaced && !hostname.is_empty() {
            out.push_str(&own);
            replaced = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !replaced {
        out.push_str(&own);
        out.push('\n');
    }
    out
}

/// Rewrite `created` for a container whose `hostname` has `addresses` (one per network,
/// primary first): every earlier line naming the hostname (loopback or an address of a
/// previous run) is dropped and one line per address is appended.
pub(crate) fn with_addresses(
    created: &str,
    hostname: &str,
    domainname: &str,
    addresses: &[Ipv4Addr],
) -> String {
    let Some((first, rest)) = addresses.split_first() else {
        return created.to_string();
    };
    let names_host = |line: &str| {
        let mut words = line.split_whitespace();
        let ip = words.next().unwrap_or("");
        ip.parse::<Ipv4Addr>().is_ok()
            && !hostname.is_empty()
            && words.any(|w| w == hostname || w.starts_with(&format!("{hostname}.")))
    };
    let kept: String = created
        .lines()
        .filter(|l| !names_host(l) || l.split_whitespace().any(|w| w == "localhost"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = with_address(&kept, hostname, domainname, *first);
    for address in rest {
        out = format!("{out}{}", with_address("", hostname, domainname, *address));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_name_moves_to_the_bridge_address() {
        let created = "127.0.0.1\tlocalhost\n::1\tlocalhost\n10.1.1.1\tdb\n127.0.0.1\tabc123\n";
        let out = with_address(created, "abc123", "", Ipv4Addr::new(172, 28, 0, 2));
        assert!(out.contains("127.0.0.1\tlocalhost\n"));
        assert!(out.contains("10.1.1.1\tdb\n"));
        assert!(out.contains("172.28.0.2\tabc123\n"));
        assert!(!out.contains("127.0.0.1\tabc123"));
    }

    #[test]
    fn every_network_address_is_listed_once() {
        let created = "127.0.0.1\tlocalhost\n172.28.0.9\tabc123\n";
        let out = with_addresses(
            created,
            "abc123",
            "",
            &[Ipv4Addr::new(10, 9, 0, 2), Ipv4Addr::new(10, 8, 0, 2)],
        );
        assert_eq!(
            out,
            "127.0.0.1\tlocalhost\n10.9.0.2\tabc123\n10.8.0.2\tabc123\n"
        );
    }
}
