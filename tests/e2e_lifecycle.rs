//! Lifecycle, exec and logs through the stock docker CLI on overlay2: `docker logs` (`--tail`,
//! `-t`, `--since`, `-f` until the container exits), `docker exec` (exit code, output, `-e`,
//! `-u`, `-w`, `-i`, `-t`), `kill -s`, `pause`/`unpause` (the cgroup freezer), `rename`, `top`,
//! `restart`, `container prune`, `ps` filters, short-id prefixes, `--restart on-failure:2`, and
//! Docker's 404/409/400 answers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/lifecycle:1";
const DRIVER: &str = "overlay2";
/// Upper bound for anything the tests wait for (a container to exit, a restart to happen).
const WAIT_LIMIT: Duration = Duration::from_secs(60);

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// A daemon with the test image loaded.
fn daemon_with_image() -> Result<(tempfile::TempDir, StrataDaemon)> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE).build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    Ok((work, d))
}

/// Poll `check` until it returns `Some`, for at most [`WAIT_LIMIT`].
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if started.elapsed() > WAIT_LIMIT {
            bail!("{what}: not seen within {}s", WAIT_LIMIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A docker command that must fail, with `needle` in its error output.
fn docker_fails(d: &StrataDaemon, args: &[&str], needle: &str) -> Result<()> {
    let out = d.docker(args);
    ensure!(
        !out.status.success() && out.stderr_text().contains(needle),
        "docker {args:?} should fail saying {needle:?}: {}",
        out.describe()
    );
    Ok(())
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ `, as `docker logs -t` prints before each line.
fn has_timestamp_prefix(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 31
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[29] == b'Z'
        && b[30] == b' '
        && b[20..29].iter().all(u8::is_ascii_digit)
}

#[test]
fn logs_tail_timestamps_since_and_follow() -> Result<()> {
    let (_work, d) = daemon_with_image()?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "logger",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo err1 >&2",
    ])?;
    let code = d.docker_ok(["wait", "logger"])?;
    ensure!(code.trim() == "0", "wait printed {code:?}");

    let all = d.docker(["logs", "logger"]);
    ensure!(all.status.success(), "{}", all.describe());
    ensure!(
        lines(&all.stdout_text()) == ["line1", "line2", "line3", "line4", "line5"],
        "docker logs stdout: {}",
        all.describe()
    );
    ensure!(
        all.stderr_text() == "err1\n",
        "docker logs stderr: {}",
        all.describe()
    );

    // The file on disk is Docker's json-file format.
    let id = d.inspect("logger")?["Id"]
        .as_str()
        .context("Id")?
        .to_string();
    let log_path = d.data_root().join(format!("containers/{id}/{id}-json.log"));
    let on_disk = std::fs::read_to_string(&log_path)
        .with_context(|| format!("reading {}", log_path.display()))?;
    let first: Value = serde_json::from_str(on_disk.lines().next().context("empty log")?)?;
    ensure!(
        first["log"] == "line1\n" && first["stream"] == "stdout" && first["time"].is_string(),
        "first json-file entry: {first}"
    );

    let tail = d.docker(["logs", "--tail", "2", "logger"]);
    ensure!(
        tail.stdout_text() == "line5\n" && tail.stderr_text() == "err1\n",
        "--tail 2: {}",
        tail.describe()
    );

    let stamped = d.docker_ok(["logs", "-t", "--tail", "3", "logger"])?;
    let stamped = lines(&stamped);
    ensure!(stamped.len() == 2, "-t --tail 3 stdout lines: {stamped:?}");
    for line in &stamped {
        ensure!(has_timestamp_prefix(line), "no timestamp prefix: {line:?}");
    }
    ensure!(stamped[1].ends_with(" line5"), "{stamped:?}");

    let future = d.docker(["logs", "--since", "2099-01-01T00:00:00Z", "logger"]);
    ensure!(
        future.status.success() && future.stdout_text().is_empty(),
        "--since in the future prints nothing: {}",
        future.describe()
    );

    // -f follows a running container until it exits.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "follower",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick$i; sleep 1; done",
    ])?;
    let followed = d.docker(["logs", "-f", "follower"]);
    ensure!(
        lines(&followed.stdout_text()) == ["tick1", "tick2", "tick3"],
        "logs -f: {}",
        followed.describe()
    );
    let state = d.inspect("follower")?;
    ensure!(
        state["State"]["Status"] == "exited",
        "logs -f returned before the exit: {}",
        state["State"]
    );

    docker_fails(&d, &["logs", "nope"], "No such container: nope")?;

    // The log is size-capped: past 20 MiB it rotates to <log>.1, keeping two files at most.
    // 250000 lines of about 210 bytes: some 70 MB of json-file entries, more than two files.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "chatty",
        IMAGE,
        "awk",
        "BEGIN { for (i = 1; i <= 250000; i++) printf \"%d %0200d\\n\", i, 0 }",
    ])?;
    let code = d.docker_ok(["wait", "chatty"])?;
    ensure!(code.trim() == "0", "wait printed {code:?}");
    let id = d.inspect("chatty")?["Id"]
        .as_str()
        .context("Id")?
        .to_string();
    let dir = d.data_root().join(format!("containers/{id}"));
    let cap = 20 * 1024 * 1024;
    let current = std::fs::metadata(dir.join(format!("{id}-json.log")))?.len();
    let rotated = std::fs::metadata(dir.join(format!("{id}-json.log.1")))
        .context("the log was rotated to <log>.1")?
        .len();
    ensure!(
        current <= cap && rotated <= cap,
        "log files over the cap: {current} and {rotated} bytes"
    );
    ensure!(
        !dir.join(format!("{id}-json.log.2")).exists(),
        "at most one rotated file"
    );
    let last = d.docker_ok(["logs", "--tail", "1", "chatty"])?;
    ensure!(
        last.starts_with("250000 "),
        "last line after rotation: {last:?}"
    );
    let kept = d.docker_ok(["logs", "chatty"])?;
    let number =
        |line: &str| -> Result<u64> { Ok(line.split(' ').next().unwrap_or_default().parse()?) };
    // The oldest kept entry may be the tail of a line the shim read in two chunks: skip it.
    let second = number(kept.lines().nth(1).context("no lines kept")?)?;
    let count = kept.lines().count() as u64;
    ensure!(
        second > 2 && second + count - 2 == 250000,
        "kept lines from {second}: {count} lines, contiguous up to the last"
    );
    Ok(())
}

#[test]
fn exec_output_exit_code_env_user_workdir() -> Result<()> {
    let (_work, d) = daemon_with_image()?;
    d.docker_ok(["run", "-d", "--name", "ex", IMAGE, "sleep", "300"])?;

    let out = d.docker(["exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    ensure!(
        out.code() == 3 && out.stdout_text() == "out\n" && out.stderr_text() == "err\n",
        "exec with exit 3: {}",
        out.describe()
    );

    let who = d.docker_ok([
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "ex",
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u) $(id -g)",
    ])?;
    ensure!(
        who == "bar /tmp 65534 65534\n",
        "exec -e -w -u printed {who:?}"
    );
    let root = d.docker_ok(["exec", "ex", "id", "-u"])?;
    ensure!(root == "0\n", "exec runs as the container's user: {root:?}");

    let echoed = d.docker_with_stdin(["exec", "-i", "ex", "cat"], b"hello stdin\n");
    ensure!(
        echoed.status.success() && echoed.stdout_text() == "hello stdin\n",
        "exec -i cat: {}",
        echoed.describe()
    );

    let tty = d.docker(["exec", "-t", "ex", "readlink", "/proc/self/fd/1"]);
    ensure!(
        tty.status.success() && tty.stdout_text().starts_with("/dev/pts/"),
        "exec -t gets a pty: {}",
        tty.describe()
    );

    // -d: nothing attached, the process still runs and its exit code is recorded.
    d.docker_ok(["exec", "-d", "ex", "sh", "-c", "echo detached > /tmp/d"])?;
    let written = wait_for("exec -d wrote its file", || {
        let out = d.docker(["exec", "ex", "cat", "/tmp/d"]);
        Ok(out.status.success().then(|| out.stdout_text()))
    })?;
    ensure!(written == "detached\n", "exec -d wrote {written:?}");

    let missing = d.docker(["exec", "ex", "no-such-command"]);
    ensure!(
        missing.code() == 127,
        "missing command: {}",
        missing.describe()
    );

    // The exec shows in top while it runs? (top lists the main process at least.)
    let top = d.docker_ok(["top", "ex"])?;
    ensure!(
        top.lines()
            .next()
            .is_some_and(|h| h.contains("PID") && h.contains("CMD")),
        "top header: {top}"
    );
    ensure!(top.contains("sleep 300"), "top lists the process: {top}");

    d.docker_ok(["stop", "-t", "1", "ex"])?;
    docker_fails(&d, &["exec", "ex", "true"], "is not running")?;
    docker_fails(&d, &["exec", "nope", "true"], "No such container: nope")?;
    docker_fails(&d, &["top", "ex"], "is not running")?;
    Ok(())
}

#[test]
fn kill_pause_rename_restart_filters_prune() -> Result<()> {
    let (_work, d) = daemon_with_image()?;

    // kill -s delivers the signal the user names.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "trapper",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 7' USR1; while true; do sleep 0.1; done",
    ])?;
    // The trap is set once the shell runs its loop; a signal before that would kill it.
    wait_for("trapper running", || {
        Ok(d.docker_ok(["top", "trapper"])?
            .contains("sleep")
            .then_some(()))
    })?;
    d.docker_ok(["kill", "-s", "USR1", "trapper"])?;
    let code = d.docker_ok(["wait", "trapper"])?;
    ensure!(code.trim() == "7", "exit code after USR1: {code:?}");
    ensure!(
        d.docker_ok(["logs", "trapper"])?.contains("got-usr1"),
        "the trap ran"
    );
    docker_fails(&d, &["kill", "trapper"], "is not running")?;
    docker_fails(&d, &["kill", "-s", "NOPE", "trapper"], "Invalid signal")?;

    // pause / unpause: the freezer, State.Paused and ps' (Paused).
    let id = d.docker_ok(["run", "-d", "--name", "sleeper", IMAGE, "sleep", "300"])?;
    let id = id.trim().to_string();
    d.docker_ok(["pause", "sleeper"])?;
    let state = d.inspect("sleeper")?["State"].clone();
    ensure!(
        state["Status"] == "paused" && state["Paused"] == true && state["Running"] == true,
        "paused state: {state}"
    );
    let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    // `/sys/fs/cgroup/freezer/<the agent's cgroup parent>/<id>/freezer.state`.
    let freezer = if cgroup_v2 {
        std::path::PathBuf::new()
    } else {
        std::fs::read_dir("/sys/fs/cgroup/freezer")
            .context("listing /sys/fs/cgroup/freezer")?
            .flatten()
            .map(|e| e.path().join(&id))
            .find(|p| p.is_dir())
            .with_context(|| format!("no freezer cgroup of {id}"))?
            .join("freezer.state")
    };
    if !cgroup_v2 {
        let frozen = std::fs::read_to_string(&freezer)
            .with_context(|| format!("reading {} (cgroup v1 freezer)", freezer.display()))?;
        ensure!(
            frozen.trim() == "FROZEN",
            "{}: {frozen:?}",
            freezer.display()
        );
    }
    let ps = d.docker_ok(["ps", "--filter", "name=sleeper", "--format", "{{.Status}}"])?;
    ensure!(ps.trim().ends_with("(Paused)"), "ps status: {ps:?}");
    docker_fails(&d, &["pause", "sleeper"], "is already paused")?;
    d.docker_ok(["unpause", "sleeper"])?;
    ensure!(
        d.inspect("sleeper")?["State"]["Status"] == "running",
        "unpaused"
    );
    if !cgroup_v2 {
        let thawed = std::fs::read_to_string(&freezer)?;
        ensure!(
            thawed.trim() == "THAWED",
            "{}: {thawed:?}",
            freezer.display()
        );
    }
    docker_fails(&d, &["unpause", "sleeper"], "is not paused")?;

    // A paused container still stops and is still force-removed (it is thawed for the signal).
    d.docker_ok(["run", "-d", "--name", "frozen1", IMAGE, "sleep", "300"])?;
    d.docker_ok(["pause", "frozen1"])?;
    d.docker_ok(["stop", "-t", "1", "frozen1"])?;
    let stopped = d.inspect("frozen1")?["State"].clone();
    ensure!(
        stopped["Status"] == "exited" && stopped["Paused"] == false,
        "stopped while paused: {stopped}"
    );
    d.docker_ok(["rm", "frozen1"])?;
    d.docker_ok(["run", "-d", "--name", "frozen2", IMAGE, "sleep", "300"])?;
    d.docker_ok(["pause", "frozen2"])?;
    d.docker_ok(["rm", "-f", "frozen2"])?;
    docker_fails(
        &d,
        &["inspect", "--type", "container", "frozen2"],
        "No such",
    )?;
    docker_fails(&d, &["pause", "nope"], "No such container: nope")?;

    // rename.
    d.docker_ok(["rename", "sleeper", "dozer"])?;
    ensure!(d.inspect("dozer")?["Name"] == "/dozer", "renamed");
    docker_fails(
        &d,
        &["inspect", "--type", "container", "sleeper"],
        "No such",
    )?;
    docker_fails(&d, &["rename", "dozer", "trapper"], "is already in use")?;
    docker_fails(
        &d,
        &["rename", "dozer", "bad/name"],
        "Invalid container name",
    )?;

    // Short id prefixes work everywhere; restart gives a new start time.
    let short = &id[..12];
    let started_before = d.inspect(short)?["State"]["StartedAt"].clone();
    d.docker_ok(["restart", "-t", "1", short])?;
    let after = d.inspect("dozer")?["State"].clone();
    ensure!(
        after["Status"] == "running" && after["StartedAt"] != started_before,
        "restart: before {started_before}, after {after}"
    );

    // ps filters.
    d.docker_ok([
        "create", "--name", "labelled", "--label", "team=a", IMAGE, "true",
    ])?;
    let names = |filter: &str| -> Result<Vec<String>> {
        let mut v =
            lines(&d.docker_ok(["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])?);
        v.sort();
        Ok(v)
    };
    ensure!(names("label=team=a")? == ["labelled"], "label filter");
    ensure!(names("status=running")? == ["dozer"], "status filter");
    ensure!(names("status=exited")? == ["trapper"], "status=exited");
    ensure!(names("name=doz")? == ["dozer"], "name filter");
    ensure!(
        names(&format!("ancestor={IMAGE}"))? == ["dozer", "labelled", "trapper"],
        "ancestor filter"
    );
    ensure!(names(&format!("id={short}"))? == ["dozer"], "id filter");
    docker_fails(&d, &["ps", "--filter", "status=sleepy"], "invalid filter")?;

    // prune removes exited and created containers, never running ones.
    let pruned = d.docker_ok(["container", "prune", "-f"])?;
    ensure!(
        pruned.contains("Total reclaimed space"),
        "prune said {pruned}"
    );
    ensure!(
        names("status=running")? == ["dozer"],
        "running container kept"
    );
    let left = lines(&d.docker_ok(["ps", "-a", "--format", "{{.Names}}"])?);
    ensure!(left == ["dozer"], "after prune: {left:?}");

    d.docker_ok(["rm", "-f", "dozer"])?;
    Ok(())
}

#[test]
fn restart_on_failure_counts_restarts() -> Result<()> {
    let (_work, d) = daemon_with_image()?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        IMAGE,
        "sh",
        "-c",
        "echo attempt; exit 1",
    ])?;
    // One run and two restarts: three attempts logged, then it stays exited.
    let state = wait_for("three attempts, RestartCount 2, exited", || {
        let c = d.inspect("flaky")?;
        let attempts = d.docker_ok(["logs", "flaky"])?.matches("attempt").count();
        Ok((attempts == 3 && c["State"]["Status"] == "exited").then_some(c))
    })?;
    ensure!(
        state["RestartCount"] == 2,
        "RestartCount: {}",
        state["RestartCount"]
    );
    ensure!(
        state["State"]["ExitCode"] == 1,
        "exit code: {}",
        state["State"]
    );
    let waited = d.docker_ok(["wait", "flaky"])?;
    ensure!(waited.trim() == "1", "docker wait: {waited:?}");
    let attempts = d.docker_ok(["logs", "flaky"])?.matches("attempt").count();
    ensure!(
        attempts == 3,
        "no restart beyond the limit: {attempts} attempts"
    );

    // `always` restarts after a clean exit too.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "looper",
        "--restart",
        "always",
        IMAGE,
        "sh",
        "-c",
        "sleep 0.2",
    ])?;
    wait_for("an always container restarted", || {
        Ok((d.inspect("looper")?["RestartCount"].as_i64().unwrap_or(0) >= 1).then_some(()))
    })?;
    d.docker_ok(["rm", "-f", "looper"])?;

    // docker stop turns an `always` policy off until the next start.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        IMAGE,
        "sleep",
        "300",
    ])?;
    d.docker_ok(["stop", "-t", "1", "keeper"])?;
    let c = d.inspect("keeper")?;
    ensure!(
        c["State"]["Status"] == "exited" && c["RestartCount"] == 0,
        "stopped by hand stays stopped: {}",
        c["State"]
    );
    Ok(())
}

/// One raw API call on the daemon's socket: the status code and the body.
fn api(d: &StrataDaemon, method: &str, path: &str) -> Result<(u16, String)> {
    let body = (method == "POST" && path.ends_with("/exec")).then_some(r#"{"Cmd":["true"]}"#);
    d.api(method, &format!("/v1.47{path}"), body)
}

#[test]
fn docker_status_codes() -> Result<()> {
    let (_work, d) = daemon_with_image()?;
    d.docker_ok(["create", "--name", "idle", IMAGE, "true"])?;
    d.docker_ok(["run", "-d", "--name", "busy", IMAGE, "sleep", "300"])?;
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "POST",
            "/containers/nope/pause",
            404,
            "No such container: nope",
        ),
        ("POST", "/containers/nope/unpause", 404, "No such container"),
        ("POST", "/containers/nope/restart", 404, "No such container"),
        (
            "POST",
            "/containers/nope/rename?name=x2",
            404,
            "No such container",
        ),
        ("GET", "/containers/nope/top", 404, "No such container"),
        (
            "GET",
            "/containers/nope/logs?stdout=1",
            404,
            "No such container",
        ),
        ("POST", "/containers/nope/exec", 404, "No such container"),
        ("GET", "/exec/nope/json", 404, "No such exec instance"),
        ("POST", "/exec/nope/start", 404, "No such exec instance"),
        ("POST", "/containers/idle/pause", 409, "is not running"),
        ("POST", "/containers/busy/unpause", 409, "is not paused"),
        ("POST", "/containers/idle/exec", 409, "is not running"),
        ("GET", "/containers/idle/top", 409, "is not running"),
        ("POST", "/containers/idle/kill", 409, "is not running"),
        (
            "POST",
            "/containers/busy/rename?name=idle",
            409,
            "already in use",
        ),
        (
            "POST",
            "/containers/busy/rename?name=bad%2Fname",
            400,
            "Invalid container name",
        ),
        ("POST", "/containers/busy/rename?name=", 400, "may be empty"),
        (
            "GET",
            "/containers/busy/logs?stdout=1&tail=abc",
            400,
            "tail",
        ),
        ("GET", "/containers/busy/logs", 400, "at least one stream"),
        (
            "GET",
            "/containers/busy/logs?stdout=1&since=soon",
            400,
            "invalid value for time",
        ),
        (
            "POST",
            "/containers/busy/kill?signal=NOPE",
            400,
            "Invalid signal",
        ),
        (
            "POST",
            "/containers/prune?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
            400,
            "invalid filter",
        ),
        ("POST", "/containers/idle/stop", 304, ""),
        ("POST", "/containers/busy/start", 304, ""),
    ];
    let mut wrong = Vec::new();
    for (method, path, want, needle) in cases {
        let (code, body) = api(&d, method, path)?;
        if code != *want || !body.contains(needle) {
            wrong.push(format!(
                "{method} {path}: {code} {body:?}, expected {want} with {needle:?}"
            ));
        }
    }
    ensure!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    d.docker_ok(["rm", "-f", "busy"])?;
    Ok(())
}
