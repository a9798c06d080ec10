//! The embedded DNS responder of one user-defined network: UDP and TCP port 53 on the network's
//! gateway address (in the host namespace). It answers A queries for the names of the containers
//! attached to that network (container name, `--network-alias`es, short id), read from the
//! endpoint records at each query so changes are live; AAAA for a known name gets an empty
//! NOERROR. Other names with a dot go to the host's resolv.conf name servers; without one the
//! answer is REFUSED; single-label names that are not known are NXDOMAIN.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::network::dns_wire::{self, Query};
use crate::network::endpoints::Endpoint;
use crate::network::error::NetworkError;

/// One container's names and address on a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub names: Vec<String>,
    pub address: Ipv4Addr,
}

impl From<&Endpoint> for Record {
    fn from(e: &Endpoint) -> Self {
        Record {
            names: e.dns_names.clone(),
            address: e.address,
        }
    }
}

/// The records of every network, by network id.
#[derive(Clone, Default)]
pub(crate) struct Records(Arc<RwLock<HashMap<String, Vec<Record>>>>);

impl Records {
    /// Replace network `network`'s records.
    pub fn set(&self, network: &str, records: Vec<Record>) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.insert(network.to_string(), records);
    }

    /// Forget network `network`.
    pub fn forget(&self, network: &str) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.remove(network);
    }

    /// Addresses of the members of `network` answering to `name` (case-insensitive).
    pub fn lookup(&self, network: &str, name: &str) -> Vec<Ipv4Addr> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(network)
            .map(|list| {
                list.iter()
                    .filter(|r| r.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
                    .map(|r| r.address)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How long a forwarded query may wait for the upstream server.
const UPSTREAM_WAIT: Duration = Duration::from_secs(3);
/// How long a TCP client may take to send its query.
const TCP_WAIT: Duration = Duration::from_secs(5);

/// A running responder; stopped by [`DnsServer::stop`] or when dropped.
pub(crate) struct DnsServer {
    cancel: CancellationToken,
    /// The responder's own thread (a single-threaded runtime), so answers never wait behind
    /// the engine's work.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    /// Bind `gateway:53` (UDP and TCP) and answer for network `network` (its id) from
    /// `records`, on a thread of its own.
    pub async fn start(
        records: Records,
        network: String,
        gateway: Ipv4Addr,
    ) -> Result<DnsServer, NetworkError> {
        let cancel = CancellationToken::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let token = cancel.clone();
        let thread = std::thread::Builder::new()
            .name(format!("dns-{}", &network[..network.len().min(8)]))
            .spawn(move || run(records, network, gateway, token, ready_tx))
            .map_err(|e| NetworkError::io("starting the DNS thread", e))?;
        let server = DnsServer {
            cancel,
            thread: Some(thread),
        };
        match ready_rx.await {
            Ok(Ok(())) => Ok(server),
            Ok(Err(e)) => {
                server.stop().await;
                Err(e)
            }
            Err(_) => {
                server.stop().await;
                Err(NetworkError::InvalidConfig(
                    "the DNS thread ended before it was ready".into(),
                ))
            }
        }
    }

    /// Stop answering; returns once the sockets are closed (so the address can be bound again).
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            let joined = tokio::task::spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                debug!("the dns thread did not end cleanly");
            }
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The responder thread: bind, report readiness, serve until cancelled.
fn run(
    records: Records,
    network: String,
    gateway: Ipv4Addr,
    cancel: CancellationToken,
    ready: tokio::sync::oneshot::Sender<Result<(), NetworkError>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(NetworkError::io("building the DNS runtime", e)));
            return;
        }
    };
    runtime.block_on(async move {
        let bind_error = |e| NetworkError::Bind {
            host_ip: gateway.to_string(),
            host_port: 53,
            source: e,
        };
        let address = SocketAddrV4::new(gateway, 53);
        let bound = async {
            let socket = UdpSocket::bind(address).await.map_err(bind_error)?;
            let listener = TcpListener::bind(address).await.map_err(bind_error)?;
            Ok::<_, NetworkError>((socket, listener))
        }
        .await;
        let (socket, listener) = match bound {
            Ok(pair) => pair,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let upstreams = upstream_servers(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            gateway,
        );
        let ctx = Arc::new(Context {
            records,
            network,
            socket,
            upstreams,
        });
        info!(network = %ctx.network, address = %gateway, upstreams = ctx.upstreams.len(), "embedded DNS listening");
        let _ = ready.send(Ok(()));
        let tcp = tokio::spawn(serve_tcp(ctx.clone(), listener, cancel.clone()));
        serve(ctx, cancel).await;
        let _ = tcp.await;
    });
}

struct Context {
    records: Records,
    network: String,
    socket: UdpSocket,
    upstreams: Vec<Ipv4Addr>,
}

/// IPv4 `nameserver`s of a resolv.conf text, except `own` (our own responder).
pub(crate) fn upstream_servers(resolv_conf: &str, own: Ipv4Addr) -> Vec<Ipv4Addr> {
    resolv_conf
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .filter(|ip| *ip != own)
        .collect()
}

async fn serve(ctx: Arc<Context>, cancel: CancellationToken) {
    let mut buf = vec![0u8; 4096];
    loop {
        let received = tokio::select! {
            _ = cancel.cancelled() => return,
            r = ctx.socket.recv_from(&mut buf) => r,
        };
        let (n, client) = match received {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "dns receive failed");
                continue;
            }
        };
        let packet = buf[..n].to_vec();
        let ctx = ctx.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = answer(&ctx, &packet, client) => {}
            }
        });
    }
}

/// Accept TCP clients (length-prefixed messages, RFC 1035 4.2.2), one query per read.
async fn serve_tcp(ctx: Arc<Context>, listener: TcpListener, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, client) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                debug!(error = %e, "dns accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                r = tcp_client(&ctx, stream, client) => {
                    if let Err(e) = r {
                        debug!(client = %client, error = %e, "dns tcp client ended");
                    }
                }
            }
        });
    }
}

async fn tcp_client(
    ctx: &Context,
    mut stream: TcpStream,
    client: SocketAddr,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_WAIT, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            // Closed or idle: done.
            _ => return Ok(()),
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tokio::time::timeout(TCP_WAIT, stream.read_exact(&mut packet))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "query body"))??;
        let Some(reply) = reply_to(ctx, &packet, client).await else {
            return Ok(());
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            return Ok(());
        };
        stream.write_all(&n.to_be_bytes()).await?;
        stream.write_all(&reply).await?;
    }
}

async fn answer(ctx: &Context, packet: &[u8], client: SocketAddr) {
    if let Some(reply) = reply_to(ctx, packet, client).await {
        if let Err(e) = ctx.socket.send_to(&reply, client).await {
            debug!(client = %client, error = %e, "dns reply not sent");
        }
    }
}

/// The reply to one query packet (`None`: do not answer).
async fn reply_to(ctx: &Context, packet: &[u8], client: SocketAddr) -> Option<Vec<u8>> {
    match dns_wire::parse_query(packet) {
        Ok(q) => {
            let reply = respond(ctx, &q, packet).await;
            debug!(client = %client, name = %q.name, qtype = q.qtype, rcode = reply.as_ref().and_then(|r| r.get(3)).map(|b| b & 0x0f), "dns query answered");
            reply
        }
        Err(e) => {
            debug!(client = %client, error = %e, "malformed dns query");
            dns_wire::error_reply(packet, dns_wire::FORMERR)
        }
    }
}

async fn respond(ctx: &Context, q: &Query, packet: &[u8]) -> Option<Vec<u8>> {
    if q.opcode() != 0 {
        return Some(dns_wire::reply(q, dns_wire::NOTIMP, &[]));
    }
    let known = ctx.records.lookup(&ctx.network, &q.name);
    if !known.is_empty() {
        let is_a = q.qclass == dns_wire::CLASS_IN
            && (q.qtype == dns_wire::TYPE_A || q.qtype == dns_wire::TYPE_ANY);
        let addresses = if is_a { known } else { Vec::new() };
        return Some(dns_wire::reply(q, dns_wire::NOERROR, &addresses));
    }
    if !q.name.contains('.') {
        return Some(dns_wire::reply(q, dns_wire::NXDOMAIN, &[]));
    }
    if ctx.upstreams.is_empty() {
        return Some(dns_wire::reply(q, dns_wire::REFUSED, &[]));
    }
    for upstream in &ctx.upstreams {
        match forward(*upstream, packet).await {
            Ok(reply) => return Some(reply),
            Err(e) => {
                debug!(name = %q.name, upstream = %upstream, error = %e, "forwarding a dns query")
            }
        }
    }
    Some(dns_wire::reply(q, dns_wire::SERVFAIL, &[]))
}

/// Send `packet` to `upstream:53` and return its reply.
async fn forward(upstream: Ipv4Addr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let socket = UdpSocket::bind("0.0.0.0:0").await?;
    socket.connect(SocketAddrV4::new(upstream, 53)).await?;
    socket.send(packet).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(UPSTREAM_WAIT, socket.recv(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_answer_names_case_insensitively_per_network() {
        let records = Records::default();
        let ip = Ipv4Addr::new(10, 9, 0, 2);
        records.set(
            "n1",
            vec![Record {
                names: vec!["web".into(), "www".into()],
                address: ip,
            }],
        );
        assert_eq!(records.lookup("n1", "WWW"), vec![ip]);
        assert!(records.lookup("n2", "web").is_empty());
        assert!(records.lookup("n1", "db").is_empty());
        records.forget("n1");
        assert!(records.lookup("n1", "web").is_empty());
    }

    #[test]
    fn upstreams_come_from_resolv_conf_without_ourselves() {
        let text = "search example.org\nnameserver 10.255.255.53\nnameserver ::1\n# nameserver 1.1.1.1\nnameserver 10.9.0.1\n";
        assert_eq!(
            upstream_servers(text, Ipv4Addr::new(10, 9, 0, 1)),
            vec![Ipv4Addr::new(10, 255, 255, 53)]
        );
    }
}
