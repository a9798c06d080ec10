//! `-H` addresses: parsing, binding, and cleaning up unix socket files.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};

use crate::ServeError;

/// Mode of the API socket: owner and group may talk to the daemon.
const SOCKET_MODE: u32 = 0o660;

/// A parsed `-H` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostAddr {
    /// `unix:///path/to/socket`
    Unix(PathBuf),
    /// `tcp://host:port` (`tcp://:2375` listens on every interface, as dockerd does).
    Tcp(String),
}

/// Parse `unix:///path` or `tcp://host:port`.
pub fn parse_host(addr: &str) -> Result<HostAddr, ServeError> {
    let bad = |reason: &str| ServeError::BadAddress {
        addr: addr.to_string(),
        reason: reason.to_string(),
    };
    if let Some(path) = addr.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad("a unix socket path must be absolute (unix:///path)"));
        }
        return Ok(HostAddr::Unix(PathBuf::from(path)));
    }
    if let Some(rest) = addr.strip_prefix("tcp://") {
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else {
            return Err(bad("expected tcp://host:port"));
        };
        if port.parse::<u16>().is_err() {
            return Err(bad("the port must be a number from 0 to 65535"));
        }
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        return Ok(HostAddr::Tcp(format!("{host}:{port}")));
    }
    Err(bad("expected unix:///path or tcp://host:port"))
}

/// A bound listener.
pub enum Bound {
    /// A unix socket; its file is removed when the guard drops.
    Unix(UnixListener, SocketFileGuard),
    Tcp(TcpListener),
}

/// Removes a socket file when dropped (after serving, or when a later `-H` fails to bind).
pub struct SocketFileGuard {
    path: PathBuf,
}

impl SocketFileGuard {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFileGuard {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::debug!(socket = %self.path.display(), "socket removed"),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(socket = %self.path.display(), error = %e, "removing the socket")
            }
        }
    }
}

/// Bind one address.
pub async fn bind(addr: &str) -> Result<Bound, ServeError> {
    let listen_err = |source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    };
    match parse_host(addr)? {
        HostAddr::Unix(path) => {
            prepare_socket_path(addr, &path).await?;
            let listener = UnixListener::bind(&path).map_err(listen_err)?;
            let guard = SocketFileGuard { path: path.clone() };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))
                .map_err(listen_err)?;
            tracing::info!(socket = %path.display(), "API listening");
            Ok(Bound::Unix(listener, guard))
        }
        HostAddr::Tcp(hostport) => {
            let listener = TcpListener::bind(&hostport).await.map_err(listen_err)?;
            let local = listener.local_addr().map_err(listen_err)?;
            if !local.ip().is_loopback() {
                tracing::warn!(%local, "API listening on plain TCP beyond loopback: anyone who can reach it controls this host");
            }
            tracing::info!(%local, "API listening");
            Ok(Bound::Tcp(listener))
        }
    }
}

/// Create the socket's directory and clear a stale socket file. A socket someone still answers
/// on is left alone (another daemon owns it), and so is anything that is not a socket.
async fn prepare_socket_path(addr: &str, path: &Path) -> Result<(), ServeError> {
    let listen_err = |source| ServeError::Listen {
        addr: addr.to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(listen_err)?;
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(listen_err(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ServeError::BadAddress {
            addr: addr.to_string(),
            reason: format!("{} exists and is not a socket", path.display()),
        });
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(ServeError::BadAddress {
            addr: addr.to_string(),
            reason: format!("another daemon is already listening on {}", path.display()),
        });
    }
    tracing::info!(socket = %path.display(), "removing stale socket");
    std::fs::remove_file(path).map_err(listen_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(
            parse_host("unix:///run/strata/strata.sock").unwrap(),
            HostAddr::Unix("/run/strata/strata.sock".into())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1:2375").unwrap(),
            HostAddr::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            parse_host("tcp://:2375").unwrap(),
            HostAddr::Tcp("0.0.0.0:2375".into())
        );
        assert!(parse_host("unix://relative.sock").is_err());
        assert!(parse_host("tcp://localhost").is_err());
        assert!(parse_host("fd://").is_err());
    }

    #[tokio::test]
    async fn stale_socket_is_replaced_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/api.sock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // A stale socket file: bound once, listener gone.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let addr = format!("unix://{}", path.display());
        let bound = bind(&addr).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // While it serves, a second daemon cannot take it.
        let err = bind(&addr).await.err().expect("second bind must fail");
        assert!(err.to_string().contains("already listening"), "{err}");
        drop(bound);
        assert!(
            !path.exists(),
            "the socket file is removed when the listener goes"
        );
    }
}
