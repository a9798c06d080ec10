//! `/volumes`: `docker volume create/ls/inspect/rm/prune`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::extract::{parse_json, Params};
use crate::wire;
use crate::wire::volumes::{VolumeCreate, VolumeList, VolumePrune};

/// The volume routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

/// `GET /volumes?filters=`.
async fn list(State(engine): State<Engine>, params: Params) -> ApiResult<Json<VolumeList>> {
    let filters = wire::filters::parse(params.get("filters"))?;
    let volumes = engine.list_volumes(filters).await?;
    Ok(Json(VolumeList {
        volumes: volumes.iter().map(wire::volumes::volume).collect(),
        warnings: Vec::new(),
    }))
}

/// `POST /volumes/create`: 201 with the volume (an empty body makes an anonymous-named one).
async fn create(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let request: VolumeCreate = if body.iter().all(u8::is_ascii_whitespace) {
        VolumeCreate::default()
    } else {
        parse_json(&body)?
    };
    let volume = engine
        .create_volume(wire::volumes::create_spec(request))
        .await?;
    Ok((StatusCode::CREATED, Json(wire::volumes::volume(&volume))).into_response())
}

/// `GET /volumes/{name}`.
async fn inspect(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> ApiResult<Json<wire::volumes::Volume>> {
    let volume = engine.inspect_volume(&name).await?;
    Ok(Json(wire::volumes::volume(&volume)))
}

/// `DELETE /volumes/{name}?force=`: 204; 409 while in use.
async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine.remove_volume(&name, params.flag("force")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune?filters=`.
async fn prune(State(engine): State<Engine>, params: Params) -> ApiResult<Json<VolumePrune>> {
    let filters = wire::filters::parse(params.get("filters"))?;
    let report = engine.prune_volumes(filters).await?;
    Ok(Json(VolumePrune {
        volumes_deleted: report.deleted,
        space_reclaimed: report.space_reclaimed,
    }))
}
