//! Finding the tools end-to-end tests need (the stock docker CLI, runc, sqlite3) and reading
//! their output. A missing tool is an error that names it: tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{bail, Result};

/// `name` found on `PATH` (or `name` itself when it is a path to an executable file).
pub fn which(name: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exec(p))
}

/// The docker CLI, or an error saying it is missing.
pub fn docker_binary() -> Result<PathBuf> {
    match which("docker") {
        Some(p) => Ok(p),
        None => bail!(
            "the docker CLI is missing: end-to-end tests drive strata with the stock `docker` \
             client (28.x) found on PATH; install docker-ce-cli (no engine needed)"
        ),
    }
}

/// Fail unless runc (the OCI runtime strata runs containers with) is installed.
pub fn require_runc() -> Result<PathBuf> {
    match which("runc") {
        Some(p) => Ok(p),
        None => bail!("runc is missing: strata runs containers with runc; apt-get install runc"),
    }
}

/// Fail unless the sqlite3 shell (used to inspect the metadata database) is installed.
pub fn require_sqlite3() -> Result<PathBuf> {
    match which("sqlite3") {
        Some(p) => Ok(p),
        None => bail!("sqlite3 is missing: tests read strata.db with it; apt-get install sqlite3"),
    }
}

/// Fail unless the test runs as root (mounts, runc, overlayfs need it).
pub fn require_root() -> Result<()> {
    if nix::unistd::Uid::effective().is_root() {
        Ok(())
    } else {
        bail!("end-to-end tests need root (mounts, overlayfs, runc); run them as root")
    }
}

/// Reading a finished command's output.
pub trait OutputExt {
    /// stdout as (lossy) text.
    fn stdout_text(&self) -> String;
    /// stderr as (lossy) text.
    fn stderr_text(&self) -> String;
    /// The exit code; `-1` when killed by a signal.
    fn code(&self) -> i32;
    /// Everything about the run, for failure messages.
    fn describe(&self) -> String;
    /// stdout when the command succeeded, else an error describing the run.
    fn ok(&self, what: &str) -> Result<String>;
}

impl OutputExt for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    fn describe(&self) -> String {
        format!(
            "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code(),
            self.stdout_text(),
            self.stderr_text()
        )
    }

    fn ok(&self, what: &str) -> Result<String> {
        if self.status.success() {
            Ok(self.stdout_text())
        } else {
            bail!("{what} failed: {}", self.describe())
        }
    }
}
