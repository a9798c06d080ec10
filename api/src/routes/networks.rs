//! `/networks`: `docker network ls/inspect/create/rm/prune/connect/disconnect`, for the
//! predefined networks (`bridge`, `host`, `none`) and user-defined bridge networks.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
};
use serde_json::{json, Value};
use strata_agent::network::listing::matches_filters;
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::extract::{parse_json, Params};
use crate::wire;

/// The network routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

/// `GET /networks?filters=` (`name`, `id`, `driver`, `type`, `label`).
async fn list(State(engine): State<Engine>, params: Params) -> ApiResult<Json<Vec<Value>>> {
    let filters = wire::filters::parse(params.get("filters"))?;
    let mut out = Vec::new();
    for n in engine.networks().await? {
        if matches_filters(&n, &filters)? {
            out.push(wire::network_settings::network(&n));
        }
    }
    Ok(Json(out))
}

/// `GET /networks/{id}`: 404 `network X not found` for anything else (the CLI's `inspect`
/// falls through to volumes on it).
async fn inspect(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let network = engine.network(&id).await?;
    Ok(Json(wire::network_settings::network(&network)))
}

/// `POST /networks/create`: 201 `{"Id", "Warning"}`; 409 for a name in use.
async fn create(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let request: NetworkCreateRequest = parse_json(&body)?;
    let id = engine
        .create_network(wire::network_endpoints::network_create(request))
        .await?;
    let answer = NetworkCreateResponse {
        id,
        warning: String::new(),
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /networks/{id}`: 204; 409 while containers are attached or for a predefined one.
async fn remove(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.remove_network(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune`: `{"NetworksDeleted": [names]}`.
async fn prune(State(engine): State<Engine>) -> ApiResult<Json<Value>> {
    let removed = engine.prune_networks().await?;
    Ok(Json(json!({ "NetworksDeleted": removed })))
}

/// `POST /networks/{id}/connect`: 200.
async fn connect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: NetworkConnectRequest = parse_json(&body)?;
    let endpoint =
        wire::network_endpoints::endpoint_request(request.endpoint_config.unwrap_or_default());
    engine
        .connect_network(&id, &request.container, endpoint)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`: 200.
async fn disconnect(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: NetworkDisconnectRequest = parse_json(&body)?;
    engine.disconnect_network(&id, &request.container).await?;
    Ok(StatusCode::OK)
}
