//! Named network namespaces: an empty file under `<exec-root>/netns/` with the namespace's nsfs
//! file bind-mounted onto it, so it outlives every process in it (as `ip netns add` does, but
//! under the agent's own exec root).

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::network::error::NetworkError;

/// `<exec-root>/netns`, closed to other users (0700).
pub(crate) fn netns_dir(exec_root: &Path) -> PathBuf {
    exec_root.join("netns")
}

/// Create a new network namespace pinned at `path`. A leftover at `path` is removed first.
/// On failure nothing stays behind.
pub(crate) fn create(path: &Path) -> Result<(), NetworkError> {
    remove(path)?;
    if let Some(parent) = path.parent() {
        strata_drivers::fsutil::private::private_dir(parent)
            .map_err(|e| NetworkError::io(format!("creating {}", parent.display()), e))?;
    }
    File::create(path).map_err(|e| NetworkError::io(format!("creating {}", path.display()), e))?;
    let target = path.to_path_buf();
    // A thread of its own enters the new namespace and ends right after: the agent's other
    // threads never change namespace.
    let pinned = std::thread::spawn(move || -> Result<(), NetworkError> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetworkError::io("unshare(CLONE_NEWNET)", std::io::Error::from(e)))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            NetworkError::io(
                format!("bind-mounting the namespace on {}", target.display()),
                e.into(),
            )
        })
    })
    .join()
    .map_err(|_| NetworkError::InvalidConfig("network namespace thread panicked".into()))?;
    if let Err(e) = pinned {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Unpin and delete the namespace file at `path`; a missing one is fine. The namespace itself
/// goes away with its last process.
pub(crate) fn remove(path: &Path) -> Result<(), NetworkError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetworkError::io(
                format!("unmounting {}", path.display()),
                e.into(),
            ))
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::io(format!("removing {}", path.display()), e)),
    }
}

/// Run `f` on a short-lived thread that has joined the namespace at `path` (with the tokio
/// runtime `rt` entered, so netlink sockets made there register with it). Sockets keep the
/// namespace they were made in, so a connection opened by `f` works from anywhere afterwards.
pub(crate) fn in_namespace<T, F>(
    path: &Path,
    rt: tokio::runtime::Handle,
    f: F,
) -> Result<T, NetworkError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetworkError> + Send + 'static,
{
    let file =
        File::open(path).map_err(|e| NetworkError::io(format!("opening {}", path.display()), e))?;
    let shown = path.display().to_string();
    std::thread::spawn(move || {
        let _entered = rt.enter();
        setns(&file, CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetworkError::io(format!("setns({shown})"), e.into()))?;
        f()
    })
    .join()
    .map_err(|_| NetworkError::InvalidConfig("network namespace thread panicked".into()))?
}

/// The namespace files under `dir` (leftovers are found this way at start).
pub(crate) fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}
