//! The daemon itself: two instances with their own roots and sockets serve side by side without
//! seeing each other's images, and SIGTERM stops each cleanly (exit 0, socket removed), also
//! while a client waits on a container.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn side_by_side(first: &str, second: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut a = StrataDaemon::start(strata_bin(), first)?;
    let mut b = StrataDaemon::start(strata_bin(), second)?;
    ensure!(
        a.socket() != b.socket() && a.data_root() != b.data_root(),
        "separate roots"
    );

    for (d, driver) in [(&a, first), (&b, second)] {
        let root = d.docker_ok(["info", "--format", "{{.DockerRootDir}} {{.Driver}}"])?;
        ensure!(
            root.trim() == format!("{} {driver}", d.data_root().display()),
            "each daemon answers for its own root: {root:?}"
        );
    }

    let archive = work.path().join("only-a.tar");
    TestImage::busybox("strata-test/only-a:1").build_docker_archive(&archive)?;
    a.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    let in_a = a.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    let in_b = b.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    ensure!(
        in_a.contains("strata-test/only-a:1"),
        "a has its image: {in_a:?}"
    );
    ensure!(
        !in_b.contains("strata-test/only-a"),
        "b does not see a's image: {in_b:?}"
    );

    // Both run containers at the same time.
    let out = a.docker([
        "run",
        "--rm",
        "strata-test/only-a:1",
        "sh",
        "-c",
        "echo from-a",
    ]);
    ensure!(
        out.code() == 0 && out.stdout_text() == "from-a\n",
        "run on a: {}",
        out.describe()
    );

    let status_b = b.stop()?;
    ensure!(status_b.success(), "b exits 0 on SIGTERM: {status_b}");
    // a is untouched by b going away.
    a.docker_ok(["version"])?;
    let status_a = a.stop()?;
    ensure!(status_a.success(), "a exits 0 on SIGTERM: {status_a}");
    ensure!(
        !a.socket().exists() && !b.socket().exists(),
        "sockets removed"
    );
    Ok(())
}

#[test]
fn two_daemons_side_by_side_vfs_and_overlay2() -> Result<()> {
    side_by_side("vfs", "overlay2")
}

#[test]
fn two_daemons_side_by_side_same_driver() -> Result<()> {
    side_by_side("overlay2", "overlay2")
}

fn sigterm_with_a_waiting_client(driver: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut d = StrataDaemon::start(strata_bin(), driver)?;
    let archive = work.path().join("sleeper.tar");
    TestImage::busybox("strata-test/sleeper:1").build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "sleeper",
        "strata-test/sleeper:1",
        "sleep",
        "1000",
    ])?;

    // A client blocked in `docker wait` must not keep the daemon from stopping.
    let mut waiter = Command::new("docker")
        .args(["wait", "sleeper"])
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", work.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting docker wait")?;
    // The wait is registered once the CLI's request reached the daemon: poll its log for it
    // rather than sleeping.
    let mut seen = false;
    for _ in 0..200 {
        if std::fs::read_to_string(d.log_path())?.contains("/wait") {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    ensure!(
        seen,
        "docker wait reached the daemon; log:\n{}",
        d.log_tail(20)
    );

    let status = d.stop()?;
    ensure!(
        status.success(),
        "strata exits 0 on SIGTERM with a client waiting: {status}"
    );
    ensure!(!d.socket().exists(), "socket removed");
    let _ = waiter.kill();
    let _ = waiter.wait();
    Ok(())
}

#[test]
fn sigterm_stops_cleanly_vfs() -> Result<()> {
    sigterm_with_a_waiting_client("vfs")
}

#[test]
fn sigterm_stops_cleanly_overlay2() -> Result<()> {
    sigterm_with_a_waiting_client("overlay2")
}

/// `-H` repeated: the same API on the unix socket and on loopback TCP.
#[test]
fn serves_unix_and_loopback_tcp_at_once() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let work = tempfile::tempdir()?;
    let mut d = StrataDaemon::start_with_args(strata_bin(), "vfs", &["-H", &tcp])?;
    let over_unix = d.docker_ok(["info", "--format", "{{.DockerRootDir}}"])?;
    let over_tcp = Command::new("docker")
        .args(["info", "--format", "{{.DockerRootDir}}"])
        .env("DOCKER_HOST", &tcp)
        .env("DOCKER_CONFIG", work.path())
        .output()
        .context("running docker over TCP")?;
    ensure!(
        over_tcp.status.success(),
        "docker over {tcp}: {}",
        over_tcp.describe()
    );
    ensure!(
        over_tcp.stdout_text() == over_unix,
        "same daemon on both: {over_unix:?} vs {}",
        over_tcp.stdout_text()
    );
    let status = d.stop()?;
    ensure!(status.success(), "exit 0: {status}");
    ensure!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "TCP listener closed after stop"
    );
    Ok(())
}
