//! Container lifecycle routes beyond create/start/stop/kill: `logs`, `pause`, `unpause`,
//! `restart`, `rename`, `top` and `container prune`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use strata_agent::containers::logs::{parse_log_time, parse_tail, LogOptions};
use strata_agent::Engine;

use crate::error::ApiResult;
use crate::extract::Params;
use crate::{hijack, wire};

/// The lifecycle routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/prune", post(prune))
}

/// `GET /containers/{id}/logs?follow=&stdout=&stderr=&since=&until=&timestamps=&tail=`:
/// a streamed 200, multiplexed without a tty, raw with one.
async fn logs(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let opts = LogOptions {
        follow: params.flag("follow"),
        stdout: params.flag("stdout"),
        stderr: params.flag("stderr"),
        since: params
            .get("since")
            .map(parse_log_time)
            .transpose()?
            .flatten(),
        until: params
            .get("until")
            .map(parse_log_time)
            .transpose()?
            .flatten(),
        timestamps: params.flag("timestamps"),
        tail: parse_tail(params.get("tail"))?,
    };
    let output = engine.container_logs(&id, opts).await?;
    Ok(hijack::output_only_response(output))
}

/// `POST /containers/{id}/pause`: 204.
async fn pause(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.pause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`: 204.
async fn unpause(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.unpause_container(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/restart?t=`: 204.
async fn restart(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    let timeout = params.seconds("t", "restart timeout")?;
    engine.restart_container(&id, timeout).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=NEW`: 204.
async fn rename(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine
        .rename_container(&id, params.get("name").unwrap_or_default())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct TopBody {
    #[serde(rename = "Titles")]
    titles: Vec<String>,
    #[serde(rename = "Processes")]
    processes: Vec<Vec<String>>,
}

/// `GET /containers/{id}/top?ps_args=`.
async fn top(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let out = engine.top_container(&id, params.get("ps_args")).await?;
    Ok(Json(TopBody {
        titles: out.titles,
        processes: out.processes,
    })
    .into_response())
}

#[derive(Serialize)]
struct PruneBody {
    #[serde(rename = "ContainersDeleted")]
    deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    space_reclaimed: u64,
}

/// `POST /containers/prune?filters=`.
async fn prune(State(engine): State<Engine>, params: Params) -> ApiResult<Response> {
    let filters = wire::filters::parse(params.get("filters"))?;
    let report = engine.prune_containers(&filters).await?;
    Ok(Json(PruneBody {
        deleted: report.deleted,
        space_reclaimed: report.space_reclaimed,
    })
    .into_response())
}
