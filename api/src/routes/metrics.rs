//! `GET /metrics`: every Prometheus series of the engine in the text exposition format, on the
//! API socket and on the `--metrics-addr` listener.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use strata_agent::metrics::TEXT_CONTENT_TYPE;
use strata_agent::Engine;

use crate::error::ApiResult;

/// The `/metrics` route.
pub fn routes() -> Router<Engine> {
    Router::new().route("/metrics", get(metrics))
}

/// The text exposition of every series, gauges read now.
pub async fn metrics(State(engine): State<Engine>) -> ApiResult<Response> {
    let text = engine.metrics_text().await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TEXT_CONTENT_TYPE),
    );
    Ok(response)
}
