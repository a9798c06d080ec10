//! `/networks`: `docker network ls` and `docker network inspect` of the built-in networks
//! (`bridge`, `host`, `none`). Creating user-defined networks is not offered yet.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::wire;

/// The network routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/{id}", get(inspect))
}

/// `GET /networks`.
async fn list(State(engine): State<Engine>) -> ApiResult<Json<Vec<Value>>> {
    let networks = engine.networks().await?;
    Ok(Json(
        networks
            .iter()
            .map(wire::network_settings::network)
            .collect(),
    ))
}

/// `GET /networks/{id}`: 404 `network X not found` for anything else (the CLI's `inspect`
/// falls through to volumes on it).
async fn inspect(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let network = engine.network(&id).await?;
    Ok(Json(wire::network_settings::network(&network)))
}
