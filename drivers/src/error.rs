//! Errors of the graph drivers and of the layer archive code they share.

use std::path::PathBuf;

use crate::layer_id::LayerId;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("invalid layer id {0:?}: use 1-128 characters of [A-Za-z0-9_.-]")]
    InvalidId(String),
    #[error("layer {0} does not exist")]
    NotFound(LayerId),
    #[error("layer {0} already exists")]
    AlreadyExists(LayerId),
    #[error("layer {id} has children ({children}) and cannot be removed")]
    HasChildren { id: LayerId, children: String },
    #[error("layer {0} is in use (mounted) and cannot be removed")]
    Busy(LayerId),
    #[error("unknown storage driver {0:?}")]
    UnknownDriver(String),
    #[error("storage driver {driver} cannot work here: {reason}")]
    Unsupported {
        driver: &'static str,
        reason: String,
    },
    #[error("invalid storage option {key}={value}: {reason}")]
    InvalidOption {
        key: String,
        value: String,
        reason: String,
    },
    #[error("invalid layer archive: {0}")]
    Archive(#[from] ArchiveError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
}

impl DriverError {
    /// The refusal to remove `id` while `children` name it as parent.
    pub fn has_children<C: AsRef<str>>(
        id: &LayerId,
        children: impl IntoIterator<Item = C>,
    ) -> Self {
        let children: Vec<String> = children
            .into_iter()
            .map(|c| c.as_ref().to_string())
            .collect();
        DriverError::HasChildren {
            id: id.clone(),
            children: children.join(", "),
        }
    }

    /// Wrap an I/O error with what was being done and where.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DriverError::Io {
            context: context.into(),
            source,
        }
    }
}

/// What is wrong with a layer tar stream. Each variant names the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("entry {path:?} escapes the layer root")]
    PathEscape { path: String },
    #[error("symlink {path:?} -> {target:?} points out of the layer root")]
    SymlinkEscape { path: String, target: String },
    #[error("entry {path:?} would be written through symlink {via:?}")]
    ThroughSymlink { path: String, via: String },
    #[error("hard link {path:?} -> {target:?} points out of the layer or at a missing file")]
    BadHardlink { path: String, target: String },
    #[error("entry {path:?} has unsupported type {kind}")]
    UnsupportedEntry { path: String, kind: String },
    #[error("entry {path:?} takes the unpacked layer past its size limit of {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("the tar stream is truncated or corrupt: {0}")]
    Corrupt(String),
    #[error("writing entry {path:?} to {dest}: {source}")]
    Write {
        path: String,
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the tar stream: {0}")]
    Read(#[source] std::io::Error),
}
