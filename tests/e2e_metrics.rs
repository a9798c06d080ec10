//! Prometheus metrics and `docker stats`, end to end: a real `strata serve` with a metrics TCP
//! listener, a container run by the docker CLI with a memory limit, `/metrics` scraped over the
//! API socket and the TCP port and checked by `promtool check metrics`, `docker stats
//! --no-stream` showing the container's limit, then a real Prometheus server (Debian's
//! `prometheus`) scraping the agent with the config from `deploy/prometheus/` until its HTTP API
//! returns the container's memory series. Loopback only; every wait is bounded.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::docker_cli::which;
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/metrics:1";
const NAME: &str = "metrics-web";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn require(binary: &str, package: &str) -> Result<PathBuf> {
    which(binary).with_context(|| {
        format!("{binary} is missing: install Debian's {package} package (deploy/install-deps.sh)")
    })
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// `curl` a URL (optionally through a unix socket); the body, or an error with curl's message.
fn curl(args: &[&str]) -> Result<String> {
    let out = Command::new(require("curl", "curl")?)
        .args(["-sS", "--fail", "--max-time", "20"])
        .args(args)
        .output()
        .context("running curl")?;
    if !out.status.success() {
        bail!(
            "curl {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// The value of the first sample of `name` whose label set contains every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse().ok()).flatten()
        })
}

/// Kills and reaps the Prometheus server however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn metrics_stats_and_prometheus_scrape() -> Result<()> {
    let promtool = require("promtool", "prometheus")?;
    let prometheus = require("prometheus", "prometheus")?;
    let metrics_port = free_port()?;
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let mut d = StrataDaemon::start_with(
        strata_bin(),
        "overlay2",
        &DaemonOptions::default().args(["--metrics-addr", metrics_addr.as_str()]),
    )?;
    let work = tempfile::tempdir()?;

    // An image and a running container with a memory limit.
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE)
        .random_layers(2, 64 * 1024)
        .build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    let id = d
        .docker_ok([
            "run", "-d", "-m", "64m", "--name", NAME, IMAGE, "sleep", "60",
        ])?
        .trim()
        .to_string();
    ensure!(id.len() == 64, "docker run -d printed an id: {id:?}");

    // docker stats shows the limit, the memory use and the processes.
    let mem = d.docker_ok(["stats", "--no-stream", "--format", "{{.MemUsage}}", NAME])?;
    ensure!(
        mem.trim().ends_with("/ 64MiB"),
        "docker stats MemUsage shows the 64MiB limit: {mem:?}"
    );
    ensure!(
        !mem.trim().starts_with("0B "),
        "memory use is not zero: {mem:?}"
    );
    let line = d.docker_ok([
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.PIDs}}",
        NAME,
    ])?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    ensure!(
        fields.len() == 3 && fields[0] == NAME && fields[1].ends_with('%'),
        "docker stats line: {line:?}"
    );
    ensure!(
        fields[2].parse::<u64>().map_or(false, |n| n >= 1),
        "docker stats PIDs >= 1: {line:?}"
    );

    // The streaming form: one document a second, each with the previous sample as precpu.
    let socket_path = d
        .socket()
        .to_str()
        .context("utf-8 socket path")?
        .to_string();
    let streamed = Command::new(require("curl", "curl")?)
        .args([
            "-sS",
            "-N",
            "--max-time",
            "4",
            "--unix-socket",
            &socket_path,
        ])
        .arg(format!("http://localhost/containers/{NAME}/stats?stream=1"))
        .output()
        .context("running curl")?;
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&streamed.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("stats stream lines are JSON documents")?;
    ensure!(
        docs.len() >= 2,
        "at least two streamed stats documents: {docs:?}"
    );
    ensure!(
        docs[1]["precpu_stats"]["cpu_usage"]["total_usage"]
            == docs[0]["cpu_stats"]["cpu_usage"]["total_usage"]
            && docs[1]["memory_stats"]["limit"] == 67_108_864u64
            && docs[1]["id"] == id.as_str(),
        "second streamed document carries the first as precpu: {:?}",
        docs[1]
    );

    // /metrics on the API socket.
    let socket = d
        .socket()
        .to_str()
        .context("utf-8 socket path")?
        .to_string();
    let text = curl(&["--unix-socket", &socket, "http://localhost/metrics"])?;
    let c = [("id", id.as_str()), ("name", NAME), ("image", IMAGE)];
    let usage = sample(&text, "strata_container_memory_usage_bytes", &c)
        .with_context(|| format!("no memory series for {id}:\n{text}"))?;
    ensure!(usage > 0.0, "container memory usage {usage}");
    let limit = sample(&text, "strata_container_memory_limit_bytes", &c);
    ensure!(limit == Some(67_108_864.0), "memory limit {limit:?}");
    let pids = sample(&text, "strata_container_pids", &c);
    ensure!(pids.map_or(false, |p| p >= 1.0), "pids {pids:?}");
    ensure!(
        sample(&text, "strata_container_cpu_seconds_total", &c).is_some(),
        "cpu series for the container:\n{text}"
    );
    for op in ["apply_diff", "create_rw", "get"] {
        let count = sample(
            &text,
            "strata_driver_operation_duration_seconds_count",
            &[("driver", "overlay2"), ("operation", op)],
        );
        ensure!(
            count.map_or(false, |n| n > 0.0),
            "driver {op} count {count:?}"
        );
    }
    ensure!(
        sample(&text, "strata_images", &[]) == Some(1.0),
        "one image:\n{text}"
    );
    ensure!(
        sample(&text, "strata_layers", &[]) == Some(3.0),
        "busybox + 2 layers:\n{text}"
    );
    ensure!(
        sample(&text, "strata_containers", &[("state", "running")]) == Some(1.0),
        "one running container"
    );
    ensure!(
        sample(&text, "strata_image_load_bytes_total", &[]).map_or(false, |b| b > 0.0),
        "image load bytes"
    );
    ensure!(
        sample(&text, "process_resident_memory_bytes", &[]).map_or(false, |b| b > 0.0),
        "process metrics of the agent"
    );
    let start = sample(
        &text,
        "strata_api_requests_total",
        &[
            ("route", "/containers/{id}/start"),
            ("method", "POST"),
            ("status", "204"),
        ],
    );
    ensure!(
        start == Some(1.0),
        "start request counted by route template: {start:?}"
    );
    let short = &id[..12];
    for line in text.lines().filter(|l| l.starts_with("strata_api_")) {
        ensure!(!line.contains(short), "raw ids in API route labels: {line}");
    }

    // The same on the TCP listener, which serves nothing else.
    let tcp = curl(&[&format!("http://{metrics_addr}/metrics")])?;
    ensure!(
        sample(&tcp, "strata_container_memory_usage_bytes", &c).is_some(),
        "TCP /metrics carries the container series:\n{tcp}"
    );
    ensure!(
        curl(&[&format!("http://{metrics_addr}/_ping")]).is_err(),
        "the metrics listener serves only /metrics"
    );

    // promtool accepts the exposition.
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running promtool")?;
    std::io::Write::write_all(
        check.stdin.as_mut().context("promtool stdin")?,
        text.as_bytes(),
    )?;
    drop(check.stdin.take());
    let checked = check.wait_with_output()?;
    ensure!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // A real Prometheus scrapes the agent with the deploy config (1s interval, our port).
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/prometheus.yml");
    let config = std::fs::read_to_string(&deploy)
        .with_context(|| format!("reading {}", deploy.display()))?
        .replace("15s", "1s")
        .replace("127.0.0.1:9323", &metrics_addr);
    ensure!(
        config.contains(&metrics_addr),
        "deploy config targets 127.0.0.1:9323"
    );
    let config_path = work.path().join("prometheus.yml");
    std::fs::write(&config_path, config)?;
    let web_port = free_port()?;
    let log = std::fs::File::create(work.path().join("prometheus.log"))?;
    let server = Command::new(&prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting prometheus")?;
    let _server = ChildGuard(server);
    let query = format!(
        "http://127.0.0.1:{web_port}/api/v1/query?query=strata_container_memory_usage_bytes"
    );
    let mut last = String::new();
    let mut found = false;
    for _ in 0..90 {
        std::thread::sleep(Duration::from_secs(1));
        match curl(&[&query]) {
            Ok(body) => {
                let json: serde_json::Value = serde_json::from_str(&body)?;
                let result = &json["data"]["result"];
                found = result.as_array().map_or(false, |series| {
                    series
                        .iter()
                        .any(|s| s["metric"]["id"] == id.as_str() && s["metric"]["name"] == NAME)
                });
                last = body;
            }
            Err(e) => last = e.to_string(),
        }
        if found {
            break;
        }
    }
    let prometheus_log =
        std::fs::read_to_string(work.path().join("prometheus.log")).unwrap_or_default();
    ensure!(
        found,
        "Prometheus never returned the container's memory series; last answer: {last}\n\
         prometheus log tail: {}",
        prometheus_log
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(_server);

    d.docker_ok(["rm", "-f", NAME])?;
    d.docker_ok(["rmi", IMAGE])?;
    d.stop()?;
    Ok(())
}
