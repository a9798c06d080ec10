//! Strata's HTTP surface: the Docker Engine API (unix socket, TCP). Routes translate Docker's
//! wire JSON into the engine's domain calls and back; no business logic lives here.
//! (Skeleton: filled in by the API work.)

use std::future::Future;

use strata_agent::Engine;

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

/// Serve the API on every `-H` address (`unix:///path`, `tcp://host:port`) until `shutdown`
/// resolves.
pub async fn serve(
    _engine: Engine,
    _hosts: Vec<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    shutdown.await;
    Ok(())
}
