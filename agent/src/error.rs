//! The engine's errors. Each carries enough context to be shown to a user as is; `kind()` tells
//! the HTTP layer which status code Docker would answer with.

use strata_drivers::error::ArchiveError;
use strata_drivers::DriverError;

/// What sort of failure, for mapping onto Docker's status codes (404, 409, 400, 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    NotModified,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// Docker's wording: `get NAME: no such volume`.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// Docker's wording: `network NAME not found`.
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// A create request refused by `containers::validate`.
    #[error(transparent)]
    Invalid(#[from] crate::containers::validate::ValidationError),
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch { what: String, expected: String, actual: String },
    #[error("container {id} is not running")]
    NotRunning { id: String },
    #[error("container {id} is already {state}")]
    NotModified { id: String, state: String },
    #[error("storage driver: {0}")]
    Driver(#[from] DriverError),
    #[error("metadata store: {context}: {source}")]
    Metadata {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("OCI runtime: {0}")]
    Runtime(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The disk (or a quota) filled up: a server condition whatever the request was.
    #[error("the disk is full: {context}: {source}")]
    DiskFull {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// A registry operation (pull, push, login) failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

impl EngineError {
    /// An I/O failure while doing `context`; [`EngineError::DiskFull`] when the disk is full.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if is_disk_full(&source) {
            return EngineError::DiskFull { context: context.into(), source };
        }
        EngineError::Io { context: context.into(), source }
    }

    pub fn metadata(context: impl Into<String>, source: rusqlite::Error) -> Self {
        EngineError::Metadata { context: context.into(), source }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NoSuchImage(_)
            | EngineError::NoSuchContainer(_)
            | EngineError::NoSuchExec(_)
            | EngineError::NoSuchVolume(_)
            | EngineError::NoSuchNetwork(_) => ErrorKind::NotFound,
            EngineError::Conflict(_) | EngineError::NotRunning { .. } => ErrorKind::Conflict,
            EngineError::NotModified { .. } => ErrorKind::NotModified,
            EngineError::InvalidArgument(_)
            | EngineError::Invalid(_)
            | EngineError::InvalidReference { .. }
            | EngineError::InvalidArchive(_)
            | EngineError::DigestMismatch { .. } => ErrorKind::InvalidArgument,
            EngineError::Driver(DriverError::Archive(ArchiveError::Write { source, .. }))
                if is_disk_full(source) =>
            {
                ErrorKind::Internal
            }
            EngineError::Driver(DriverError::Archive(_)) => ErrorKind::InvalidArgument,
            EngineError::Driver(DriverError::NotFound(_)) => ErrorKind::NotFound,
            EngineError::Registry(e) => e.kind(),
            EngineError::Driver(_)
            | EngineError::Metadata { .. }
            | EngineError::Runtime(_)
            | EngineError::Io { .. }
            | EngineError::DiskFull { .. }
            | EngineError::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Whether `e` is ENOSPC or EDQUOT: the host's condition, never the request's fault.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
