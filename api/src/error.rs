//! The API's error type: every failure becomes Docker's `{"message": "..."}` body with the status
//! code the Docker Engine API uses for it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use strata_agent::error::ErrorKind;
use strata_agent::EngineError;

/// A failed request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed; the status comes from [`EngineError::kind`].
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The request itself is malformed (bad JSON body, bad query parameter).
    #[error("{0}")]
    BadRequest(String),
    /// No route answers this path.
    #[error("page not found")]
    PageNotFound,
    /// A feature Strata does not offer (yet); answered with 500 as Docker does for
    /// unsupported operations.
    #[error("{0}")]
    NotSupported(String),
}

impl ApiError {
    /// The HTTP status Docker answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => match e.kind() {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
                ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PageNotFound => StatusCode::NOT_FOUND,
            ApiError::NotSupported(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Docker's error body.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
}

/// Build the `{"message": ...}` response for `status`.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    if status == StatusCode::NOT_MODIFIED {
        // 304 carries no body (HTTP forbids one); Docker answers it empty too.
        return status.into_response();
    }
    let body = match serde_json::to_vec(&ErrorBody { message }) {
        Ok(body) => body,
        // Serialising a plain string cannot fail; keep a valid body regardless.
        Err(_) => br#"{"message":"internal error"}"#.to_vec(),
    };
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), error = %message, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %message, "request refused");
        }
        error_response(status, &message)
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn engine_errors_map_to_docker_status_and_message() {
        let cases = [
            (
                EngineError::NoSuchContainer("abc".into()),
                404,
                "No such container: abc",
            ),
            (
                EngineError::NoSuchImage("busybox".into()),
                404,
                "No such image: busybox",
            ),
            (
                EngineError::Conflict("name in use".into()),
                409,
                "name in use",
            ),
            (
                EngineError::InvalidArchive("truncated".into()),
                400,
                "invalid image archive: truncated",
            ),
            (
                EngineError::Internal("boom".into()),
                500,
                "internal error: boom",
            ),
        ];
        for (error, status, message) in cases {
            let response = ApiError::from(error).into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/json"
            );
            assert_eq!(
                body_json(response).await,
                serde_json::json!({ "message": message })
            );
        }
    }

    #[tokio::test]
    async fn not_modified_has_no_body() {
        let error = EngineError::NotModified {
            id: "abc".into(),
            state: "started".into(),
        };
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(bytes.is_empty());
    }
}
