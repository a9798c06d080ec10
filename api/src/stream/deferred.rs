//! A 200 response whose headers go out at once and whose body comes when a future resolves
//! (what `POST /containers/{id}/wait` needs: the CLI waits for the headers before it starts the
//! container).

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;

/// A `200 application/json` response whose body is the JSON `value` resolves to. Headers are
/// written immediately; the body follows (chunked) when `value` resolves.
pub fn deferred_json<F, T>(value: F) -> Response
where
    F: Future<Output = T> + Send + 'static,
    T: serde::Serialize,
{
    let body = futures::stream::once(async move {
        let value = value.await;
        let mut bytes = serde_json::to_vec(&value).unwrap_or_else(|e| {
            tracing::error!(error = %e, "serialising a deferred response");
            br#"{"message":"internal error"}"#.to_vec()
        });
        bytes.push(b'\n');
        Ok::<_, Infallible>(Bytes::from(bytes))
    })
    .boxed();
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
