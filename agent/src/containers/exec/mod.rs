//! `docker exec`: extra processes in a running container.
//!
//! An exec is run by the agent itself with `runc exec` (pipes, or for `-t` a pty the agent
//! holds as the runtime's stdio), not under a shim: an exec does not outlive the agent (dockerd's execs do
//! not outlive their daemon either), and its only lasting result is the exit code, which
//! `GET /exec/{id}/json` reports once the process ended. Exec instances live in memory with
//! their container and go away when it is removed.

mod run;

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::containers::handles::Attachment;
use crate::containers::live::Container;
use crate::containers::names::random_id;
use crate::containers::Shared;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::ContainerStatus;

/// What `POST /containers/{id}/exec` asks for.
#[derive(Clone, Debug, Default)]
pub struct ExecSpec {
    pub cmd: Vec<String>,
    /// `KEY=VALUE` added to the container's environment.
    pub env: Vec<String>,
    /// Docker's `-u` forms; empty: the container's user.
    pub user: String,
    /// Empty: the container's working directory.
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
}

/// What `GET /exec/{id}/json` shows.
#[derive(Clone, Debug, Default)]
pub struct ExecDetails {
    pub id: String,
    pub container_id: String,
    pub running: bool,
    /// `None` until the process ended.
    pub exit_code: Option<i64>,
    /// Host pid while running, else 0.
    pub pid: i64,
    pub spec: ExecSpec,
}

/// The changing part of an exec.
#[derive(Default)]
pub(crate) struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
    /// Where the runtime writes the pid once the process runs.
    pub pid_file: Option<std::path::PathBuf>,
    /// Terminal size changes while a `-t` exec runs.
    pub resize: Option<mpsc::Sender<(u16, u16)>>,
}

/// One exec instance.
pub(crate) struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub spec: ExecSpec,
    state: Mutex<ExecState>,
}

impl ExecInstance {
    pub(crate) fn state(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn details(&self) -> ExecDetails {
        let mut st = self.state();
        if st.running && st.pid == 0 {
            if let Some(path) = &st.pid_file {
                st.pid = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
            }
        }
        ExecDetails {
            id: self.id.clone(),
            container_id: self.container_id.clone(),
            running: st.running,
            exit_code: st.exit_code,
            pid: if st.running { st.pid } else { 0 },
            spec: self.spec.clone(),
        }
    }
}

/// 409 unless `c` runs and is not paused (dockerd's wording).
fn check_runs(c: &Container) -> Result<()> {
    match c.state().status {
        ContainerStatus::Running => Ok(()),
        ContainerStatus::Paused => Err(EngineError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        ))),
        _ => Err(EngineError::Conflict(format!(
            "Container {} is not running",
            c.id
        ))),
    }
}

/// Find an exec by id or unique id prefix, with its container.
fn find_exec(shared: &Shared, key: &str) -> Result<(Arc<Container>, Arc<ExecInstance>)> {
    let mut found = Vec::new();
    for c in shared.registry.all() {
        let live = c.live();
        if let Some(e) = live.execs.get(key) {
            return Ok((c.clone(), e.clone()));
        }
        if !key.is_empty() {
            for (id, e) in live.execs.iter() {
                if id.starts_with(key) {
                    found.push((c.clone(), e.clone()));
                }
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(EngineError::NoSuchExec(key.to_string())),
        _ => Err(EngineError::InvalidArgument(format!(
            "multiple IDs found with provided prefix: {key}"
        ))),
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`: register an exec; 409 when the container is not running.
    pub async fn create_exec(&self, container: &str, spec: ExecSpec) -> Result<String> {
        let shared = self.inner.containers.shared();
        let c = shared.find(container)?;
        if spec.cmd.is_empty() || spec.cmd[0].is_empty() {
            return Err(EngineError::InvalidArgument(
                "No exec command specified".into(),
            ));
        }
        check_runs(&c)?;
        let id = random_id();
        let exec = Arc::new(ExecInstance {
            id: id.clone(),
            container_id: c.id.clone(),
            spec,
            state: Mutex::new(ExecState::default()),
        });
        c.live().execs.insert(id.clone(), exec);
        Ok(id)
    }

    /// `POST /exec/{id}/start`: run the process. The attachment's output ends once the process
    /// exited and its exit code is recorded. `detach`: output is discarded, nothing attached.
    pub async fn start_exec(&self, id: &str, detach: bool) -> Result<Attachment> {
        let shared = self.inner.containers.shared();
        let (c, exec) = find_exec(shared, id)?;
        check_runs(&c)?;
        {
            let mut st = exec.state();
            if st.running {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {} is already running",
                    exec.id
                )));
            }
            if st.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {} has already run",
                    exec.id
                )));
            }
            st.started = true;
            st.running = true;
        }
        let started = run::start(shared, &c, &exec, detach).await;
        if started.is_err() {
            let mut st = exec.state();
            st.running = false;
        }
        started
    }

    /// `GET /exec/{id}/json`.
    pub async fn inspect_exec(&self, id: &str) -> Result<ExecDetails> {
        let (_, exec) = find_exec(self.inner.containers.shared(), id)?;
        Ok(exec.details())
    }

    /// `POST /exec/{id}/resize?h=&w=`: 409 unless a `-t` exec is running.
    pub async fn resize_exec(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let (_, exec) = find_exec(self.inner.containers.shared(), id)?;
        let sender = exec.state().resize.clone();
        match sender {
            Some(tx) => tx
                .send((height, width))
                .await
                .map_err(|_| EngineError::Conflict(format!("Exec {} is not running", exec.id))),
            None => Err(EngineError::Conflict(format!(
                "Exec {} is not running with a tty",
                exec.id
            ))),
        }
    }
}
