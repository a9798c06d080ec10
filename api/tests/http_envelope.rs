//! The envelope every request goes through, seen from a client: ping headers, `/v1.NN` prefix
//! stripping and version refusal, Docker's JSON errors. No engine needed.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use bollard_stubs::models::ContainerCreateBody;
use http_body_util::BodyExt;
use strata_api::extract::JsonBody;
use strata_api::routes::{not_found, system};
use tower::ServiceExt;

fn test_app() -> Router {
    let inner = Router::new()
        .merge(system::stateless_routes())
        .route(
            "/containers/create",
            post(|JsonBody(body): JsonBody<ContainerCreateBody>| async move {
                body.image.unwrap_or_default()
            }),
        )
        .fallback(not_found);
    strata_api::with_envelope(inner)
}

async fn call(
    method: Method,
    uri: &str,
    body: &'static str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .unwrap();
    let response = test_app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(bytes)))
}

#[tokio::test]
async fn ping_answers_ok_with_negotiation_headers() {
    for method in [Method::GET, Method::HEAD] {
        let (status, headers, body) = call(method.clone(), "/_ping", "").await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert_eq!(headers["api-version"], "1.47");
        assert_eq!(headers["docker-experimental"], "false");
        assert_eq!(headers["ostype"], "linux");
        assert!(headers["server"].to_str().unwrap().starts_with("Strata/"));
        assert_eq!(headers["cache-control"], "no-cache");
        if method == Method::GET {
            assert_eq!(body, b"OK");
        } else {
            assert!(body.is_empty(), "HEAD has no body");
        }
    }
}

#[tokio::test]
async fn version_prefix_is_stripped_before_routing() {
    let (status, headers, body) = call(Method::GET, "/v1.47/_ping", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"OK");
    assert_eq!(headers["api-version"], "1.47");
    let (status, _, body) = call(
        Method::POST,
        "/v1.44/containers/create?name=x",
        r#"{"Image":"busybox"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"busybox");
}

#[tokio::test]
async fn too_new_and_too_old_versions_are_refused_like_docker() {
    let (status, headers, body) = call(Method::GET, "/v1.99/_ping", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["api-version"], "1.47");
    assert_eq!(
        json(&body),
        serde_json::json!({"message": "client version 1.99 is too new. Maximum supported API version is 1.47"})
    );
    let (status, _, body) = call(Method::GET, "/v1.12/info", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["message"].as_str().unwrap().contains("too old"));
}

#[tokio::test]
async fn unknown_routes_get_docker_404_json() {
    for uri in ["/nope", "/v1.47/nope", "/v1.47/containers"] {
        let (status, headers, body) = call(Method::GET, uri, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["api-version"], "1.47");
        assert_eq!(
            json(&body),
            serde_json::json!({"message": "page not found"})
        );
    }
}

#[tokio::test]
async fn malformed_json_body_is_400_with_the_parse_error() {
    let (status, _, body) = call(
        Method::POST,
        "/v1.47/containers/create",
        r#"{"Image": "busybox", "#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = json(&body)["message"].as_str().unwrap().to_string();
    assert!(message.contains("invalid JSON"), "{message}");
    assert!(
        message.contains("line 1"),
        "the parser's position is named: {message}"
    );

    let (status, _, body) = call(Method::POST, "/containers/create", r#"{"Image": 42}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .contains("invalid type"));
}
