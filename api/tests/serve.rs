//! `strata_api::serve` with a real engine (vfs on a temporary root): one router on a unix socket
//! and on TCP (loopback), graceful shutdown, socket file removed.

use std::path::Path;
use std::time::Duration;

use strata_agent::{Engine, EngineConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn wait_for_socket(socket: &Path) {
    // Bounded polling for readiness (not a speed assertion).
    for _ in 0..400 {
        if UnixStream::connect(socket).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the API socket {} never accepted a connection",
        socket.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_unix_and_tcp_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::with_roots(dir.path().join("data"), dir.path().join("exec"));
    config.storage_driver = Some("vfs".into());
    let engine = Engine::open(config)
        .await
        .expect("opening an engine on vfs");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = dir.path().join("run/sub/api.sock");
    let hosts = vec![
        format!("unix://{}", socket.display()),
        format!("tcp://127.0.0.1:{port}"),
    ];
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(strata_api::serve(engine, hosts, Default::default(), async move {
        let _ = stop_rx.await;
    }));
    wait_for_socket(&socket).await;

    let over_unix = exchange(UnixStream::connect(&socket).await.unwrap(), "/v1.47/_ping").await;
    assert!(over_unix.starts_with("HTTP/1.1 200"), "{over_unix}");
    assert!(
        over_unix.to_lowercase().contains("api-version: 1.47"),
        "{over_unix}"
    );
    assert!(over_unix.ends_with("OK"), "{over_unix}");

    let over_tcp = exchange(
        TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
        "/info",
    )
    .await;
    assert!(over_tcp.starts_with("HTTP/1.1 200"), "{over_tcp}");
    let body = over_tcp.split("\r\n\r\n").nth(1).unwrap();
    // Connection: close answers are not chunked by hyper only when the length is known; accept both.
    let json_start = body.find('{').unwrap();
    let json_end = body.rfind('}').unwrap();
    let info: serde_json::Value = serde_json::from_str(&body[json_start..=json_end]).unwrap();
    assert_eq!(info["Driver"], "vfs");
    assert_eq!(
        info["DockerRootDir"],
        dir.path().join("data").display().to_string()
    );

    stop_tx.send(()).unwrap();
    server.await.unwrap().expect("serve ends cleanly");
    assert!(!socket.exists(), "the socket file is removed at shutdown");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "TCP listener closed"
    );
}

#[tokio::test]
async fn bad_addresses_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::with_roots(dir.path().join("data"), dir.path().join("exec"));
    config.storage_driver = Some("vfs".into());
    let engine = Engine::open(config).await.unwrap();
    let err = strata_api::serve(engine, vec!["http://nope".into()], Default::default(), async {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("expected unix:///path or tcp://host:port"),
        "{err}"
    );
}
