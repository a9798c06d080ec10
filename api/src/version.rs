//! The envelope around every request: strip the `/v1.NN` prefix the docker CLI puts in front of
//! paths (so routes are declared once), refuse versions Strata does not speak, and stamp every
//! response with the headers Docker clients look for.

use axum::extract::Request;
use axum::http::uri::{PathAndQuery, Uri};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strata_agent::engine::{API_VERSION, MIN_API_VERSION};

use crate::error::ApiError;

/// `Server` header value: `Strata/<version>`.
pub const SERVER: &str = concat!("Strata/", env!("CARGO_PKG_VERSION"));

/// An API version `major.minor`, ordered numerically (`1.9 < 1.10`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// Parse `1.47`; `None` when it is not two dot-separated numbers.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (major, minor) = text.split_once('.')?;
        Some(ApiVersion(major.parse().ok()?, minor.parse().ok()?))
    }
}

fn own_version(text: &str) -> ApiVersion {
    // The engine's constants are literals like "1.47"; fall back to 1.0 only if someone breaks them.
    ApiVersion::parse(text).unwrap_or(ApiVersion(1, 0))
}

/// Split a `/v1.NN/...` path into the version text and the rest of the path (`/...`).
/// Paths without a version prefix give `None`.
pub fn split_version_prefix(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    ApiVersion::parse(version)?;
    let remainder = &rest[end..];
    Some((version, if remainder.is_empty() { "/" } else { remainder }))
}

/// Check a client's version against ours, with Docker's wording.
pub fn check_version(version: &str) -> Result<(), ApiError> {
    let asked = ApiVersion::parse(version)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid API version {version:?}")))?;
    if asked > own_version(API_VERSION) {
        return Err(ApiError::BadRequest(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if asked < own_version(MIN_API_VERSION) {
        return Err(ApiError::BadRequest(format!(
            "client version {version} is too old. Minimum supported API version is \
             {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(())
}

/// Rewrite `uri` without its version prefix; `Ok(None)` when there is none.
fn strip_version(uri: &Uri) -> Result<Option<Uri>, ApiError> {
    let Some((version, rest)) = split_version_prefix(uri.path()) else {
        return Ok(None);
    };
    check_version(version)?;
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        PathAndQuery::try_from(path_and_query.as_str()).map_err(|e| {
            ApiError::BadRequest(format!("invalid request path {:?}: {e}", uri.path()))
        })?,
    );
    Uri::from_parts(parts)
        .map(Some)
        .map_err(|e| ApiError::BadRequest(format!("invalid request path {:?}: {e}", uri.path())))
}

/// The headers every response carries.
pub fn add_common_headers(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static("api-version"),
        HeaderValue::from_static(API_VERSION),
    );
    headers.insert(
        HeaderName::from_static("server"),
        HeaderValue::from_static(SERVER),
    );
    headers.insert(
        HeaderName::from_static("docker-experimental"),
        HeaderValue::from_static("false"),
    );
    headers.insert(
        HeaderName::from_static("ostype"),
        HeaderValue::from_static("linux"),
    );
}

/// Middleware run before routing: version prefix, version check, common headers.
pub async fn envelope(mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = match strip_version(req.uri()) {
        Ok(Some(uri)) => {
            *req.uri_mut() = uri;
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    add_common_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_split_off() {
        assert_eq!(
            split_version_prefix("/v1.47/containers/json"),
            Some(("1.47", "/containers/json"))
        );
        assert_eq!(
            split_version_prefix("/v1.24/_ping"),
            Some(("1.24", "/_ping"))
        );
        assert_eq!(split_version_prefix("/v1.47"), Some(("1.47", "/")));
        assert_eq!(split_version_prefix("/containers/json"), None);
        assert_eq!(split_version_prefix("/version"), None);
        assert_eq!(split_version_prefix("/vx.y/_ping"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.10").unwrap());
        assert!(check_version("1.47").is_ok());
        assert!(check_version("1.24").is_ok());
        let err = check_version("1.99").unwrap_err().to_string();
        assert_eq!(
            err,
            "client version 1.99 is too new. Maximum supported API version is 1.47"
        );
        assert!(check_version("1.12")
            .unwrap_err()
            .to_string()
            .contains("too old"));
    }

    #[test]
    fn query_survives_the_rewrite() {
        let uri: Uri = "/v1.47/containers/json?all=1&filters=%7B%7D"
            .parse()
            .unwrap();
        let stripped = strip_version(&uri).unwrap().unwrap();
        assert_eq!(stripped.path(), "/containers/json");
        assert_eq!(stripped.query(), Some("all=1&filters=%7B%7D"));
    }
}
