//! The shim's single-threaded poll loop: container output to the json-file log and to every
//! client, client stdin and resizes to the container, SIGCHLD to the exit record.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use super::clients::Client;
use super::console;
use super::create::ContainerIo;
use super::diag::diag;
use super::json_log::JsonLog;
use super::oom::OomWatch;
use crate::model::StdStream;
use crate::runtime::shim_protocol::{decode_resize, FrameKind, Hello};

/// Stop reading container output while any client has this much unsent.
const CLIENT_HIGH_WATER: usize = 1 << 20;
/// Stop taking client stdin while this much waits for the container to read it.
const STDIN_HIGH_WATER: usize = 1 << 20;
/// After the container exited: give up on output that stops coming without EOF (a process
/// outside the container holding the pipe) after this long ...
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// ... and on draining at all after this long.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// When finishing: drop clients that take nothing for this long.
const FLUSH_STALL: Duration = Duration::from_secs(10);

/// A container output stream the shim reads.
struct Output {
    stream: StdStream,
    file: Option<File>,
}

/// Where client stdin goes.
struct StdinSink {
    file: Option<File>,
    pending: Vec<u8>,
    close_requested: bool,
    /// A pty has no half-close: closing means sending ^D (end of file in canonical mode).
    pty: bool,
}

/// How the container ended, as `waitpid` saw it.
pub(crate) struct Reaped {
    pub exit_code: i64,
    pub oom_killed: bool,
    pub finished_at: String,
}

/// The loop's state.
pub(crate) struct EventLoop {
    listener: UnixListener,
    signals: SignalFd,
    container_pid: i32,
    hello: Vec<u8>,
    outputs: Vec<Output>,
    stdin: Option<StdinSink>,
    resize_target: Option<File>,
    clients: Vec<Client>,
    log: JsonLog,
    oom: Option<OomWatch>,
    reaped: Option<(Reaped, Instant)>,
    last_output: Instant,
    /// Reused for every read of container output.
    read_buf: Vec<u8>,
}

/// What a poll entry stands for.
#[derive(Clone, Copy)]
enum Token {
    Signals,
    Listener,
    Output(usize),
    Stdin,
    Client(usize),
}

fn set_nonblocking(file: &File) {
    if let Err(e) = fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)) {
        diag!("setting O_NONBLOCK: {e}");
    }
}

impl EventLoop {
    pub(crate) fn new(
        listener: UnixListener,
        signals: SignalFd,
        container_pid: i32,
        io: ContainerIo,
        stdin_requested: bool,
        log: JsonLog,
        oom: Option<OomWatch>,
    ) -> std::io::Result<EventLoop> {
        listener.set_nonblocking(true)?;
        let (outputs, stdin, resize_target, tty) = match io {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                let outputs = vec![
                    Output {
                        stream: StdStream::Stdout,
                        file: Some(stdout),
                    },
                    Output {
                        stream: StdStream::Stderr,
                        file: Some(stderr),
                    },
                ];
                let sink = stdin.map(|file| StdinSink {
                    file: Some(file),
                    pending: Vec::new(),
                    close_requested: false,
                    pty: false,
                });
                (outputs, sink, None, false)
            }
            ContainerIo::Pty { master } => {
                let sink = if stdin_requested {
                    Some(StdinSink {
                        file: Some(master.try_clone()?),
                        pending: Vec::new(),
                        close_requested: false,
                        pty: true,
                    })
                } else {
                    None
                };
                let resize = master.try_clone()?;
                (
                    vec![Output {
                        stream: StdStream::Stdout,
                        file: Some(master),
                    }],
                    sink,
                    Some(resize),
                    true,
                )
            }
        };
        for o in &outputs {
            if let Some(f) = &o.file {
                set_nonblocking(f);
            }
        }
        if let Some(f) = stdin.as_ref().and_then(|s| s.file.as_ref()) {
            set_nonblocking(f);
        }
        let hello = Hello {
            stdin: stdin.is_some(),
            tty,
            container_pid,
        };
        let hello = serde_json::to_vec(&hello).map_err(std::io::Error::other)?;
        Ok(EventLoop {
            listener,
            signals,
            container_pid,
            hello,
            outputs,
            stdin,
            resize_target,
            clients: Vec::new(),
            log,
            oom,
            reaped: None,
            last_output: Instant::now(),
            read_buf: vec![0u8; 32 * 1024],
        })
    }

    /// Run until the container has exited and its output is drained. Returns the exit and
    /// the clients still connected (to be told about it) along with the listener.
    pub(crate) fn run(mut self) -> (Reaped, Vec<Client>, UnixListener) {
        self.reap();
        loop {
            if let Some((_, at)) = &self.reaped {
                let drained = self.outputs.iter().all(|o| o.file.is_none());
                if drained || self.last_output.elapsed() > DRAIN_IDLE || at.elapsed() > DRAIN_MAX {
                    if !drained {
                        diag!("container output did not reach end of file after exit; stopping the drain");
                    }
                    break;
                }
            }
            self.turn();
        }
        let (reaped, _) = self.reaped.take().unwrap_or_else(|| {
            (
                Reaped {
                    exit_code: 255,
                    oom_killed: false,
                    finished_at: now(),
                },
                Instant::now(),
            )
        });
        (reaped, self.clients, self.listener)
    }

    /// One poll and everything it reports.
    fn turn(&mut self) {
        let clients_backed_up = self.clients.iter().any(|c| c.pending() > CLIENT_HIGH_WATER);
        let stdin_backed_up = self
            .stdin
            .as_ref()
            .is_some_and(|s| s.pending.len() > STDIN_HIGH_WATER);
        let mut tokens = Vec::new();
        let mut fds = Vec::new();
        fds.push(PollFd::new(self.signals.as_fd(), PollFlags::POLLIN));
        tokens.push(Token::Signals);
        fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        tokens.push(Token::Listener);
        if !clients_backed_up {
            for (i, o) in self.outputs.iter().enumerate() {
                if let Some(f) = &o.file {
                    fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                    tokens.push(Token::Output(i));
                }
            }
        }
        if let Some(sink) = &self.stdin {
            if let (Some(f), false) = (&sink.file, sink.pending.is_empty()) {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLOUT));
                tokens.push(Token::Stdin);
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            let mut flags = PollFlags::empty();
            if !stdin_backed_up {
                flags |= PollFlags::POLLIN;
            }
            if c.pending() > 0 {
                flags |= PollFlags::POLLOUT;
            }
            fds.push(PollFd::new(c.stream.as_fd(), flags));
            tokens.push(Token::Client(i));
        }
        let timeout = if self.reaped.is_some() {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return,
            Err(e) => {
                diag!("poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
        }
        let ready: Vec<(Token, PollFlags)> = tokens
            .into_iter()
            .zip(fds.iter())
            .filter_map(|(t, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (t, r)))
            .collect();
        drop(fds);
        for (token, revents) in ready {
            match token {
                Token::Signals => {
                    while let Ok(Some(_)) = self.signals.read_signal() {}
                    self.reap();
                }
                Token::Listener => self.accept(),
                Token::Output(i) => self.read_output(i),
                Token::Stdin => self.write_stdin(),
                Token::Client(i) => {
                    if revents.intersects(PollFlags::POLLOUT) {
                        self.clients[i].flush();
                    }
                    if revents
                        .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    {
                        self.read_client(i);
                    }
                }
            }
        }
        self.clients.retain(|c| !c.closed);
    }

    /// Reap every exited child; note the container's exit.
    fn reap(&mut self) {
        loop {
            let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    diag!("waitpid: {e}");
                    return;
                }
                Ok(status) => status,
            };
            let (pid, code) = match status {
                WaitStatus::Exited(pid, code) => (pid, code as i64),
                WaitStatus::Signaled(pid, signal, _) => (pid, 128 + signal as i64),
                _ => continue,
            };
            if pid.as_raw() == self.container_pid && self.reaped.is_none() {
                let oom_killed = self.oom.as_ref().is_some_and(|o| o.oom_killed());
                diag!("container process {pid} exited with {code} (oom killed: {oom_killed})");
                self.reaped = Some((
                    Reaped {
                        exit_code: code,
                        oom_killed,
                        finished_at: now(),
                    },
                    Instant::now(),
                ));
                self.last_output = Instant::now();
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => match Client::new(stream) {
                    Ok(mut client) => {
                        client.queue(FrameKind::Hello, &self.hello);
                        client.flush();
                        self.clients.push(client);
                    }
                    Err(e) => diag!("setting up a client: {e}"),
                },
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    diag!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn read_output(&mut self, i: usize) {
        let output = &mut self.outputs[i];
        let Some(file) = output.file.as_mut() else {
            return;
        };
        let n = match file.read(&mut self.read_buf) {
            Ok(0) => {
                output.file = None;
                return;
            }
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                return
            }
            Err(e) => {
                // EIO: the last holder of the pty's slave side is gone.
                if e.raw_os_error() != Some(libc::EIO) {
                    diag!("reading container {:?}: {e}", output.stream);
                }
                output.file = None;
                return;
            }
        };
        let stream = output.stream;
        let chunk = &self.read_buf[..n];
        self.last_output = Instant::now();
        self.log.write(stream, chunk);
        let kind = if stream == StdStream::Stderr {
            FrameKind::Stderr
        } else {
            FrameKind::Stdout
        };
        for c in &mut self.clients {
            c.queue(kind, chunk);
            c.flush();
        }
    }

    fn read_client(&mut self, i: usize) {
        for frame in self.clients[i].read_frames() {
            match frame.kind {
                FrameKind::Stdin => {
                    if let Some(sink) = self
                        .stdin
                        .as_mut()
                        .filter(|s| s.file.is_some() && !s.close_requested)
                    {
                        sink.pending.extend_from_slice(&frame.payload);
                    }
                }
                FrameKind::CloseStdin => {
                    if let Some(sink) = self.stdin.as_mut().filter(|s| !s.close_requested) {
                        sink.close_requested = true;
                        if sink.pty {
                            sink.pending.push(0x04);
                        }
                    }
                }
                FrameKind::Resize => match (decode_resize(&frame.payload), &self.resize_target) {
                    (Some((rows, cols)), Some(master)) => {
                        if let Err(e) = console::resize(master, rows, cols) {
                            diag!("resizing the console to {rows}x{cols}: {e}");
                        }
                    }
                    (None, _) => diag!("malformed resize frame"),
                    (_, None) => {}
                },
                other => diag!("ignoring a {other:?} frame from a client"),
            }
        }
        self.write_stdin();
    }

    /// Write pending stdin; close it once asked to and everything was written.
    fn write_stdin(&mut self) {
        let Some(sink) = self.stdin.as_mut() else {
            return;
        };
        while let (Some(file), false) = (sink.file.as_mut(), sink.pending.is_empty()) {
            match file.write(&sink.pending) {
                Ok(n) => {
                    sink.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EPIPE: the container closed its stdin; what is left has nowhere to go.
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        diag!("writing container stdin: {e}");
                    }
                    sink.pending.clear();
                    sink.file = None;
                }
            }
        }
        if sink.close_requested && sink.pending.is_empty() {
            sink.file = None;
        }
    }
}

/// Tell the remaining clients about the exit (already queued) and wait until they took it,
/// dropping clients that stall.
pub(crate) fn flush_clients(mut clients: Vec<Client>) {
    let mut last_progress = Instant::now();
    loop {
        for c in clients.iter_mut() {
            if c.flush() {
                last_progress = Instant::now();
            }
        }
        clients.retain(|c| !c.closed && c.pending() > 0);
        if clients.is_empty() {
            return;
        }
        if last_progress.elapsed() > FLUSH_STALL {
            diag!("{} client(s) stopped reading; closing them", clients.len());
            return;
        }
        let mut fds: Vec<PollFd> = clients
            .iter()
            .map(|c| PollFd::new(c.stream.as_fd(), PollFlags::POLLOUT))
            .collect();
        let _ = poll(&mut fds, PollTimeout::from(100u16));
    }
}

/// Now as RFC 3339 with nanoseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
