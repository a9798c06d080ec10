//! Strata's HTTP surface: the Docker Engine API (unix socket, TCP). Routes translate Docker's
//! wire JSON into the engine's domain calls and back; no business logic lives here.
//!
//! Layout: [`listen`] binds `-H` addresses, [`version`] is the envelope every request goes
//! through (version prefix, common headers), [`routes`] one file per area, [`wire`] the
//! conversions to and from Docker's JSON, [`stream`] and [`hijack`] the streaming answers.

pub mod error;
pub mod extract;
pub mod hijack;
pub mod listen;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod stream;
pub mod version;
pub mod wire;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use strata_agent::Engine;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use server::ConnLimits;

/// How long in-flight requests may run on after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid listen address {addr:?}: {reason}")]
    BadAddress { addr: String, reason: String },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The whole API as one service: the envelope (version prefix, headers) around the routes.
pub fn app(engine: Engine) -> Router {
    with_envelope(routes::router(engine))
}

/// Put `inner` behind the envelope. The envelope must run before routing (it rewrites the
/// path), so the routes are the fallback service of an outer router that the layer wraps.
pub fn with_envelope(inner: Router) -> Router {
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::from_fn(version::envelope))
}

/// Serve the API on every `-H` address (`unix:///path`, `tcp://host:port`), each listener
/// within `limits`, until `shutdown` resolves. Then stop accepting, give in-flight requests a
/// short grace period, and remove the socket files.
pub async fn serve(
    engine: Engine,
    hosts: Vec<String>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if hosts.is_empty() {
        return Err(ServeError::BadAddress {
            addr: String::new(),
            reason: "no address to listen on (-H)".into(),
        });
    }
    let mut bound = Vec::with_capacity(hosts.len());
    for host in &hosts {
        bound.push(listen::bind(host).await?);
    }
    let app = app(engine);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = JoinSet::new();
    let mut socket_guards = Vec::new();
    for listener in bound {
        let stop = stop_rx.clone();
        let service = app.clone();
        match listener {
            listen::Bound::Unix(listener, guard) => {
                socket_guards.push(guard);
                servers.spawn(server::serve_listener(listener, service, limits, stop));
            }
            listen::Bound::Tcp(listener) => {
                servers.spawn(server::serve_listener(listener, service, limits, stop));
            }
        }
    }

    shutdown.await;
    tracing::info!("API: no longer accepting connections");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(result) = servers.join_next().await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "API listener task failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "API: requests still in flight after the grace period; closing them"
        );
        servers.abort_all();
    }
    drop(socket_guards);
    Ok(())
}
