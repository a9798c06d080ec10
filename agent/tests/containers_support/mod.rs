//! Shared helpers of the container tests: a real engine on a temporary root with a busybox test
//! image loaded, running containers to completion, and checks that nothing is left behind.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use strata_agent::model::{AttachOptions, ContainerSpec, StdStream, WaitCondition};
use strata_agent::{Engine, EngineConfig};
use strata_test_support::image_builder::TestImage;

/// The tag of the test image every container test loads.
pub const IMAGE: &str = "strata-test/ctr:1";

/// Fail (never skip) when something the tests need is missing.
pub fn require_environment() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "container tests need root (they mount and run runc)"
    );
    assert!(
        which("runc").is_some(),
        "container tests need the OCI runtime `runc` in PATH (Debian package runc)"
    );
    assert!(
        Path::new("/bin/busybox").exists(),
        "container tests need /bin/busybox (Debian package busybox-static) for the test image"
    );
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// The `strata` binary (it is also the shim): `$STRATA_BIN`, else built now with cargo.
pub fn strata_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("STRATA_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "STRATA_BIN={} does not exist", bin.display());
        return bin;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace dir")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "--bin", "strata"])
        .current_dir(&workspace)
        .status()
        .unwrap_or_else(|e| {
            panic!("running `{cargo} build --bin strata` for the shim binary: {e}")
        });
    assert!(
        status.success(),
        "`cargo build --bin strata` failed; the tests need the shim binary"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let bin = target.join("debug").join("strata");
    assert!(
        bin.is_file(),
        "the strata binary {} is missing after the build",
        bin.display()
    );
    bin
}

/// A temporary root for one engine, cleaned up (runtime records, mounts, files) on drop.
pub struct TestRoot {
    pub dir: tempfile::TempDir,
    pub driver: String,
    pub strata: PathBuf,
}

impl TestRoot {
    pub fn new(driver: &str) -> TestRoot {
        require_environment();
        let dir = tempfile::Builder::new()
            .prefix("strata-ctr-")
            .tempdir()
            .expect("temp dir");
        TestRoot {
            dir,
            driver: driver.to_string(),
            strata: strata_binary(),
        }
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root().join("runtime")
    }

    pub fn config(&self) -> EngineConfig {
        let mut config = EngineConfig::with_roots(self.data_root(), self.exec_root());
        config.storage_driver = Some(self.driver.clone());
        config.shim_binary = self.strata.clone();
        // A bridge of its own: engines of parallel tests never share addresses or a bridge.
        config.network.bridge = self.bridge();
        config
    }

    /// This root's bridge device name (`stc` + the temporary directory's random suffix).
    pub fn bridge(&self) -> String {
        let name = self.dir.path().file_name().map(|n| n.to_string_lossy().into_owned());
        let suffix: String = name
            .unwrap_or_default()
            .trim_start_matches("strata-ctr-")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(10)
            .collect();
        format!("stc{suffix}")
    }

    pub async fn open(&self) -> Engine {
        Engine::open(self.config())
            .await
            .expect("opening the engine")
    }

    /// Open an engine and load the busybox test image.
    pub async fn engine_with_image(&self) -> Engine {
        let engine = self.open().await;
        let archive = self.dir.path().join("image.tar");
        TestImage::busybox(IMAGE)
            .random_layers(2, 4096)
            .build_docker_archive(&archive)
            .expect("building the test image");
        let file = tokio::fs::File::open(&archive)
            .await
            .expect("opening the test image");
        engine
            .load_images(Box::pin(file))
            .await
            .expect("loading the test image");
        engine
    }

    /// Containers the runtime still knows under this root.
    pub fn runtime_containers(&self) -> Vec<String> {
        let root = self.runtime_root();
        if !root.exists() {
            return Vec::new();
        }
        let out = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"])
            .output()
            .expect("running runc list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// Mount points under this root.
    pub fn mounts(&self) -> Vec<PathBuf> {
        mounts_under(self.dir.path())
    }

    /// Driver layer directories that belong to container `id`.
    pub fn container_layer_dirs(&self, id: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk_names(&self.data_root().join(&self.driver), id, 3, &mut found);
        found
    }
}

fn walk_names(dir: &Path, needle: &str, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(needle) {
            found.push(path.clone());
        }
        if depth > 0 && entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk_names(&path, needle, depth - 1, found);
        }
    }
}

/// Mount points at or under `path`, from /proc/self/mountinfo, deepest first.
pub fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(path))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        for id in self.runtime_containers() {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(self.runtime_root())
                .args(["delete", "-f", &id])
                .status();
        }
        for m in self.mounts() {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        // Engines of these tests are dropped without a shutdown: remove their cgroup parent.
        strata_agent::cgroups::parent::remove_empty(
            &self.config().cgroup_parent(),
            &Default::default(),
        );
        if std::path::Path::new("/sys/class/net").join(self.bridge()).exists() {
            let _ = Command::new("ip").args(["link", "delete", &self.bridge()]).status();
        }
    }
}

/// A spec for the test image running `cmd`.
pub fn spec(cmd: &[&str]) -> ContainerSpec {
    ContainerSpec {
        image: IMAGE.to_string(),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        attach_stdout: true,
        attach_stderr: true,
        ..Default::default()
    }
}

/// What a container printed, per stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// `docker run` as the CLI does it: attach, wait (`condition`), start; returns the output and
/// the wait's status code.
pub async fn run(engine: &Engine, id: &str, condition: WaitCondition) -> (Output, i64) {
    let opts = AttachOptions {
        stdout: true,
        stderr: true,
        stream: true,
        ..Default::default()
    };
    let mut attachment = engine.attach_container(id, opts).await.expect("attach");
    let wait = engine.wait_container(id, condition).await.expect("wait");
    engine.start_container(id).await.expect("start");
    let mut out = Output::default();
    while let Some((stream, chunk)) = attachment.output.recv().await {
        push(&mut out, stream, &chunk);
    }
    let outcome = wait.0.await;
    (out, outcome.status_code)
}

pub fn push(out: &mut Output, stream: StdStream, chunk: &Bytes) {
    let text = String::from_utf8_lossy(chunk);
    match stream {
        StdStream::Stdout => out.stdout.push_str(&text),
        StdStream::Stderr => out.stderr.push_str(&text),
        StdStream::Stdin => panic!("stdin chunk in the output"),
    }
}

/// Count rows of `table` in the engine's database.
pub fn db_count(root: &TestRoot, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(root.data_root().join("strata.db")).expect("open db");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// Assert nothing of container `id` is left: record, files, layers, mounts, runtime state,
/// cgroup.
pub fn assert_container_gone(root: &TestRoot, id: &str) {
    let conn = rusqlite::Connection::open(root.data_root().join("strata.db")).expect("open db");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM containers WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("count");
    assert_eq!(rows, 0, "the container's record is still in the database");
    let data_dir = root.data_root().join("containers").join(id);
    assert!(!data_dir.exists(), "{} still exists", data_dir.display());
    let exec_dir = root.exec_root().join("containers").join(id);
    assert!(!exec_dir.exists(), "{} still exists", exec_dir.display());
    let layers = root.container_layer_dirs(id);
    assert!(
        layers.is_empty(),
        "driver still holds the container's layers: {layers:?}"
    );
    let mounts: Vec<_> = root
        .mounts()
        .into_iter()
        .filter(|m| m.to_string_lossy().contains(id))
        .collect();
    assert!(mounts.is_empty(), "container mounts remain: {mounts:?}");
    assert!(
        !root.runtime_containers().contains(&id.to_string()),
        "runc still knows {id}"
    );
    for controller in ["memory", "pids", "cpu"] {
        let cgroup = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("strata")
            .join(id);
        assert!(!cgroup.exists(), "cgroup {} remains", cgroup.display());
    }
}

/// Labels helper.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
