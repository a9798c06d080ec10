//! A `strata serve` of our own for end-to-end tests: temporary data root, exec root and socket,
//! logs in a file, the stock docker CLI pointed at it, and clean-up that leaves nothing behind
//! (containers, mounts, files).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::docker_cli::{docker_binary, require_runc, require_sqlite3, OutputExt};

/// The agent's fault-injection variable (agent/src/faults.rs): the daemon SIGKILLs itself at
/// the point it names.
pub const FAULT_ENV: &str = "STRATA_FAULT_KILL_AT";

/// How long the daemon may take to answer its first `/_ping`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `strata serve` on temporary roots.
pub struct StrataDaemon {
    child: Option<Child>,
    base: Option<tempfile::TempDir>,
    base_path: PathBuf,
    data_root: PathBuf,
    exec_root: PathBuf,
    socket: PathBuf,
    log_path: PathBuf,
    docker_config: PathBuf,
    driver: String,
    bin: PathBuf,
    /// `--bridge` given to `serve` unless the test passes its own: one per daemon, so parallel
    /// daemons never share (or remove) each other's bridge.
    bridge: String,
}

/// How to start a daemon beyond its driver (see [`StrataDaemon::start_with`]).
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// Directory the temporary test root is made in (default: the system's temporary
    /// directory), e.g. a btrfs mount for the btrfs driver.
    pub root_parent: Option<PathBuf>,
    /// Extra `serve` flags.
    pub args: Vec<String>,
    /// Extra environment variables for the daemon.
    pub env: Vec<(String, String)>,
}

impl DaemonOptions {
    /// Make the temporary root inside `dir`.
    pub fn root_parent(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root_parent = Some(dir.into());
        self
    }

    /// Add `serve` flags.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the daemon.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

impl StrataDaemon {
    /// Start `bin serve` with `--storage-driver driver` on fresh temporary roots and wait until it
    /// answers `/_ping`. Fails (naming what is missing) without docker, runc or sqlite3.
    pub fn start(bin: &Path, driver: &str) -> Result<Self> {
        Self::start_with_args(bin, driver, &[])
    }

    /// [`StrataDaemon::start`] with extra `serve` flags.
    pub fn start_with_args(bin: &Path, driver: &str, extra: &[&str]) -> Result<Self> {
        Self::start_with(
            bin,
            driver,
            &DaemonOptions::default().args(extra.iter().copied()),
        )
    }

    /// [`StrataDaemon::start`] with [`DaemonOptions`] (where the root goes, flags, environment).
    pub fn start_with(bin: &Path, driver: &str, options: &DaemonOptions) -> Result<Self> {
        docker_binary()?;
        require_runc()?;
        require_sqlite3()?;
        crate::docker_cli::require_root()?;
        if !bin.exists() {
            bail!(
                "the strata binary {} does not exist (build it first)",
                bin.display()
            );
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("strata-e2e-");
        let base = match &options.root_parent {
            Some(parent) => builder.tempdir_in(parent).with_context(|| {
                format!("creating the test's temporary root in {}", parent.display())
            })?,
            None => builder
                .tempdir()
                .context("creating the test's temporary root")?,
        };
        let base_path = base.path().to_path_buf();
        let data_root = base_path.join("data");
        let exec_root = base_path.join("exec");
        let socket = exec_root.join("strata.sock");
        let log_path = base_path.join("strata.log");
        let docker_config = base_path.join("docker-config");
        std::fs::create_dir_all(&docker_config).context("creating DOCKER_CONFIG")?;
        let bridge = options
            .args
            .iter()
            .find_map(|a| a.strip_prefix("--bridge=").map(str::to_string))
            .unwrap_or_else(|| unique_bridge_name(&base_path));
        let mut daemon = StrataDaemon {
            child: None,
            base: Some(base),
            base_path,
            data_root,
            exec_root,
            socket,
            log_path,
            docker_config,
            driver: driver.to_string(),
            bin: bin.to_path_buf(),
            bridge,
        };
        daemon.spawn(options)?;
        daemon.wait_ready()?;
        Ok(daemon)
    }

    /// Start `serve` again on the same roots (after [`StrataDaemon::stop`] or
    /// [`StrataDaemon::wait_exit`]) with `options`' flags and environment (its `root_parent` is
    /// not used), and wait until it answers `/_ping`. The log is appended to.
    pub fn restart(&mut self, options: &DaemonOptions) -> Result<()> {
        if self.child.is_some() {
            bail!("the daemon is still running; stop it before restarting it");
        }
        self.spawn(options)?;
        self.wait_ready()
    }

    /// Run `serve` on this daemon's roots, its output appended to the log.
    fn spawn(&mut self, options: &DaemonOptions) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .context("opening the daemon log")?;
        let log_err = log
            .try_clone()
            .context("duplicating the daemon log handle")?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--storage-driver")
            .arg(&self.driver)
            // No metrics TCP listener unless a test asks for one: parallel daemons would all
            // want the default 127.0.0.1:9323.
            .args(
                (!options.args.iter().any(|a| a.starts_with("--metrics-addr")))
                    .then_some("--metrics-addr="),
            )
            .args(
                (!options.args.iter().any(|a| a.starts_with("--bridge")))
                    .then(|| format!("--bridge={}", self.bridge)),
            )
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .env("STRATA_LOG", "info,strata_api=debug,strata_agent=debug")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("starting {} serve", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Wait for a daemon that is expected to end by itself (e.g. killed by a fault point) and
    /// return how it ended; fails when it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            bail!("the daemon is not running");
        };
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().context("waiting for strata")? {
                self.child = None;
                return Ok(status);
            }
            if started.elapsed() > timeout {
                bail!(
                    "strata is still running {}s after it should have ended; log tail:\n{}",
                    timeout.as_secs(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("checking the daemon process")? {
                    self.child = None;
                    bail!(
                        "strata serve ({}) exited with {status} before answering /_ping; log tail:\n{}",
                        self.driver,
                        self.log_tail(40)
                    );
                }
            }
            if ping(&self.socket).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                let last = ping(&self.socket)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                bail!(
                    "strata serve ({}) did not answer /_ping on {} within {}s (last error: {last}); log tail:\n{}",
                    self.driver,
                    self.socket.display(),
                    START_TIMEOUT.as_secs(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `unix:///.../strata.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's bridge device (`--bridge`).
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The daemon's `--data-root`.
    pub fn data_root(&self) -> &Path {
        &self.data_root
    }

    /// The daemon's `--exec-root`.
    pub fn exec_root(&self) -> &Path {
        &self.exec_root
    }

    /// The API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The storage driver it runs.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The driver's home (`<data-root>/<driver>`).
    pub fn driver_home(&self) -> PathBuf {
        self.data_root.join(&self.driver)
    }

    /// The metadata database.
    pub fn db_path(&self) -> PathBuf {
        self.data_root.join("strata.db")
    }

    /// The daemon's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn docker_command(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION");
        cmd
    }

    /// Run the docker CLI against this daemon; stdin is empty.
    pub fn docker<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.docker_with_stdin(args, b"")
    }

    /// Run the docker CLI with `stdin` as its input.
    pub fn docker_with_stdin<I, S>(&self, args: I, stdin: &[u8]) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = self.docker_command();
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("running the docker CLI: {e} (is docker installed?)"),
        };
        // Feed stdin from a thread so a command that writes a lot before reading cannot
        // deadlock against us; a command that does not read stdin may close it early (fine).
        let feeder = child.stdin.take().map(|mut input| {
            let data = stdin.to_vec();
            std::thread::spawn(move || {
                let _ = input.write_all(&data);
            })
        });
        let output = child.wait_with_output();
        if let Some(feeder) = feeder {
            let _ = feeder.join();
        }
        match output {
            Ok(out) => out,
            Err(e) => panic!("waiting for the docker CLI: {e}"),
        }
    }

    /// One raw Engine API request on the daemon's socket (`path` as sent, e.g.
    /// `/v1.47/containers/create`; `body` as JSON): the status code and the body. For what the
    /// docker CLI refuses before sending, and for status codes the CLI does not show.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
        let body = body.unwrap_or("");
        self.api_bytes(method, path, "application/json", body.as_bytes())
    }

    /// [`StrataDaemon::api`] with any body (e.g. an image archive for `/images/load`). The
    /// daemon may answer before it has read the whole body (a refusal): the answer still counts.
    pub fn api_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, String)> {
        let mut stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )?;
        // A daemon that refuses early closes its end; what it answered is read below.
        let _ = stream.write_all(body);
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let text = String::from_utf8_lossy(&answer).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no status line in {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok((status, body.to_string()))
    }

    /// Start the docker CLI against this daemon in the background (stdio on /dev/null).
    pub fn docker_spawn<I, S>(&self, args: I) -> Result<Child>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.docker_command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("running the docker CLI (is docker installed?)")
    }

    /// `docker inspect NAME`: the one object it prints.
    pub fn inspect(&self, name: &str) -> Result<serde_json::Value> {
        let text = self.docker_ok(["inspect", name])?;
        let list: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("inspect: {text}"))?;
        list.get(0).cloned().context("inspect printed no object")
    }

    /// Run the docker CLI and return its stdout, or an error with everything it printed plus
    /// the daemon's log tail.
    pub fn docker_ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.docker(&args);
        let what = format!(
            "docker {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        out.ok(&what)
            .with_context(|| format!("daemon log tail:\n{}", self.log_tail(30)))
    }

    /// `select count(*) from <table>` in the metadata database.
    pub fn db_count(&self, table: &str) -> Result<i64> {
        let out = Command::new("sqlite3")
            .arg(self.db_path())
            .arg(format!("select count(*) from {table};"))
            .output()
            .context("running sqlite3")?;
        let text = out.ok(&format!("sqlite3 count of {table}"))?;
        text.trim()
            .parse()
            .with_context(|| format!("sqlite3 printed {text:?} for {table}"))
    }

    /// Driver ids the metadata records: image layers, and containers' init and rw layers.
    pub fn recorded_layers(&self) -> Result<BTreeSet<String>> {
        let out = Command::new("sqlite3")
            .arg(self.db_path())
            .arg(
                "select cache_id from layers union all select rw_layer from containers \
                 union all select init_layer from containers;",
            )
            .output()
            .context("running sqlite3")?;
        let text = out.ok("sqlite3 recorded layer ids")?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// What the daemon has on disk, in its metadata and in the mount table, for before/after
    /// comparisons ("nothing new", "nothing left").
    pub fn snapshot(&self) -> Result<StoreSnapshot> {
        let mut paths = BTreeSet::new();
        list_tree(&self.data_root, &self.data_root, SNAPSHOT_DEPTH, &mut paths)?;
        list_tree(&self.exec_root, &self.exec_root, SNAPSHOT_DEPTH, &mut paths)?;
        // The database's own files change with every write; the socket is the API's.
        paths.retain(|p| {
            let name = p.to_string_lossy();
            !(name.starts_with("data/strata.db") || name == "exec/strata.sock")
        });
        // Empty top-level directories (`data/containers`, `exec/runtime`, ...) are the store's
        // skeleton, created on first use: they are not anything's remains.
        let skeleton = paths
            .iter()
            .filter(|p| p.components().count() == 2)
            .filter(|p| {
                let full = self.base_path.join(p);
                full.is_dir()
                    && std::fs::read_dir(&full)
                        .map(|mut d| d.next().is_none())
                        .unwrap_or(false)
            })
            .cloned()
            .collect();
        Ok(StoreSnapshot {
            paths,
            skeleton,
            images: self.db_count("images")?,
            layers: self.db_count("layers")?,
            containers: self.db_count("containers")?,
            mounts: self.leftover_mounts(),
        })
    }

    /// Send SIGTERM and wait for the daemon to exit; returns its exit status. Fails when it does
    /// not exit in time (it is then killed) or leaves its socket behind.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the daemon is not running");
        };
        let pid = Pid::from_raw(child.id() as i32);
        kill(pid, Signal::SIGTERM).context("sending SIGTERM to strata")?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for strata")? {
                break status;
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "strata did not exit within {}s of SIGTERM; log tail:\n{}",
                    STOP_TIMEOUT.as_secs(),
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if self.socket.exists() {
            bail!(
                "strata exited ({status}) but left its socket {} behind",
                self.socket.display()
            );
        }
        Ok(status)
    }

    /// SIGKILL the daemon, as a crash would end it, and wait for it to end.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the daemon is not running");
        };
        child.kill().context("sending SIGKILL to strata")?;
        child.wait().context("waiting for the killed strata")
    }

    /// Everything under our temporary root that is still mounted.
    pub fn leftover_mounts(&self) -> Vec<PathBuf> {
        mounts_under(&self.base_path)
    }

    /// Processes other than the daemon whose command line names its exec root (its shims, and
    /// runtime calls under way), with their command lines.
    pub fn processes_naming_exec_root(&self) -> Vec<(i32, String)> {
        let daemon = self.pid().map(|p| p as i32);
        processes_mentioning(&self.exec_root)
            .into_iter()
            .filter(|pid| Some(*pid) != daemon)
            .filter_map(|pid| Some((pid, cmdline_of(pid)?)))
            .collect()
    }

    /// Best-effort removal of containers the daemon left running: runc state under our exec
    /// root, then any process whose command line names our temporary root (shims).
    fn clean_runtime(&self) {
        let runc_root = self.exec_root.join("runtime");
        if runc_root.is_dir() {
            if let Ok(out) = Command::new("runc")
                .arg("--root")
                .arg(&runc_root)
                .args(["list", "-q"])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                {
                    let _ = Command::new("runc")
                        .arg("--root")
                        .arg(&runc_root)
                        .args(["delete", "--force", id])
                        .output();
                }
            }
        }
        for pid in processes_mentioning(&self.base_path) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

impl Drop for StrataDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(e) = self.stop() {
                eprintln!("strata test daemon: {e:#}");
            }
        }
        self.clean_runtime();
        self.remove_bridge();
        // The containers killed just above may have kept the agent's cgroup parent.
        crate::cgroups::remove_parent(&crate::cgroups::default_parent(&self.data_root));
        let mut mounts = mounts_under(&self.base_path);
        // Deepest first, detached: nothing of ours stays mounted when the directory goes.
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for mount in &mounts {
            if let Err(e) = nix::mount::umount2(mount, nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("strata test daemon: unmounting {}: {e}", mount.display());
            }
        }
        if !mounts.is_empty() {
            eprintln!(
                "strata test daemon: had to unmount {} leftover mount(s)",
                mounts.len()
            );
        }
        if std::env::var_os("STRATA_KEEP_TEST_ROOT").is_some() {
            if let Some(base) = self.base.take() {
                eprintln!("strata test daemon: keeping {}", base.keep().display());
            }
        }
    }
}

impl StrataDaemon {
    /// Delete the daemon's bridge if a killed daemon left it (a clean stop removes it itself).
    fn remove_bridge(&self) {
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let _ = Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A bridge name of at most 15 characters made from the test root's random suffix.
fn unique_bridge_name(base: &Path) -> String {
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix: String = name
        .trim_start_matches("strata-e2e-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(10)
        .collect();
    format!("stt{suffix}")
}

/// How deep [`StrataDaemon::snapshot`] lists the roots: deep enough to see every layer and
/// container directory (`data/<driver>/dir/<id>`, `data/overlay2/<id>/diff`), not their content.
const SNAPSHOT_DEPTH: usize = 3;

/// The daemon's footprint at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSnapshot {
    /// Paths under the data and exec roots (relative to the test root, `data/...`, `exec/...`),
    /// down to [`SNAPSHOT_DEPTH`] levels.
    pub paths: BTreeSet<PathBuf>,
    /// Empty directories directly under the data or exec root (ignored when new).
    pub skeleton: BTreeSet<PathBuf>,
    /// Rows in the metadata tables.
    pub images: i64,
    pub layers: i64,
    pub containers: i64,
    /// Mount points under the test root.
    pub mounts: Vec<PathBuf>,
}

impl StoreSnapshot {
    /// What differs from `before`, in words; empty when nothing does.
    pub fn diff_from(&self, before: &StoreSnapshot) -> String {
        let mut out = String::new();
        for p in self
            .paths
            .difference(&before.paths)
            .filter(|p| !self.skeleton.contains(*p))
        {
            out.push_str(&format!("  new path: {}\n", p.display()));
        }
        for p in before.paths.difference(&self.paths) {
            out.push_str(&format!("  gone path: {}\n", p.display()));
        }
        for (what, a, b) in [
            ("images", before.images, self.images),
            ("layers", before.layers, self.layers),
            ("containers", before.containers, self.containers),
        ] {
            if a != b {
                out.push_str(&format!("  {what} rows: {a} -> {b}\n"));
            }
        }
        if self.mounts != before.mounts {
            out.push_str(&format!(
                "  mounts: {:?} -> {:?}\n",
                before.mounts, self.mounts
            ));
        }
        out
    }

    /// Fail with the differences unless this equals `before`.
    pub fn assert_same_as(&self, before: &StoreSnapshot, what: &str) -> Result<()> {
        let diff = self.diff_from(before);
        if diff.is_empty() {
            Ok(())
        } else {
            bail!("{what}: the daemon's footprint changed:\n{diff}")
        }
    }
}

/// Add the paths under `dir` (relative to `dir`'s parent) to `out`, `depth` levels down.
/// Symlinks are listed, not followed.
fn list_tree(top: &Path, dir: &Path, depth: usize, out: &mut BTreeSet<PathBuf>) -> Result<()> {
    if depth == 0 {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let base = top.parent().unwrap_or(top);
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        out.insert(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        let file_type = entry
            .file_type()
            .with_context(|| format!("stat {}", path.display()))?;
        if file_type.is_dir() {
            list_tree(top, &path, depth - 1, out)?;
        }
    }
    Ok(())
}

/// Ask `/_ping` on a unix socket; Ok when it answers `200 OK`.
pub fn ping(socket: &Path) -> Result<()> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    if text.starts_with("HTTP/1.")
        && text.lines().next().is_some_and(|l| l.contains(" 200"))
        && text.ends_with("OK")
    {
        Ok(())
    } else {
        bail!("unexpected /_ping answer: {text:?}")
    }
}

/// Decode mountinfo's octal escapes (`\040` for a space, ...).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let value = digits
                    .iter()
                    .fold(0u16, |acc, d| acc * 8 + u16::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every mount point at or under `path` in this process's mount table.
pub fn mounts_under(path: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|mount| mount.starts_with(path))
        .collect()
}

/// The command line of process `pid`, its arguments separated by spaces.
pub fn cmdline_of(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(String::from_utf8_lossy(&raw).replace('\0', " ").trim().to_string())
}

/// Pids (not ours) whose command line mentions `path`.
fn processes_mentioning(path: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let needle = path.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| cmdline_of(*pid).is_some_and(|c| c.contains(&needle)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_decode() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/end\\"), "/end\\");
    }

    #[test]
    fn root_is_mounted() {
        assert!(mounts_under(Path::new("/"))
            .iter()
            .any(|m| m == Path::new("/")));
    }
}
