//! The OCI runtime CLI (runc; crun and youki take the same verbs).
//! (Skeleton: filled in by the runtime work.)

use std::path::PathBuf;

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

impl OciRuntime {
    pub fn new(binary: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        OciRuntime { binary: binary.into(), root: root.into() }
    }

    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        Err(self.unimplemented("start", id))
    }

    /// Send `signal` to the container's init (or every process with `all`).
    pub async fn kill(&self, id: &str, _signal: i32, _all: bool) -> Result<(), RuntimeError> {
        Err(self.unimplemented("kill", id))
    }

    /// Remove the runtime's record of the container (`force` kills it first).
    pub async fn delete(&self, id: &str, _force: bool) -> Result<(), RuntimeError> {
        Err(self.unimplemented("delete", id))
    }

    /// `None` when the runtime does not know the container.
    pub async fn state(&self, id: &str) -> Result<Option<RuntimeState>, RuntimeError> {
        Err(self.unimplemented("state", id))
    }

    pub async fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        Err(self.unimplemented("pause", id))
    }

    pub async fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        Err(self.unimplemented("resume", id))
    }

    fn unimplemented(&self, action: &str, id: &str) -> RuntimeError {
        RuntimeError::Runtime {
            runtime: self.binary.clone(),
            action: action.into(),
            id: id.into(),
            stderr: "not implemented yet".into(),
        }
    }
}
