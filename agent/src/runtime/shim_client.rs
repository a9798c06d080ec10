//! The agent's side of the shim: launching one, connecting to it, reading what it left behind.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use nix::fcntl::OFlag;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::model::StdStream;
pub use crate::runtime::exit_file::ExitInfo;
use crate::runtime::shim::args::ShimArgs;
use crate::runtime::shim_protocol::{
    self, encode, encode_resize, FrameKind, Hello, HEADER_LEN, MAX_PAYLOAD,
};
use crate::runtime::state_files::{self, SocketPath};
use crate::runtime::{exit_file, RuntimeError};

/// How long `launch` waits for the shim to report that the container is created.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `connect` waits for the shim's greeting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The descriptor number the readiness pipe has in the shim.
const READY_FD: i32 = 3;
/// Largest stdin frame sent at once.
const STDIN_CHUNK: usize = 64 * 1024;

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
///
/// The shim runs in its own session with stdio on /dev/null, so it outlives the agent. When
/// the runtime refuses the container, the error carries the runtime's message (e.g.
/// `exec: "nosuchcmd": executable file not found in $PATH`).
pub async fn launch(shim_binary: &Path, config: &ShimConfig) -> Result<ShimHandle, RuntimeError> {
    let shim_err = |reason: String| RuntimeError::Shim {
        id: config.id.clone(),
        reason,
    };
    // The shim works from `/`: hand it absolute paths.
    let absolute = |what: &str, p: &Path| {
        std::path::absolute(p)
            .map_err(|e| RuntimeError::io(format!("resolving {what} {}", p.display()), e))
    };
    let state_dir = absolute("shim state directory", &config.state_dir)?;
    std::fs::create_dir_all(&state_dir).map_err(|e| {
        RuntimeError::io(
            format!("creating shim state directory {}", state_dir.display()),
            e,
        )
    })?;
    if shim_alive(&state_dir) {
        return Err(shim_err(format!(
            "a shim is already running for {}",
            state_dir.display()
        )));
    }
    for stale in state_files::STALE_ON_LAUNCH {
        let path = state_dir.join(stale);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(RuntimeError::io(
                    format!("removing stale {}", path.display()),
                    e,
                ))
            }
        }
    }
    let args = ShimArgs {
        id: config.id.clone(),
        bundle: absolute("bundle", &config.bundle_dir)?,
        runtime: config.runtime_binary.clone(),
        runtime_root: absolute("runtime root", &config.runtime_root)?,
        state_dir: state_dir.clone(),
        log_path: absolute("log path", &config.log_path)?,
        tty: config.tty,
        stdin: config.stdin,
        ready_fd: READY_FD,
    }
    .to_args()
    .map_err(shim_err)?;

    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::io("creating the shim readiness pipe", e.into()))?;
    let mut cmd = tokio::process::Command::new(shim_binary);
    cmd.arg("shim")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let ready_w_raw = ready_w.as_raw_fd();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe system
    // calls (setsid, dup2, fcntl) on descriptors that are open in the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if ready_w_raw == READY_FD {
                // Already in place: only clear close-on-exec.
                if libc::fcntl(READY_FD, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(ready_w_raw, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::io(format!("starting shim {}", shim_binary.display()), e))?;
    drop(ready_w);
    let shim_pid = child.id().map(|p| p as i32).unwrap_or(0);

    let report = tokio::time::timeout(READY_TIMEOUT, read_ready_pipe(ready_r)).await;
    let report = match report {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => {
            let _ = child.start_kill();
            return Err(RuntimeError::io(
                format!("reading the readiness report of the shim for {}", config.id),
                e,
            ));
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(shim_err(format!(
                "no readiness report within {}s (see {})",
                READY_TIMEOUT.as_secs(),
                state_dir.join(state_files::SHIM_LOG).display()
            )));
        }
    };
    if report.starts_with("ok ") {
        // Reap the shim whenever it ends (it lives on if the agent goes first).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
    } else {
        // The shim exits right after reporting a failure.
        let status = child.wait().await;
        if report.is_empty() {
            return Err(shim_err(format!(
                "exited ({}) without a readiness report (see {})",
                status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string()),
                state_dir.join(state_files::SHIM_LOG).display()
            )));
        }
    }
    parse_ready_report(&report, config, shim_pid)
}

/// Everything the shim writes on the readiness pipe, up to its closing.
async fn read_ready_pipe(fd: OwnedFd) -> std::io::Result<String> {
    let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
    let mut bytes = Vec::new();
    pipe.read_to_end(&mut bytes).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn parse_ready_report(
    report: &str,
    config: &ShimConfig,
    spawned_pid: i32,
) -> Result<ShimHandle, RuntimeError> {
    if let Some(message) = report.strip_prefix("err ") {
        return Err(RuntimeError::Runtime {
            runtime: config.runtime_binary.clone(),
            action: "create".into(),
            id: config.id.clone(),
            stderr: message.trim_end().to_string(),
        });
    }
    let bad = || RuntimeError::Shim {
        id: config.id.clone(),
        reason: format!("unexpected readiness report {report:?}"),
    };
    let rest = report.strip_prefix("ok ").ok_or_else(bad)?;
    let mut fields = rest.split_whitespace();
    let container_pid = fields.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let shim_pid = fields
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(spawned_pid);
    Ok(ShimHandle {
        shim_pid,
        container_pid,
    })
}

/// Connect to the shim whose files are in `state_dir`.
///
/// When the shim is gone but recorded the exit, the connection delivers that `Exited` and
/// closes. Stdin is `Some` when the shim holds the container's stdin open; dropping that sender
/// (also by dropping the whole connection) closes the container's stdin, while a client that
/// just goes away (agent crash or restart) leaves it open for the next connection.
pub async fn connect(state_dir: &Path) -> Result<ShimConnection, RuntimeError> {
    let shim_err = |reason: String| RuntimeError::Shim {
        id: state_dir.display().to_string(),
        reason,
    };
    let stream = match connect_socket(state_dir).await {
        Ok(s) => s,
        Err(e) => {
            return match read_exit_file(state_dir) {
                Some(exit) => Ok(exited_connection(exit)),
                None => Err(shim_err(format!(
                    "shim is not running ({e}) and recorded no exit"
                ))),
            }
        }
    };
    let (mut reader, writer) = stream.into_split();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut reader)).await {
        Ok(Ok(Some((FrameKind::Hello, payload)))) => serde_json::from_slice::<Hello>(&payload)
            .map_err(|e| shim_err(format!("unreadable greeting: {e}")))?,
        Ok(Ok(Some((kind, _)))) => {
            return Err(shim_err(format!(
                "expected a greeting, got a {kind:?} frame"
            )))
        }
        Ok(Ok(None)) | Ok(Err(_)) => {
            // Connected while the shim was finishing: it recorded the exit before closing.
            return match read_exit_file(state_dir) {
                Some(exit) => Ok(exited_connection(exit)),
                None => Err(shim_err(
                    "shim closed the connection before greeting".into(),
                )),
            };
        }
        Err(_) => {
            return Err(shim_err(format!(
                "no greeting within {}s",
                HELLO_TIMEOUT.as_secs()
            )))
        }
    };

    let (events_tx, events) = mpsc::channel(64);
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let (resize_tx, resize_rx) = mpsc::channel(4);
    tokio::spawn(read_events(reader, events_tx, state_dir.to_path_buf()));
    let stdin_rx = hello.stdin.then_some(stdin_rx);
    tokio::spawn(write_requests(writer, stdin_rx, resize_rx));
    Ok(ShimConnection {
        events,
        stdin: hello.stdin.then_some(stdin_tx),
        resize: resize_tx,
    })
}

async fn connect_socket(state_dir: &Path) -> std::io::Result<UnixStream> {
    let socket = SocketPath::new(state_dir, state_files::SOCKET, false)?;
    UnixStream::connect(&socket.path).await
}

/// A connection to a shim that has already finished: just the exit.
fn exited_connection(exit: ExitInfo) -> ShimConnection {
    let (events_tx, events) = mpsc::channel(1);
    let _ = events_tx.try_send(ShimEvent::Exited(exit));
    let (resize, _) = mpsc::channel(1);
    ShimConnection {
        events,
        stdin: None,
        resize,
    }
}

/// One frame; `None` at a clean end of stream.
async fn read_frame(reader: &mut OwnedReadHalf) -> std::io::Result<Option<(FrameKind, Vec<u8>)>> {
    let mut header = [0u8; HEADER_LEN];
    match reader.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = shim_protocol::parse_header(header)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    debug_assert!(len <= MAX_PAYLOAD);
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Some((kind, payload)))
}

/// Frames from the shim to events, until the exit (or the shim going away: then the exit
/// file, if it recorded one).
async fn read_events(
    mut reader: OwnedReadHalf,
    events: mpsc::Sender<ShimEvent>,
    state_dir: PathBuf,
) {
    loop {
        let event = match read_frame(&mut reader).await {
            Ok(Some((FrameKind::Stdout, payload))) => {
                ShimEvent::Output(StdStream::Stdout, Bytes::from(payload))
            }
            Ok(Some((FrameKind::Stderr, payload))) => {
                ShimEvent::Output(StdStream::Stderr, Bytes::from(payload))
            }
            Ok(Some((FrameKind::Exit, payload))) => {
                match exit_file::decode(&payload).or_else(|| read_exit_file(&state_dir)) {
                    Some(exit) => {
                        let _ = events.send(ShimEvent::Exited(exit)).await;
                    }
                    None => {
                        tracing::warn!(state_dir = %state_dir.display(), "shim sent an unreadable exit")
                    }
                }
                return;
            }
            Ok(Some((kind, _))) => {
                tracing::debug!(?kind, "ignoring unexpected frame from shim");
                continue;
            }
            Ok(None) | Err(_) => {
                if let Some(exit) = read_exit_file(&state_dir) {
                    let _ = events.send(ShimEvent::Exited(exit)).await;
                } else {
                    tracing::warn!(state_dir = %state_dir.display(), "shim connection ended without an exit");
                }
                return;
            }
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Stdin and resizes to the shim, in the order sent (a resize queued before stdin data goes
/// first). Dropping the stdin sender sends `CloseStdin`.
async fn write_requests(
    mut writer: OwnedWriteHalf,
    mut stdin: Option<mpsc::Receiver<Bytes>>,
    mut resize: mpsc::Receiver<(u16, u16)>,
) {
    let mut resize_open = true;
    loop {
        // Biased, resizes first: a resize sent before some stdin reaches the shim before it.
        let frame = tokio::select! {
            biased;
            size = resize.recv(), if resize_open => match size {
                Some((rows, cols)) => encode(FrameKind::Resize, &encode_resize(rows, cols)),
                None => {
                    resize_open = false;
                    continue;
                }
            },
            data = recv_stdin(&mut stdin), if stdin.is_some() => match data {
                Some(bytes) => {
                    let mut frames = Vec::with_capacity(bytes.len() + HEADER_LEN);
                    for chunk in bytes.chunks(STDIN_CHUNK) {
                        shim_protocol::encode_into(&mut frames, FrameKind::Stdin, chunk);
                    }
                    frames
                }
                None => {
                    stdin = None;
                    encode(FrameKind::CloseStdin, b"")
                }
            },
            else => return,
        };
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// The next stdin chunk; `None` once the sender is dropped.
async fn recv_stdin(stdin: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match stdin {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether the shim whose files are in `state_dir` is still alive: its pid file names a live
/// (not zombie) `strata shim` process of this state directory, and its socket exists.
pub fn shim_alive(state_dir: &Path) -> bool {
    live_shim_pid(state_dir).is_some() && state_dir.join(state_files::SOCKET).exists()
}

/// The pid of the shim of `state_dir` while it runs: its pid file names a live (not zombie)
/// `strata shim` process of this state directory.
pub fn live_shim_pid(state_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(state_dir.join(state_files::SHIM_PID)).ok()?;
    let pid = text.trim().parse::<i32>().ok()?;
    if pid <= 0 || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return None;
    }
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true);
    if zombie {
        return None;
    }
    // Guard against pid reuse: the process must be the shim of this state directory.
    let wanted = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    (shim_state_dir(pid).as_deref() == Some(wanted.as_path())).then_some(pid)
}

/// The `--state-dir` of process `pid` while it is a `strata shim` (not once it has exited).
pub fn shim_state_dir(pid: i32) -> Option<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    if !args.contains(&b"shim".as_slice()) {
        return None;
    }
    args.windows(2)
        .find(|w| w[0] == b"--state-dir")
        .map(|w| PathBuf::from(std::ffi::OsStr::from_bytes(w[1])))
}

/// Every `strata shim` process running now, by its state directory (absolute), ready or
/// still creating its container.
pub fn shim_processes() -> std::collections::HashMap<PathBuf, i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((shim_state_dir(pid)?, pid)))
        .collect()
}

/// The exit the shim recorded, if the container has ended.
pub fn read_exit_file(state_dir: &Path) -> Option<ExitInfo> {
    exit_file::read(state_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ShimConfig {
        ShimConfig {
            id: "c".into(),
            bundle_dir: "/b".into(),
            runtime_binary: "runc".into(),
            runtime_root: "/r".into(),
            state_dir: "/s".into(),
            log_path: "/l".into(),
            tty: false,
            stdin: false,
        }
    }

    #[test]
    fn readiness_reports() {
        let h = parse_ready_report("ok 42 7\n", &config(), 9).unwrap();
        assert_eq!((h.container_pid, h.shim_pid), (42, 7));
        let err = parse_ready_report(
            "err exec: \"x\": executable file not found in $PATH\n",
            &config(),
            9,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "runc create c: exec: \"x\": executable file not found in $PATH"
        );
        assert!(parse_ready_report("garbage", &config(), 9).is_err());
    }

    #[tokio::test]
    async fn connect_without_shim_reads_the_exit_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(connect(dir.path()).await.is_err());
        let exit = ExitInfo {
            exit_code: 4,
            oom_killed: false,
            finished_at: "2026-01-01T00:00:00.000000001Z".into(),
        };
        exit_file::write(dir.path(), &exit).unwrap();
        let mut conn = connect(dir.path()).await.unwrap();
        assert!(conn.stdin.is_none());
        assert_eq!(conn.events.recv().await, Some(ShimEvent::Exited(exit)));
        assert_eq!(conn.events.recv().await, None);
        assert!(!shim_alive(dir.path()));
    }
}
