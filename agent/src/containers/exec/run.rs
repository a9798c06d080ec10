//! Running one exec: `RUNTIME exec` as a child of the agent, its stdio as pipes (or a pty),
//! output pumped to the caller, the exit code recorded before the output ends. With `-t` the runtime allocates the container's
//! pty and proxies it through its own stdio, which is a pty the agent holds.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::ExecInstance;
use crate::containers::handles::Attachment;
use crate::containers::live::Container;
use crate::containers::start::start_failure_code;
use crate::containers::Shared;
use crate::error::{EngineError, Result};
use crate::model::StdStream;
use crate::runtime::oci::log_messages;
use crate::runtime::shim::console;
use crate::runtime::user::resolve_user;

/// Output chunks buffered for the caller.
const OUTPUT_BUFFER: usize = 256;
/// Stdin chunks buffered from the caller.
const INPUT_BUFFER: usize = 64;
/// Size of one output read.
const READ_CHUNK: usize = 32 * 1024;

/// The files one exec uses in its container's exec directory.
struct ExecFiles {
    pid_file: PathBuf,
    runtime_log: PathBuf,
}

impl ExecFiles {
    fn new(c: &Container, exec_id: &str) -> Self {
        let short = &exec_id[..12.min(exec_id.len())];
        let dir = &c.paths.exec_dir;
        ExecFiles {
            pid_file: dir.join(format!("exec-{short}.pid")),
            runtime_log: dir.join(format!("exec-{short}.log")),
        }
    }

    fn remove(&self) {
        for path in [&self.pid_file, &self.runtime_log] {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    debug!(path = %path.display(), error = %e, "removing exec file");
                }
            }
        }
    }
}

/// The container's rootfs as its bundle names it (for resolving `-u` names).
fn bundle_rootfs(bundle_dir: &Path) -> Result<PathBuf> {
    let path = bundle_dir.join("config.json");
    let text = std::fs::read(&path)
        .map_err(|e| EngineError::io(format!("reading {}", path.display()), e))?;
    let config: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        EngineError::Internal(format!("{}: unreadable bundle config: {e}", path.display()))
    })?;
    config["root"]["path"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| EngineError::Internal(format!("{}: no root.path", path.display())))
}

/// The `RUNTIME exec` command line for `exec`.
async fn command(
    shared: &Shared,
    c: &Container,
    exec: &ExecInstance,
    files: &ExecFiles,
) -> Result<Command> {
    let spec = &exec.spec;
    let mut cmd = Command::new(&shared.runtime.binary);
    cmd.arg("--root")
        .arg(&shared.runtime.root)
        .arg("--log")
        .arg(&files.runtime_log)
        .args(["--log-format", "json", "exec"]);
    if spec.tty {
        cmd.arg("--tty");
    }
    // runc copies the container's `noNewPrivileges` into an exec already; say it explicitly, as
    // dockerd does, so an exec never runs with fewer restrictions than its container.
    let security = crate::containers::security_opts::parse(&c.record().spec.host.security_opt)?;
    if security.no_new_privileges {
        cmd.arg("--no-new-privs");
    }
    for e in &spec.env {
        cmd.arg("--env").arg(e);
    }
    if !spec.working_dir.is_empty() {
        cmd.arg("--cwd").arg(&spec.working_dir);
    }
    if !spec.user.is_empty() {
        let bundle_dir = c.paths.bundle_dir.clone();
        let user = spec.user.clone();
        let resolved = Shared::blocking("resolving the exec user", move || {
            let rootfs = bundle_rootfs(&bundle_dir)?;
            resolve_user(&rootfs, &user).map_err(|e| EngineError::InvalidArgument(e.to_string()))
        })
        .await?;
        cmd.arg("--user")
            .arg(format!("{}:{}", resolved.uid, resolved.gid));
        for gid in resolved.additional_gids {
            cmd.arg("--additional-gids").arg(gid.to_string());
        }
    }
    cmd.arg("--pid-file")
        .arg(&files.pid_file)
        .arg(&c.id)
        .args(&spec.cmd);
    Ok(cmd)
}

/// Start `exec` in `c`.
pub(super) async fn start(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    exec: &Arc<ExecInstance>,
    detach: bool,
) -> Result<Attachment> {
    let files = ExecFiles::new(c, &exec.id);
    strata_drivers::fsutil::private::private_dir(&c.paths.exec_dir)
        .map_err(|e| EngineError::io(format!("creating {}", c.paths.exec_dir.display()), e))?;
    files.remove();
    let mut cmd = command(shared, c, exec, &files).await?;
    let spec = &exec.spec;
    let wants_stdin = spec.attach_stdin && !detach;
    let (out_tx, out_rx) = mpsc::channel(OUTPUT_BUFFER);
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(INPUT_BUFFER);
    let input = wants_stdin.then_some(in_tx);
    exec.state().pid_file = Some(files.pid_file.clone());

    let pumps = if spec.tty {
        // runc takes a console socket only when it detaches; attached, it proxies the
        // container's pty through its own stdio. That stdio is a pty of ours, so the caller
        // gets a terminal and resizes reach the container (runc copies our size on SIGWINCH).
        let pty = nix::pty::openpty(None, None)
            .map_err(|e| EngineError::io("opening a pty for the exec", e.into()))?;
        let slave = File::from(pty.slave);
        let dup = |f: &File| {
            f.try_clone()
                .map(Stdio::from)
                .map_err(|e| EngineError::io("duplicating the exec pty", e))
        };
        cmd.stdin(dup(&slave)?)
            .stdout(dup(&slave)?)
            .stderr(dup(&slave)?);
        let child = spawn(&mut cmd, &c.id)?;
        // Our copies of the slave must go, or reading the master never ends.
        drop(cmd);
        drop(slave);
        let pumps = tty_pumps(
            exec,
            File::from(pty.master),
            child.id(),
            &out_tx,
            in_rx,
            detach,
        );
        Running { child, pumps }
    } else {
        cmd.stdin(if wants_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let out = if detach { Stdio::null } else { Stdio::piped };
        cmd.stdout(out()).stderr(out());
        let mut child = spawn(&mut cmd, &c.id)?;
        let mut pumps = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(
                stdout,
                StdStream::Stdout,
                out_tx.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(
                stderr,
                StdStream::Stderr,
                out_tx.clone(),
            )));
        }
        if let Some(stdin) = child.stdin.take() {
            tokio::spawn(feed_stdin(stdin, in_rx));
        }
        Running { child, pumps }
    };
    info!(container = %c.id, exec = %exec.id, "exec started");
    tokio::spawn(supervise(exec.clone(), pumps, files, out_tx));
    Ok(Attachment {
        tty: spec.tty,
        output: out_rx,
        input,
    })
}

/// A started runtime process and the tasks that carry its output.
struct Running {
    child: Child,
    pumps: Vec<tokio::task::JoinHandle<()>>,
}

fn spawn(cmd: &mut Command, id: &str) -> Result<Child> {
    cmd.kill_on_drop(false)
        .spawn()
        .map_err(|e| EngineError::io(format!("running the OCI runtime's exec in {id}"), e))
}

/// Threads that copy the pty to the caller and the caller's input to the pty, and a task that
/// applies resizes.
fn tty_pumps(
    exec: &ExecInstance,
    master: File,
    runtime_pid: Option<u32>,
    out_tx: &mpsc::Sender<(StdStream, Bytes)>,
    mut in_rx: mpsc::Receiver<Bytes>,
    detach: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let master = Arc::new(master);
    let (resize_tx, mut resize_rx) = mpsc::channel::<(u16, u16)>(4);
    exec.state().resize = Some(resize_tx);
    let for_resize = master.clone();
    tokio::spawn(async move {
        while let Some((h, w)) = resize_rx.recv().await {
            if let Err(e) = console::resize(&*for_resize, h, w) {
                debug!(error = %e, "resizing the exec pty");
                continue;
            }
            // The runtime passes our terminal's size on to the container's on SIGWINCH.
            if let Some(pid) = runtime_pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGWINCH,
                );
            }
        }
    });
    let for_input = master.clone();
    tokio::task::spawn_blocking(move || {
        while let Some(bytes) = in_rx.blocking_recv() {
            if (&*for_input).write_all(&bytes).is_err() {
                break;
            }
        }
    });
    let tx = out_tx.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            // EIO once the last holder of the pty's other side is gone.
            match (&*master).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !detach
                        && tx
                            .blocking_send((StdStream::Stdout, Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    vec![reader]
}

/// Copy one output pipe to the caller, to its end.
async fn pump<R: AsyncRead + Unpin>(
    mut pipe: R,
    stream: StdStream,
    tx: mpsc::Sender<(StdStream, Bytes)>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut caller_gone = false;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // Keep reading when the caller left, so the process never blocks on a full pipe.
                if !caller_gone
                    && tx
                        .send((stream, Bytes::copy_from_slice(&buf[..n])))
                        .await
                        .is_err()
                {
                    caller_gone = true;
                }
            }
        }
    }
}

/// Feed the caller's input to the process; closing the input closes its stdin.
async fn feed_stdin(mut stdin: tokio::process::ChildStdin, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(bytes) = rx.recv().await {
        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
            break;
        }
    }
}

/// Wait for the exec to end: output drained, exit code recorded, then the output closed.
async fn supervise(
    exec: Arc<ExecInstance>,
    running: Running,
    files: ExecFiles,
    out_tx: mpsc::Sender<(StdStream, Bytes)>,
) {
    let Running { mut child, pumps } = running;
    let status = child.wait().await;
    for p in pumps {
        let _ = p.await;
    }
    let mut exit_code = match status {
        Ok(s) => s
            .code()
            .map(i64::from)
            .or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                s.signal().map(|sig| 128 + i64::from(sig))
            })
            .unwrap_or(255),
        Err(e) => {
            warn!(exec = %exec.id, error = %e, "waiting for the exec");
            255
        }
    };
    // The runtime's own failure (the command could not be started) is in its log.
    let failure = std::fs::read(&files.runtime_log)
        .map(|log| log_messages(&log))
        .unwrap_or_default();
    if !failure.is_empty() {
        exit_code = start_failure_code(&failure);
    }
    files.remove();
    {
        let mut st = exec.state();
        st.running = false;
        st.exit_code = Some(exit_code);
        st.pid = 0;
        st.resize = None;
    }
    info!(exec = %exec.id, exit_code, "exec ended");
    drop(out_tx);
}
