//! Container networking end to end (overlay2), driven by the stock docker CLI: the agent's
//! bridge, one namespace + veth + leased address per container, `-p` through the userland proxy,
//! `docker port`/inspect/ps, `--network none|host|container:X`, and nothing left behind after
//! removal, many run/rm cycles, or an agent crash.
//!
//! Each test's daemon has its own bridge (`--bridge=`) and subnet (`--bip`), so tests never
//! share addresses. Traffic goes only to 127.0.0.1 and to the containers' own addresses.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::first_light::inspect_json;
use strata_test_support::image_builder::{LayerEntry, TestImage};
use strata_test_support::net::interfaces;

const DRIVER: &str = "overlay2";
const IMAGE: &str = "strata-test/web:1";
const PAGE: &str = "hello from a strata container\n";
/// How long a freshly started httpd may take to answer (a wait, not an assertion on speed).
const SERVE_WAIT: Duration = Duration::from_secs(30);

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// A daemon on bridge `bridge` with address `bip`, with the busybox image that carries
/// `/www/index.html`.
fn daemon(bridge: &str, bip: &str) -> Result<(StrataDaemon, tempfile::TempDir)> {
    let options =
        DaemonOptions::default().args([format!("--bridge={bridge}"), format!("--bip={bip}")]);
    let d = StrataDaemon::start_with(strata_bin(), DRIVER, &options)?;
    let work = tempfile::tempdir()?;
    let archive = work.path().join("image.tar");
    TestImage::busybox(IMAGE)
        .layer(
            "web content",
            vec![
                LayerEntry::dir("www"),
                LayerEntry::file("www/index.html", PAGE),
            ],
        )
        .build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("non-UTF-8 path")?])?;
    Ok((d, work))
}

/// A TCP port on 127.0.0.1 that nobody listens on right now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `GET /index.html` on 127.0.0.1:`port`; retried until httpd answers or [`SERVE_WAIT`] passes.
fn fetch_page(port: u16) -> Result<String> {
    let deadline = Instant::now() + SERVE_WAIT;
    loop {
        let attempt = (|| -> Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            ensure!(body.starts_with("HTTP/1"), "no HTTP answer: {body:?}");
            Ok(body)
        })();
        match attempt {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("nothing answered on 127.0.0.1:{port}")))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn endpoints(d: &StrataDaemon) -> Result<i64> {
    d.db_count("network_endpoints")
}

/// Network namespace files the daemon has pinned.
fn netns_files(d: &StrataDaemon) -> Vec<String> {
    std::fs::read_dir(d.exec_root().join("netns"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Interfaces attached to the daemon's bridge.
fn bridge_ports(d: &StrataDaemon) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(d.bridge()).join("brif"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The host-side veth of a container, as the agent names it.
fn host_veth_of(id: &str) -> String {
    format!("veth{}", &id[..11])
}

fn assert_nothing_left(d: &StrataDaemon, what: &str) -> Result<()> {
    ensure!(
        endpoints(d)? == 0,
        "{what}: address leases remain ({} rows)",
        endpoints(d)?
    );
    let files = netns_files(d);
    ensure!(
        files.is_empty(),
        "{what}: namespace files remain: {files:?}"
    );
    let ports = bridge_ports(d);
    ensure!(
        ports.is_empty(),
        "{what}: veths remain on {}: {ports:?}",
        d.bridge()
    );
    Ok(())
}

fn sigkill(pid: i64) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -9 {pid} failed");
    Ok(())
}

#[test]
fn published_port_serves_a_file_and_inspect_shows_docker_shapes() -> Result<()> {
    let (d, _work) = daemon("stnet-pub", "10.231.1.1/24")?;
    let port = free_port()?;
    let id = d.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        IMAGE,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ])?;
    let id = id.trim().to_string();
    let answer = fetch_page(port)?;
    ensure!(
        answer.ends_with(PAGE),
        "the page through the published port: {answer:?}"
    );

    let info = inspect_json(&d, &["inspect", "web"])?;
    let ns = &info["NetworkSettings"];
    ensure!(
        ns["Ports"] == json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": port.to_string()}]}),
        "NetworkSettings.Ports: {}",
        ns["Ports"]
    );
    let ip: Ipv4Addr = ns["IPAddress"]
        .as_str()
        .unwrap_or("")
        .parse()
        .with_context(|| format!("NetworkSettings.IPAddress: {}", ns["IPAddress"]))?;
    ensure!(
        ip.octets()[..3] == [10, 231, 1],
        "address {ip} is not in 10.231.1.0/24"
    );
    ensure!(ns["Gateway"] == "10.231.1.1", "Gateway: {}", ns["Gateway"]);
    ensure!(
        ns["IPPrefixLen"] == 24,
        "IPPrefixLen: {}",
        ns["IPPrefixLen"]
    );
    let o = ip.octets();
    let mac = format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
    ensure!(
        ns["MacAddress"] == mac.as_str(),
        "MacAddress: {}",
        ns["MacAddress"]
    );
    let bridge = &ns["Networks"]["bridge"];
    ensure!(
        bridge["IPAddress"] == ip.to_string().as_str(),
        "Networks.bridge: {bridge}"
    );
    ensure!(
        bridge["Gateway"] == "10.231.1.1",
        "Networks.bridge: {bridge}"
    );

    // The container reaches its own address, and its hosts file names it there.
    let inside = d.docker_ok([
        "exec", "web", "busybox", "ip", "-o", "-4", "addr", "show", "eth0",
    ])?;
    ensure!(
        inside.contains(&format!("{ip}/24")),
        "ip addr inside: {inside}"
    );
    let hosts = d.docker_ok(["exec", "web", "cat", "/etc/hosts"])?;
    ensure!(
        hosts.contains(&format!("{ip}\t{}", &id[..12])),
        "/etc/hosts: {hosts}"
    );
    let direct = d.docker_ok([
        "exec",
        "web",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{ip}/index.html"),
    ])?;
    ensure!(
        direct == PAGE,
        "the page from the container's own address: {direct:?}"
    );

    let mapping = d.docker_ok(["port", "web"])?;
    ensure!(
        mapping.contains(&format!("80/tcp -> 0.0.0.0:{port}")),
        "docker port: {mapping}"
    );
    let ps = d.docker_ok(["ps", "--format", "{{.Ports}}"])?;
    ensure!(
        ps.contains(&format!("0.0.0.0:{port}->80/tcp")),
        "docker ps Ports: {ps}"
    );
    ensure!(
        bridge_ports(&d) == vec![host_veth_of(&id)],
        "bridge ports: {:?}",
        bridge_ports(&d)
    );

    // The same host port for a second container: Docker's error, and nothing of it remains.
    let taken = d.docker([
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        &format!("{port}:80"),
        IMAGE,
        "sleep",
        "60",
    ]);
    ensure!(
        !taken.status.success(),
        "a second container got the same host port"
    );
    let stderr = String::from_utf8_lossy(&taken.stderr);
    ensure!(
        stderr.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "error for a taken port: {stderr}"
    );
    ensure!(endpoints(&d)? == 1, "the failed start kept its lease");
    d.docker_ok(["rm", "-f", "web2"])?;

    d.docker_ok(["rm", "-f", "web"])?;
    TcpListener::bind(("0.0.0.0", port))
        .with_context(|| format!("port {port} still taken after rm -f"))?;
    ensure!(
        !Path::new("/sys/class/net").join(host_veth_of(&id)).exists(),
        "the veth of the removed container remains"
    );
    assert_nothing_left(&d, "after docker rm -f")
}

#[test]
fn ephemeral_ports_and_stop_closes_the_listener() -> Result<()> {
    let (d, _work) = daemon("stnet-eph", "10.231.2.1/24")?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        IMAGE,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ])?;
    let info = inspect_json(&d, &["inspect", "web"])?;
    let binding = &info["NetworkSettings"]["Ports"]["80/tcp"][0];
    ensure!(binding["HostIp"] == "127.0.0.1", "HostIp: {binding}");
    let port: u16 = binding["HostPort"]
        .as_str()
        .unwrap_or("")
        .parse()
        .with_context(|| format!("HostPort: {binding}"))?;
    ensure!(port != 0, "an ephemeral port was not chosen");
    ensure!(
        fetch_page(port)?.ends_with(PAGE),
        "the page through the ephemeral port"
    );

    d.docker_ok(["stop", "-t", "1", "web"])?;
    TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("port {port} still taken after stop"))?;
    assert_nothing_left(&d, "after docker stop")?;
    let stopped = inspect_json(&d, &["inspect", "web"])?;
    ensure!(
        stopped["NetworkSettings"]["IPAddress"] == "",
        "a stopped container keeps an address: {}",
        stopped["NetworkSettings"]
    );

    // A restart gets an address and a port again.
    d.docker_ok(["start", "web"])?;
    let again = inspect_json(&d, &["inspect", "web"])?;
    let port: u16 = again["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap_or("")
        .parse()?;
    ensure!(
        fetch_page(port)?.ends_with(PAGE),
        "the page after docker start"
    );
    d.docker_ok(["rm", "-f", "web"])?;
    assert_nothing_left(&d, "after docker rm -f")
}

#[test]
fn network_modes_none_host_and_container() -> Result<()> {
    let (d, _work) = daemon("stnet-modes", "10.231.3.1/24")?;
    let none = d.docker_ok([
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "cat",
        "/proc/net/dev",
    ])?;
    ensure!(
        interfaces(&none) == vec!["lo".to_string()],
        "--network none interfaces: {none}"
    );

    let bridged = d.docker_ok(["run", "--rm", IMAGE, "cat", "/proc/net/dev"])?;
    ensure!(
        interfaces(&bridged) == vec!["eth0".to_string(), "lo".to_string()],
        "bridge interfaces: {bridged}"
    );

    let host = d.docker_ok([
        "run",
        "--rm",
        "--network",
        "host",
        IMAGE,
        "cat",
        "/proc/net/dev",
    ])?;
    ensure!(
        interfaces(&host).contains(&d.bridge().to_string()),
        "--network host does not see the host's interfaces: {host}"
    );

    d.docker_ok(["run", "-d", "--name", "pod", IMAGE, "sleep", "300"])?;
    let pod_ip = inspect_json(&d, &["inspect", "pod"])?["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string();
    ensure!(!pod_ip.is_empty(), "the pod container has no address");
    let pod_addr = d.docker_ok(["exec", "pod", "busybox", "ip", "-o", "-4", "addr"])?;
    let joined = d.docker_ok([
        "run",
        "--rm",
        "--network",
        "container:pod",
        IMAGE,
        "busybox",
        "ip",
        "-o",
        "-4",
        "addr",
    ])?;
    ensure!(
        joined == pod_addr,
        "container:pod sees {joined:?}, pod itself {pod_addr:?}"
    );
    ensure!(
        joined.contains(&format!("{pod_ip}/24")),
        "shared namespace lacks {pod_ip}: {joined}"
    );
    ensure!(endpoints(&d)? == 1, "joining a namespace leased an address");

    // docker network ls / inspect of the built-in networks.
    let ls = d.docker_ok(["network", "ls", "--format", "{{.Name}} {{.Driver}}"])?;
    for line in ["bridge bridge", "host host", "none null"] {
        ensure!(
            ls.lines().any(|l| l == line),
            "docker network ls lacks {line:?}: {ls}"
        );
    }
    let bridge = inspect_json(&d, &["network", "inspect", "bridge"])?;
    ensure!(
        bridge["IPAM"]["Config"][0]["Subnet"] == "10.231.3.0/24",
        "bridge IPAM: {}",
        bridge["IPAM"]
    );
    let members = bridge["Containers"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    ensure!(
        members
            .values()
            .any(|m| m["IPv4Address"] == format!("{pod_ip}/24").as_str()),
        "the pod is not listed on the bridge: {members:?}"
    );
    let missing = d.docker(["network", "inspect", "nosuch"]);
    ensure!(
        !missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("not found"),
        "network inspect of a missing network: {}",
        String::from_utf8_lossy(&missing.stderr)
    );

    let stopped = d.docker([
        "run",
        "--rm",
        "--network",
        "container:nosuch",
        IMAGE,
        "true",
    ]);
    ensure!(
        !stopped.status.success(),
        "joining a missing container succeeded"
    );

    d.docker_ok(["rm", "-f", "pod"])?;
    assert_nothing_left(&d, "after removing the pod")
}

#[test]
fn fifty_run_rm_cycles_leave_nothing_behind() -> Result<()> {
    let (d, _work) = daemon("stnet-cycle", "10.231.4.1/24")?;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..50 {
        let out = d
            .docker_ok([
                "run", "--rm", "-p", "80", IMAGE, "busybox", "ip", "-o", "-4", "addr", "show",
                "eth0",
            ])
            .with_context(|| format!("cycle {i}"))?;
        ensure!(
            out.contains("10.231.4."),
            "cycle {i}: no bridge address: {out}"
        );
        seen.insert(out.split_whitespace().nth(3).unwrap_or("").to_string());
        if i % 10 == 9 {
            assert_nothing_left(&d, &format!("after cycle {i}"))?;
        }
    }
    // Released addresses are leased again: 50 sequential containers fit in a handful.
    ensure!(seen.len() < 50, "addresses were never reused: {seen:?}");
    assert_nothing_left(&d, "after 50 run --rm cycles")
}

#[test]
fn agent_crash_repairs_leftovers_and_restores_ports() -> Result<()> {
    let bip = ["--bridge=stnet-crash", "--bip=10.231.5.1/24"];
    let (mut d, _work) = daemon("stnet-crash", "10.231.5.1/24")?;
    let port = free_port()?;
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        IMAGE,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ])?;
    let gone = d.docker_ok(["run", "-d", "--name", "gone", IMAGE, "sleep", "300"])?;
    let gone = gone.trim().to_string();
    ensure!(
        fetch_page(port)?.ends_with(PAGE),
        "the page before the crash"
    );
    let gone_pid = inspect_json(&d, &["inspect", "gone"])?["State"]["Pid"]
        .as_i64()
        .unwrap_or(0);
    ensure!(
        gone_pid > 0,
        "no pid for the container that will end while the agent is away"
    );

    let agent = d.pid().context("the agent has no pid")?;
    sigkill(i64::from(agent))?;
    d.wait_exit(Duration::from_secs(30))?;
    // While no agent runs, one container ends.
    sigkill(gone_pid)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Path::new(&format!("/proc/{gone_pid}")).exists() {
        if Instant::now() > deadline {
            bail!("the container process {gone_pid} did not end");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    d.restart(&DaemonOptions::default().args(bip))?;
    ensure!(
        fetch_page(port)?.ends_with(PAGE),
        "the published port after the agent restart"
    );
    ensure!(
        endpoints(&d)? == 1,
        "the lease of the container that ended while away remains"
    );
    ensure!(
        !Path::new("/sys/class/net")
            .join(host_veth_of(&gone))
            .exists(),
        "the veth of the container that ended while away remains"
    );
    ensure!(
        !netns_files(&d).contains(&gone),
        "its namespace file remains"
    );
    let state: Value = inspect_json(&d, &["inspect", "gone"])?["State"].clone();
    ensure!(state["Running"] == false, "gone is still running: {state}");

    d.docker_ok(["rm", "-f", "web", "gone"])?;
    TcpListener::bind(("0.0.0.0", port)).with_context(|| format!("port {port} still taken"))?;
    assert_nothing_left(&d, "after removing everything")
}
