//! Typed errors of container networking, with what was being done and to which object.

use crate::error::EngineError;

/// Something went wrong creating, configuring or removing a piece of container networking.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A netlink request (link, address or route) failed.
    #[error("netlink: {context}: {message}")]
    Netlink { context: String, message: String },
    /// A file-system or namespace operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// `--bip` or a subnet could not be parsed or is unusable.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// The caller asked for something that cannot be done (bad `-p`, bad mode).
    #[error("{0}")]
    InvalidRequest(String),
    /// Every address of the subnet is leased.
    #[error("no available IPv4 address on network {network} ({subnet})")]
    PoolExhausted { network: String, subnet: String },
    /// A published host port is held by someone else (Docker's wording).
    #[error("Bind for {host_ip}:{host_port} failed: port is already allocated")]
    PortAllocated { host_ip: String, host_port: u16 },
    /// Binding a published host port failed for another reason.
    #[error("Bind for {host_ip}:{host_port} failed: {source}")]
    Bind {
        host_ip: String,
        host_port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The container whose namespace was asked for (`--network container:X`) cannot lend it.
    #[error("cannot join network of container {0}: it is not running")]
    JoinNotRunning(String),
    /// The bridge is missing and could not be created at engine start.
    #[error("the bridge {bridge} is not available: {reason}")]
    BridgeUnavailable { bridge: String, reason: String },
}

impl NetworkError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        NetworkError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn netlink(context: impl Into<String>, err: rtnetlink::Error) -> Self {
        NetworkError::Netlink {
            context: context.into(),
            message: err.to_string(),
        }
    }
}

impl From<NetworkError> for EngineError {
    fn from(e: NetworkError) -> Self {
        match e {
            NetworkError::InvalidRequest(m) => EngineError::InvalidArgument(m),
            NetworkError::InvalidConfig(m) => EngineError::InvalidArgument(m),
            NetworkError::JoinNotRunning(id) => EngineError::Conflict(format!(
                "cannot join network of a non running container: {id}"
            )),
            other => EngineError::Internal(other.to_string()),
        }
    }
}

/// Whether a netlink error is the kernel's "no such device / object" (ENODEV, ENOENT, ESRCH).
pub(crate) fn is_not_found(err: &rtnetlink::Error) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m)
        if matches!(m.raw_code().abs(), libc::ENODEV | libc::ENOENT | libc::ESRCH))
}

/// Whether a netlink error is the kernel's "already exists" (EEXIST).
pub(crate) fn is_exists(err: &rtnetlink::Error) -> bool {
    matches!(err, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == libc::EEXIST)
}
