//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like attach,
//! or detached), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard_stubs::models::{ExecConfig, ExecStartConfig};
use strata_agent::Engine;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, JsonBody, Params};
use crate::{hijack, wire};

/// Largest exec start body accepted (it is a small JSON object).
const START_BODY_LIMIT: usize = 64 * 1024;

/// The exec routes.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

/// 201 `{"Id": ...}`.
async fn create(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ExecConfig>,
) -> ApiResult<Response> {
    let exec_id = engine
        .create_exec(&id, wire::exec::spec_from_config(body))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "Id": exec_id })),
    )
        .into_response())
}

/// Hijack (or stream) the exec's stdio; with `Detach`, 200 at once.
async fn start(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), START_BODY_LIMIT)
        .await
        .map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))?;
    let config: ExecStartConfig = if body.iter().all(u8::is_ascii_whitespace) {
        ExecStartConfig::default()
    } else {
        parse_json(&body)?
    };
    let detach = config.detach.unwrap_or(false);
    let attachment = engine.start_exec(&id, detach).await?;
    if let Some([h, w]) = config
        .console_size
        .as_deref()
        .map(|s| [s.first(), s.get(1)])
    {
        if let (Some(&h), Some(&w)) = (h, w) {
            let (h, w) = (u16::try_from(h).unwrap_or(0), u16::try_from(w).unwrap_or(0));
            if h > 0 && w > 0 {
                if let Err(e) = engine.resize_exec(&id, h, w).await {
                    tracing::debug!(exec = %id, error = %e, "initial exec console size");
                }
            }
        }
    }
    if detach {
        return Ok(StatusCode::OK.into_response());
    }
    if hijack::wants_upgrade(&req) {
        Ok(hijack::upgrade_and_pipe(&mut req, attachment, id))
    } else {
        Ok(hijack::output_only_response(attachment))
    }
}

/// `GET /exec/{id}/json`.
async fn inspect(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let details = engine.inspect_exec(&id).await?;
    Ok(Json(wire::exec::inspect(&details)).into_response())
}

/// `POST /exec/{id}/resize?h=&w=`: 200.
async fn resize(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    engine
        .resize_exec(&id, params.tty_dimension("h")?, params.tty_dimension("w")?)
        .await?;
    Ok(StatusCode::OK)
}
