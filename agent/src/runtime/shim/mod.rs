//! The per-container shim (`strata shim ...`): a small synchronous program that owns one
//! container's stdio and outlives the agent.
//!
//! Life of a shim:
//! 1. Started by `shim_client::launch` in its own session with stdio on /dev/null and a
//!    readiness pipe; becomes a child subreaper (the container's init is reparented to it).
//! 2. Runs `RUNTIME create` with its own pipes (or a console socket for a tty) as the
//!    container's stdio; on failure reports `err <runtime's message>` and exits 1.
//! 3. Listens on `<state_dir>/shim.sock`, writes `shim.pid`, reports
//!    `ok <container pid> <shim pid>` and closes the readiness pipe.
//! 4. Copies output to the json-file log and to connected clients, client stdin to the
//!    container, until the container exits; then drains the output, writes `exit.json`
//!    atomically, sends the exit to its clients, removes its socket and pid file, exits 0.

pub(crate) mod args;
mod clients;
pub(crate) mod console;
mod create;
pub(crate) mod diag;
mod event_loop;
mod json_log;
mod oom;

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

pub(crate) use self::args::ShimArgs;
use self::diag::diag;
use crate::runtime::exit_file::{self, ExitInfo};
use crate::runtime::shim_protocol::FrameKind;
use crate::runtime::state_files::{self, SocketPath};

/// Exit code of a shim that could not create its container.
const EXIT_CREATE_FAILED: i32 = 1;
/// Exit code of a shim started with bad arguments.
const EXIT_USAGE: i32 = 2;

/// Entry point of `strata shim ARGS...`; returns the process exit code.
pub(crate) fn main(raw_args: Vec<String>) -> i32 {
    let args = match ShimArgs::parse(&raw_args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("strata shim: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(ready) = take_ready_pipe(args.ready_fd) else {
        eprintln!(
            "strata shim: --ready-fd {} is not an open descriptor",
            args.ready_fd
        );
        return EXIT_USAGE;
    };
    diag::init(&args.state_dir.join(state_files::SHIM_LOG));
    match run(&args, ready) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// Own the inherited readiness descriptor (and keep it from the runtime's children).
fn take_ready_pipe(fd: RawFd) -> Option<File> {
    fcntl(fd, FcntlArg::F_GETFD).ok()?;
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).ok()?;
    // SAFETY: the launcher handed this descriptor to us alone; it is open (checked above) and
    // nothing else in this process refers to it.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Report on the readiness pipe (and close it).
fn report(mut ready: File, message: &str) {
    if let Err(e) = ready.write_all(message.as_bytes()) {
        diag!("writing readiness report: {e}");
    }
}

fn run(args: &ShimArgs, ready: File) -> Result<(), i32> {
    let fail = |ready: File, message: String| {
        diag!("{message}");
        report(ready, &format!("err {message}\n"));
        Err(EXIT_CREATE_FAILED)
    };
    // A session of our own (launch already called setsid; that is fine), no cwd pinning a
    // mount, and the container's init reparented to us when the runtime exits.
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        return fail(ready, format!("becoming a child subreaper: {e}"));
    }
    // SIGCHLD through a signalfd; blocked before the first child exists so none is missed.
    // (Children start with an empty mask: std's spawn resets it.)
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    if let Err(e) = mask.thread_block() {
        return fail(ready, format!("blocking SIGCHLD: {e}"));
    }
    let signals = match SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
    {
        Ok(s) => s,
        Err(e) => return fail(ready, format!("signalfd: {e}")),
    };
    let log = match json_log::JsonLog::open(&args.log_path) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                ready,
                format!("opening container log {}: {e}", args.log_path.display()),
            )
        }
    };

    let created = match create::create(args) {
        Ok(c) => c,
        Err(message) => return fail(ready, message),
    };
    let oom = oom::OomWatch::for_pid(created.pid);
    diag!("container {} created, pid {}", args.id, created.pid);

    let listener = match listen(args) {
        Ok(l) => l,
        Err(message) => {
            kill_container(created.pid);
            return fail(ready, message);
        }
    };
    let shim_pid = std::process::id();
    if let Err(e) = write_atomically(
        &args.state_dir,
        state_files::SHIM_PID,
        &shim_pid.to_string(),
    ) {
        kill_container(created.pid);
        return fail(ready, format!("writing {}: {e}", state_files::SHIM_PID));
    }
    let event_loop = match event_loop::EventLoop::new(
        listener,
        signals,
        created.pid,
        created.io,
        args.stdin,
        log,
        oom,
    ) {
        Ok(l) => l,
        Err(e) => {
            kill_container(created.pid);
            return fail(ready, format!("setting up the event loop: {e}"));
        }
    };
    report(ready, &format!("ok {} {shim_pid}\n", created.pid));

    let (reaped, mut clients, listener) = event_loop.run();
    let info = ExitInfo {
        exit_code: reaped.exit_code,
        oom_killed: reaped.oom_killed,
        finished_at: reaped.finished_at,
    };
    if let Err(e) = exit_file::write(&args.state_dir, &info) {
        diag!("writing {}: {e}", state_files::EXIT);
    }
    let payload = exit_file::encode(&info);
    for c in clients.iter_mut() {
        c.queue(FrameKind::Exit, &payload);
    }
    drop(listener);
    let _ = std::fs::remove_file(args.state_dir.join(state_files::SOCKET));
    event_loop::flush_clients(clients);
    let _ = std::fs::remove_file(args.state_dir.join(state_files::SHIM_PID));
    diag!(
        "container {} exited with {}; shim done",
        args.id,
        info.exit_code
    );
    Ok(())
}

/// Bind `<state_dir>/shim.sock` (replacing a stale one).
fn listen(args: &ShimArgs) -> Result<UnixListener, String> {
    let socket = SocketPath::new(&args.state_dir, state_files::SOCKET, false)
        .map_err(|e| format!("socket path in {}: {e}", args.state_dir.display()))?;
    let _ = std::fs::remove_file(args.state_dir.join(state_files::SOCKET));
    UnixListener::bind(&socket.path).map_err(|e| format!("binding {}: {e}", socket.path.display()))
}

/// The container was created but the shim cannot serve it: do not leave it behind running
/// unsupervised (the runtime's record is removed by the agent's `delete`).
fn kill_container(pid: i32) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
}

fn write_atomically(dir: &std::path::Path, name: &str, contents: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, dir.join(name))
}
