//! Errors of recording and replaying tar-split data.

use std::io;
use std::path::PathBuf;

use strata_drivers::DriverError;

use crate::error::EngineError;

/// Why a layer tar could not be rebuilt from its tar-split file.
#[derive(Debug, thiserror::Error)]
pub enum TarSplitError {
    /// The split file cannot be parsed (truncated, foreign, damaged).
    #[error("corrupt tar-split data: {0}")]
    Corrupt(String),
    /// The split file itself could not be opened or read.
    #[error("tar-split file {path}: {source}")]
    SplitFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file the split refers to could not be read from the layer's tree.
    #[error("layer file {path}: {reason}")]
    LayerFile { path: PathBuf, reason: String },
    /// Writing the rebuilt tar failed.
    #[error("writing the rebuilt layer tar: {0}")]
    Output(#[source] io::Error),
    /// The driver could not make the layer's tree available.
    #[error("storage driver: {0}")]
    Driver(#[from] DriverError),
}

impl TarSplitError {
    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        TarSplitError::Corrupt(reason.into())
    }
}

impl From<TarSplitError> for EngineError {
    fn from(err: TarSplitError) -> Self {
        match err {
            TarSplitError::Driver(driver) => EngineError::Driver(driver),
            other => EngineError::Internal(other.to_string()),
        }
    }
}
