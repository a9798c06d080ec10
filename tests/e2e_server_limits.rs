//! The API server's connection limits (issue 13, item 9), against a real `strata serve` with a
//! short `--http-header-timeout` and a small `--max-connections`: a half-sent or idle connection
//! is closed after the timeout, connections beyond the cap wait instead of being served and the
//! server stays usable, and long streams (attach, wait, `logs -f`) outlive the timeout.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_CONNECTIONS: usize = 4;
/// Slack for a loaded machine on top of the timeout.
const SLACK: Duration = Duration::from_secs(3);

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn start() -> Result<StrataDaemon> {
    StrataDaemon::start_with_args(
        strata_bin(),
        "vfs",
        &[
            "--http-header-timeout",
            &HEADER_TIMEOUT.as_secs().to_string(),
            "--max-connections",
            &MAX_CONNECTIONS.to_string(),
        ],
    )
}

/// Connect and send `bytes` (part of a request, or nothing).
fn connect(d: &StrataDaemon, bytes: &[u8]) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(d.socket())
        .with_context(|| format!("connecting to {}", d.socket().display()))?;
    stream.write_all(bytes)?;
    Ok(stream)
}

/// Read until the server closes the connection or `limit` passes; returns what was read and
/// whether it was closed.
fn read_until_closed(stream: &mut UnixStream, limit: Duration) -> Result<(Vec<u8>, bool)> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok((got, false));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok((got, true)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok((got, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok((got, true)),
            Err(e) => return Err(e.into()),
        }
    }
}

const PING: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: strata\r\n\r\n";

#[test]
fn stalled_and_idle_connections_are_closed_after_the_header_timeout() -> Result<()> {
    let d = start()?;
    let cases: [(&str, &[u8]); 3] = [
        ("half a request line", b"GET /_ping HT"),
        (
            "a request line and half a header",
            b"GET /_ping HTTP/1.1\r\nHost: stra",
        ),
        ("nothing at all", b""),
    ];
    for (what, bytes) in cases {
        let started = Instant::now();
        let mut stream = connect(&d, bytes)?;
        let (got, closed) = read_until_closed(&mut stream, HEADER_TIMEOUT + SLACK)?;
        let took = started.elapsed();
        eprintln!(
            "{what}: closed={closed} after {took:?}, {} bytes back",
            got.len()
        );
        ensure!(closed, "{what}: still open after {took:?}");
        ensure!(
            took >= HEADER_TIMEOUT - Duration::from_millis(300),
            "{what}: closed after {took:?}, before the timeout"
        );
    }

    // A keep-alive connection idle after its answer is closed too.
    let started = Instant::now();
    let mut stream = connect(&d, PING)?;
    let (got, closed) = read_until_closed(&mut stream, HEADER_TIMEOUT + SLACK)?;
    let text = String::from_utf8_lossy(&got);
    ensure!(text.starts_with("HTTP/1.1 200"), "ping answered: {text:?}");
    ensure!(
        closed,
        "an idle keep-alive connection is still open after {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn connections_beyond_the_cap_wait_and_the_server_stays_usable() -> Result<()> {
    let d = start()?;
    // Fill every slot with a stalled connection.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        stalled.push(connect(&d, b"GET /_ping HTTP/1.1\r\n")?);
    }
    std::thread::sleep(Duration::from_millis(200));
    // One more, with a whole request: not served while the slots are held...
    let mut extra = connect(&d, PING)?;
    let (early, _) = read_until_closed(&mut extra, HEADER_TIMEOUT / 2)?;
    ensure!(
        early.is_empty(),
        "a connection beyond the cap was served at once: {:?}",
        String::from_utf8_lossy(&early)
    );
    // ...and served once the stalled ones time out.
    let (late, _) = read_until_closed(&mut extra, HEADER_TIMEOUT + SLACK)?;
    let text = String::from_utf8_lossy(&late);
    eprintln!(
        "the connection beyond the cap was answered (and then closed as idle) by {:?}",
        started.elapsed()
    );
    ensure!(
        text.starts_with("HTTP/1.1 200"),
        "answered after the stalled ones closed: {text:?}"
    );
    for (i, mut stream) in stalled.into_iter().enumerate() {
        let (_, closed) = read_until_closed(&mut stream, SLACK)?;
        ensure!(closed, "stalled connection {i} still open");
    }

    // The docker CLI works as before.
    let version = d.docker(["version", "--format", "{{.Server.Version}}"]);
    ensure!(
        version.code() == 0 && !version.stdout_text().trim().is_empty(),
        "docker version: {}",
        version.describe()
    );
    Ok(())
}

#[test]
fn long_streams_outlive_the_header_timeout() -> Result<()> {
    const TAG: &str = "strata-test/streams:1";
    let work = tempfile::tempdir()?;
    let d = start()?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(TAG).build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    let quiet = HEADER_TIMEOUT * 2 + Duration::from_secs(1);
    let script = format!("echo early; sleep {}; echo late", quiet.as_secs());

    // docker run: attach (hijacked) and wait (a long response), both silent for `quiet`.
    let started = Instant::now();
    let run = d.docker(["run", "--rm", TAG, "sh", "-c", &script]);
    ensure!(
        run.code() == 0 && run.stdout_text() == "early\nlate\n",
        "docker run through a {quiet:?} silence: {}",
        run.describe()
    );
    ensure!(started.elapsed() >= quiet, "the container did not sleep");

    // docker logs -f: a streamed response silent for `quiet`.
    let id = d.docker_ok(["run", "-d", TAG, "sh", "-c", &script])?;
    let id = id.trim();
    let logs = d.docker(["logs", "-f", id]);
    ensure!(
        logs.code() == 0 && logs.stdout_text() == "early\nlate\n",
        "docker logs -f through a {quiet:?} silence: {}",
        logs.describe()
    );
    d.docker_ok(["rm", "-f", id])?;
    Ok(())
}
