//! Crash repair of container operations, through the stock docker CLI: the agent is killed in
//! the middle of `docker create`, `docker run -d` (its start), `docker commit` and `docker rm
//! [-f]`, either at a fault point (`STRATA_FAULT_KILL_AT`, agent/src/faults.rs: the precise
//! cases) or by a SIGKILL sent while the operation runs (the instant varies; the same
//! invariants must hold). After a restart the user sees a consistent state (`docker ps -a`,
//! `docker inspect`, `exec`, `unpause`, `rm` working or refusing as they should), and nothing
//! is left behind: no frozen container the user did not pause, no shim or process of a
//! container that is not running, no `runc init`, no container directory, driver layer, runtime
//! state or mount that no record names.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::cgroups::{default_parent, frozen_under, processes_under};
use strata_test_support::daemon::{DaemonOptions, StrataDaemon, FAULT_ENV};
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/crash-repair:1";
/// How long an agent may take to die once the request reached its fault point, and how long
/// the polls below wait for what they expect.
const TIMEOUT: Duration = Duration::from_secs(60);
/// SIGKILL's number on Linux.
const SIGKILL: i32 = 9;
/// What the test containers run.
const SLEEPER: [&str; 2] = ["sleep", "3600"];

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// A daemon on overlay2 with the test image loaded.
struct Agent {
    d: StrataDaemon,
    /// Its cgroup parent (containers' cgroups are `<parent>/<id>`).
    parent: String,
}

impl Agent {
    fn start() -> Result<Agent> {
        let work = tempfile::tempdir()?;
        let archive = work.path().join("image.tar");
        TestImage::busybox(IMAGE).build_docker_archive(&archive)?;
        let d = StrataDaemon::start(strata_bin(), "overlay2")?;
        d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
        let parent = default_parent(d.data_root());
        Ok(Agent { d, parent })
    }

    fn docker_ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.d.docker_ok(args)
    }

    /// `docker run -d --name NAME IMAGE sleep 3600`; returns the full id.
    fn run_sleeper(&self, name: &str) -> Result<String> {
        let mut args = vec!["run", "-d", "--name", name, IMAGE];
        args.extend(SLEEPER);
        Ok(self.d.docker_ok(&args)?.trim().to_string())
    }

    /// Restart the agent armed with `point`, run `docker args` (which reaches it), check that
    /// the agent died of SIGKILL there, and start it again unarmed.
    fn crash_at(&mut self, point: &str, args: &[&str]) -> Result<()> {
        self.d.stop()?;
        self.d
            .restart(&DaemonOptions::default().env(FAULT_ENV, point))?;
        let out = self.d.docker(args);
        ensure!(
            out.code() != 0,
            "docker {} must fail when the agent dies at {point}: {}",
            args.join(" "),
            out.describe()
        );
        let status = self.d.wait_exit(TIMEOUT)?;
        ensure!(
            status.signal() == Some(SIGKILL),
            "the agent died of SIGKILL at {point}, got {status}; log tail:\n{}",
            self.d.log_tail(30)
        );
        self.d.restart(&DaemonOptions::default())
    }

    /// SIGKILL the agent now and start it again.
    fn kill_and_restart(&mut self) -> Result<()> {
        let status = self.d.kill()?;
        ensure!(
            status.signal() == Some(SIGKILL),
            "the agent was killed, it reports {status}"
        );
        self.d.restart(&DaemonOptions::default())
    }

    /// `docker inspect NAME`'s object, or `None` when there is no such container.
    fn inspect(&self, name: &str) -> Result<Option<Value>> {
        let out = self.d.docker(["container", "inspect", name]);
        if out.code() != 0 && out.stderr_text().contains("No such container") {
            return Ok(None);
        }
        let text = out.ok(&format!("docker container inspect {name}"))?;
        let list: Value =
            serde_json::from_str(&text).with_context(|| format!("inspect: {text}"))?;
        Ok(list.get(0).cloned())
    }

    /// `State.Status` of container `name`.
    fn status(&self, name: &str) -> Result<String> {
        let state = self
            .inspect(name)?
            .with_context(|| format!("container {name} exists"))?;
        Ok(state["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Every container as `docker inspect` shows it: id -> (status, paused).
    fn containers(&self) -> Result<Vec<(String, String, bool)>> {
        let ids = self.docker_ok(["ps", "-a", "-q", "--no-trunc"])?;
        let mut out = Vec::new();
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let c = self
                .inspect(id)?
                .with_context(|| format!("{id} is listed"))?;
            out.push((
                id.to_string(),
                c["State"]["Status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["State"]["Paused"].as_bool().unwrap_or(false),
            ));
        }
        Ok(out)
    }

    /// `docker exec NAME echo alive` prints `alive`.
    fn exec_works(&self, name: &str) -> Result<()> {
        let out = self.docker_ok(["exec", name, "echo", "alive"])?;
        ensure!(out == "alive\n", "docker exec {name}: printed {out:?}");
        Ok(())
    }

    /// `docker unpause NAME` refuses: the container is not paused.
    fn unpause_refuses(&self, name: &str) -> Result<()> {
        let out = self.d.docker(["unpause", name]);
        ensure!(
            out.code() != 0 && out.stderr_text().contains("is not paused"),
            "docker unpause {name} of a container that is not paused: {}",
            out.describe()
        );
        Ok(())
    }

    /// What the user sees and what is on the host agree, and nothing is left behind:
    /// - the frozen cgroups are exactly those of containers shown paused;
    /// - processes in the agent's cgroups belong to running (or paused) containers, and none
    ///   is a `runc init` (a container created and never started);
    /// - every shim (a process naming the exec root) belongs to a running or paused container,
    ///   one each;
    /// - container directories under the data and exec roots are named by containers, the
    ///   runtime's state and network namespaces by running ones;
    /// - the driver's layers are exactly those the metadata records;
    /// - every mount under the test root belongs to a running container.
    fn check_consistent(&self, what: &str) -> Result<()> {
        let containers = self.containers()?;
        let all: BTreeSet<&str> = containers.iter().map(|(id, _, _)| id.as_str()).collect();
        let live: BTreeSet<&str> = containers
            .iter()
            .filter(|(_, status, _)| status == "running" || status == "paused")
            .map(|(id, _, _)| id.as_str())
            .collect();
        let paused: BTreeSet<String> = containers
            .iter()
            .filter(|(_, _, paused)| *paused)
            .map(|(id, _, _)| id.clone())
            .collect();
        let context = || {
            format!(
                "{what}: containers {containers:?}\nlog tail:\n{}",
                self.d.log_tail(30)
            )
        };

        let frozen: BTreeSet<String> = frozen_under(&self.parent).into_iter().collect();
        ensure!(
            frozen == paused,
            "frozen cgroups {frozen:?} are those of the paused containers {paused:?}; {}",
            context()
        );

        for p in processes_under(&self.parent) {
            ensure!(
                live.contains(p.container.as_str()),
                "process {} ({}) is in the cgroup of {}, which is not running; {}",
                p.pid,
                p.cmdline,
                p.container,
                context()
            );
            ensure!(
                p.cmdline != "runc init",
                "a `runc init` (pid {}) waits in container {}: created, never started; {}",
                p.pid,
                p.container,
                context()
            );
        }

        let mut shims = Vec::new();
        for (pid, cmdline) in self.d.processes_naming_exec_root() {
            let owner = container_named_in(&cmdline, self.d.exec_root());
            match owner {
                Some(id) if cmdline.contains(" shim ") && live.contains(id.as_str()) => {
                    shims.push(id)
                }
                _ => bail!(
                    "process {pid} ({cmdline}) of the agent outlives its container; {}",
                    context()
                ),
            }
        }
        shims.sort();
        let expected: Vec<String> = live.iter().map(|id| id.to_string()).collect();
        ensure!(
            shims == expected,
            "one shim per running container: shims of {shims:?}, running {expected:?}; {}",
            context()
        );

        for (dir, allowed) in [
            (self.d.data_root().join("containers"), &all),
            (self.d.exec_root().join("containers"), &all),
            (self.d.exec_root().join("runtime"), &live),
            (self.d.exec_root().join("netns"), &live),
        ] {
            let names = entries(&dir)?;
            let stray: Vec<&String> = names
                .iter()
                .filter(|n| !allowed.contains(n.as_str()))
                .collect();
            ensure!(
                stray.is_empty(),
                "{} holds {stray:?}, which no (running) container names; {}",
                dir.display(),
                context()
            );
        }

        let on_disk: BTreeSet<String> = entries(&self.d.driver_home())?
            .into_iter()
            .filter(|n| n != "l")
            .collect();
        let recorded = self.d.recorded_layers()?;
        ensure!(
            on_disk == recorded,
            "the driver holds exactly the recorded layers: on disk {on_disk:?}, recorded {recorded:?}; {}",
            context()
        );

        for mount in self.d.leftover_mounts() {
            let text = mount.to_string_lossy();
            ensure!(
                live.iter().any(|id| text.contains(id)),
                "{} is mounted, and no running container owns it; {}",
                mount.display(),
                context()
            );
        }
        Ok(())
    }

    /// Remove every container (`docker rm -f`), then check nothing at all is left.
    fn remove_all_and_check(&self, what: &str) -> Result<()> {
        let ids = self.docker_ok(["ps", "-a", "-q"])?;
        for id in ids.lines().filter(|l| !l.is_empty()) {
            self.docker_ok(["rm", "-f", id])?;
        }
        self.check_consistent(what)?;
        let mounts = self.d.leftover_mounts();
        ensure!(mounts.is_empty(), "{what}: mounts left {mounts:?}");
        Ok(())
    }
}

/// The container id in a command line that names `<exec-root>/containers/<id>/...`.
fn container_named_in(cmdline: &str, exec_root: &Path) -> Option<String> {
    let marker = format!("{}/containers/", exec_root.display());
    let rest = &cmdline[cmdline.find(&marker)? + marker.len()..];
    Some(rest.split('/').next()?.to_string())
}

/// Names in a directory (none when it does not exist).
fn entries(dir: &Path) -> Result<BTreeSet<String>> {
    match std::fs::read_dir(dir) {
        Ok(list) => list
            .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("listing {}", dir.display())),
    }
}

/// Poll `probe` every few milliseconds until it gives a value.
fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if started.elapsed() > TIMEOUT {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn create_killed_after_the_record() -> Result<()> {
    let mut a = Agent::start()?;
    let mut args = vec!["create", "--name", "made", IMAGE];
    args.extend(SLEEPER);
    a.crash_at("container-recorded", &args)?;
    ensure!(
        a.status("made")? == "created",
        "the recorded container is shown created"
    );
    a.check_consistent("after a create killed once recorded")?;
    a.docker_ok(["start", "made"])?;
    a.exec_works("made")?;
    a.remove_all_and_check("after removing the created container")
}

#[test]
fn run_killed_before_the_runtime_start() -> Result<()> {
    let mut a = Agent::start()?;
    let mut args = vec!["run", "-d", "--name", "unstarted", IMAGE];
    args.extend(SLEEPER);
    a.crash_at("start-runtime-created", &args)?;
    let c = a
        .inspect("unstarted")?
        .context("the created container is kept")?;
    ensure!(
        c["State"]["Status"] == "created" && c["State"]["Pid"] == 0,
        "a start the agent did not complete leaves the container created: {}",
        c["State"]
    );
    a.check_consistent("after a start killed before the runtime started the container")?;
    a.docker_ok(["start", "unstarted"])?;
    ensure!(
        a.status("unstarted")? == "running",
        "docker start works afterwards"
    );
    a.exec_works("unstarted")?;
    a.remove_all_and_check("after removing the container")
}

#[test]
fn run_killed_after_the_runtime_start() -> Result<()> {
    let mut a = Agent::start()?;
    let mut args = vec!["run", "-d", "--name", "started", IMAGE];
    args.extend(SLEEPER);
    a.crash_at("start-runtime-started", &args)?;
    let c = a
        .inspect("started")?
        .context("the started container is kept")?;
    let pid = c["State"]["Pid"].as_i64().unwrap_or(0);
    ensure!(
        c["State"]["Status"] == "running" && pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        "a container the runtime started is adopted as running: {}",
        c["State"]
    );
    a.check_consistent("after a start killed before it was recorded")?;
    a.exec_works("started")?;
    a.unpause_refuses("started")?;
    a.docker_ok(["stop", "-t", "1", "started"])?;
    ensure!(
        a.status("started")? == "exited",
        "docker stop works on the adopted container"
    );
    a.remove_all_and_check("after removing the container")
}

#[test]
fn commit_killed_while_frozen() -> Result<()> {
    let mut a = Agent::start()?;
    a.run_sleeper("committed")?;
    a.run_sleeper("paused-by-user")?;
    a.docker_ok(["pause", "paused-by-user"])?;
    a.crash_at(
        "commit-container-frozen",
        &["commit", "committed", "crash/commit:frozen"],
    )?;
    ensure!(
        a.status("committed")? == "running",
        "the committed container runs"
    );
    ensure!(
        a.status("paused-by-user")? == "paused",
        "the container the user paused stays paused"
    );
    a.check_consistent("after a commit killed while the container was frozen")?;
    a.exec_works("committed")?;
    a.unpause_refuses("committed")?;
    let out = a.d.docker(["image", "inspect", "crash/commit:frozen"]);
    ensure!(
        out.code() != 0,
        "the commit cut short recorded no image: {}",
        out.describe()
    );
    a.docker_ok(["commit", "committed", "crash/commit:again"])?;
    a.docker_ok(["unpause", "paused-by-user"])?;
    a.exec_works("paused-by-user")?;
    a.remove_all_and_check("after removing the containers")
}

#[test]
fn commit_killed_after_the_image_is_recorded() -> Result<()> {
    let mut a = Agent::start()?;
    a.run_sleeper("committed")?;
    a.docker_ok(["exec", "committed", "sh", "-c", "echo kept > /marker"])?;
    a.crash_at(
        "commit-image-recorded",
        &["commit", "committed", "crash/commit:recorded"],
    )?;
    ensure!(
        a.status("committed")? == "running",
        "the committed container runs"
    );
    a.check_consistent("after a commit killed before the thaw")?;
    a.exec_works("committed")?;
    a.unpause_refuses("committed")?;
    let out = a.docker_ok(["run", "--rm", "crash/commit:recorded", "cat", "/marker"])?;
    ensure!(
        out == "kept\n",
        "the recorded image holds the container's change: {out:?}"
    );
    a.docker_ok(["commit", "committed", "crash/commit:again"])?;
    a.remove_all_and_check("after removing the container")
}

#[test]
fn rm_killed_at_each_step() -> Result<()> {
    let mut a = Agent::start()?;
    for point in [
        "remove-tombstoned",
        "remove-runtime-deleted",
        "remove-layers-removed",
        "remove-files-removed",
    ] {
        // `rm -f` of a running and of a paused container, `rm` of a stopped one.
        for before in ["running", "paused", "stopped"] {
            let name = format!("rm-{point}-{before}");
            a.run_sleeper(&name)?;
            let args: Vec<&str> = match before {
                "running" => vec!["rm", "-f", name.as_str()],
                "paused" => {
                    a.docker_ok(["pause", name.as_str()])?;
                    vec!["rm", "-f", name.as_str()]
                }
                _ => {
                    a.docker_ok(["stop", "-t", "1", name.as_str()])?;
                    vec!["rm", name.as_str()]
                }
            };
            a.crash_at(point, &args)?;
            ensure!(
                a.inspect(&name)?.is_none(),
                "docker {} killed at {point}: the removal is finished at the next start",
                args.join(" ")
            );
            a.check_consistent(&format!(
                "after docker {} killed at {point}",
                args.join(" ")
            ))?;
            a.run_sleeper(&name)?;
            a.docker_ok(["rm", "-f", name.as_str()])?;
        }
    }
    a.remove_all_and_check("at the end")
}

#[test]
fn commit_killed_mid_operation() -> Result<()> {
    let mut a = Agent::start()?;
    let id = a.run_sleeper("big")?;
    a.run_sleeper("paused-by-user")?;
    a.docker_ok(["pause", "paused-by-user"])?;
    // 256 MiB of changes: the diff takes seconds, the container is frozen all along.
    a.docker_ok([
        "exec",
        "big",
        "sh",
        "-c",
        "head -c 268435456 /dev/urandom > /big",
    ])?;
    let mut commit = a.d.docker_spawn(["commit", "big", "crash/commit:mid"])?;
    let parent = a.parent.clone();
    wait_until("the commit to freeze the container", || {
        frozen_under(&parent).contains(&id).then_some(())
    })?;
    a.kill_and_restart()?;
    let _ = commit.wait();
    ensure!(
        a.status("big")? == "running",
        "the container being committed runs"
    );
    ensure!(
        a.status("paused-by-user")? == "paused",
        "the container the user paused stays paused"
    );
    a.check_consistent("after an agent killed during a commit")?;
    a.exec_works("big")?;
    a.unpause_refuses("big")?;
    a.docker_ok(["exec", "big", "rm", "/big"])?;
    a.docker_ok(["commit", "big", "crash/commit:after"])?;
    a.docker_ok(["unpause", "paused-by-user"])?;
    a.remove_all_and_check("after removing the containers")
}

/// `docker run -d` killed at several instants after its shim appeared (the start is under
/// way): every time the container is either created with nothing running, or running.
#[test]
fn run_d_killed_mid_operation() -> Result<()> {
    let mut a = Agent::start()?;
    for (cycle, delay_ms) in [0u64, 20, 60, 150].into_iter().enumerate() {
        let name = format!("mid-run-{cycle}");
        let mut args = vec!["run", "-d", "--name", name.as_str(), IMAGE];
        args.extend(SLEEPER);
        let mut run = a.d.docker_spawn(args)?;
        let d = &a.d;
        wait_until("the shim of the container being started", || {
            d.processes_naming_exec_root()
                .iter()
                .any(|(_, cmdline)| cmdline.contains(" shim "))
                .then_some(())
        })?;
        std::thread::sleep(Duration::from_millis(delay_ms));
        a.kill_and_restart()?;
        let _ = run.wait();
        let status = a.status(&name)?;
        eprintln!("run -d killed {delay_ms} ms after its shim appeared: {name} is {status}");
        ensure!(
            status == "created" || status == "running",
            "cycle {cycle} (kill {delay_ms} ms after the shim appeared): {name} is {status}"
        );
        a.check_consistent(&format!(
            "cycle {cycle}: after run -d killed {delay_ms} ms in"
        ))?;
        if status == "created" {
            a.docker_ok(["start", name.as_str()])?;
        }
        a.exec_works(&name)?;
        a.docker_ok(["rm", "-f", name.as_str()])?;
        a.check_consistent(&format!("cycle {cycle}: after rm -f"))?;
    }
    a.remove_all_and_check("at the end")
}

/// `docker rm -f` of a running container killed at several instants after the container's
/// process died (the removal is under way): every time the removal is finished at restart.
#[test]
fn rm_f_killed_mid_operation() -> Result<()> {
    let mut a = Agent::start()?;
    for (cycle, delay_ms) in [0u64, 5, 15, 40].into_iter().enumerate() {
        let name = format!("mid-rm-{cycle}");
        a.run_sleeper(&name)?;
        let c = a.inspect(&name)?.context("the container runs")?;
        let pid = c["State"]["Pid"].as_i64().context("its pid")?;
        let mut rm = a.d.docker_spawn(["rm", "-f", name.as_str()])?;
        wait_until("the container's process to die", || {
            (!PathBuf::from(format!("/proc/{pid}")).exists()).then_some(())
        })?;
        std::thread::sleep(Duration::from_millis(delay_ms));
        a.kill_and_restart()?;
        let _ = rm.wait();
        ensure!(
            a.inspect(&name)?.is_none(),
            "cycle {cycle} (kill {delay_ms} ms after the process died): the removal is finished"
        );
        a.check_consistent(&format!(
            "cycle {cycle}: after rm -f killed {delay_ms} ms in"
        ))?;
        a.run_sleeper(&name)?;
        a.exec_works(&name)?;
    }
    a.remove_all_and_check("at the end")
}
