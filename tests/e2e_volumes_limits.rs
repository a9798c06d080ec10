//! Volumes, `--init`, resource limits and the `docker run` flags of the container's process, end
//! to end through the docker CLI on overlay2: bind mounts (`:ro` enforced), named volumes (create,
//! ls, inspect, rm refused while in use, prune, populated from the image on first use),
//! anonymous volumes from the image's `VOLUME` (removed by `rm -v` and `--rm`), duplicate targets
//! refused; tini as PID 1 reaping zombies; limits read back from /sys/fs/cgroup; an OOM kill.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::{LayerEntry, TestImage};

const DRIVER: &str = "overlay2";
const IMAGE: &str = "strata-test/volumes:1";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// A daemon with the busybox test image that declares `VOLUME /srv/app` (which has content in
/// the image) and `VOLUME /cache`.
fn daemon_with_image() -> Result<(StrataDaemon, tempfile::TempDir)> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE)
        .layer(
            "app content",
            vec![
                LayerEntry::dir("srv"),
                LayerEntry::dir("srv/app"),
                LayerEntry::file("srv/app/hello.txt", "from the image\n"),
            ],
        )
        .volume("/srv/app")
        .volume("/cache")
        .build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", path_str(&archive)?])?;
    Ok((d, work))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

fn inspect(d: &StrataDaemon, what: &[&str]) -> Result<Value> {
    let text = d.docker_ok(what)?;
    let list: Value =
        serde_json::from_str(&text).with_context(|| format!("inspect printed {text:?}"))?;
    list.get(0)
        .cloned()
        .with_context(|| format!("empty inspect answer: {text}"))
}

fn volume_names(d: &StrataDaemon) -> Result<BTreeSet<String>> {
    Ok(d.docker_ok(["volume", "ls", "-q"])?
        .lines()
        .map(str::to_string)
        .collect())
}

/// Poll `check` until it returns `Some`, for at most `limit`.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run `docker ARGS`, expecting failure; returns stderr.
fn docker_fails(d: &StrataDaemon, args: &[&str]) -> Result<String> {
    let out = d.docker(args);
    ensure!(
        out.code() != 0,
        "docker {args:?} should fail:\n{}",
        out.describe()
    );
    Ok(out.stderr_text())
}

#[test]
fn bind_mounts_are_mounted_and_ro_is_enforced() -> Result<()> {
    let (d, work) = daemon_with_image()?;
    let host = work.path().join("host");
    let other = work.path().join("other");
    std::fs::create_dir_all(&host)?;
    std::fs::create_dir_all(&other)?;
    std::fs::write(host.join("f.txt"), "on the host\n")?;
    std::fs::write(other.join("g.txt"), "other dir\n")?;
    let ro = format!("{}:/h:ro", path_str(&host)?);
    let rw = format!("{}:/h", path_str(&host)?);
    let second = format!("{}:/o", path_str(&other)?);

    // Read-only: readable, not writable.
    let out = d.docker([
        "run",
        "--rm",
        "-v",
        &ro,
        IMAGE,
        "sh",
        "-c",
        "cat /h/f.txt; echo x > /h/new",
    ]);
    ensure!(
        out.code() != 0,
        "writing to a :ro bind must fail:\n{}",
        out.describe()
    );
    ensure!(out.stdout_text() == "on the host\n", "{}", out.describe());
    ensure!(
        out.stderr_text().contains("Read-only file system"),
        "{}",
        out.describe()
    );
    ensure!(
        !host.join("new").exists(),
        "the :ro bind let a file through to the host"
    );

    // Read-write, with a second -v: both mounted, writes reach the host.
    let out = d.docker_ok([
        "run",
        "--rm",
        "-v",
        &rw,
        "-v",
        &second,
        IMAGE,
        "sh",
        "-c",
        "cat /o/g.txt; echo written > /h/w.txt",
    ])?;
    ensure!(out == "other dir\n", "second -v not mounted: {out:?}");
    ensure!(std::fs::read_to_string(host.join("w.txt"))? == "written\n");

    // A missing bind source is created as a directory, as Docker does.
    let fresh = work.path().join("made/by/run");
    let spec = format!("{}:/m", path_str(&fresh)?);
    d.docker_ok(["run", "--rm", "-v", &spec, IMAGE, "true"])?;
    ensure!(fresh.is_dir(), "missing bind source not created");

    // Two mounts on one target: a 400, not one silently replacing the other.
    let dup = format!("{}:/h", path_str(&other)?);
    let err = docker_fails(&d, &["run", "--rm", "-v", &rw, "-v", &dup, IMAGE, "true"])?;
    ensure!(err.contains("Duplicate mount point: /h"), "stderr: {err}");
    let err = docker_fails(&d, &["create", "-v", &rw, "--tmpfs", "/h", IMAGE, "true"])?;
    ensure!(err.contains("Duplicate mount point: /h"), "stderr: {err}");
    let err = docker_fails(&d, &["create", "-v", "/h:relative", IMAGE, "true"])?;
    ensure!(
        err.contains("invalid volume specification"),
        "stderr: {err}"
    );

    // --mount: bind (must exist, readonly enforced), named and anonymous volume, tmpfs.
    let bind_mount = format!("type=bind,source={},target=/m,readonly", path_str(&host)?);
    let out = d.docker([
        "run",
        "--rm",
        "--mount",
        &bind_mount,
        "--mount",
        "type=volume,source=mounted,target=/v",
        "--mount",
        "type=volume,target=/anon",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1048576",
        IMAGE,
        "sh",
        "-c",
        "cat /m/f.txt; echo v > /v/f; grep -c ' /t tmpfs ' /proc/mounts; touch /m/no",
    ]);
    ensure!(
        out.stdout_text() == "on the host\n1\n",
        "{}",
        out.describe()
    );
    ensure!(
        out.stderr_text().contains("Read-only file system"),
        "{}",
        out.describe()
    );
    let v = inspect(&d, &["volume", "inspect", "mounted"])?;
    let data = PathBuf::from(v["Mountpoint"].as_str().context("Mountpoint")?);
    ensure!(std::fs::read_to_string(data.join("f"))? == "v\n");
    let missing = format!("type=bind,source={}/nope,target=/x", path_str(work.path())?);
    let err = docker_fails(&d, &["create", "--mount", &missing, IMAGE, "true"])?;
    ensure!(
        err.contains("bind source path does not exist"),
        "stderr: {err}"
    );
    let err = docker_fails(
        &d,
        &[
            "create",
            "-v",
            &rw,
            "--mount",
            "type=volume,target=/h",
            IMAGE,
            "true",
        ],
    )?;
    ensure!(err.contains("Duplicate mount point: /h"), "stderr: {err}");

    // Inspect lists the binds.
    d.docker_ok([
        "create", "--name", "binds", "-v", &ro, "-v", &second, IMAGE, "true",
    ])?;
    let c = inspect(&d, &["inspect", "binds"])?;
    let mounts = c["Mounts"].as_array().context("Mounts")?;
    let h = mounts
        .iter()
        .find(|m| m["Destination"] == "/h")
        .context("no /h in Mounts")?;
    ensure!(
        h["Type"] == "bind"
            && h["Source"] == path_str(&host)?
            && h["RW"] == false
            && h["Mode"] == "ro",
        "{h}"
    );
    let o = mounts
        .iter()
        .find(|m| m["Destination"] == "/o")
        .context("no /o in Mounts")?;
    ensure!(o["Type"] == "bind" && o["RW"] == true, "{o}");
    d.docker_ok(["rm", "-v", "binds"])?;
    Ok(())
}

#[test]
fn named_and_anonymous_volumes() -> Result<()> {
    let (d, _work) = daemon_with_image()?;
    let volumes_dir = d.data_root().join("volumes");

    // docker volume create / ls / inspect.
    ensure!(d.docker_ok(["volume", "create", "data"])?.trim() == "data");
    ensure!(
        d.docker_ok(["volume", "create", "--label", "team=db", "labelled"])?
            .trim()
            == "labelled"
    );
    ensure!(volume_names(&d)?.contains("data"));
    let v = inspect(&d, &["volume", "inspect", "data"])?;
    let mountpoint = volumes_dir.join("data/_data");
    ensure!(
        v["Name"] == "data" && v["Driver"] == "local" && v["Scope"] == "local",
        "{v}"
    );
    ensure!(v["Mountpoint"] == path_str(&mountpoint)?, "{v}");
    ensure!(mountpoint.is_dir());
    let filtered = d.docker_ok(["volume", "ls", "-q", "--filter", "label=team=db"])?;
    ensure!(filtered.trim() == "labelled", "label filter: {filtered:?}");
    let err = docker_fails(&d, &["volume", "inspect", "nosuch"])?;
    ensure!(err.contains("get nosuch: no such volume"), "stderr: {err}");
    let err = docker_fails(&d, &["volume", "create", "bad/name"])?;
    ensure!(
        err.contains("includes invalid characters for a local volume name"),
        "stderr: {err}"
    );

    // First use of an empty volume over an image directory: populated from the image.
    let out = d.docker_ok([
        "run",
        "--rm",
        "-v",
        "data:/srv/app",
        IMAGE,
        "sh",
        "-c",
        "cat /srv/app/hello.txt; echo from-a > /srv/app/a.txt",
    ])?;
    ensure!(
        out == "from the image\n",
        "volume not populated from the image: {out:?}"
    );
    ensure!(std::fs::read_to_string(mountpoint.join("hello.txt"))? == "from the image\n");
    ensure!(std::fs::read_to_string(mountpoint.join("a.txt"))? == "from-a\n");
    // The content stays for the next container.
    let out = d.docker_ok([
        "run",
        "--rm",
        "-v",
        "data:/elsewhere:ro",
        IMAGE,
        "cat",
        "/elsewhere/a.txt",
    ])?;
    ensure!(out == "from-a\n", "{out:?}");

    // -v NAME:/ctr creates the volume on first use.
    d.docker_ok(["run", "--rm", "-v", "auto-made:/x", IMAGE, "true"])?;
    ensure!(
        volume_names(&d)?.contains("auto-made"),
        "-v name:/ctr did not create the volume"
    );

    // A volume in use is not removed (409); once its container is gone it is.
    d.docker_ok(["create", "--name", "user", "-v", "data:/d", IMAGE, "true"])?;
    let c = inspect(&d, &["inspect", "user"])?;
    let m = c["Mounts"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["Destination"] == "/d").cloned())
        .context("no /d in Mounts")?;
    ensure!(
        m["Type"] == "volume"
            && m["Name"] == "data"
            && m["Source"] == path_str(&mountpoint)?
            && m["RW"] == true
            && m["Driver"] == "local",
        "{m}"
    );
    let err = docker_fails(&d, &["volume", "rm", "data"])?;
    ensure!(
        err.contains("remove data: volume is in use"),
        "stderr: {err}"
    );
    ensure!(mountpoint.join("a.txt").exists(), "refused rm lost data");
    d.docker_ok(["rm", "-v", "user"])?;
    ensure!(
        volume_names(&d)?.contains("data"),
        "rm -v removed a named volume"
    );
    d.docker_ok(["volume", "rm", "data"])?;
    ensure!(
        !volumes_dir.join("data").exists(),
        "volume directory left after rm"
    );
    let err = docker_fails(&d, &["volume", "rm", "data"])?;
    ensure!(err.contains("no such volume"), "stderr: {err}");

    // Anonymous volumes from the image's VOLUME and -v /ctr: random 64-hex names, populated,
    // removed by rm -v.
    let before = volume_names(&d)?;
    d.docker_ok([
        "create",
        "--name",
        "anon",
        "-v",
        "/extra",
        IMAGE,
        "cat",
        "/srv/app/hello.txt",
    ])?;
    let after = volume_names(&d)?;
    let made: Vec<_> = after.difference(&before).cloned().collect();
    ensure!(
        made.len() == 3,
        "expected 3 anonymous volumes (/srv/app, /cache, /extra), got {made:?}"
    );
    ensure!(
        made.iter()
            .all(|n| n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit())),
        "{made:?}"
    );
    let c = inspect(&d, &["inspect", "anon"])?;
    let dests: BTreeSet<String> = c["Mounts"]
        .as_array()
        .context("Mounts")?
        .iter()
        .filter(|m| m["Type"] == "volume")
        .filter_map(|m| m["Destination"].as_str().map(str::to_string))
        .collect();
    ensure!(
        dests
            == ["/cache", "/extra", "/srv/app"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        "{dests:?}"
    );
    let out = d.docker_ok(["start", "-a", "anon"])?;
    ensure!(
        out == "from the image\n",
        "anonymous volume not populated: {out:?}"
    );
    d.docker_ok(["rm", "-v", "anon"])?;
    ensure!(volume_names(&d)? == before, "rm -v left anonymous volumes");

    // --rm removes them too.
    d.docker_ok(["run", "--rm", IMAGE, "true"])?;
    ensure!(volume_names(&d)? == before, "--rm left anonymous volumes");

    // A -v over an image VOLUME replaces it (no anonymous volume for /srv/app).
    d.docker_ok(["run", "--rm", "-v", "named-app:/srv/app", IMAGE, "true"])?;
    let now = volume_names(&d)?;
    ensure!(
        now.difference(&before).cloned().collect::<Vec<_>>() == vec!["named-app".to_string()],
        "{now:?}"
    );

    // prune: unused anonymous volumes only; -a also named ones.
    d.docker_ok(["create", "--name", "leaves-anon", IMAGE, "true"])?;
    d.docker_ok(["rm", "leaves-anon"])?; // without -v: the anonymous volumes stay, dangling
    d.docker_ok([
        "create",
        "--name",
        "holder",
        "-v",
        "labelled:/l",
        IMAGE,
        "true",
    ])?;
    let holder = inspect(&d, &["inspect", "holder"])?;
    let held: BTreeSet<String> = holder["Mounts"]
        .as_array()
        .context("Mounts")?
        .iter()
        .filter(|m| m["Type"] == "volume")
        .filter_map(|m| m["Name"].as_str().map(str::to_string))
        .collect();
    ensure!(
        held.len() == 3 && held.contains("labelled"),
        "holder mounts {held:?}"
    );
    let dangling: Vec<String> = volume_names(&d)?
        .into_iter()
        .filter(|n| !now.contains(n) && !held.contains(n))
        .collect();
    ensure!(
        dangling.len() == 2,
        "rm without -v should leave 2 anonymous volumes: {dangling:?}"
    );
    let pruned = d.docker_ok(["volume", "prune", "-f"])?;
    ensure!(pruned.contains("Total reclaimed space"), "{pruned}");
    let expected: BTreeSet<String> = now.union(&held).cloned().collect();
    ensure!(
        volume_names(&d)? == expected,
        "plain prune should remove exactly the unused anonymous volumes"
    );
    d.docker_ok(["volume", "prune", "-a", "-f"])?;
    let left = volume_names(&d)?;
    ensure!(
        left == held,
        "prune -a should keep only the volumes in use: {left:?}"
    );
    d.docker_ok(["rm", "holder"])?;
    Ok(())
}

/// Host pids whose parent is `ppid`, with their state letter.
fn children(ppid: u32) -> Result<Vec<(u32, char)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let parent = fields
            .next()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        if parent == ppid {
            out.push((pid, state));
        }
    }
    Ok(out)
}

fn container_pid(d: &StrataDaemon, name: &str) -> Result<u32> {
    let pid = d.docker_ok(["inspect", "-f", "{{.State.Pid}}", name])?;
    pid.trim()
        .parse()
        .with_context(|| format!("State.Pid {pid:?}"))
}

/// PID 1 forks three orphans (each `sleep 1` whose parent subshell exits at once), then execs a
/// `sleep` that never reaps.
const ORPHAN_MAKER: &str = "for i in 1 2 3; do (sleep 1 &); done; exec sleep 300";

#[test]
fn init_reaps_zombies_that_a_plain_pid1_leaves() -> Result<()> {
    let (d, _work) = daemon_with_image()?;
    ensure!(
        Path::new("/usr/bin/tini-static").exists(),
        "tini-static is missing: apt-get install tini"
    );

    d.docker_ok([
        "run",
        "-d",
        "--name",
        "plain",
        IMAGE,
        "sh",
        "-c",
        ORPHAN_MAKER,
    ])?;
    let pid = container_pid(&d, "plain")?;
    let zombies = wait_for(
        "three zombies under a PID 1 that does not reap",
        Duration::from_secs(20),
        || {
            let z = children(pid)?.iter().filter(|(_, s)| *s == 'Z').count();
            Ok((z >= 3).then_some(z))
        },
    )?;
    ensure!(
        (3..=6).contains(&zombies),
        "expected 3 to 6 zombies without --init (3 orphans, plus subshells that outlived the \
         exec), saw {zombies}"
    );

    d.docker_ok([
        "run",
        "-d",
        "--init",
        "--name",
        "tini",
        IMAGE,
        "sh",
        "-c",
        ORPHAN_MAKER,
    ])?;
    let init = container_pid(&d, "tini")?;
    let cmdline = std::fs::read(format!("/proc/{init}/cmdline"))?;
    ensure!(
        cmdline.starts_with(b"/sbin/docker-init\0--\0"),
        "PID 1 is not tini: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    ensure!(
        d.docker_ok(["inspect", "-f", "{{.HostConfig.Init}}", "tini"])?
            .trim()
            == "true"
    );
    // The orphans end after a second; tini reaps them: only the `sleep 300` stays its child.
    let left = wait_for("tini to reap the orphans", Duration::from_secs(20), || {
        let kids = children(init)?;
        Ok((kids.len() == 1).then_some(kids))
    })?;
    ensure!(
        left.iter().all(|(_, s)| *s != 'Z'),
        "zombies under tini: {left:?}"
    );

    d.docker_ok(["rm", "-f", "plain", "tini"])?;
    Ok(())
}

/// `/sys/fs/cgroup/<controller>/<the agent's cgroup parent>/<id>/<file>` (cgroup v1, the
/// runtime's cgroups path).
fn cgroup_value(controller: &str, id: &str, file: &str) -> Result<String> {
    let root = Path::new("/sys/fs/cgroup").join(controller);
    let dir = std::fs::read_dir(&root)
        .with_context(|| format!("listing {}", root.display()))?
        .flatten()
        .map(|e| e.path().join(id))
        .find(|p| p.is_dir())
        .with_context(|| format!("no {}/<parent>/{id} cgroup", root.display()))?;
    let path: PathBuf = dir.join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.trim().to_string())
}

#[test]
fn limits_reach_the_cgroups_and_oom_is_reported() -> Result<()> {
    ensure!(
        Path::new("/sys/fs/cgroup/memory").is_dir(),
        "this test reads cgroup v1 files; /sys/fs/cgroup/memory is missing"
    );
    let (d, _work) = daemon_with_image()?;
    let id = d
        .docker_ok([
            "run",
            "-d",
            "--name",
            "limited",
            "-m",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "50",
            IMAGE,
            "sleep",
            "300",
        ])?
        .trim()
        .to_string();
    ensure!(cgroup_value("memory", &id, "memory.limit_in_bytes")? == (64u64 << 20).to_string());
    if Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        ensure!(
            cgroup_value("memory", &id, "memory.memsw.limit_in_bytes")?
                == (128u64 << 20).to_string()
        );
    }
    ensure!(cgroup_value("cpu", &id, "cpu.cfs_quota_us")? == "150000");
    ensure!(cgroup_value("cpu", &id, "cpu.cfs_period_us")? == "100000");
    ensure!(cgroup_value("cpu", &id, "cpu.shares")? == "512");
    ensure!(cgroup_value("cpuset", &id, "cpuset.cpus")? == "0");
    ensure!(cgroup_value("pids", &id, "pids.max")? == "50");
    let host = inspect(&d, &["inspect", "limited"])?["HostConfig"].clone();
    ensure!(
        host["Memory"] == 64 << 20
            && host["NanoCpus"] == 1_500_000_000i64
            && host["PidsLimit"] == 50,
        "{host}"
    );
    d.docker_ok(["rm", "-f", "limited"])?;

    // --blkio-weight: applied where the kernel has the weight file; otherwise Docker's warning and
    // the value is discarded.
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .find(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists());
    let out = d.docker([
        "run",
        "-d",
        "--name",
        "weighted",
        "--blkio-weight",
        "300",
        IMAGE,
        "sleep",
        "300",
    ]);
    ensure!(out.code() == 0, "{}", out.describe());
    let wid = out.stdout_text().trim().to_string();
    match weight_file {
        Some(file) => ensure!(cgroup_value("blkio", &wid, file)? == "300"),
        None => {
            ensure!(
                out.stderr_text().contains("WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
                "no blkio warning:\n{}", out.describe()
            );
            let w = d.docker_ok(["inspect", "-f", "{{.HostConfig.BlkioWeight}}", "weighted"])?;
            ensure!(w.trim() == "0", "discarded weight still shown: {w}");
        }
    }
    d.docker_ok(["rm", "-f", "weighted"])?;

    // Impossible limits are refused up front.
    let err = docker_fails(&d, &["create", "-m", "1m", IMAGE, "true"])?;
    ensure!(
        err.contains("Minimum memory limit allowed is 6MB"),
        "stderr: {err}"
    );

    // A memory hog under -m 8m (swap, where the host has any, limited to twice that) is
    // OOM-killed: exit 137 and State.OOMKilled.
    let out = d.docker([
        "run",
        "--name",
        "hog",
        "-m",
        "8m",
        IMAGE,
        "sh",
        "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    ]);
    ensure!(
        out.code() == 137,
        "memory hog should exit 137:\n{}",
        out.describe()
    );
    let state = inspect(&d, &["inspect", "hog"])?["State"].clone();
    ensure!(
        state["OOMKilled"] == true && state["ExitCode"] == 137,
        "{state}"
    );
    d.docker_ok(["rm", "hog"])?;
    Ok(())
}

#[test]
fn run_flags_shape_the_process() -> Result<()> {
    let (d, work) = daemon_with_image()?;
    let env_file = work.path().join("env.list");
    std::fs::write(&env_file, "# comment\nB=from-file\nC=c\n")?;
    let out = d.docker_ok([
        "run",
        "--rm",
        "-e",
        "A=one",
        "--env-file",
        path_str(&env_file)?,
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "--hostname",
        "box",
        IMAGE,
        "sh",
        "-c",
        "echo $A $B $C; pwd; id -u; hostname",
    ])?;
    ensure!(out == "one from-file c\n/tmp\n65534\nbox\n", "{out:?}");

    let out = d.docker_ok([
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        IMAGE,
        "via",
        "entrypoint",
    ])?;
    ensure!(out == "via entrypoint\n", "{out:?}");

    let out = d.docker(["run", "--rm", "--read-only", IMAGE, "sh", "-c", "touch /x"]);
    ensure!(
        out.code() != 0 && out.stderr_text().contains("Read-only file system"),
        "{}",
        out.describe()
    );
    let out = d.docker_ok([
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/run:size=1m",
        IMAGE,
        "sh",
        "-c",
        "touch /run/ok && grep ' /run ' /proc/mounts",
    ])?;
    ensure!(
        out.contains("tmpfs /run tmpfs") && out.contains("size=1024k"),
        "{out:?}"
    );
    Ok(())
}
