//! Serving one listener's connections: HTTP/1.1 with upgrades (attach and exec hijack the
//! connection), a header read timeout, a cap on concurrent connections, graceful shutdown.
//!
//! The header timeout is hyper's: its clock runs whenever the connection waits for a request
//! head (a new connection, or a keep-alive one after its last response) and stops when the head
//! is complete, so it bounds both half-sent heads (slowloris) and idle keep-alive connections,
//! and never applies while a response streams (`logs -f`, `events`, `wait`) or after a hijack.
//! Over the connection cap the listener stops accepting: new connections wait in the kernel's
//! accept queue until a slot frees (a stalled one times out) instead of being refused, so a
//! well-behaved client is served late rather than not at all, and memory and descriptors stay
//! bounded. A hijacked stream no longer holds a slot (hyper hands the socket over).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Default of `--http-header-timeout`: far more than any real client needs to send a request
/// head (the docker CLI sends it in one write), short enough that stalled connections free
/// their slots quickly: with 3000 of them against a cap of 1024, a normal request waits behind
/// up to two rounds of this.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `--max-connections` (per listener).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Limits on each listener's connections (`strata serve` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// How long a request head may take to arrive whole, counted from when the connection is
    /// ready for one (see the module docs); the connection is closed after it.
    pub header_timeout: Duration,
    /// Most connections one listener serves at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A listener of either kind.
pub trait Accept: Send + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept_io(&self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

impl Accept for UnixListener {
    type Io = tokio::net::UnixStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        self.accept().await.map(|(io, _)| io)
    }
}

impl Accept for TcpListener {
    type Io = tokio::net::TcpStream;
    async fn accept_io(&self) -> io::Result<Self::Io> {
        let (io, _) = self.accept().await?;
        // Small interactive writes (attach) must not wait for Nagle.
        io.set_nodelay(true)?;
        Ok(io)
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Serve `app` on `listener` within `limits` until `stop` turns true; then stop accepting, let
/// each connection finish its in-flight request (idle ones close at once) and return when all
/// have ended. Dropping the returned future (aborting its task) closes every connection.
pub async fn serve_listener<L: Accept>(
    listener: L,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        // A free slot first: over the cap, new connections stay in the accept queue.
        let slot = tokio::select! {
            _ = stopped(&mut stop) => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let io = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept_io() => match accepted {
                Ok(io) => io,
                Err(err) => {
                    // Out of descriptors, a connection reset before accept: not fatal.
                    tracing::warn!(error = %err, "API: accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let mut stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let conn = builder
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                _ = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                // Header timeouts and clients that hang up land here: routine, not warnings.
                tracing::debug!(error = %err, "API connection ended with an error");
            }
        });
    }
    while connections.join_next().await.is_some() {}
}
