//! Errors of the metrics registry.

/// A series could not be defined, registered or encoded.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
    #[error("encoding metrics: {0}")]
    Encode(String),
}

impl From<MetricsError> for crate::error::EngineError {
    fn from(e: MetricsError) -> Self {
        crate::error::EngineError::Internal(e.to_string())
    }
}
