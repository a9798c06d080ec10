//! Images from containers and archives: `POST /commit`, `GET /containers/{id}/export`, and the
//! handlers `images.rs` dispatches to for `docker save` (`GET /images/get`,
//! `GET /images/{name}/get`) and `docker import` (`POST /images/create?fromSrc=`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use strata_agent::images::spool::SpooledArchive;
use strata_agent::images::transfer_options::{CommitOptions, ImportOptions};
use strata_agent::Engine;
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::stream::upload::stream_body;

/// The commit and export routes (save and import go through the `/images/{*rest}` dispatch).
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/commit", post(commit))
        .route("/containers/{id}/export", get(export))
}

/// Every value given for `key` (`changes` and `names` repeat).
fn all_values(params: &Params, key: &str) -> Vec<String> {
    params
        .0
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .collect()
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`: 201 `{"Id": ...}`.
/// `pause` defaults to true when absent, as dockerd does.
async fn commit(State(engine): State<Engine>, params: Params) -> ApiResult<Response> {
    let container = params.get("container").unwrap_or_default();
    let opts = CommitOptions {
        repo: params.non_empty("repo").map(str::to_string),
        tag: params.non_empty("tag").map(str::to_string),
        comment: params.get("comment").unwrap_or_default().to_string(),
        author: params.get("author").unwrap_or_default().to_string(),
        changes: all_values(&params, "changes"),
        pause: params.get("pause").is_none_or(|_| params.flag("pause")),
    };
    let id = engine.commit_container(container, opts).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))).into_response())
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar.
async fn export(State(engine): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let archive = engine.export_container(&id).await?;
    Ok(tar_response(archive))
}

/// `GET /images/get?names=...` and `GET /images/{name}/get`: a docker-archive tar.
pub async fn save(engine: Engine, names: Vec<String>) -> ApiResult<Response> {
    let archive = engine.save_images(names).await?;
    Ok(tar_response(archive))
}

/// The `names` of `GET /images/get`.
pub fn save_names(params: &Params) -> Vec<String> {
    all_values(params, "names")
}

/// `POST /images/create?fromSrc=-&repo=&tag=&message=&changes=`: the body is the tar. A URL
/// source is refused: Strata does not download.
pub async fn import(engine: Engine, params: &Params, body: Body) -> ApiResult<Response> {
    let source = params.get("fromSrc").unwrap_or_default().to_string();
    if source != "-" {
        return Err(ApiError::NotSupported(format!(
            "importing from {source:?} is not supported: Strata does not download images; \
             pass a local file or stream the tar on stdin (docker import FILE or -)"
        )));
    }
    let opts = ImportOptions {
        source,
        repo: params.non_empty("repo").map(str::to_string),
        tag: params.non_empty("tag").map(str::to_string),
        message: params.get("message").unwrap_or_default().to_string(),
        changes: all_values(params, "changes"),
    };
    let (reader, upload) = stream_body(body);
    let result = engine.import_image(reader, opts).await;
    let discarded = upload.finish().await;
    if discarded > 0 {
        tracing::debug!(
            discarded,
            "docker import: discarded the rest of a refused upload"
        );
    }
    let id = result?;
    let mut line = serde_json::json!({ "status": id }).to_string().into_bytes();
    line.extend_from_slice(b"\r\n");
    let mut response = line.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Stream a spooled archive as `application/x-tar` with its length.
fn tar_response(archive: SpooledArchive) -> Response {
    let size = archive.size;
    let file = tokio::fs::File::from_std(archive.file);
    let mut response =
        Body::from_stream(ReaderStream::with_capacity(file, 256 * 1024)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    response
}
