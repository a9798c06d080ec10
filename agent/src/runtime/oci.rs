//! The OCI runtime CLI (runc; crun and youki take the same verbs).
//!
//! Every call is `RUNTIME --root <root> --log-format json VERB ...`; the runtime's stderr is
//! turned into a readable message (the `msg` of its JSON log lines) for `RuntimeError::Runtime`.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

use crate::runtime::RuntimeError;

/// What `RUNTIME state ID` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeState {
    /// `created`, `running`, `paused`, `stopped`.
    pub status: String,
    pub pid: i64,
}

/// One OCI runtime binary with its own state root (so two agents never share runtime state).
#[derive(Clone, Debug)]
pub struct OciRuntime {
    pub binary: String,
    pub root: PathBuf,
}

/// The part of `RUNTIME state` output we use.
#[derive(serde::Deserialize)]
struct StateJson {
    status: String,
    #[serde(default)]
    pid: i64,
}

impl OciRuntime {
    pub fn new(binary: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        OciRuntime {
            binary: binary.into(),
            root: root.into(),
        }
    }

    /// Start a created container (runs the user's process).
    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", id, &["start", id]).await.map(drop)
    }

    /// Send `signal` to the container's init (or every process with `all`).
    pub async fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), RuntimeError> {
        let signal = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, signal.as_str()]);
        self.run("kill", id, &args).await.map(drop)
    }

    /// Remove the runtime's record of the container (`force` kills it first). Removing a
    /// container the runtime does not know succeeds: the record is gone either way.
    pub async fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        match self.run("delete", id, &args).await {
            Ok(_) => Ok(()),
            Err(RuntimeError::Runtime { stderr, .. }) if says_not_found(&stderr) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `None` when the runtime does not know the container.
    pub async fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError> {
        let stdout = match self.run("state", id, &["state", id]).await {
            Ok(out) => out,
            Err(RuntimeError::Runtime { stderr, .. }) if says_not_found(&stderr) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let state: StateJson =
            serde_json::from_slice(&stdout).map_err(|e| RuntimeError::Runtime {
                runtime: self.binary.clone(),
                action: "state".into(),
                id: id.into(),
                stderr: format!(
                    "unreadable state output ({e}): {}",
                    String::from_utf8_lossy(&stdout).trim()
                ),
            })?;
        Ok(Some(RuntimeState {
            status: state.status,
            pid: state.pid,
        }))
    }

    /// Freeze every process of the container.
    pub async fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("pause", id, &["pause", id]).await.map(drop)
    }

    /// Thaw a paused container.
    pub async fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("resume", id, &["resume", id]).await.map(drop)
    }

    /// Run one verb; its stdout on success, its (decoded) stderr in the error otherwise.
    async fn run(&self, action: &str, id: &str, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let output = Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .args(["--log-format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| RuntimeError::io(format!("running {} {action} {id}", self.binary), e))?;
        if output.status.success() {
            tracing::debug!(runtime = %self.binary, action, id, "runtime call done");
            return Ok(output.stdout);
        }
        let mut message = log_messages(&output.stderr);
        if message.is_empty() {
            message = format!("exited with {}", output.status);
        }
        Err(RuntimeError::Runtime {
            runtime: self.binary.clone(),
            action: action.into(),
            id: id.into(),
            stderr: message,
        })
    }
}

/// Whether a runtime's error says the container does not exist (runc, crun and youki wordings).
fn says_not_found(message: &str) -> bool {
    message.contains("does not exist") || message.contains("No such file or directory")
}

/// The runtime's stderr as text: the `msg` of each JSON log line of level error/fatal (runc
/// with `--log-format json`), other lines as they are.
pub(crate) fn log_messages(stderr: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct LogLine {
        #[serde(default)]
        level: String,
        #[serde(default)]
        msg: String,
    }
    let text = String::from_utf8_lossy(stderr);
    let mut messages = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match serde_json::from_str::<LogLine>(line) {
            Ok(entry) if entry.level == "error" || entry.level == "fatal" => {
                if !messages.contains(&entry.msg) {
                    messages.push(entry.msg)
                }
            }
            Ok(_) => {}
            Err(_) => messages.push(line.to_string()),
        }
    }
    messages.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_lines_become_the_message() {
        let stderr = br#"{"level":"warning","msg":"ignored","time":"x"}
{"level":"error","msg":"container does not exist","time":"2026-01-01T00:00:00Z"}
"#;
        assert_eq!(log_messages(stderr), "container does not exist");
        assert!(says_not_found(&log_messages(stderr)));
    }

    #[test]
    fn plain_lines_are_kept() {
        assert_eq!(log_messages(b"boom\n\nbang\n"), "boom; bang");
    }
}
