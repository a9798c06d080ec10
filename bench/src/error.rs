//! What can go wrong in `strata bench`, each error saying which driver, layer or file.

use std::path::PathBuf;

use strata_drivers::DriverError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A flag's value does not parse or makes no sense.
    #[error("{flag} {value:?}: {reason}")]
    InvalidArg {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// A driver named in `--drivers` cannot open here.
    #[error("driver {driver} was asked for but cannot be used here: {reason}")]
    DriverUnavailable { driver: String, reason: String },
    /// No driver opened at all (nothing was named and none of the known ones works).
    #[error("no storage driver can be used here ({0})")]
    NoDriver(String),
    /// A driver operation failed while measuring.
    #[error("{driver}: {op} of layer {layer} failed: {source}")]
    Driver {
        driver: &'static str,
        op: &'static str,
        layer: String,
        #[source]
        source: Box<DriverError>,
    },
    /// A file operation of the benchmark itself failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing the JSON report or a plot failed.
    #[error("writing {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    /// Ctrl-C or SIGTERM arrived; everything created so far was cleaned up.
    #[error("interrupted (everything the benchmark created was removed)")]
    Interrupted,
}

impl BenchError {
    /// Wrap an I/O error with what was being done and where.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
