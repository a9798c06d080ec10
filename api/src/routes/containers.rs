//! `/containers/...` except attach (see [`super::attach`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ContainerWaitExitError};
use strata_agent::containers::handles::WaitHandle;
use strata_agent::model::{ContainerListOptions, WaitCondition};
use strata_agent::Engine;

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::stream::deferred::deferred_json;
use crate::wire;

/// The container routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        // `/containers/json` and `/containers/create` shadow `/containers/{id}` for every
        // method, so a container named `json` or `create` is removed through these too.
        .route("/containers/json", get(list).delete(remove_named_json))
        .route(
            "/containers/create",
            post(create).delete(remove_named_create),
        )
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/resize", post(resize))
}

/// `POST /containers/create?name=`: 201 `{"Id": ..., "Warnings": [...]}`.
async fn create(
    State(engine): State<Engine>,
    params: Params,
    JsonBody(body): JsonBody<ContainerCreateBody>,
) -> ApiResult<Response> {
    let name = params
        .non_empty("name")
        .map(|n| n.trim_start_matches('/').to_string());
    let spec = wire::containers::spec_from_create(body);
    let created = engine.create_container(name, spec).await?;
    let answer = ContainerCreateResponse {
        id: created.id,
        warnings: created.warnings,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `POST /containers/{id}/start`: 204, or 304 when it already runs.
async fn start(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.start_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Parse the `condition` of a wait (`not-running` when absent).
pub fn wait_condition(params: &Params) -> ApiResult<WaitCondition> {
    match params.non_empty("condition") {
        None | Some("not-running") => Ok(WaitCondition::NotRunning),
        Some("next-exit") => Ok(WaitCondition::NextExit),
        Some("removed") => Ok(WaitCondition::Removed),
        Some(other) => Err(ApiError::BadRequest(format!(
            "invalid condition {other:?}: expected not-running, next-exit or removed"
        ))),
    }
}

/// The wait answer body: `{"StatusCode": N, "Error": null}`.
#[derive(serde::Serialize)]
pub struct WaitBody {
    #[serde(rename = "StatusCode")]
    pub status_code: i64,
    #[serde(rename = "Error")]
    pub error: Option<ContainerWaitExitError>,
}

/// 200 headers now, the body when `handle` resolves.
pub fn wait_response(handle: WaitHandle) -> Response {
    deferred_json(async move {
        let outcome = handle.0.await;
        WaitBody {
            status_code: outcome.status_code,
            error: outcome.error.map(|message| ContainerWaitExitError {
                message: Some(message),
            }),
        }
    })
}

/// `POST /containers/{id}/wait?condition=`: 404 before any header for an unknown id.
async fn wait(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let condition = wait_condition(&params)?;
    let handle = engine.wait_container(&id, condition).await?;
    Ok(wait_response(handle))
}

/// `POST /containers/{id}/kill?signal=`: 204.
async fn kill(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine
        .kill_container(&id, params.non_empty("signal"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/stop?t=`: 204, or 304 when it is not running.
async fn stop(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let timeout = params.seconds("t", "stop timeout")?;
    engine.stop_container(&id, timeout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/resize?h=&w=`: 200.
async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine
        .resize_container(&id, params.tty_dimension("h")?, params.tty_dimension("w")?)
        .await?;
    Ok(StatusCode::OK)
}

/// `GET /containers/json?all=&filters=`.
async fn list(State(engine): State<Engine>, params: Params) -> ApiResult<Response> {
    let opts = ContainerListOptions {
        all: params.flag("all"),
        filters: wire::filters::parse(params.get("filters"))?,
    };
    let containers = engine.list_containers(opts).await?;
    let wire: Vec<_> = containers.iter().map(wire::containers::summary).collect();
    Ok(Json(wire).into_response())
}

/// `GET /containers/{id}/json`.
async fn inspect(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let details = engine.inspect_container(&id).await?;
    let mut doc = serde_json::to_value(wire::containers::inspect(&details)).map_err(|e| {
        strata_agent::EngineError::Internal(format!("encoding inspect of {id}: {e}"))
    })?;
    wire::network_settings::add_top_level_fields(&mut doc, &details.network_settings);
    Ok(Json(doc).into_response())
}

/// `DELETE /containers/{id}?force=&v=`: 204.
async fn remove(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    remove_by_name(&engine, &id, &params).await
}

async fn remove_named_json(State(engine): State<Engine>, params: Params) -> ApiResult<StatusCode> {
    remove_by_name(&engine, "json", &params).await
}

async fn remove_named_create(
    State(engine): State<Engine>,
    params: Params,
) -> ApiResult<StatusCode> {
    remove_by_name(&engine, "create", &params).await
}

async fn remove_by_name(engine: &Engine, id: &str, params: &Params) -> ApiResult<StatusCode> {
    engine
        .remove_container(id, params.flag("force"), params.flag("v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
