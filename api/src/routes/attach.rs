//! `POST /containers/{id}/attach`: hijack the connection (see [`crate::hijack`]).

use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use strata_agent::model::AttachOptions;
use strata_agent::Engine;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::hijack;
use crate::stream::detach::{parse_detach_keys, DEFAULT_DETACH_KEYS};

/// The attach route.
pub fn routes() -> Router<Engine> {
    Router::new().route("/containers/{id}/attach", post(attach))
}

/// Attach options from Docker's query (`stdin=1&stdout=1&stderr=1&stream=1&logs=0`).
pub fn attach_options(params: &Params) -> AttachOptions {
    AttachOptions {
        stdin: params.flag("stdin"),
        stdout: params.flag("stdout"),
        stderr: params.flag("stderr"),
        stream: params.flag("stream"),
        logs: params.flag("logs"),
    }
}

/// The `detachKeys` sequence (Docker's `ctrl-p,ctrl-q` when absent); 400 as dockerd when it
/// names a key that does not exist.
pub fn detach_keys(params: &Params) -> ApiResult<Vec<u8>> {
    match params.non_empty("detachKeys") {
        None => Ok(DEFAULT_DETACH_KEYS.to_vec()),
        Some(spec) => parse_detach_keys(spec)
            .map_err(|_| ApiError::BadRequest(format!("Invalid detach keys ({spec}) provided"))),
    }
}

/// Errors (no such container, bad detach keys) are answered before the upgrade, as plain JSON
/// errors.
async fn attach(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    params: Params,
    mut req: Request,
) -> ApiResult<Response> {
    let opts = attach_options(&params);
    let keys = detach_keys(&params)?;
    let upgrade = hijack::wants_upgrade(&req);
    let attachment = engine.attach_container(&id, opts).await?;
    if upgrade {
        Ok(hijack::upgrade_and_pipe_detachable(
            &mut req, attachment, id, keys,
        ))
    } else {
        Ok(hijack::output_only_response(attachment))
    }
}
