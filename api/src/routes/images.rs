//! `/images/...`. Image names may contain `/` and `:` (`localhost:5000/a/b:tag`), so every
//! image path goes through one wildcard route per method and the trailing action segment
//! (`/json`, `/history`, `/tag`) is split off here.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use strata_agent::Engine;

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::stream::upload::stream_body;
use crate::wire;

/// The image routes.
pub fn routes() -> Router<Engine> {
    Router::new().route(
        "/images/{*rest}",
        get(get_dispatch).post(post_dispatch).delete(remove),
    )
}

/// `name/action` -> (`name`, `action`); `None` without a `/`.
fn split_action(rest: &str) -> Option<(&str, &str)> {
    rest.rsplit_once('/').filter(|(name, _)| !name.is_empty())
}

async fn get_dispatch(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    match rest.as_str() {
        "json" => return list(engine, &params).await,
        "get" => {
            let names = super::image_transfer::save_names(&params);
            return super::image_transfer::save(engine, names).await;
        }
        "search" => return Err(not_supported(&rest)),
        _ => {}
    }
    match split_action(&rest) {
        Some((name, "json")) => inspect(engine, name).await,
        Some((name, "history")) => history(engine, name).await,
        Some((name, "get")) => super::image_transfer::save(engine, vec![name.to_string()]).await,
        _ => Err(ApiError::PageNotFound),
    }
}

async fn post_dispatch(
    State(engine): State<Engine>,
    Path(rest): Path<String>,
    params: Params,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    match rest.as_str() {
        "load" => return load(engine, body).await,
        "create" if params.get("fromSrc").is_some() => {
            return super::image_transfer::import(engine, &params, body).await
        }
        "create" if params.get("fromImage").is_some() => {
            return super::pull_push::pull(engine, &params, &headers).await
        }
        "create" => return Err(pull_refused(&params)),
        "prune" => return Err(not_supported(&rest)),
        _ => {}
    }
    match split_action(&rest) {
        Some((name, "tag")) => tag(engine, name, &params).await,
        Some((name, "push")) => super::pull_push::push(engine, name, &params, &headers).await,
        _ => Err(ApiError::PageNotFound),
    }
}

fn not_supported(what: &str) -> ApiError {
    let what = match what {
        "get" => "saving images (docker save)",
        "search" => "searching a registry",
        "prune" => "pruning images",
        "push" => "pushing images to a registry",
        other => other,
    };
    ApiError::NotSupported(format!("{what} is not supported yet"))
}

/// `POST /images/create`: pull (`fromImage`) or import (`fromSrc`), neither offered yet.
fn pull_refused(params: &Params) -> ApiError {
    if params.non_empty("fromSrc").is_some() {
        ApiError::NotSupported("importing images (docker import) is not supported yet".into())
    } else {
        ApiError::NotSupported("pulling images from a registry is not supported yet".into())
    }
}

/// `GET /images/json?filters=`.
async fn list(engine: Engine, params: &Params) -> ApiResult<Response> {
    let filters = wire::filters::parse(params.get("filters"))?;
    let images = engine.list_images_filtered(&filters).await?;
    let wire: Vec<_> = images.iter().map(wire::images::summary).collect();
    Ok(Json(wire).into_response())
}

/// `GET /images/{name}/json`.
async fn inspect(engine: Engine, name: &str) -> ApiResult<Response> {
    let details = engine.inspect_image(name).await?;
    Ok(Json(wire::images::inspect(&details)).into_response())
}

/// `GET /images/{name}/history`.
async fn history(engine: Engine, name: &str) -> ApiResult<Response> {
    let rows = engine.image_history(name).await?;
    let wire: Vec<_> = rows.iter().map(wire::images::history).collect();
    Ok(Json(wire).into_response())
}

/// `POST /images/{name}/tag?repo=&tag=`: 201 on success.
async fn tag(engine: Engine, name: &str, params: &Params) -> ApiResult<Response> {
    let repo = params.get("repo").unwrap_or_default();
    engine
        .tag_image(name, repo, params.non_empty("tag"))
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=&noprune=`.
async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let items = engine
        .remove_image(&name, params.flag("force"), params.flag("noprune"))
        .await?;
    let wire: Vec<_> = items.iter().map(wire::images::delete_item).collect();
    Ok(Json(wire).into_response())
}

/// `POST /images/load`: the body (a tar) is streamed into the engine; the answer is JSON
/// progress lines. The engine reports only once the whole archive is in, so any error comes
/// before output and gets its proper status.
async fn load(engine: Engine, body: Body) -> ApiResult<Response> {
    let (reader, upload) = stream_body(body);
    let result = engine.load_images(reader).await;
    // Read what the engine left unread so the client sees our answer, not a broken pipe.
    let discarded = upload.finish().await;
    if discarded > 0 {
        tracing::debug!(
            discarded,
            "docker load: discarded the rest of a refused upload"
        );
    }
    let report = result?;
    let mut response = wire::images::load_progress(&report).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_split_off_names_with_slashes_and_ports() {
        assert_eq!(
            split_action("localhost:5000/a/b:tag/json"),
            Some(("localhost:5000/a/b:tag", "json"))
        );
        assert_eq!(
            split_action("busybox/history"),
            Some(("busybox", "history"))
        );
        assert_eq!(split_action("json"), None);
        assert_eq!(split_action("/json"), None);
    }
}
