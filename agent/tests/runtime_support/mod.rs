//! Shared helpers of the `runtime_*` tests: a busybox rootfs, a private runc root, a bundle and
//! a shim state directory per container, and cleanup that checks nothing is left behind
//! (runc state, cgroups, mounts).
//!
//! Needs root, runc, /bin/busybox and the `strata` binary (`cargo build --bin strata`, or set
//! `STRATA_BIN`); a test fails with a message naming what is missing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use strata_agent::model::StdStream;
use strata_agent::runtime::bundle::{write_bundle, BundleMount, BundleSpec};
use strata_agent::runtime::oci::OciRuntime;
use strata_agent::runtime::shim_client::{ShimConfig, ShimConnection, ShimEvent};

/// Guard against a hung test (not a speed assertion): how long to wait for a container's exit.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

pub const BUSYBOX: &str = "/bin/busybox";
pub const TINI: &str = "/usr/bin/tini-static";
const APPLETS: &[&str] = &[
    "sh", "echo", "sleep", "cat", "id", "ip", "stty", "head", "tr", "true", "test", "[",
];

/// The OCI runtime binary: `$STRATA_TEST_RUNTIME` or `runc` from PATH.
pub fn runtime_binary() -> String {
    std::env::var("STRATA_TEST_RUNTIME").unwrap_or_else(|_| "runc".to_string())
}

/// Fail with a clear message unless everything these tests need is here.
pub fn require_prerequisites() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the runtime tests must run as root (runc creates containers)"
    );
    assert!(
        Path::new(BUSYBOX).is_file(),
        "{BUSYBOX} is missing: install busybox-static (apt-get install busybox-static)"
    );
    let runc = runtime_binary();
    let found = Command::new(&runc).arg("--version").output();
    assert!(
        matches!(&found, Ok(o) if o.status.success()),
        "OCI runtime {runc:?} is missing or broken ({found:?}): install runc (apt-get install runc)"
    );
}

/// The `strata` binary that serves as the shim.
pub fn strata_bin() -> PathBuf {
    let path = match std::env::var_os("STRATA_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/strata"),
    };
    assert!(
        path.is_file(),
        "the strata binary is missing at {}: build it first with `cargo build --bin strata` (or set STRATA_BIN)",
        path.display()
    );
    path
}

/// One container's world: rootfs, bundle, runc root, shim state, log.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub rootfs: PathBuf,
    pub bundle: PathBuf,
    pub runc_root: PathBuf,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    pub cgroups_path: String,
    finished: bool,
}

impl Sandbox {
    /// A fresh sandbox; `name` makes the container id readable in `runc list`.
    pub fn new(name: &str) -> Sandbox {
        require_prerequisites();
        let dir = tempfile::Builder::new()
            .prefix("strata-rt-")
            .tempdir()
            .expect("temp dir");
        let id = format!("strata-rt-{}-{name}", std::process::id());
        let rootfs = dir.path().join("rootfs");
        make_busybox_rootfs(&rootfs);
        let sandbox = Sandbox {
            id: id.clone(),
            rootfs,
            bundle: dir.path().join("bundle"),
            runc_root: dir.path().join("runc"),
            state_dir: dir.path().join("state"),
            log_path: dir.path().join("logs").join(format!("{id}-json.log")),
            // One level only: runc removes the container's cgroup, not its parents.
            cgroups_path: format!("/strata-test-{id}"),
            dir,
            finished: false,
        };
        std::fs::create_dir_all(&sandbox.runc_root).expect("runc root");
        sandbox
    }

    /// A bundle spec for `args` with this sandbox's rootfs, id and cgroup.
    pub fn spec(&self, args: &[&str]) -> BundleSpec {
        BundleSpec {
            id: self.id.clone(),
            rootfs: self.rootfs.clone(),
            args: args.iter().map(|a| a.to_string()).collect(),
            cwd: "/".into(),
            hostname: "rt".into(),
            cgroups_path: self.cgroups_path.clone(),
            ..Default::default()
        }
    }

    /// A spec whose process waits until [`Sandbox::release`] is called, then prints `bye` and
    /// exits with `code`: the host directory `ctl/` is bind-mounted at `/ctl`.
    pub fn gated_spec(&self, code: i32) -> BundleSpec {
        let ctl = self.dir.path().join("ctl");
        std::fs::create_dir_all(&ctl).expect("ctl dir");
        let script = format!("while [ ! -e /ctl/go ]; do sleep 0.05; done; echo bye; exit {code}");
        let mut spec = self.spec(&["sh", "-c", &script]);
        spec.mounts.push(BundleMount {
            destination: "/ctl".into(),
            kind: "bind".into(),
            source: ctl.to_string_lossy().into_owned(),
            options: vec![],
        });
        spec
    }

    /// Let a [`Sandbox::gated_spec`] process finish.
    pub fn release(&self) {
        std::fs::write(self.dir.path().join("ctl/go"), b"").expect("release gate");
    }

    pub fn write_bundle(&self, spec: &BundleSpec) {
        write_bundle(&self.bundle, spec).expect("write_bundle");
    }

    pub fn shim_config(&self, tty: bool, stdin: bool) -> ShimConfig {
        ShimConfig {
            id: self.id.clone(),
            bundle_dir: self.bundle.clone(),
            runtime_binary: runtime_binary(),
            runtime_root: self.runc_root.clone(),
            state_dir: self.state_dir.clone(),
            log_path: self.log_path.clone(),
            tty,
            stdin,
        }
    }

    pub fn runtime(&self) -> OciRuntime {
        OciRuntime::new(runtime_binary(), &self.runc_root)
    }

    /// The json-file log as parsed entries `(stream, log)`.
    pub fn log_entries(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}"));
                assert!(
                    v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                    "time in RFC 3339 UTC: {l}"
                );
                (
                    v["stream"].as_str().unwrap_or_default().to_string(),
                    v["log"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Remove the container and check that nothing of it remains: runc state, cgroups, mounts.
    pub fn finish(mut self) {
        self.cleanup();
        self.finished = true;
        let listed = Command::new(runtime_binary())
            .arg("--root")
            .arg(&self.runc_root)
            .args(["list", "-q"])
            .output();
        if let Ok(out) = listed {
            let ids = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(ids.is_empty(), "runc still lists {ids:?}");
        }
        let cgroups = leftover_cgroups(&self.cgroups_path);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.path().to_string_lossy().to_string();
        let mounts: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&dir)).collect();
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    }

    fn cleanup(&self) {
        let _ = Command::new(runtime_binary())
            .arg("--root")
            .arg(&self.runc_root)
            .args(["delete", "--force", &self.id])
            .output();
        if let Ok(text) = std::fs::read_to_string(self.state_dir.join("shim.pid")) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if strata_agent::runtime::shim_client::shim_alive(&self.state_dir) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if !self.finished {
            self.cleanup();
        }
    }
}

/// Cgroup directories named `cgroups_path` under any hierarchy.
pub fn leftover_cgroups(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for e in entries.flatten() {
        let candidate = e.path().join(rel);
        if candidate.exists() {
            found.push(candidate);
        }
    }
    if Path::new("/sys/fs/cgroup").join(rel).exists() {
        found.push(Path::new("/sys/fs/cgroup").join(rel));
    }
    found
}

/// A rootfs with busybox and a few applets, `/etc/passwd` and `/etc/group`.
pub fn make_busybox_rootfs(rootfs: &Path) {
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app", "ctl",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).expect("rootfs dir");
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .expect("applet symlink");
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ntty:x:5:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .expect("group");
}

/// Every event up to and including the exit.
pub async fn events_until_exit(conn: &mut ShimConnection) -> Vec<ShimEvent> {
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(HANG_GUARD, conn.events.recv()).await {
            Ok(Some(event)) => {
                let exited = matches!(event, ShimEvent::Exited(_));
                events.push(event);
                if exited {
                    return events;
                }
            }
            Ok(None) => panic!("shim connection closed without an exit; events so far: {events:?}"),
            Err(_) => {
                panic!("no exit within {HANG_GUARD:?} (hang guard); events so far: {events:?}")
            }
        }
    }
}

/// All output of one stream in `events`, concatenated.
pub fn stream_bytes(events: &[ShimEvent], stream: StdStream) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            ShimEvent::Output(s, b) if *s == stream => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The exit code of the last event (which must be the exit).
pub fn exit_code(events: &[ShimEvent]) -> i64 {
    match events.last() {
        Some(ShimEvent::Exited(info)) => info.exit_code,
        other => panic!("last event is not an exit: {other:?}"),
    }
}
