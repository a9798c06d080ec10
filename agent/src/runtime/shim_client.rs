//! The agent's side of the shim: launching one, connecting to it, reading what it left behind.
//! (Skeleton: filled in by the runtime work.)

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::model::StdStream;
use crate::runtime::RuntimeError;

/// How to launch a shim for one container.
#[derive(Clone, Debug)]
pub struct ShimConfig {
    pub id: String,
    /// Holds config.json.
    pub bundle_dir: PathBuf,
    /// OCI runtime binary (`runc`) and its `--root`.
    pub runtime_binary: String,
    pub runtime_root: PathBuf,
    /// The shim's own files: socket, pid file, exit file. Under the exec root.
    pub state_dir: PathBuf,
    /// Docker json-file log the shim appends the container's output to.
    pub log_path: PathBuf,
    pub tty: bool,
    /// Keep a pipe to the container's stdin open (`-i`).
    pub stdin: bool,
}

/// A launched shim.
#[derive(Clone, Debug)]
pub struct ShimHandle {
    pub shim_pid: i32,
    /// The container's init process, as the runtime created it.
    pub container_pid: i32,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, or 128 + signal number when killed by a signal.
    pub exit_code: i64,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

/// What a shim connection delivers, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShimEvent {
    Output(StdStream, Bytes),
    /// The container has exited and all its output was delivered before this.
    Exited(ExitInfo),
}

/// A live connection to a shim.
pub struct ShimConnection {
    /// Events in order; closes after `Exited` or when the shim goes away.
    pub events: mpsc::Receiver<ShimEvent>,
    /// Stdin of the container (when launched with `stdin`); dropping it closes the container's
    /// stdin.
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// Terminal size changes (rows, columns), for a tty.
    pub resize: mpsc::Sender<(u16, u16)>,
}

/// Start a shim for `config` and return once the container is created and the shim listens.
pub async fn launch(_shim_binary: &Path, config: &ShimConfig) -> Result<ShimHandle, RuntimeError> {
    Err(RuntimeError::Shim { id: config.id.clone(), reason: "not implemented yet".into() })
}

/// Connect to the shim whose files are in `state_dir`.
pub async fn connect(state_dir: &Path) -> Result<ShimConnection, RuntimeError> {
    Err(RuntimeError::Shim { id: state_dir.display().to_string(), reason: "not implemented yet".into() })
}

/// Whether the shim whose files are in `state_dir` is still alive.
pub fn shim_alive(_state_dir: &Path) -> bool {
    false
}

/// The exit the shim recorded, if the container has ended.
pub fn read_exit_file(_state_dir: &Path) -> Option<ExitInfo> {
    None
}
