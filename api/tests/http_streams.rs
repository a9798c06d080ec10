//! Streaming answers over a real unix socket: the wait answer flushes its headers before the
//! container exits, and attach hijacks the connection and multiplexes output.

use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use strata_agent::containers::handles::{Attachment, WaitHandle};
use strata_agent::model::{StdStream, WaitOutcome};
use strata_api::stream::mux::decode_frames;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Guard against a hang, not a speed assertion: generous on purpose.
const HANG_GUARD: Duration = Duration::from_secs(20);

struct Server {
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
}

async fn serve(app: Router) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    tokio::spawn(async move { axum::serve(listener, strata_api::with_envelope(app)).await });
    Server { _dir: dir, socket }
}

/// Read until the end of the response head; returns the head and whatever body bytes followed.
async fn read_head(stream: &mut UnixStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            return (head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed before the response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn wait_headers_are_flushed_before_the_container_exits() {
    let (exit_tx, exit_rx) = oneshot::channel::<i64>();
    let exit_rx = std::sync::Arc::new(Mutex::new(Some(exit_rx)));
    let app = Router::new().route(
        "/containers/{id}/wait",
        post(move || {
            let exit_rx = exit_rx.clone();
            async move {
                let rx = exit_rx.lock().await.take().expect("one wait only");
                let handle = WaitHandle(Box::pin(async move {
                    WaitOutcome {
                        status_code: rx.await.unwrap_or(-1),
                        error: None,
                    }
                }));
                strata_api::routes::containers::wait_response(handle)
            }
        }),
    );
    let server = serve(app).await;
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    stream
        .write_all(b"POST /v1.47/containers/abc/wait?condition=removed HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();

    let (head, early_body) = tokio::time::timeout(HANG_GUARD, read_head(&mut stream))
        .await
        .expect(
            "the 200 headers must arrive while the container still runs (they were not flushed)",
        );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(header(&head, "api-version"), Some("1.47"));
    assert!(
        early_body.is_empty(),
        "no body before the exit: {early_body:?}"
    );

    exit_tx.send(3).unwrap();
    let mut rest = early_body;
    let body = tokio::time::timeout(HANG_GUARD, async {
        let mut chunk = [0u8; 1024];
        loop {
            let text = String::from_utf8_lossy(&rest).to_string();
            if text.contains("}\n") || text.contains("}\r\n") {
                return text;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the wait body");
            rest.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("the wait body must follow the exit");
    assert!(
        body.contains(r#"{"StatusCode":3,"Error":null}"#),
        "{body:?}"
    );
}

#[tokio::test]
async fn attach_hijacks_and_multiplexes() {
    let (out_tx, out_rx) = mpsc::channel::<(StdStream, Bytes)>(8);
    let (in_tx, mut in_rx) = mpsc::channel::<Bytes>(8);
    let pending = std::sync::Arc::new(Mutex::new(Some((out_rx, in_tx))));
    let app = Router::new().route(
        "/containers/{id}/attach",
        post(move |mut req: Request| {
            let pending = pending.clone();
            async move {
                let (output, input) = pending.lock().await.take().expect("one attach only");
                assert!(strata_api::hijack::wants_upgrade(&req));
                let attachment = Attachment {
                    tty: false,
                    output,
                    input: Some(input),
                };
                let response: Response =
                    strata_api::hijack::upgrade_and_pipe(&mut req, attachment, "abc".into());
                response
            }
        }),
    );
    let server = serve(app).await;
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    stream
        .write_all(b"POST /v1.47/containers/abc/attach?stdin=1&stdout=1&stderr=1&stream=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
        .await
        .unwrap();
    let (head, mut wire) = tokio::time::timeout(HANG_GUARD, read_head(&mut stream))
        .await
        .expect("101 head");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    assert_eq!(header(&head, "upgrade"), Some("tcp"));
    assert!(header(&head, "connection")
        .unwrap()
        .eq_ignore_ascii_case("upgrade"));

    // stdin flows from the client into the container.
    stream.write_all(b"input\n").await.unwrap();
    let got = tokio::time::timeout(HANG_GUARD, in_rx.recv())
        .await
        .expect("stdin forwarded")
        .unwrap();
    assert_eq!(&got[..], b"input\n");

    // output flows back, framed, and the stream ends when the container's output ends.
    out_tx
        .send((StdStream::Stdout, Bytes::from_static(b"out\n")))
        .await
        .unwrap();
    out_tx
        .send((StdStream::Stderr, Bytes::from_static(b"err\n")))
        .await
        .unwrap();
    drop(out_tx);
    tokio::time::timeout(HANG_GUARD, stream.read_to_end(&mut wire))
        .await
        .expect("output closes")
        .unwrap();
    let (frames, used) = decode_frames(&wire);
    assert_eq!(used, wire.len(), "only whole frames");
    assert_eq!(frames, vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]);
}
