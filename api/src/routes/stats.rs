//! `GET /containers/{id}/stats?stream=0|1&one-shot=0|1` (`docker stats`).
//!
//! `stream=1` (Docker's default) sends one JSON document per second, each with the previous
//! sample as `precpu_stats`, until the container stops or the client goes. `stream=0` answers
//! once: after a second sample (so the CLI can compute a CPU percentage), or at once with
//! `one-shot=1`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use strata_agent::containers::stats::ContainerStats;
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::extract::Params;
use crate::wire;

/// Time between two samples, as dockerd's collector.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The stats route.
pub fn routes() -> Router<Engine> {
    Router::new().route("/containers/{id}/stats", get(stats))
}

async fn stats(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let stream = params.get("stream").is_none() || params.flag("stream");
    let first = engine.container_stats(&id).await?;
    if !stream {
        if params.flag("one-shot") || !first.running {
            return Ok(Json(wire::stats::stats(&first, None)).into_response());
        }
        tokio::time::sleep(SAMPLE_INTERVAL).await;
        let second = engine.container_stats(&id).await?;
        return Ok(Json(wire::stats::stats(&second, Some(&first))).into_response());
    }
    let body = futures::stream::unfold(
        Some((engine, id, first, None::<ContainerStats>)),
        |state| async move {
            let (engine, id, now, previous) = state?;
            let line = encode(&now, previous.as_ref());
            if !now.running {
                // The last document: the container stopped.
                return Some((Ok::<Bytes, std::io::Error>(line), None));
            }
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            let next = match engine.container_stats(&id).await {
                Ok(next) => Some((engine, id, next, Some(now))),
                Err(e) => {
                    tracing::debug!(%id, error = %e, "stats stream ends");
                    None
                }
            };
            Some((Ok(line), next))
        },
    );
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn encode(now: &ContainerStats, previous: Option<&ContainerStats>) -> Bytes {
    let mut line = serde_json::to_vec(&wire::stats::stats(now, previous)).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
