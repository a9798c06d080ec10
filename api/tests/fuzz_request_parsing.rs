//! Property tests (fuzzing) of request parsing on the api side: arbitrary bytes and arbitrary
//! structured JSON as a container-create body (parse, then translate to the engine's spec),
//! arbitrary `filters` values, detach-key specs, image references and digests, and arbitrary
//! request lines through the envelope. Property: no panic; bad input is a 4xx, never a 500.
//! The agent's own string formats (binds, ports, signals, security options) are fuzzed in its
//! unit tests (`containers::parse_fuzz`, `network::ports`).
//!
//! `cargo test` runs proptest's default 256 cases per property; run longer with
//! `PROPTEST_CASES=100000 cargo test -p strata-api --test fuzz_request_parsing`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use bollard_stubs::models::ContainerCreateBody;
use proptest::prelude::*;
use serde_json::{json, Value};
use strata_agent::images::{Digest, Reference};
use strata_api::extract::{parse_json, JsonBody};
use strata_api::routes::{not_found, system};
use strata_api::stream::detach::parse_detach_keys;
use strata_api::wire::{containers::spec_from_create, filters};
use tower::ServiceExt;

/// Strings that look like what the formats expect, and some that do not.
fn docker_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z0-9/:._@-]{0,24}",
        "/[a-z]{0,4}:/[a-z]{0,4}(:(ro|rw|z|Z|shared|rslave|nocopy|[a-z,]{0,8}))?",
        "[0-9]{0,6}(/(tcp|udp|sctp|[a-z]{0,3}))?",
        "[0-9]{0,12}[bkmgtKMGT]?",
        "(SIG)?[A-Z]{0,6}[0-9+-]{0,3}",
        "(seccomp|apparmor|label|no-new-privileges)[=:]?[a-z/.]{0,8}",
        "sha256:[0-9a-f]{0,70}",
        "ctrl-[a-z@\\[\\\\^_]{0,2}(,ctrl-[a-z]|,[a-z])?",
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        docker_string().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

/// Arbitrary JSON: scalars, arrays and objects (keys from the strings above) a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(docker_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A create body with Docker's field names and arbitrary (often ill-typed) values.
fn create_body() -> impl Strategy<Value = Value> {
    let strings = || prop::collection::vec(docker_string(), 0..4);
    (
        docker_string(),
        strings(),
        strings(),
        prop::collection::btree_map(docker_string(), json_value(), 0..3),
        any::<i64>(),
        any::<i64>(),
        json_value(),
        json_value(),
        strings(),
        docker_string(),
    )
        .prop_map(
            |(image, cmd, binds, port_bindings, memory, swap, mounts, tmpfs, security, signal)| {
                json!({
                    "Image": image,
                    "Cmd": cmd,
                    "StopSignal": signal,
                    "ExposedPorts": port_bindings.keys().map(|k| (k.clone(), json!({}))).collect::<serde_json::Map<_, _>>(),
                    "HostConfig": {
                        "Binds": binds,
                        "PortBindings": port_bindings,
                        "Memory": memory,
                        "MemorySwap": swap,
                        "Mounts": mounts,
                        "Tmpfs": tmpfs,
                        "SecurityOpt": security,
                        "RestartPolicy": {"Name": signal.clone(), "MaximumRetryCount": memory},
                    },
                })
            },
        )
}

fn envelope_app() -> Router {
    let inner = Router::new()
        .merge(system::stateless_routes())
        .route(
            "/containers/create",
            post(|JsonBody(body): JsonBody<ContainerCreateBody>| async move {
                format!("{:?}", spec_from_create(body).image)
            }),
        )
        .fallback(not_found);
    strata_api::with_envelope(inner)
}

fn status_of(uri: &str, method: &str, body: Vec<u8>) -> Option<StatusCode> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime.block_on(envelope_app().oneshot(request)).unwrap();
    Some(response.status())
}

proptest! {
    #[test]
    fn arbitrary_bytes_as_a_create_body(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(body) = parse_json::<ContainerCreateBody>(&bytes) {
            let _ = spec_from_create(body);
        }
    }

    #[test]
    fn arbitrary_create_bodies_translate_or_are_refused(body in create_body()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Ok(parsed) = parse_json::<ContainerCreateBody>(&bytes) {
            let _ = spec_from_create(parsed);
        }
    }

    #[test]
    fn filters_parse_or_are_refused(raw in prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
    ]) {
        let _ = filters::parse(Some(&raw));
    }

    #[test]
    fn detach_keys_references_and_digests(text in docker_string()) {
        let _ = parse_detach_keys(&text);
        if let Ok(reference) = Reference::parse_normalized(&text) {
            prop_assert!(!reference.name().is_empty());
            // What we show is what we would parse back.
            let shown = reference.to_string();
            let again = Reference::parse_normalized(&shown);
            prop_assert!(again.as_ref().ok() == Some(&reference), "{text:?} -> {shown:?} -> {again:?}");
            let familiar = reference.familiar();
            let again = Reference::parse_normalized(&familiar);
            prop_assert!(again.as_ref().ok() == Some(&reference), "{text:?} -> {familiar:?} -> {again:?}");
        }
        let _ = Reference::parse_with_default_tag(&text);
        let _ = Digest::parse(&text);
    }

    #[test]
    fn arbitrary_requests_through_the_envelope_are_never_500(
        path in "(/v[0-9.]{0,24})?/[a-zA-Z_/.%?=&{}\\[\\]0-9:@+-]{0,60}",
        method in prop_oneof![Just("GET"), Just("POST"), Just("HEAD"), Just("DELETE"), Just("PUT")],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            create_body().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    ) {
        for uri in [path.clone(), format!("/containers/create{}", path.trim_start_matches('/'))] {
            if let Some(status) = status_of(&uri, method, body.clone()) {
                prop_assert!(!status.is_server_error(), "{method} {uri}: {status}");
            }
        }
    }
}
