//! `docker pull` (`POST /images/create?fromImage=&tag=`), `docker push`
//! (`POST /images/{name}/push?tag=`) and `docker login` (`POST /auth`).
//!
//! Pull and push answer with Docker's JSON progress stream. An error before any progress (a bad
//! reference, an unknown image, refused credentials) gets its proper status code; once output
//! has begun, a failure is the stream's last line (`errorDetail`), as dockerd does.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use strata_agent::registry::login::LoginOutcome;
use strata_agent::registry::{Credentials, ProgressEvent, ProgressSink};
use strata_agent::Engine;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::error::{error_response, ApiError, ApiResult};
use crate::extract::Params;
use crate::wire::progress::{error_line, event_line};

/// The header the Docker CLI sends credentials in.
const REGISTRY_AUTH: &str = "x-registry-auth";

/// `POST /auth`.
pub fn routes() -> Router<Engine> {
    Router::new().route("/auth", post(login))
}

/// `POST /images/create?fromImage=NAME&tag=TAG|DIGEST`.
pub async fn pull(engine: Engine, params: &Params, headers: &HeaderMap) -> ApiResult<Response> {
    let from_image = params
        .non_empty("fromImage")
        .ok_or_else(|| ApiError::BadRequest("fromImage or fromSrc is required".into()))?
        .to_string();
    let tag = params.non_empty("tag").map(str::to_string);
    let credentials = credentials(headers)?;
    let (sink, events) = ProgressSink::channel();
    let task = tokio::spawn(async move {
        engine
            .pull_image(&from_image, tag.as_deref(), &credentials, &sink)
            .await
            .map(|_| ())
    });
    progress_response(events, task).await
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    engine: Engine,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let name = name.to_string();
    let tag = params.non_empty("tag").map(str::to_string);
    let credentials = credentials(headers)?;
    let (sink, events) = ProgressSink::channel();
    let task = tokio::spawn(async move {
        engine
            .push_image(&name, tag.as_deref(), &credentials, &sink)
            .await
            .map(|_| ())
    });
    progress_response(events, task).await
}

/// `POST /auth`: 200 `{"Status":"Login Succeeded"}` or 401.
async fn login(State(engine): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let credentials = Credentials::from_json(&body)?;
    match engine.registry_login(&credentials).await? {
        LoginOutcome::Succeeded => Ok(Json(serde_json::json!({
            "Status": "Login Succeeded",
            "IdentityToken": "",
        }))
        .into_response()),
        LoginOutcome::Denied(reason) => Ok(error_response(StatusCode::UNAUTHORIZED, &reason)),
    }
}

fn credentials(headers: &HeaderMap) -> ApiResult<Credentials> {
    match headers.get(REGISTRY_AUTH) {
        None => Ok(Credentials::default()),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("X-Registry-Auth is not ASCII".into()))?;
            Ok(Credentials::from_header(text)?)
        }
    }
}

type Operation = JoinHandle<Result<(), strata_agent::EngineError>>;

/// Wait for the first progress event: an operation that fails before any answers with its
/// status code; otherwise stream the events and end with the error line, if any.
async fn progress_response(
    mut events: UnboundedReceiver<ProgressEvent>,
    task: Operation,
) -> ApiResult<Response> {
    let first = match events.recv().await {
        Some(first) => first,
        // The operation ended (its sink is gone) without saying anything.
        None => {
            finish(task).await?;
            return Ok(json_stream(Body::empty()));
        }
    };
    let head =
        futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(event_line(&first)))]);
    let rest = futures::stream::unfold(Some((events, Some(task))), |state| async move {
        let (mut events, task) = state?;
        match events.recv().await {
            Some(event) => Some((Ok(Bytes::from(event_line(&event))), Some((events, task)))),
            None => {
                let task = task?;
                match finish(task).await {
                    Ok(()) => None,
                    Err(err) => Some((Ok(Bytes::from(error_line(&err.to_string()))), None)),
                }
            }
        }
    });
    use futures::StreamExt;
    Ok(json_stream(Body::from_stream(head.chain(rest))))
}

async fn finish(task: Operation) -> ApiResult<()> {
    match task.await {
        Ok(result) => Ok(result?),
        Err(join) => Err(ApiError::Engine(strata_agent::EngineError::Internal(
            format!("registry task: {join}"),
        ))),
    }
}

fn json_stream(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
