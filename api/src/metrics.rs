//! Request metrics and the separate metrics listener.
//!
//! [`track_requests`] is a route layer: it runs after routing, so it labels each request with
//! the matched route *template* (`/containers/{id}/json`), never a raw path with ids in it.
//! [`spawn_listener`] serves only `GET /metrics` on a plain TCP address (`--metrics-addr`,
//! dockerd's flag and default `127.0.0.1:9323`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use strata_agent::Engine;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ServeError;

/// Record `strata_api_requests_total{route,method,status}` and
/// `strata_api_request_duration_seconds{route,method}` for one request.
pub async fn track_requests(State(engine): State<Engine>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    engine.metrics().observe_api_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The app of the metrics listener: `/metrics` only.
pub fn metrics_app(engine: Engine) -> Router {
    crate::routes::metrics::routes()
        .route_layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            track_requests,
        ))
        .with_state(engine)
}

/// Bind `addr` (`host:port`) and serve [`metrics_app`] there, within `limits`, until the
/// returned task is aborted. Binding happens before this returns, so a busy port is reported at start.
pub async fn spawn_listener(
    engine: Engine,
    addr: &str,
    limits: crate::ConnLimits,
) -> Result<JoinHandle<()>, ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    })?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "metrics listening beyond loopback");
    }
    tracing::info!(%local, "metrics listening");
    let app = metrics_app(engine);
    Ok(tokio::spawn(async move {
        // Served until the task is aborted: the stop signal never fires.
        let (_never, stop) = tokio::sync::watch::channel(false);
        crate::server::serve_listener(listener, app, limits, stop).await
    }))
}
