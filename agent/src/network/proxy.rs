//! The userland proxy (what docker-proxy does): for each published port a listener on the host
//! that relays to the container's address. Listeners live as long as the container runs: they
//! are bound before the container starts (a taken port fails the start) and closed when it stops.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::network::endpoints::BoundPort;
use crate::network::error::NetworkError;
use crate::network::ports::PortRequest;

/// How long a UDP client's relay socket lives without traffic.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// The running proxies of one container; dropping it (or [`ProxySet::close`]) stops them.
pub(crate) struct ProxySet {
    cancel: CancellationToken,
}

impl ProxySet {
    pub fn close(&self) {
        self.cancel.cancel();
    }
}

impl Drop for ProxySet {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind_error(host_ip: &str, host_port: u16, e: std::io::Error) -> NetworkError {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        NetworkError::PortAllocated {
            host_ip: host_ip.to_string(),
            host_port,
        }
    } else {
        NetworkError::Bind {
            host_ip: host_ip.to_string(),
            host_port,
            source: e,
        }
    }
}

/// Bind every requested port (all or nothing), then start relaying to `target`.
pub(crate) async fn start(
    requests: &[PortRequest],
    target: Ipv4Addr,
) -> Result<(Vec<BoundPort>, ProxySet), NetworkError> {
    let mut bound = Vec::new();
    for r in requests {
        let ip: Ipv4Addr = r.host_ip.parse().map_err(|_| {
            NetworkError::InvalidRequest(format!("invalid host IP {:?}", r.host_ip))
        })?;
        let addr = SocketAddrV4::new(ip, r.host_port);
        let (socket, port) = match r.proto.as_str() {
            "udp" => {
                let s = UdpSocket::bind(addr)
                    .await
                    .map_err(|e| bind_error(&r.host_ip, r.host_port, e))?;
                let port = s
                    .local_addr()
                    .map_err(|e| NetworkError::io("reading a bound port", e))?
                    .port();
                (Bound::Udp(s), port)
            }
            _ => {
                let l = TcpListener::bind(addr)
                    .await
                    .map_err(|e| bind_error(&r.host_ip, r.host_port, e))?;
                let port = l
                    .local_addr()
                    .map_err(|e| NetworkError::io("reading a bound port", e))?
                    .port();
                (Bound::Tcp(l), port)
            }
        };
        let info = BoundPort {
            proto: r.proto.clone(),
            container_port: r.container_port,
            host_ip: r.host_ip.clone(),
            host_port: port,
        };
        bound.push((info, socket));
    }
    let cancel = CancellationToken::new();
    let mut infos = Vec::new();
    for (info, socket) in bound {
        let to = SocketAddr::V4(SocketAddrV4::new(target, info.container_port));
        match socket {
            Bound::Tcp(l) => {
                tokio::spawn(relay_tcp(l, to, cancel.clone()));
            }
            Bound::Udp(s) => {
                tokio::spawn(relay_udp(Arc::new(s), to, cancel.clone()));
            }
        }
        infos.push(info);
    }
    Ok((infos, ProxySet { cancel }))
}

async fn relay_tcp(listener: TcpListener, to: SocketAddr, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (mut client, from) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                warn!(target_addr = %to, error = %e, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut upstream = match TcpStream::connect(to).await {
                Ok(s) => s,
                Err(e) => {
                    debug!(client = %from, target_addr = %to, error = %e, "proxy cannot reach the container");
                    return;
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                    if let Err(e) = r {
                        debug!(client = %from, target_addr = %to, error = %e, "proxied connection ended");
                    }
                }
            }
        });
    }
}

async fn relay_udp(socket: Arc<UdpSocket>, to: SocketAddr, cancel: CancellationToken) {
    let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, from) = match received {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "udp proxy receive failed");
                continue;
            }
        };
        clients.retain(|_, s| Arc::strong_count(s) > 1);
        let upstream = match clients.get(&from) {
            Some(s) => s.clone(),
            None => {
                let s = match UdpSocket::bind("0.0.0.0:0").await {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        warn!(error = %e, "udp proxy cannot open a relay socket");
                        continue;
                    }
                };
                if let Err(e) = s.connect(to).await {
                    debug!(error = %e, target_addr = %to, "udp proxy connect failed");
                    continue;
                }
                clients.insert(from, s.clone());
                tokio::spawn(udp_replies(s.clone(), socket.clone(), from, cancel.clone()));
                s
            }
        };
        if let Err(e) = upstream.send(&buf[..n]).await {
            debug!(error = %e, target_addr = %to, "udp proxy send failed");
        }
    }
}

/// Relay the container's answers to one UDP client until idle.
async fn udp_replies(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    cancel: CancellationToken,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let got = tokio::select! {
            _ = cancel.cancelled() => return,
            r = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)) => r,
        };
        match got {
            Ok(Ok(n)) => {
                let _ = front.send_to(&buf[..n], client).await;
            }
            _ => return,
        }
    }
}
