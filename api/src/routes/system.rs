//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::wire;

/// Routes that need no engine (usable in tests without one).
pub fn stateless_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // axum answers HEAD for GET routes itself (headers, no body).
    Router::new().route("/_ping", get(ping))
}

/// Routes that read the engine.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/version", get(version))
        .route("/info", get(info))
}

/// `GET|HEAD /_ping`: `OK`, plus the headers the CLI negotiates with (`API-Version` comes from
/// the envelope, as on every response).
pub async fn ping() -> Response {
    let mut response = "OK".into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn version(State(engine): State<Engine>) -> Json<bollard_stubs::models::SystemVersion> {
    Json(wire::system::version(&engine.version()))
}

async fn info(State(engine): State<Engine>) -> ApiResult<Json<bollard_stubs::models::SystemInfo>> {
    let info = engine.system_info().await?;
    Ok(Json(wire::system::info(&info)))
}
