//! `RUNTIME create`: the container is created (not started) with the shim's pipes as its
//! stdio, or with a pty whose master the runtime sends to our console socket.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, ExitStatus, Stdio};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags};
use nix::unistd::pipe2;

use super::args::ShimArgs;
use super::console::receive_master;
use crate::runtime::oci::log_messages;
use crate::runtime::state_files::{self, SocketPath};

/// The shim's ends of the container's stdio.
pub(crate) enum ContainerIo {
    Pipes {
        /// Write end of the container's stdin (with `--stdin`).
        stdin: Option<File>,
        stdout: File,
        stderr: File,
    },
    Pty {
        master: File,
    },
}

/// A created container.
pub(crate) struct Created {
    pub pid: i32,
    pub io: ContainerIo,
}

/// Run `RUNTIME create`. The error is the runtime's own message, for the user.
pub(crate) fn create(args: &ShimArgs) -> Result<Created, String> {
    if args.tty {
        create_with_tty(args)
    } else {
        create_with_pipes(args)
    }
}

fn base_command(args: &ShimArgs) -> Command {
    let mut cmd = Command::new(&args.runtime);
    cmd.arg("--root")
        .arg(&args.runtime_root)
        .arg("--log")
        .arg(args.state_dir.join(state_files::RUNTIME_LOG))
        .args(["--log-format", "json", "create", "--bundle"])
        .arg(&args.bundle)
        .arg("--pid-file")
        .arg(args.state_dir.join(state_files::CONTAINER_PID));
    cmd
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("creating a pipe: {e}"))
}

fn create_with_pipes(args: &ShimArgs) -> Result<Created, String> {
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let (stdin_r, stdin_w) = if args.stdin {
        let (r, w) = pipe()?;
        (Stdio::from(r), Some(File::from(w)))
    } else {
        (Stdio::null(), None)
    };
    let mut cmd = base_command(args);
    cmd.arg(&args.id)
        .stdin(stdin_r)
        .stdout(Stdio::from(stdout_w))
        .stderr(Stdio::from(stderr_w));
    let status = cmd
        .status()
        .map_err(|e| format!("running {}: {e}", args.runtime));
    // The command holds our copies of the container's ends of the pipes: close them, so the
    // container is their only writer (and EOF means it is gone).
    drop(cmd);
    let status = status?;
    let stderr = File::from(stderr_r);
    if !status.success() {
        return Err(failure_message(args, status, Some(stderr)));
    }
    let pid = read_pid(args)?;
    Ok(Created {
        pid,
        io: ContainerIo::Pipes {
            stdin: stdin_w,
            stdout: File::from(stdout_r),
            stderr,
        },
    })
}

fn create_with_tty(args: &ShimArgs) -> Result<Created, String> {
    let console = SocketPath::new(&args.state_dir, state_files::CONSOLE_SOCKET, true)
        .map_err(|e| format!("console socket in {}: {e}", args.state_dir.display()))?;
    let _ = std::fs::remove_file(args.state_dir.join(state_files::CONSOLE_SOCKET));
    let listener = UnixListener::bind(&console.path)
        .map_err(|e| format!("binding {}: {e}", console.path.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("console socket: {e}"))?;
    let stderr_path = args.state_dir.join(state_files::CREATE_STDERR);
    let stderr = File::create(&stderr_path)
        .map_err(|e| format!("creating {}: {e}", stderr_path.display()))?;

    let mut cmd = base_command(args);
    cmd.arg("--console-socket").arg(&console.path).arg(&args.id);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running {}: {e}", args.runtime))?;
    drop(cmd);

    let mut master = None;
    let waited = loop {
        if master.is_none() {
            master = accept_master(&listener)?;
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if master.is_none() {
                    master = accept_master(&listener)?;
                }
                break Ok(status);
            }
            Ok(None) => {}
            Err(e) => break Err(format!("waiting for {} create: {e}", args.runtime)),
        }
        if master.is_some() {
            break child
                .wait()
                .map_err(|e| format!("waiting for {} create: {e}", args.runtime));
        }
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, 50u16);
    };
    drop(listener);
    let _ = std::fs::remove_file(args.state_dir.join(state_files::CONSOLE_SOCKET));
    let status = waited?;
    if !status.success() {
        return Err(failure_message(args, status, File::open(&stderr_path).ok()));
    }
    let master =
        master.ok_or_else(|| format!("{} create did not send the console", args.runtime))?;
    let pid = read_pid(args)?;
    Ok(Created {
        pid,
        io: ContainerIo::Pty { master },
    })
}

/// Accept the runtime's console connection, if it has come, and take the master from it.
fn accept_master(listener: &UnixListener) -> Result<Option<File>, String> {
    match listener.accept() {
        Ok((conn, _)) => {
            conn.set_nonblocking(false)
                .map_err(|e| format!("console connection: {e}"))?;
            let fd = receive_master(&conn).map_err(|e| format!("receiving the console: {e}"))?;
            Ok(Some(File::from(fd)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(format!("accepting the console connection: {e}")),
    }
}

fn read_pid(args: &ShimArgs) -> Result<i32, String> {
    let path = args.state_dir.join(state_files::CONTAINER_PID);
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    text.trim()
        .parse::<i32>()
        .map_err(|_| format!("{} holds {:?}, not a pid", path.display(), text.trim()))
}

/// What went wrong, in the runtime's words: its JSON log, else what it printed on stderr.
fn failure_message(args: &ShimArgs, status: ExitStatus, stderr: Option<File>) -> String {
    let from_log = std::fs::read(args.state_dir.join(state_files::RUNTIME_LOG))
        .map(|bytes| log_messages(&bytes))
        .unwrap_or_default();
    if !from_log.is_empty() {
        return from_log;
    }
    if let Some(mut file) = stderr {
        let _ = fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        let mut bytes = Vec::new();
        let _ = file.by_ref().take(64 * 1024).read_to_end(&mut bytes);
        let printed = log_messages(&bytes);
        if !printed.is_empty() {
            return printed;
        }
    }
    format!("{} create exited with {status}", args.runtime)
}
