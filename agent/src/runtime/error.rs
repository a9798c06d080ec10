//! Errors of bundles, the OCI runtime and the shim.

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("building the OCI bundle: {0}")]
    Bundle(String),
    /// The request asks for something invalid (unknown capability, bad limit, no command):
    /// the user's mistake, reported as a bad request.
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{runtime} {action} {id}: {stderr}")]
    Runtime {
        runtime: String,
        action: String,
        id: String,
        stderr: String,
    },
    #[error("shim for {id}: {reason}")]
    Shim { id: String, reason: String },
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<RuntimeError> for crate::error::EngineError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::NoSuchUser(_)
            | RuntimeError::NoSuchGroup(_)
            | RuntimeError::InvalidSpec(_) => {
                crate::error::EngineError::InvalidArgument(e.to_string())
            }
            other => crate::error::EngineError::Runtime(other.to_string()),
        }
    }
}
