//! The files a shim keeps in its state directory, and unix-socket paths that fit `sun_path`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// The shim's listening socket; exists exactly while the shim accepts clients.
pub(crate) const SOCKET: &str = "shim.sock";
/// The shim's pid, written once it is ready.
pub(crate) const SHIM_PID: &str = "shim.pid";
/// How the container ended (JSON), written atomically before the shim tells its clients.
pub(crate) const EXIT: &str = "exit.json";
/// The container's init pid, written by `RUNTIME create --pid-file`.
pub(crate) const CONTAINER_PID: &str = "container.pid";
/// The socket on which the runtime hands over a tty's master.
pub(crate) const CONSOLE_SOCKET: &str = "console.sock";
/// The runtime's own JSON log (`RUNTIME --log`), read for its error messages.
pub(crate) const RUNTIME_LOG: &str = "runtime.log";
/// What `RUNTIME create` printed on stderr when it had a tty (no container stderr to share).
pub(crate) const CREATE_STDERR: &str = "create.stderr";
/// The shim's own diagnostics.
pub(crate) const SHIM_LOG: &str = "shim.log";

/// Files a previous shim of the same state directory may have left; removed before a launch.
pub(crate) const STALE_ON_LAUNCH: &[&str] = &[
    SOCKET,
    SHIM_PID,
    EXIT,
    CONTAINER_PID,
    CONSOLE_SOCKET,
    RUNTIME_LOG,
    CREATE_STDERR,
];

/// Longest socket path we hand to bind/connect (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 100;

/// A path to a unix socket that fits `sun_path`: the plain path when short enough, otherwise
/// `/proc/<pid>/fd/<dirfd>/<name>` through an open handle on the directory (kept alive here).
pub(crate) struct SocketPath {
    pub path: PathBuf,
    _dir: Option<OwnedFd>,
}

impl SocketPath {
    /// A path usable by this process (`for_pid` None) or by another process of the same user
    /// (`for_pid` Some: the path goes through `/proc/<our pid>`).
    pub(crate) fn new(
        dir: &Path,
        name: &str,
        for_other_process: bool,
    ) -> std::io::Result<SocketPath> {
        let plain = dir.join(name);
        if plain.as_os_str().len() <= MAX_SOCKET_PATH {
            return Ok(SocketPath {
                path: plain,
                _dir: None,
            });
        }
        let fd = open(
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: `open` just returned this descriptor and nothing else owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let proc_self = if for_other_process {
            std::process::id().to_string()
        } else {
            "self".to_string()
        };
        let path = PathBuf::from(format!("/proc/{proc_self}/fd/{}/{name}", fd.as_raw_fd()));
        Ok(SocketPath {
            path,
            _dir: Some(fd),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_directories_get_a_short_proc_path_that_works() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("x".repeat(60)).join("y".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let sp = SocketPath::new(&deep, "s.sock", false).unwrap();
        assert!(
            sp.path.as_os_str().len() <= MAX_SOCKET_PATH,
            "{:?}",
            sp.path
        );
        let listener = std::os::unix::net::UnixListener::bind(&sp.path).unwrap();
        assert!(deep.join("s.sock").exists());
        std::os::unix::net::UnixStream::connect(&sp.path).unwrap();
        drop(listener);
        let short = SocketPath::new(tmp.path(), "s.sock", false).unwrap();
        assert_eq!(short.path, tmp.path().join("s.sock"));
    }
}
