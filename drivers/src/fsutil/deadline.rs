//! Running an external tool with a deadline.
//!
//! The zfs driver drives the `zfs` tools, which talk to a daemon (zfs-fuse) or the kernel; a wedged
//! daemon would otherwise hang the caller, and with it the agent's request, forever. Here a tool
//! that has not finished within its time is killed and the caller gets an error saying so.

use std::io::{self, Read};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Run `cmd` (stdin closed, stdout and stderr captured) and wait at most `limit` for it.
/// On timeout the process is killed and the error is `io::ErrorKind::TimedOut`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || drain(stdout));
    let err_reader = std::thread::spawn(move || drain(stderr));

    let (tx, rx) = mpsc::channel::<io::Result<ExitStatus>>();
    std::thread::spawn(move || {
        // The receiver may be gone after a timeout; nothing to tell then.
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(limit) {
        Ok(status) => status?,
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                // The waiter thread has not reaped the child yet (no status was sent), so the
                // pid still names it.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            // Reap it; its pipes close with it unless a grandchild holds them, so the readers
            // are left to finish on their own.
            let _ = rx.recv_timeout(Duration::from_secs(5));
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("did not finish within {} s and was killed", limit.as_secs()),
            ));
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn drain<R: Read>(pipe: Option<R>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut p) = pipe {
        // A read error only shortens what is reported.
        let _ = p.read_to_end(&mut buf);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_status_come_back() {
        let out = output_within(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(20),
        )
        .expect("sh runs");
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn a_tool_past_its_deadline_is_killed() {
        let err = output_within(Command::new("sleep").arg("30"), Duration::from_millis(200))
            .expect_err("sleep 30 must not finish in 200 ms");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("killed"), "{err}");
    }
}
