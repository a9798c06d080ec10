//! Input validation as dockerd does it, seen by a user: impossible resources, ports, ulimits,
//! log drivers and security options refused at `docker create` with a 400 and dockerd's
//! message (and nothing created); networks on loopback, link-local, multicast, reserved ranges
//! or a host route refused with a 400; a 300-character volume name a 400; `--security-opt
//! no-new-privileges` working (a setuid binary does not raise the euid, in the container and
//! in its execs); and a disk filling up during `docker load` a 500 that says so, leaving
//! nothing half-loaded.
//!
//! Each refusal goes through the raw API (to show the status code and that the server checks
//! it even where the docker CLI refuses before sending) and, where the CLI sends it, through
//! the CLI too.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::{LayerEntry, TestImage, BUSYBOX};

const IMAGE: &str = "strata-test/validate:1";
/// [`IMAGE`] plus a setuid-root copy of busybox at `/s/busybox` and an `/etc/busybox.conf`
/// telling busybox to keep the root euid for `id` (busybox otherwise drops a setuid euid for
/// applets that do not need it, so `id -u` would print the real uid either way).
const SETUID_IMAGE: &str = "strata-test/setuid:1";
const DRIVER: &str = "overlay2";
const API: &str = "/v1.47";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn load(d: &StrataDaemon, work: &Path, image: &TestImage, file: &str) -> Result<()> {
    let archive = work.join(file);
    image.build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    Ok(())
}

/// A daemon with [`IMAGE`] loaded.
fn daemon_with_image() -> Result<(tempfile::TempDir, StrataDaemon)> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    load(&d, work.path(), &TestImage::busybox(IMAGE), "image.tar")?;
    Ok((work, d))
}

/// One refused create: the `HostConfig` sent through the API, the CLI flags that send the same
/// (`None` where the CLI refuses the value itself), and dockerd's message.
struct Refusal {
    host_config: &'static str,
    cli: Option<&'static [&'static str]>,
    message: String,
}

fn refusal(
    host_config: &'static str,
    cli: Option<&'static [&'static str]>,
    message: &str,
) -> Refusal {
    Refusal {
        host_config,
        cli,
        message: message.to_string(),
    }
}

fn refusals(ncpu: usize) -> Vec<Refusal> {
    vec![
        refusal(
            r#"{"Memory":-1}"#,
            None,
            "Minimum memory limit allowed is 6MB",
        ),
        refusal(
            r#"{"Memory":1048576}"#,
            Some(&["--memory", "1m"]),
            "Minimum memory limit allowed is 6MB",
        ),
        refusal(
            r#"{"CpuShares":-1}"#,
            Some(&["--cpu-shares", "-1"]),
            "invalid CPU shares -1: it must be from 0 (the default) to 262144",
        ),
        refusal(
            r#"{"CpuShares":1099511627776}"#,
            Some(&["--cpu-shares", "1099511627776"]),
            "invalid CPU shares 1099511627776: it must be from 0 (the default) to 262144",
        ),
        refusal(
            r#"{"NanoCpus":-1}"#,
            Some(&["--cpus", "-1"]),
            &format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            ),
        ),
        refusal(
            r#"{"Memory":67108864,"MemorySwap":33554432}"#,
            Some(&["--memory", "64m", "--memory-swap", "32m"]),
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        refusal(
            r#"{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"99999"}]}}"#,
            None,
            "invalid port specification: \"99999\"",
        ),
        refusal(
            r#"{"CpusetCpus":"abc"}"#,
            Some(&["--cpuset-cpus", "abc"]),
            "Invalid value abc for cpuset cpus: invalid format: abc",
        ),
        refusal(
            r#"{"CpusetCpus":"0-4095"}"#,
            Some(&["--cpuset-cpus", "0-4095"]),
            "Requested CPUs are not available - requested 0-4095, available: ",
        ),
        refusal(r#"{"ShmSize":-1}"#, None, "SHM size can not be less than 0"),
        refusal(
            r#"{"OomScoreAdj":1001}"#,
            None,
            "Invalid value 1001, range for oom score adj is [-1000, 1000]",
        ),
        refusal(
            r#"{"OomScoreAdj":-1001}"#,
            None,
            "Invalid value -1001, range for oom score adj is [-1000, 1000]",
        ),
        refusal(
            r#"{"CpuQuota":500}"#,
            Some(&["--cpu-quota", "500"]),
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ),
        refusal(
            r#"{"Ulimits":[{"Name":"nofile","Soft":-5,"Hard":10}]}"#,
            Some(&["--ulimit", "nofile=-5:10"]),
            "invalid ulimit nofile: -5 is negative (-1 means unlimited)",
        ),
        refusal(
            r#"{"Ulimits":[{"Name":"nofile","Soft":20,"Hard":10}]}"#,
            None,
            "ulimit soft limit must be less than or equal to hard limit: 20 > 10",
        ),
        refusal(
            r#"{"LogConfig":{"Type":"bogus","Config":{}}}"#,
            Some(&["--log-driver", "bogus"]),
            "error looking up logging plugin bogus: plugin \"bogus\" not found",
        ),
        refusal(
            r#"{"LogConfig":{"Type":"json-file","Config":{"bogus":"1"}}}"#,
            Some(&["--log-opt", "bogus=1"]),
            "unknown log opt 'bogus' for json-file log driver",
        ),
        refusal(
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}"#,
            None,
            "maximum retry count cannot be negative",
        ),
        refusal(
            r#"{"SecurityOpt":["no-new-privileges:bogus"]}"#,
            Some(&["--security-opt", "no-new-privileges:bogus"]),
            "invalid --security-opt 2: \"no-new-privileges:bogus\"",
        ),
    ]
}

/// `docker create` (API and CLI) of impossible host configs: each a 400 with dockerd's
/// message, and no container, layer or file made; sensible values of the same options create.
#[test]
fn impossible_host_configs_are_refused_at_create() -> Result<()> {
    let (_work, d) = daemon_with_image()?;
    let ncpu = std::thread::available_parallelism()?.get();
    let before = d.snapshot()?;
    let mut failures = Vec::new();
    for case in refusals(ncpu) {
        let body = format!(
            r#"{{"Image":"{IMAGE}","Cmd":["true"],"HostConfig":{}}}"#,
            case.host_config
        );
        let (status, answer) = d.api("POST", &format!("{API}/containers/create"), Some(&body))?;
        let message = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_default();
        if status != 400 || !message.starts_with(&case.message) {
            failures.push(format!(
                "API {}: {status} {answer} (expected 400 {:?})",
                case.host_config, case.message
            ));
        }
        if let Some(flags) = case.cli {
            let mut args = vec!["create"];
            args.extend_from_slice(flags);
            args.extend([IMAGE, "true"]);
            let out = d.docker(&args);
            let expected = format!("Error response from daemon: {}", case.message);
            if out.code() == 0 || !out.stderr_text().contains(&expected) {
                failures.push(format!(
                    "docker {args:?}: expected {expected:?}:\n{}",
                    out.describe()
                ));
            }
        }
    }
    ensure!(
        failures.is_empty(),
        "{} refusals went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    d.snapshot()?.assert_same_as(&before, "refused creates")?;
    ensure!(
        d.docker_ok(["ps", "-aq"])?.trim().is_empty(),
        "a refused create left a container"
    );

    // The same options with values dockerd accepts create, and inspect shows them.
    d.docker_ok([
        "create",
        "--name",
        "fine",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--shm-size",
        "128m",
        "--oom-score-adj",
        "100",
        "--ulimit",
        "memlock=-1:-1",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=10m",
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "true",
    ])?;
    let host = &d.inspect("fine")?["HostConfig"];
    ensure!(
        host["Memory"] == 64 << 20
            && host["CpuShares"] == 512
            && host["ShmSize"] == 128 << 20
            && host["OomScoreAdj"] == 100
            && host["Ulimits"][0]["Soft"] == -1
            && host["LogConfig"]["Type"] == "json-file",
        "inspect does not show what was asked: {host}"
    );
    // And those Strata applies reach the container.
    let out = d.docker_ok([
        "run",
        "--rm",
        "--oom-score-adj",
        "100",
        "--shm-size",
        "128m",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        IMAGE,
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj; df -k /dev/shm | tail -n 1; \
         cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null; true",
    ])?;
    let lines: Vec<&str> = out.lines().collect();
    ensure!(
        lines.len() >= 3
            && lines[0] == "100"
            && lines[1].split_whitespace().nth(1) == Some("131072")
            && lines[2].starts_with("50000"),
        "oom score adj 100, a 128 MiB /dev/shm and a 50000 us CPU quota expected:\n{out}"
    );
    Ok(())
}

/// A volume name longer than a directory name can be: 400 (dockerd answers 500 "file name
/// too long"), nothing made.
#[test]
fn an_overlong_volume_name_is_a_400() -> Result<()> {
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let name = "v".repeat(300);
    let out = d.docker(["volume", "create", &name]);
    ensure!(
        out.code() != 0
            && out
                .stderr_text()
                .contains("volume name is too long (300 characters, at most 255)"),
        "docker volume create with a 300-character name:\n{}",
        out.describe()
    );
    let (status, body) = d.api(
        "POST",
        &format!("{API}/volumes/create"),
        Some(&format!(r#"{{"Name":"{name}"}}"#)),
    )?;
    ensure!(status == 400, "volume create answered {status} {body}");
    ensure!(
        d.docker_ok(["volume", "ls", "-q"])?.trim().is_empty(),
        "a volume was made"
    );
    Ok(())
}

/// An IPv4 route of the host through a device that is not a bridge (so not another test's
/// network coming and going): destination/prefix, prefix 8 to 30.
fn a_host_route() -> Result<String> {
    let table = std::fs::read_to_string("/proc/net/route").context("reading /proc/net/route")?;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || Path::new(&format!("/sys/class/net/{}/bridge", f[0])).exists() {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        let prefix = mask.count_ones();
        if (8..=30).contains(&prefix) {
            let dest = std::net::Ipv4Addr::from(dest.to_le_bytes());
            return Ok(format!("{dest}/{prefix}"));
        }
    }
    bail!("this host has no IPv4 route with a prefix of 8 to 30 through a non-bridge device to test against (/proc/net/route:\n{table})")
}

/// `docker network create --subnet` on loopback, link-local, multicast, "this network",
/// reserved space or a host route, a gateway or ip range outside the subnet: each a 400 with a
/// message naming the problem, and no network, bridge or route made.
#[test]
fn unusable_network_subnets_are_refused() -> Result<()> {
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let route = a_host_route()?;
    let routes_before = std::fs::read_to_string("/proc/net/route")?;
    // (IPAM config, CLI flags or none where the CLI refuses it itself, message)
    let mut cases: Vec<(String, Option<Vec<String>>, String)> = [
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("127.0.0.0/16", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
        ("224.0.0.0/24", "multicast (224.0.0.0/4)"),
        ("0.0.0.0/8", "\"this network\" (0.0.0.0/8)"),
        ("240.0.0.0/8", "reserved and broadcast (240.0.0.0/4)"),
        (route.as_str(), ""),
    ]
    .iter()
    .map(|(subnet, what)| {
        let message = if what.is_empty() {
            format!("invalid subnet {subnet}: it overlaps the host's route to {subnet}")
        } else {
            format!("invalid subnet {subnet}: it overlaps {what}, which a network cannot use")
        };
        (
            format!(r#"{{"Subnet":"{subnet}"}}"#),
            Some(vec!["--subnet".to_string(), subnet.to_string()]),
            message,
        )
    })
    .collect();
    cases.push((
        r#"{"Subnet":"10.239.77.0/24","Gateway":"10.239.78.1"}"#.into(),
        None,
        "no matching subnet for gateway 10.239.78.1".into(),
    ));
    cases.push((
        r#"{"Subnet":"10.239.77.0/24","IPRange":"10.239.78.0/25"}"#.into(),
        None,
        "no matching subnet for range 10.239.78.0/25".into(),
    ));
    let mut failures = Vec::new();
    for (ipam, cli, message) in &cases {
        let body = format!(r#"{{"Name":"refused","IPAM":{{"Config":[{ipam}]}}}}"#);
        let (status, answer) = d.api("POST", &format!("{API}/networks/create"), Some(&body))?;
        if status != 400 || !answer.contains(&serde_json::to_string(message)?) {
            failures.push(format!(
                "API {ipam}: {status} {answer} (expected 400 {message:?})"
            ));
        }
        let Some(flags) = cli else { continue };
        let mut args = vec!["network", "create"];
        args.extend(flags.iter().map(String::as_str));
        args.push("refused");
        let out = d.docker(&args);
        if out.code() == 0
            || !out
                .stderr_text()
                .contains(&format!("Error response from daemon: {message}"))
        {
            failures.push(format!(
                "docker {args:?}: expected {message:?}:\n{}",
                out.describe()
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} refusals went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    ensure!(
        !d.docker_ok(["network", "ls", "--format", "{{.Name}}"])?
            .lines()
            .any(|n| n == "refused"),
        "a refused network was recorded"
    );
    let routes_after = std::fs::read_to_string("/proc/net/route")?;
    for bad in ["0000007F", "0000FEA9", "000000E0", "000000F0"] {
        ensure!(
            !routes_after
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(bad))
                || routes_before
                    .lines()
                    .any(|l| l.split_whitespace().nth(1) == Some(bad)),
            "a route to a refused subnet ({bad}) appeared:\n{routes_after}"
        );
    }
    Ok(())
}

/// Build and load [`SETUID_IMAGE`].
fn load_setuid_image(d: &StrataDaemon, work: &Path) -> Result<()> {
    let busybox = std::fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    let image = TestImage::busybox(SETUID_IMAGE).layer(
        "setuid busybox",
        vec![
            LayerEntry::dir("s"),
            LayerEntry::File {
                path: "s/busybox".into(),
                data: busybox,
                mode: 0o4755,
            },
            LayerEntry::file("etc/busybox.conf", "[SUID]\nid = ssx 0.0\n"),
        ],
    );
    load(d, work, &image, "setuid.tar")
}

/// The first line a command printed (stdout, else stderr), trimmed.
fn first_line(out: &std::process::Output) -> String {
    let text = if out.stdout.is_empty() {
        out.stderr_text()
    } else {
        out.stdout_text()
    };
    text.lines().next().unwrap_or("").trim().to_string()
}

/// `--security-opt no-new-privileges` in dockerd's spellings: a setuid-root busybox run as
/// uid 65534 keeps euid 65534 (in the container and in `docker exec`), and gets root without
/// it; inspect shows the option; `:false` turns it off.
#[test]
fn no_new_privileges_keeps_setuid_from_raising_the_euid() -> Result<()> {
    let (work, d) = daemon_with_image()?;
    load_setuid_image(&d, work.path())?;
    let euid = |opts: &[&str]| -> String {
        let mut args = vec!["run", "--rm", "--user", "65534"];
        args.extend_from_slice(opts);
        args.extend([SETUID_IMAGE, "/s/busybox", "id", "-u"]);
        first_line(&d.docker(&args))
    };
    let without = euid(&[]);
    ensure!(
        without == "0",
        "without no-new-privileges the setuid binary should run as root, got {without:?}"
    );
    for spelling in [
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=true",
    ] {
        let with = euid(&["--security-opt", spelling]);
        ensure!(
            with != "0" && (with.contains("65534") || with.contains("not permitted")),
            "with {spelling} the setuid binary still became root or failed otherwise: {with:?}"
        );
    }
    let off = euid(&["--security-opt", "no-new-privileges:false"]);
    ensure!(
        off == "0",
        "no-new-privileges:false should leave setuid working, got {off:?}"
    );

    d.docker_ok([
        "run",
        "-d",
        "--name",
        "nnp",
        "--user",
        "65534",
        "--security-opt",
        "no-new-privileges",
        SETUID_IMAGE,
        "sleep",
        "300",
    ])?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "plain",
        "--user",
        "65534",
        SETUID_IMAGE,
        "sleep",
        "300",
    ])?;
    let flag = d.docker_ok(["exec", "nnp", "grep", "NoNewPrivs", "/proc/1/status"])?;
    ensure!(
        flag.contains('1'),
        "the container's process lacks no_new_privs: {flag:?}"
    );
    let exec_euid = first_line(&d.docker(["exec", "nnp", "/s/busybox", "id", "-u"]));
    ensure!(
        exec_euid != "0",
        "an exec in a no-new-privileges container became root through setuid"
    );
    let exec_flag = d.docker_ok(["exec", "nnp", "grep", "NoNewPrivs", "/proc/self/status"])?;
    ensure!(
        exec_flag.contains('1'),
        "the exec lacks no_new_privs: {exec_flag:?}"
    );
    let plain = first_line(&d.docker(["exec", "plain", "/s/busybox", "id", "-u"]));
    ensure!(
        plain == "0",
        "an exec without no-new-privileges should become root through setuid: {plain:?}"
    );
    let security = &d.inspect("nnp")?["HostConfig"]["SecurityOpt"];
    ensure!(
        *security == serde_json::json!(["no-new-privileges"]),
        "inspect's HostConfig.SecurityOpt: {security}"
    );
    d.docker_ok(["rm", "-f", "nnp", "plain"])?;

    // AppArmor: ignored where the kernel has none (as dockerd 20.10), refused where it has.
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    let out = d.docker([
        "run",
        "--rm",
        "--security-opt",
        "apparmor=unconfined",
        IMAGE,
        "true",
    ]);
    if apparmor {
        ensure!(
            out.code() != 0
                && out
                    .stderr_text()
                    .contains("AppArmor is enabled on this host"),
            "apparmor= on an AppArmor host:\n{}",
            out.describe()
        );
    } else {
        ensure!(
            out.code() == 0,
            "apparmor= without AppArmor should run:\n{}",
            out.describe()
        );
    }
    Ok(())
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .context("running mount")?;
        ensure!(
            status.success(),
            "mounting a {size} tmpfs on {}: {status}",
            dir.path().display()
        );
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// `docker load` of an image bigger than the data root's free space: a 500 whose message says
/// the disk is full, no image, layer or staging file left, and a small image loads afterwards.
#[test]
fn a_full_disk_during_load_is_a_500_that_says_so() -> Result<()> {
    let work = tempfile::tempdir()?;
    let disk = SmallDisk::mount("48m")?;
    let mut d = StrataDaemon::start_with(
        strata_bin(),
        "vfs",
        &DaemonOptions::default().root_parent(disk.path()),
    )?;
    let before = d.snapshot()?;
    // Two ways to fill it: the archive itself does not fit where it is staged (four 16 MiB
    // layers), or it fits but its unpacked layer does not (one 28 MiB layer, staged then
    // unpacked into the driver).
    for (name, layers, size) in [("staged", 4, 16 << 20), ("unpacked", 1, 28 << 20)] {
        let archive = work.path().join(format!("{name}.tar"));
        TestImage::busybox(&format!("strata-test/{name}:1"))
            .random_layers(layers, size)
            .build_docker_archive(&archive)?;
        let out = d.docker(["load", "-i", archive.to_str().context("utf-8 path")?]);
        ensure!(
            out.code() != 0
                && out
                    .stderr_text()
                    .contains("Error response from daemon: the disk is full: ")
                && out.stderr_text().contains("No space left on device"),
            "docker load onto a full disk ({name}):\n{}",
            out.describe()
        );
        d.snapshot()?.assert_same_as(
            &before,
            &format!("a load that filled the disk ({name}, CLI)"),
        )?;

        let bytes = std::fs::read(&archive)?;
        let (status, body) = d.api_bytes(
            "POST",
            &format!("{API}/images/load"),
            "application/x-tar",
            &bytes,
        )?;
        ensure!(
            status == 500 && body.contains(r#"{"message":"the disk is full: "#),
            "API load onto a full disk ({name}) answered {status} {body}"
        );
        d.snapshot()?.assert_same_as(
            &before,
            &format!("a load that filled the disk ({name}, API)"),
        )?;
    }

    // The space came back: a small image loads and runs.
    load(&d, work.path(), &TestImage::busybox(IMAGE), "small.tar")?;
    d.docker_ok(["run", "--rm", IMAGE, "true"])?;
    d.stop()?;
    drop(d);
    drop(disk);
    Ok(())
}
