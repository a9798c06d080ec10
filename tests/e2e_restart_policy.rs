//! Restart policies as dockerd applies them, through the stock docker CLI on overlay2:
//! - across a `kill -9` of the agent: stopped `always` containers start again, `unless-stopped`
//!   ones unless stopped by hand (the flag survives the kill), `on-failure` ones do not; a
//!   container that died while no agent ran has the policy applied to that exit;
//! - the `restarting` state while a restart delay runs (`docker ps`, `docker inspect`), and
//!   `docker stop` / `rm -f` during the delay;
//! - cgroup hygiene: each agent's containers live under its own cgroup parent, a removed
//!   container leaves no cgroup directory, a clean shutdown removes the empty parent;
//! - the `Mounts` column of `docker ps` and its `volume=` filter;
//! - the default seccomp profile: a denied syscall fails with EPERM, `--cap-add` of its
//!   capability or `--security-opt seccomp=unconfined` allows it, `/info` lists the profile.

mod interactive_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use interactive_support::{send_signal, strata_bin, wait_for, WAIT};
use serde_json::Value;
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/restart-policy:1";
const DRIVER: &str = "overlay2";
/// Waits until `/tmp/go` appears in its rootfs, removes it (so a restarted run waits again),
/// then exits 3.
const WAIT_FOR_GO: &str =
    "echo started; while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 3";

fn daemon_with_image(options: &DaemonOptions) -> Result<(tempfile::TempDir, StrataDaemon)> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start_with(strata_bin(), DRIVER, options)?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE).build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    Ok((work, d))
}

fn state(d: &StrataDaemon, name: &str) -> Result<Value> {
    Ok(d.inspect(name)?["State"].clone())
}

fn process_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// Wait until container `name` runs (inspect `Status` `running`); returns its state.
fn wait_running(d: &StrataDaemon, name: &str) -> Result<Value> {
    wait_for(
        &format!("{name} to run"),
        WAIT,
        || {
            let s = state(d, name)?;
            Ok((s["Status"] == "running").then_some(s))
        },
        || format!("state: {:?}; log:\n{}", state(d, name).ok(), d.log_tail(20)),
    )
}

fn run(d: &StrataDaemon, name: &str, policy: &str, command: &str) -> Result<()> {
    d.docker_ok([
        "run",
        "-d",
        "--name",
        name,
        "--restart",
        policy,
        IMAGE,
        "sh",
        "-c",
        command,
    ])?;
    Ok(())
}

fn sigkill_agent(d: &mut StrataDaemon) -> Result<()> {
    let pid = d.pid().context("the daemon's pid")?;
    send_signal(pid, "KILL")?;
    let status = d.wait_exit(WAIT)?;
    ensure!(
        !status.success(),
        "the agent was killed, it reports {status}"
    );
    Ok(())
}

#[test]
fn policies_apply_across_a_killed_agent() -> Result<()> {
    let (_work, mut d) = daemon_with_image(&DaemonOptions::default())?;
    // Stopped by hand before the agent goes away.
    run(&d, "always-stopped", "always", "sleep 300")?;
    run(&d, "unless-stopped-stopped", "unless-stopped", "sleep 300")?;
    run(&d, "on-failure-stopped", "on-failure", "sleep 300")?;
    for name in [
        "always-stopped",
        "unless-stopped-stopped",
        "on-failure-stopped",
    ] {
        d.docker_ok(["stop", "-t", "0", name])?;
    }
    // Running when the agent is killed, and dying while no agent runs.
    for (name, policy) in [
        ("unless-stopped-died", "unless-stopped"),
        ("on-failure-died", "on-failure"),
        ("no-died", "no"),
    ] {
        run(&d, name, policy, WAIT_FOR_GO)?;
    }
    run(&d, "always-running", "always", "sleep 300")?;
    let mut died = Vec::new();
    for name in ["unless-stopped-died", "on-failure-died", "no-died"] {
        let c = d.inspect(name)?;
        let rootfs = PathBuf::from(
            c["GraphDriver"]["Data"]["MergedDir"]
                .as_str()
                .context("MergedDir")?,
        );
        died.push((name, c["State"]["Pid"].as_i64().context("pid")?, rootfs));
    }
    let running_pid = state(&d, "always-running")?["Pid"]
        .as_i64()
        .context("pid")?;

    sigkill_agent(&mut d)?;
    for (name, pid, rootfs) in &died {
        std::fs::write(rootfs.join("tmp/go"), b"")
            .with_context(|| format!("creating /tmp/go in {name}'s rootfs"))?;
        wait_for(
            &format!("{name}'s process to exit while no agent runs"),
            WAIT,
            || Ok((!process_alive(*pid)).then_some(())),
            || format!("pid {pid} still exists"),
        )?;
    }
    d.restart(&DaemonOptions::default())?;

    // dockerd's restore: `always` starts even after a manual stop; the exits seen at start are
    // handled by the policy (restarted: RestartCount 1, a second "started" in the log).
    wait_running(&d, "always-stopped")?;
    for name in ["unless-stopped-died", "on-failure-died"] {
        let s = wait_running(&d, name)?;
        let c = d.inspect(name)?;
        ensure!(
            c["RestartCount"] == 1,
            "{name}: RestartCount {} ({s})",
            c["RestartCount"]
        );
        let logs = d.docker_ok(["logs", name])?;
        ensure!(
            logs.matches("started").count() == 2,
            "{name} ran twice: {logs:?}"
        );
    }
    let running = state(&d, "always-running")?;
    ensure!(
        running["Status"] == "running" && running["Pid"].as_i64() == Some(running_pid),
        "the running container was reconnected, not restarted: {running}"
    );
    // Stopped by hand: unless-stopped and on-failure stay stopped; `no` keeps its exit.
    for name in ["unless-stopped-stopped", "on-failure-stopped"] {
        let s = state(&d, name)?;
        ensure!(s["Status"] == "exited", "{name} stays stopped: {s}");
    }
    let s = state(&d, "no-died")?;
    ensure!(
        s["Status"] == "exited" && s["ExitCode"] == 3,
        "no-died: its exit while the agent was away is recorded: {s}"
    );

    // A manual start clears the manual stop: the policy applies again (a process killed from
    // outside is restarted).
    d.docker_ok(["start", "unless-stopped-stopped"])?;
    let pid = wait_running(&d, "unless-stopped-stopped")?["Pid"]
        .as_i64()
        .context("pid")?;
    send_signal(u32::try_from(pid)?, "KILL")?;
    wait_for(
        "unless-stopped-stopped to be restarted after its process was killed",
        WAIT,
        || {
            let c = d.inspect("unless-stopped-stopped")?;
            Ok((c["State"]["Status"] == "running" && c["RestartCount"] == 1).then_some(()))
        },
        || format!("{:?}", state(&d, "unless-stopped-stopped").ok()),
    )?;
    d.docker_ok([
        "rm",
        "-f",
        "always-stopped",
        "unless-stopped-stopped",
        "on-failure-stopped",
    ])?;
    d.docker_ok([
        "rm",
        "-f",
        "unless-stopped-died",
        "on-failure-died",
        "no-died",
        "always-running",
    ])?;
    d.stop()?;
    Ok(())
}

#[test]
fn restarting_state_and_stop_during_the_delay() -> Result<()> {
    let (_work, mut d) = daemon_with_image(&DaemonOptions::default())?;
    run(&d, "flap", "always", "echo run; exit 3")?;
    // The delay doubles from 100 ms: the container soon spends most of its time waiting.
    let ps = wait_for(
        "docker ps to show flap restarting",
        WAIT,
        || {
            let out = d.docker_ok(["ps", "--filter", "name=flap", "--format", "{{.Status}}"])?;
            Ok(out
                .trim()
                .starts_with("Restarting (3) ")
                .then(|| out.trim().to_string()))
        },
        || format!("state: {:?}", state(&d, "flap").ok()),
    )?;
    ensure!(ps.ends_with(" ago"), "ps status: {ps:?}");
    let c = wait_for(
        "inspect to show flap restarting",
        WAIT,
        || {
            let c = d.inspect("flap")?;
            Ok((c["State"]["Status"] == "restarting").then_some(c))
        },
        || format!("state: {:?}", state(&d, "flap").ok()),
    )?;
    let s = &c["State"];
    ensure!(
        s["Restarting"] == true && s["Running"] == true && s["ExitCode"] == 3 && s["Pid"] == 0,
        "restarting state: {s}"
    );
    ensure!(
        c["RestartCount"].as_i64().unwrap_or(0) >= 1,
        "RestartCount: {}",
        c["RestartCount"]
    );

    // docker stop during the delay cancels the restart: exited, with the last run's code.
    // Stopped once the delay is 1.6 s or more (five restarts), so the stop surely lands in it.
    wait_for(
        "flap to be restarting after five restarts when stopped",
        WAIT,
        || {
            let c = d.inspect("flap")?;
            if c["State"]["Status"] != "restarting" || c["RestartCount"].as_i64() < Some(5) {
                return Ok(None);
            }
            d.docker_ok(["stop", "flap"])?;
            Ok(Some(()))
        },
        || format!("state: {:?}", state(&d, "flap").ok()),
    )?;
    let stopped = d.inspect("flap")?;
    let s = &stopped["State"];
    ensure!(
        s["Status"] == "exited"
            && s["Restarting"] == false
            && s["Running"] == false
            && s["ExitCode"] == 3,
        "after docker stop during the delay: {s}"
    );
    ensure!(
        std::fs::read_to_string(d.log_path())?.contains("pending restart cancelled"),
        "the agent's log says the restart was cancelled; log tail:\n{}",
        d.log_tail(20)
    );
    // Longer than the delay that was running: nothing starts it again.
    std::thread::sleep(Duration::from_secs(3));
    let later = d.inspect("flap")?;
    ensure!(
        later["State"]["Status"] == "exited" && later["State"]["StartedAt"] == s["StartedAt"],
        "the cancelled restart did not happen: {}",
        later["State"]
    );
    let waited = d.docker_ok(["wait", "flap"])?;
    ensure!(waited.trim() == "3", "docker wait: {waited:?}");

    // rm -f during the delay removes it.
    run(&d, "flap2", "on-failure", "exit 4")?;
    wait_for(
        "flap2 restarting, then removed by rm -f",
        WAIT,
        || {
            if state(&d, "flap2")?["Status"] != "restarting" {
                return Ok(None);
            }
            d.docker_ok(["rm", "-f", "flap2"])?;
            Ok(Some(()))
        },
        || format!("state: {:?}", state(&d, "flap2").ok()),
    )?;
    let all = d.docker_ok(["ps", "-a", "--format", "{{.Names}}"])?;
    ensure!(!all.lines().any(|l| l == "flap2"), "flap2 is gone: {all:?}");
    d.docker_ok(["rm", "flap"])?;
    d.stop()?;
    Ok(())
}

/// Mount points of every cgroup hierarchy (v1 controllers, named ones, v2).
fn cgroup_hierarchies() -> Result<Vec<PathBuf>> {
    let out = strata_test_support::cgroups::hierarchies();
    ensure!(
        !out.is_empty(),
        "no cgroup hierarchy is mounted on this host"
    );
    Ok(out)
}

/// Directories named `name` at most `depth` levels under `dir`.
fn dirs_named(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if entry.file_name().to_string_lossy() == name {
            out.push(path.clone());
        }
        dirs_named(&path, name, depth - 1, out);
    }
}

/// The cgroup path (`/parent/id`) of process `pid` in the memory hierarchy (v1) or the
/// unified one.
fn cgroup_of(pid: i64) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let line = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == "memory"))
        })
        .or_else(|| text.lines().find(|l| l.starts_with("0::")))
        .with_context(|| format!("no memory or unified cgroup in {text:?}"))?;
    Ok(line.splitn(3, ':').nth(2).unwrap_or_default().to_string())
}

#[test]
fn cgroups_live_under_a_parent_per_agent_and_are_cleaned_up() -> Result<()> {
    let hierarchies = cgroup_hierarchies()?;
    let (_work, mut d) = daemon_with_image(&DaemonOptions::default())?;
    let custom = format!("strata-e2e-{}", std::process::id());
    let (_work2, mut d2) =
        daemon_with_image(&DaemonOptions::default().args([format!("--cgroup-parent={custom}")]))?;

    let id = d
        .docker_ok(["run", "-d", IMAGE, "sleep", "300"])?
        .trim()
        .to_string();
    let pid = state(&d, &id)?["Pid"].as_i64().context("pid")?;
    let path = cgroup_of(pid)?;
    let parent = path
        .strip_suffix(&format!("/{id}"))
        .with_context(|| format!("the container's cgroup {path:?} is <parent>/<id>"))?
        .to_string();
    ensure!(
        parent.starts_with("/strata-") && parent != "/strata",
        "the default parent is the agent's own: {parent:?}"
    );
    let id2 = d2
        .docker_ok(["run", "-d", IMAGE, "sleep", "300"])?
        .trim()
        .to_string();
    let pid2 = state(&d2, &id2)?["Pid"].as_i64().context("pid")?;
    ensure!(
        cgroup_of(pid2)? == format!("/{custom}/{id2}"),
        "--cgroup-parent is used: {:?}",
        cgroup_of(pid2)?
    );

    d.docker_ok(["rm", "-f", &id])?;
    let mut left = Vec::new();
    for h in &hierarchies {
        dirs_named(h, &id, 3, &mut left);
    }
    ensure!(
        left.is_empty(),
        "cgroup directories of the removed container: {left:?}"
    );

    // A clean shutdown with no containers removes the agent's parent everywhere; the other
    // agent's parent (its container still runs) stays.
    d.stop()?;
    let remaining: Vec<PathBuf> = hierarchies
        .iter()
        .map(|h| h.join(parent.trim_start_matches('/')))
        .filter(|p| p.exists())
        .collect();
    ensure!(
        remaining.is_empty(),
        "the agent's cgroup parent after shutdown: {remaining:?}"
    );
    let other: BTreeSet<PathBuf> = hierarchies
        .iter()
        .map(|h| h.join(&custom))
        .filter(|p| p.join(&id2).is_dir())
        .collect();
    ensure!(
        !other.is_empty(),
        "the other agent's running container keeps its cgroup under /{custom}"
    );

    d2.docker_ok(["rm", "-f", &id2])?;
    d2.stop()?;
    let remaining: Vec<PathBuf> = hierarchies
        .iter()
        .map(|h| h.join(&custom))
        .filter(|p| p.exists())
        .collect();
    ensure!(
        remaining.is_empty(),
        "--cgroup-parent after shutdown: {remaining:?}"
    );
    Ok(())
}

#[test]
fn ps_shows_mounts_and_filters_by_volume() -> Result<()> {
    let (work, mut d) = daemon_with_image(&DaemonOptions::default())?;
    let host_dir = work.path().join("shared");
    std::fs::create_dir_all(&host_dir)?;
    let bind = format!("{}:/host", host_dir.display());
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "mounted",
        "-v",
        "namedvol:/data",
        "-v",
        &bind,
        IMAGE,
        "sleep",
        "300",
    ])?;
    d.docker_ok(["run", "-d", "--name", "plain", IMAGE, "sleep", "300"])?;
    let line = d.docker_ok([
        "ps",
        "--no-trunc",
        "--filter",
        "name=mounted",
        "--format",
        "{{.Mounts}}",
    ])?;
    let mut shown: Vec<&str> = line.trim().split(',').collect();
    shown.sort();
    let host = host_dir.display().to_string();
    let mut wanted = vec!["namedvol", host.as_str()];
    wanted.sort();
    ensure!(shown == wanted, "ps Mounts: {line:?}, wanted {wanted:?}");
    let plain = d.docker_ok(["ps", "--filter", "name=plain", "--format", "{{.Mounts}}"])?;
    ensure!(plain.trim().is_empty(), "no mounts: {plain:?}");
    for value in ["namedvol", "/data", host.as_str(), "/host"] {
        let names = d.docker_ok([
            "ps",
            "-a",
            "--filter",
            &format!("volume={value}"),
            "--format",
            "{{.Names}}",
        ])?;
        ensure!(names.trim() == "mounted", "volume={value}: {names:?}");
    }
    let none = d.docker_ok([
        "ps",
        "-a",
        "--filter",
        "volume=nothing",
        "--format",
        "{{.Names}}",
    ])?;
    ensure!(none.trim().is_empty(), "volume=nothing: {none:?}");
    d.docker_ok(["rm", "-f", "mounted", "plain"])?;
    d.stop()?;
    Ok(())
}

#[test]
fn default_seccomp_profile_denies_and_can_be_turned_off() -> Result<()> {
    use strata_test_support::docker_cli::OutputExt;
    let (_work, mut d) = daemon_with_image(&DaemonOptions::default())?;
    let info = d.docker_ok(["info", "--format", "{{json .SecurityOptions}}"])?;
    ensure!(
        info.contains("name=seccomp,profile=builtin"),
        "docker info SecurityOptions: {info:?}"
    );
    // unshare(CLONE_NEWUSER) needs no capability: only the profile stops it.
    let denied = d.docker(["run", "--rm", IMAGE, "busybox", "unshare", "-U", "true"]);
    ensure!(
        !denied.status.success() && denied.stderr_text().contains("Operation not permitted"),
        "unshare under the default profile fails with EPERM: {}",
        denied.describe()
    );
    let unconfined = d.docker([
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        IMAGE,
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    ensure!(
        unconfined.status.success(),
        "unshare -U with seccomp=unconfined succeeds (this needs unprivileged user namespaces \
         on the host: kernel.unprivileged_userns_clone / user.max_user_namespaces): {}",
        unconfined.describe()
    );
    let with_cap = d.docker([
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        IMAGE,
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    ensure!(
        with_cap.status.success(),
        "the profile allows unshare to a container with CAP_SYS_ADMIN: {}",
        with_cap.describe()
    );
    let swap = d.docker(["run", "--rm", IMAGE, "busybox", "swapoff", "/no-such-swap"]);
    ensure!(
        !swap.status.success() && swap.stderr_text().contains("not permitted"),
        "swapoff is refused: {}",
        swap.describe()
    );
    let bad = d.docker(["create", "--security-opt", "bogus=1", IMAGE]);
    ensure!(
        !bad.status.success() && bad.stderr_text().contains("invalid --security-opt"),
        "an unsupported --security-opt is refused: {}",
        bad.describe()
    );
    let c = d.inspect(
        &d.docker_ok(["create", "--security-opt", "seccomp=unconfined", IMAGE])?
            .trim()
            .to_string(),
    )?;
    ensure!(
        c["HostConfig"]["SecurityOpt"] == serde_json::json!(["seccomp=unconfined"]),
        "inspect HostConfig.SecurityOpt: {}",
        c["HostConfig"]["SecurityOpt"]
    );
    d.stop()?;
    Ok(())
}
