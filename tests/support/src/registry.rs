//! A local Debian `docker-registry` (distribution 2.8) for registry tests: started on a free
//! 127.0.0.1 port with storage in a temporary directory and the configuration from
//! `deploy/registry/config.yml`, optionally behind htpasswd basic auth; killed when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::docker_cli::which;

/// Where Debian installs the registry.
pub const REGISTRY_BINARY: &str = "docker-registry";
/// How long the registry may take to answer `/v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running registry.
pub struct TestRegistry {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Start a registry without authentication.
    pub fn start() -> Result<TestRegistry> {
        TestRegistry::start_inner(None)
    }

    /// Start a registry that requires HTTP basic auth as `user`/`password` (htpasswd file
    /// with a bcrypt hash, made here).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Result<TestRegistry> {
        TestRegistry::start_inner(Some((user, password)))
    }

    fn start_inner(auth: Option<(&str, &str)>) -> Result<TestRegistry> {
        let binary = which(REGISTRY_BINARY).with_context(|| {
            format!("{REGISTRY_BINARY} is missing on this host: the registry tests need it (apt-get install docker-registry)")
        })?;
        let dir = tempfile::Builder::new()
            .prefix("strata-registry-")
            .tempdir()
            .context("creating the registry's temporary directory")?;
        let mut config = std::fs::read_to_string(deploy_config())
            .with_context(|| format!("reading {}", deploy_config().display()))?;
        if let Some((user, password)) = auth {
            let hash = bcrypt::hash(password, 5).context("hashing the test password")?;
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n"))
                .context("writing the htpasswd file")?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).context("writing the registry config")?;
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage)?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .env("REGISTRY_HTTP_ADDR", &addr)
            .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", &storage)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry")?;
        let mut registry = TestRegistry { child, addr, dir };
        registry.wait_ready()?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The registry's storage directory.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "docker-registry exited at start ({status}):\n{}",
                    self.log()
                );
            }
            if let Ok(status) = http_status(&self.addr, "/v2/") {
                // 200 without auth, 401 with it: either way it serves.
                if status == 200 || status == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "docker-registry did not answer on {} in time:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `deploy/registry/config.yml` of this repository.
pub fn deploy_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/registry/config.yml")
}

/// A port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The status code of a plain `GET path` on `addr`.
pub fn http_status(addr: &str, path: &str) -> Result<u16> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("unexpected answer {text:?}"))?;
    Ok(status)
}
