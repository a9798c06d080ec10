//! Containers outlive the agent: `strata serve` is killed with SIGKILL while a container writes a
//! line every 100 ms; the container keeps running (and logging) without it; a new agent on the
//! same roots shows it running, its log has every line in order, `attach` and `logs -f` follow
//! it, `docker stop` ends it and its exit code is recorded. A container that exits while no
//! agent runs has its exit code recorded too.

mod interactive_support;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use interactive_support::{
    cli_config_dir, docker_command, send_signal, strata_bin, wait_for, LineReader, WAIT,
};
use serde_json::Value;
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/outlive:1";
const TICKER: &str = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done";

/// The numbers of the `line N` entries of a json-file log, in file order.
fn logged_numbers(log: &Path) -> Result<Vec<u64>> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let mut out = Vec::new();
    for (i, entry) in text.lines().enumerate() {
        // A line being appended right now may be incomplete: only the last may fail to parse.
        let Ok(value) = serde_json::from_str::<Value>(entry) else {
            ensure!(
                i + 1 == text.lines().count(),
                "json-file log line {} is not JSON: {entry:?}",
                i + 1
            );
            break;
        };
        let log_text = value["log"]
            .as_str()
            .context("json-file entry without log")?;
        ensure!(
            value["stream"] == "stdout",
            "entry {i} is on {}",
            value["stream"]
        );
        out.push(parse_line(log_text.trim_end())?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<u64> {
    line.strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected output line {line:?}"))
}

/// `numbers` is exactly 0, 1, 2, ...: no line lost, none repeated.
fn ensure_no_gap(numbers: &[u64], what: &str) -> Result<()> {
    for (i, n) in numbers.iter().enumerate() {
        ensure!(
            *n == i as u64,
            "{what}: entry {i} is line {n} (lines around it: {:?})",
            &numbers[i.saturating_sub(3)..(i + 3).min(numbers.len())]
        );
    }
    Ok(())
}

fn process_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn containers_outlive_a_killed_agent_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let config = cli_config_dir(work.path())?;
    let mut d = StrataDaemon::start(strata_bin(), "overlay2")?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE).build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;

    // A ticker, and a container that exits only when told to (a file appears in its rootfs).
    d.docker_ok(["run", "-d", "--name", "ticker", IMAGE, "sh", "-c", TICKER])?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "waiter",
        IMAGE,
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 5",
    ])?;
    let ticker = d.inspect("ticker")?;
    let log = PathBuf::from(ticker["LogPath"].as_str().context("LogPath")?);
    let waiter = d.inspect("waiter")?;
    let waiter_pid = waiter["State"]["Pid"].as_i64().context("waiter pid")?;
    let waiter_rootfs = PathBuf::from(
        waiter["GraphDriver"]["Data"]["MergedDir"]
            .as_str()
            .context("waiter MergedDir")?,
    );
    wait_for(
        "the ticker to log 10 lines",
        WAIT,
        || Ok((logged_numbers(&log)?.len() >= 10).then_some(())),
        || format!("log: {:?}", std::fs::read_to_string(&log)),
    )?;

    // SIGKILL the agent: no chance to clean up or hand anything over.
    let pid = d.pid().context("the daemon's pid")?;
    send_signal(pid, "KILL")?;
    let status = d.wait_exit(WAIT)?;
    ensure!(
        !status.success(),
        "the agent was killed, it reports {status}"
    );

    // Without any agent, the ticker keeps running and its output keeps reaching the log.
    let at_kill = logged_numbers(&log)?.len();
    wait_for(
        "the ticker to log 10 more lines while no agent runs",
        WAIT,
        || Ok((logged_numbers(&log)?.len() >= at_kill + 10).then_some(())),
        || format!("{} lines at the kill", at_kill),
    )?;
    // The waiter exits while no agent runs.
    std::fs::write(waiter_rootfs.join("tmp/go"), b"")
        .context("creating /tmp/go in the waiter's rootfs")?;
    wait_for(
        "the waiter's process to exit",
        WAIT,
        || Ok((!process_alive(waiter_pid)).then_some(())),
        || format!("pid {waiter_pid} still exists"),
    )?;

    d.restart(&DaemonOptions::default())?;

    // The new agent sees the ticker running and the waiter's exit.
    let ps = d.docker_ok(["ps", "--format", "{{.Names}} {{.Status}}"])?;
    ensure!(
        ps.lines().any(|l| l.starts_with("ticker Up")),
        "docker ps after the restart shows the ticker running:\n{ps}"
    );
    ensure!(
        !ps.lines().any(|l| l.starts_with("waiter ")),
        "the waiter exited while the agent was away:\n{ps}"
    );
    let waiter = d.inspect("waiter")?;
    ensure!(
        waiter["State"]["Status"] == "exited" && waiter["State"]["ExitCode"] == 5,
        "the waiter's exit while the agent was away is recorded: {}",
        waiter["State"]
    );
    let ticker = d.inspect("ticker")?;
    ensure!(
        ticker["State"]["Running"] == true,
        "inspect after the restart: {}",
        ticker["State"]
    );

    // attach and logs -f follow the running container after the restart.
    let last_logged = *logged_numbers(&log)?.last().context("empty log")?;
    let mut attach = LineReader::spawn(
        docker_command(&d, &config, &["attach", "--sig-proxy=false", "ticker"]),
        &work.path().join("attach.err"),
    )?;
    let seen = attach.wait_line("from attach after the restart", WAIT, |l| {
        parse_line(l).is_ok_and(|n| n > last_logged)
    })?;
    let first_attached = parse_line(&seen)?;
    let next = attach.wait_line("following it", WAIT, |_| true)?;
    ensure!(
        parse_line(&next)? == first_attached + 1,
        "attach delivers consecutive lines: {seen:?} then {next:?}"
    );
    drop(attach);

    let mut follow = LineReader::spawn(
        docker_command(&d, &config, &["logs", "-f", "ticker"]),
        &work.path().join("logs.err"),
    )?;
    let first = follow.wait_line("line 0 from logs -f", WAIT, |_| true)?;
    ensure!(
        first == "line 0",
        "logs -f starts at the beginning: {first:?}"
    );
    follow.wait_line("beyond the restart from logs -f", WAIT, |l| {
        parse_line(l).is_ok_and(|n| n > first_attached + 1)
    })?;
    let followed: Vec<u64> = follow
        .seen
        .iter()
        .map(|l| parse_line(l))
        .collect::<Result<_>>()?;
    ensure_no_gap(&followed, "docker logs -f")?;

    // Stop it: sh as PID 1 ignores SIGTERM, so the SIGKILL after the timeout ends it.
    d.docker_ok(["stop", "-t", "1", "ticker"])?;
    let logs_f = wait_child_status(&mut follow.child)?;
    ensure!(
        logs_f.success(),
        "logs -f ends when the container stops: {logs_f}"
    );
    let code = d.docker_ok(["wait", "ticker"])?;
    ensure!(
        matches!(code.trim(), "137" | "143"),
        "docker wait after stop prints 137 or 143: {code:?}"
    );
    let state = d.inspect("ticker")?["State"].clone();
    ensure!(
        state["Status"] == "exited" && state["ExitCode"] == code.trim().parse::<i64>()?,
        "inspect after stop: {state}"
    );

    // Every line the ticker wrote, before, during and after the agent's absence, is in its
    // log exactly once and in order; `docker logs` shows the same.
    let numbers = logged_numbers(&log)?;
    ensure!(
        numbers.len() > at_kill + 10,
        "the log holds lines from before and after the kill: {} lines",
        numbers.len()
    );
    ensure_no_gap(&numbers, "json-file log")?;
    let out = d.docker(["logs", "ticker"]);
    ensure!(out.code() == 0, "docker logs: {}", out.describe());
    let shown: Vec<u64> = out
        .stdout_text()
        .lines()
        .map(parse_line)
        .collect::<Result<_>>()?;
    ensure!(
        shown == numbers,
        "docker logs shows what the log file holds ({} vs {} lines)",
        shown.len(),
        numbers.len()
    );

    d.docker_ok(["rm", "ticker", "waiter"])?;
    d.stop()?;
    Ok(())
}

fn wait_child_status(child: &mut std::process::Child) -> Result<std::process::ExitStatus> {
    interactive_support::wait_child(child, "docker logs -f", WAIT)
}
