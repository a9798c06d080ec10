//! IPv4 subnets: parsing `--bip`, membership, and choosing a /16 that no host route covers.

use std::net::Ipv4Addr;

use crate::network::error::NetworkError;

/// An IPv4 address with its prefix length (`172.28.0.1/16`): the bridge's address and subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// Parse `A.B.C.D/N` (N from 8 to 30: room for a gateway and at least one container).
    pub fn parse(text: &str) -> Result<Self, NetworkError> {
        let (addr, prefix) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| NetworkError::InvalidConfig(format!("{text:?}: expected A.B.C.D/N")))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| NetworkError::InvalidConfig(format!("{text:?}: bad IPv4 address")))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| NetworkError::InvalidConfig(format!("{text:?}: bad prefix length")))?;
        if !(8..=30).contains(&prefix) {
            return Err(NetworkError::InvalidConfig(format!(
                "{text:?}: prefix length must be between 8 and 30"
            )));
        }
        let cidr = Ipv4Cidr { addr, prefix };
        if addr == cidr.network() || addr == cidr.broadcast() {
            return Err(NetworkError::InvalidConfig(format!(
                "{text:?}: the bridge address cannot be the network or broadcast address"
            )));
        }
        Ok(cidr)
    }

    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// The subnet's first address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The subnet's last address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` is in this subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether two subnets share any address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let common = Ipv4Cidr {
            addr: self.addr,
            prefix: shorter,
        };
        common.contains(other.addr)
    }

    /// `network/prefix`, as `docker network inspect` shows a subnet.
    pub fn subnet_string(&self) -> String {
        format!("{}/{}", self.network(), self.prefix)
    }

    /// The addresses containers may get: everything but network, broadcast and the bridge's own.
    pub fn host_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        let first = u32::from(self.network()) + 1;
        let last = u32::from(self.broadcast()) - 1;
        (first..=last)
            .map(Ipv4Addr::from)
            .filter(move |ip| *ip != self.addr)
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The default bridge address when `--bip` is not given.
pub const DEFAULT_BIP: &str = "172.28.0.1/16";

/// Candidates tried in order when the default clashes with a host route: /16s of 172.16/12,
/// then of 10/8.
fn candidates() -> impl Iterator<Item = Ipv4Cidr> {
    let in_172 = (18u8..=31)
        .chain(16..18)
        .map(|b| Ipv4Addr::new(172, b, 0, 1));
    let in_10 = (0u8..=255).map(|b| Ipv4Addr::new(10, b, 0, 1));
    std::iter::once(Ipv4Addr::new(172, 28, 0, 1))
        .chain(in_172.filter(|a| a.octets()[1] != 28))
        .chain(in_10)
        .map(|addr| Ipv4Cidr { addr, prefix: 16 })
}

/// Pick the first candidate /16 that overlaps none of `routes`.
pub fn choose_free(routes: &[Ipv4Cidr]) -> Option<Ipv4Cidr> {
    candidates().find(|c| !routes.iter().any(|r| r.prefix > 0 && r.overlaps(c)))
}

/// A `--subnet A.B.C.D/N` as the network address and prefix (host bits are cleared, as
/// Docker does), N from 8 to 30.
pub fn parse_subnet(text: &str) -> Result<Ipv4Cidr, NetworkError> {
    let (addr, prefix) = text.trim().split_once('/').ok_or_else(|| {
        NetworkError::InvalidRequest(format!("invalid subnet {text}: expected A.B.C.D/N"))
    })?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| {
        NetworkError::InvalidRequest(format!("invalid subnet {text}: bad IPv4 address"))
    })?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (8..=30).contains(p))
        .ok_or_else(|| {
            NetworkError::InvalidRequest(format!(
                "invalid subnet {text}: prefix length must be between 8 and 30"
            ))
        })?;
    let cidr = Ipv4Cidr { addr, prefix };
    Ok(Ipv4Cidr {
        addr: cidr.network(),
        prefix,
    })
}

/// Ranges a bridge network can never use: its gateway would sit on loopback, link-local,
/// multicast or reserved addresses (dockerd 20.10 accepts some of these and breaks the host:
/// a 127.0.0.0/8 network takes over the host's loopback route).
const RESERVED: [(Ipv4Cidr, &str); 5] = [
    (cidr([0, 0, 0, 0], 8), "\"this network\" (0.0.0.0/8)"),
    (cidr([127, 0, 0, 0], 8), "loopback (127.0.0.0/8)"),
    (cidr([169, 254, 0, 0], 16), "link-local (169.254.0.0/16)"),
    (cidr([224, 0, 0, 0], 4), "multicast (224.0.0.0/4)"),
    (
        cidr([240, 0, 0, 0], 4),
        "reserved and broadcast (240.0.0.0/4)",
    ),
];

const fn cidr(a: [u8; 4], prefix: u8) -> Ipv4Cidr {
    Ipv4Cidr {
        addr: Ipv4Addr::new(a[0], a[1], a[2], a[3]),
        prefix,
    }
}

/// Refuse an asked subnet overlapping a [`RESERVED`] range or one of the host's `routes`.
fn check_usable(net: &Ipv4Cidr, routes: &[Ipv4Cidr]) -> Result<(), NetworkError> {
    if let Some((_, what)) = RESERVED.iter().find(|(r, _)| r.overlaps(net)) {
        return Err(NetworkError::InvalidRequest(format!(
            "invalid subnet {}: it overlaps {what}, which a network cannot use",
            net.subnet_string()
        )));
    }
    if let Some(route) = routes.iter().find(|r| r.prefix > 0 && r.overlaps(net)) {
        return Err(NetworkError::InvalidRequest(format!(
            "invalid subnet {}: it overlaps the host's route to {}",
            net.subnet_string(),
            route.subnet_string()
        )));
    }
    Ok(())
}

/// The gateway and prefix of a new user-defined network: `subnet`/`gateway` as asked (the
/// gateway defaults to the subnet's first address), else the first private pool entry (/16s of
/// 172.18-31, then /20s of 192.168, then /16s of 10) that overlaps none of `taken` (host routes,
/// the default bridge, other networks). An asked subnet overlapping `in_use` (other networks of
/// this agent) is refused as Docker does; one overlapping a reserved range or another of
/// `taken` (a host route) is refused too. An `ip_range` outside the subnet gets Docker's
/// refusal; one inside it is refused as unsupported (addresses come from the whole subnet).
pub fn network_cidr(
    subnet: Option<&str>,
    gateway: Option<&str>,
    ip_range: Option<&str>,
    taken: &[Ipv4Cidr],
    in_use: &[Ipv4Cidr],
) -> Result<Ipv4Cidr, NetworkError> {
    let Some(text) = subnet else {
        if ip_range.is_some() {
            return Err(NetworkError::InvalidRequest(
                "an ip range needs a subnet (--subnet)".into(),
            ));
        }
        if gateway.is_some() {
            return Err(NetworkError::InvalidRequest(
                "a gateway needs a subnet (--subnet)".into(),
            ));
        }
        return pool()
            .find(|c| !taken.iter().any(|t| t.prefix > 0 && t.overlaps(c)))
            .ok_or_else(|| {
                NetworkError::InvalidRequest(
                    "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
                )
            });
    };
    let net = parse_subnet(text)?;
    if let Some(other) = in_use.iter().find(|o| o.overlaps(&net)) {
        return Err(NetworkError::InvalidRequest(format!(
            "invalid pool request: Pool overlaps with other one on this address space ({} and {})",
            net.subnet_string(),
            other.subnet_string()
        )));
    }
    check_usable(&net, taken)?;
    if let Some(range) = ip_range {
        let inside =
            parse_range(range).is_some_and(|r| r.prefix >= net.prefix && net.contains(r.addr));
        return Err(NetworkError::InvalidRequest(if inside {
            format!("invalid ip range {range}: Strata gives addresses from the whole subnet; --ip-range is not supported")
        } else {
            format!("no matching subnet for range {range}")
        }));
    }
    let gw = match gateway {
        Some(g) => g
            .trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| NetworkError::InvalidRequest(format!("invalid gateway {g}")))?,
        None => Ipv4Addr::from(u32::from(net.network()) + 1),
    };
    let cidr = Ipv4Cidr {
        addr: gw,
        prefix: net.prefix,
    };
    if !net.contains(gw) {
        return Err(NetworkError::InvalidRequest(format!(
            "no matching subnet for gateway {gw}"
        )));
    }
    if gw == net.network() || gw == net.broadcast() {
        return Err(NetworkError::InvalidRequest(format!(
            "invalid gateway {gw}: it is the network or broadcast address of {}",
            net.subnet_string()
        )));
    }
    Ok(cidr)
}

/// An `--ip-range A.B.C.D/N` (N up to 32); `None` when it is not one.
fn parse_range(text: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = text.trim().split_once('/')?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some(Ipv4Cidr {
        addr: addr.parse().ok()?,
        prefix,
    })
}

/// The private pool user-defined networks get subnets from, in order.
fn pool() -> impl Iterator<Item = Ipv4Cidr> {
    let p172 = (18u8..=31).map(|b| Ipv4Cidr {
        addr: Ipv4Addr::new(172, b, 0, 1),
        prefix: 16,
    });
    let p192 = (0u8..16).map(|i| Ipv4Cidr {
        addr: Ipv4Addr::new(192, 168, i * 16, 1),
        prefix: 20,
    });
    let p10 = (0u8..=255).map(|b| Ipv4Cidr {
        addr: Ipv4Addr::new(10, b, 0, 1),
        prefix: 16,
    });
    p172.chain(p192).chain(p10)
}

/// The host's IPv4 routes (destination/prefix) from `/proc/net/route`, except those through
/// `except_dev` (our own bridge, whose route is ours). Default routes (prefix 0) are skipped.
pub fn host_routes(except_dev: &str) -> Result<Vec<Ipv4Cidr>, NetworkError> {
    let text = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| NetworkError::io("reading /proc/net/route", e))?;
    Ok(parse_proc_routes(&text, except_dev))
}

fn parse_proc_routes(text: &str, except_dev: &str) -> Vec<Ipv4Cidr> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 || fields[0] == except_dev {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (
            u32::from_str_radix(fields[1], 16),
            u32::from_str_radix(fields[7], 16),
        ) else {
            continue;
        };
        // The kernel prints each network-order value as a native (little-endian) u32.
        let dest = Ipv4Addr::from(dest.to_le_bytes());
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        out.push(Ipv4Cidr { addr: dest, prefix });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_computes_ranges() {
        let c = Ipv4Cidr::parse("172.28.0.1/16").unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(172, 28, 0, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(172, 28, 255, 255));
        assert!(c.contains(Ipv4Addr::new(172, 28, 3, 4)));
        assert!(!c.contains(Ipv4Addr::new(172, 29, 0, 1)));
        assert_eq!(c.subnet_string(), "172.28.0.0/16");
        let first: Vec<_> = c.host_addresses().take(2).collect();
        assert_eq!(
            first,
            vec![Ipv4Addr::new(172, 28, 0, 2), Ipv4Addr::new(172, 28, 0, 3)]
        );
        assert!(Ipv4Cidr::parse("172.28.0.0/16").is_err());
        assert!(Ipv4Cidr::parse("172.28.0.1").is_err());
        assert!(Ipv4Cidr::parse("172.28.0.1/31").is_err());
    }

    #[test]
    fn clashing_default_moves_on() {
        let routes = vec![Ipv4Cidr::parse("172.28.5.1/24").unwrap()];
        let chosen = choose_free(&routes).unwrap();
        assert_ne!(chosen.network(), Ipv4Addr::new(172, 28, 0, 0));
        assert!(!chosen.overlaps(&routes[0]));
        assert_eq!(choose_free(&[]).unwrap().to_string(), DEFAULT_BIP);
    }

    #[test]
    fn network_subnets_are_chosen_or_checked() {
        let c = network_cidr(Some("10.9.0.5/24"), None, None, &[], &[]).unwrap();
        assert_eq!(c.to_string(), "10.9.0.1/24");
        assert_eq!(c.subnet_string(), "10.9.0.0/24");
        let g = network_cidr(Some("10.9.0.0/24"), Some("10.9.0.254"), None, &[], &[]).unwrap();
        assert_eq!(g.to_string(), "10.9.0.254/24");
        assert!(network_cidr(Some("10.9.0.0/24"), Some("10.9.1.1"), None, &[], &[]).is_err());
        assert!(network_cidr(None, Some("10.9.0.1"), None, &[], &[]).is_err());
        let other = Ipv4Cidr::parse("10.9.0.1/16").unwrap();
        assert!(network_cidr(Some("10.9.3.0/24"), None, None, &[], &[other]).is_err());
        // Chosen: the first pool entry clashing with nothing taken.
        let taken = vec![
            Ipv4Cidr::parse("172.18.0.1/16").unwrap(),
            Ipv4Cidr::parse("172.19.5.1/24").unwrap(),
        ];
        let chosen = network_cidr(None, None, None, &taken, &[]).unwrap();
        assert_eq!(chosen.to_string(), "172.20.0.1/16");
        let all172: Vec<Ipv4Cidr> = vec![Ipv4Cidr::parse("172.16.0.1/12").unwrap()];
        let chosen = network_cidr(None, None, None, &all172, &[]).unwrap();
        assert_eq!(chosen.to_string(), "192.168.0.1/20");
    }

    #[test]
    fn proc_route_lines_decode() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    br0\t00001CAC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let routes = parse_proc_routes(text, "br0");
        assert_eq!(
            routes,
            vec![Ipv4Cidr {
                addr: Ipv4Addr::new(192, 0, 2, 0),
                prefix: 24
            }]
        );
    }

    #[test]
    fn reserved_ranges_host_routes_and_ip_ranges_are_refused() {
        for bad in [
            "127.0.0.0/8",
            "127.5.0.0/16",
            "169.254.1.0/24",
            "224.0.0.0/24",
            "239.1.0.0/16",
            "0.0.0.0/8",
            "240.0.0.0/8",
        ] {
            let err = network_cidr(Some(bad), None, None, &[], &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("which a network cannot use"), "{bad}: {err}");
        }
        let route = Ipv4Cidr::parse("192.0.2.2/24").unwrap();
        assert_eq!(
            network_cidr(Some("192.0.0.0/16"), None, None, &[route], &[])
                .unwrap_err()
                .to_string(),
            "invalid subnet 192.0.0.0/16: it overlaps the host's route to 192.0.2.0/24"
        );
        assert_eq!(
            network_cidr(Some("10.9.0.0/24"), None, Some("10.8.0.0/25"), &[], &[])
                .unwrap_err()
                .to_string(),
            "no matching subnet for range 10.8.0.0/25"
        );
        assert!(
            network_cidr(Some("10.9.0.0/24"), None, Some("10.9.0.0/25"), &[], &[])
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }
}
