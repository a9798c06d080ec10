//! Mounting and unmounting overlayfs.
//!
//! `lowerdir=` strings of deep chains only fit in the one page mount(2) accepts when they are
//! relative (`l/SHORT:l/SHORT...`). Relative to what: the calling process's working directory,
//! which is process-wide. So a forked child `chdir`s into the driver home and mounts there,
//! leaving the agent's own working directory alone.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tracing::warn;

/// Mount overlayfs at `target` (relative to `dir`) with the option string `data`, resolving
/// every relative path in it against `dir`.
pub fn mount_overlay_in(dir: &Path, target: &str, data: &str, read_only: bool) -> io::Result<()> {
    let page = page_size();
    if data.len() + 1 > page {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay mount options are {} bytes, more than the {page} bytes mount(2) accepts \
                 (too many lower layers)",
                data.len()
            ),
        ));
    }
    let nul = |_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "path or option contains a NUL byte",
        )
    };
    // Everything the child touches is prepared before fork: the child must not allocate.
    let dir_c = CString::new(dir.as_os_str().as_bytes()).map_err(nul)?;
    let target_c = CString::new(target).map_err(nul)?;
    let data_c = CString::new(data).map_err(nul)?;
    let fstype = c"overlay";
    let flags: libc::c_ulong = if read_only { libc::MS_RDONLY } else { 0 };

    // SAFETY: fork is called with every argument of the child's work prepared above; the child
    // only calls async-signal-safe functions (chdir, mount, _exit) and reads errno, so it is
    // sound even though other threads of this process may hold locks at the time of the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: child after fork: only async-signal-safe calls on memory prepared before the
        // fork; `_exit` never returns and skips atexit handlers and buffered I/O of the parent.
        unsafe {
            if libc::chdir(dir_c.as_ptr()) != 0 {
                libc::_exit(*libc::__errno_location());
            }
            let r = libc::mount(
                fstype.as_ptr(),
                target_c.as_ptr(),
                fstype.as_ptr(),
                flags,
                data_c.as_ptr().cast(),
            );
            if r != 0 {
                libc::_exit(*libc::__errno_location());
            }
            libc::_exit(0);
        }
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: `status` is a valid place for waitpid to store the child's status; `pid` is
        // our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
    if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            code => Err(io::Error::from_raw_os_error(code)),
        }
    } else {
        Err(io::Error::other("the mount helper process died"))
    }
}

/// Unmount `path`; if something still uses it, detach it lazily. Not mounted is fine.
pub fn unmount(path: &Path) -> io::Result<()> {
    use nix::errno::Errno;
    use nix::mount::{umount2, MntFlags};
    match umount2(path, MntFlags::empty()) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => {
            warn!(path = %path.display(), "mount busy, detaching it lazily");
            umount2(path, MntFlags::MNT_DETACH).map_err(io::Error::from)
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}
