//! Failures talking to a registry, each naming the registry, the repository and what was asked.

use crate::error::ErrorKind;

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry has no such repository, tag or manifest.
    #[error("manifest for {reference} not found: {detail}")]
    ManifestNotFound { reference: String, detail: String },
    /// The registry refused our credentials (or asked for some we do not have).
    #[error("{operation} access denied for {repository}: {detail}")]
    AccessDenied {
        operation: &'static str,
        repository: String,
        detail: String,
    },
    /// The registry answered something we cannot use.
    #[error("{registry}: {what}: {detail}")]
    Protocol {
        registry: String,
        what: String,
        detail: String,
    },
    /// No manifest of the image's index fits this host.
    #[error("no matching manifest for linux/amd64 in the manifest list entries of {reference}")]
    NoMatchingPlatform { reference: String },
    /// A manifest, config or layer blob has other content than its digest says.
    #[error("{what} failed digest verification: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// Reaching the registry failed (connection, TLS, timeout).
    #[error("{registry}: {detail}")]
    Transport { registry: String, detail: String },
}

impl RegistryError {
    /// Which Docker status an error maps onto when it comes before any progress output.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::ManifestNotFound { .. } | RegistryError::AccessDenied { .. } => {
                ErrorKind::NotFound
            }
            RegistryError::NoMatchingPlatform { .. } | RegistryError::DigestMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            RegistryError::Protocol { .. } | RegistryError::Transport { .. } => ErrorKind::Internal,
        }
    }

    /// Classify an `oci-client` error of `what` against `registry`/`repository`.
    pub fn from_client(
        operation: &'static str,
        registry: &str,
        repository: &str,
        what: &str,
        err: oci_client::errors::OciDistributionError,
    ) -> RegistryError {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
        let detail = err.to_string();
        match err {
            E::RegistryError { envelope, .. } => {
                let detail = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                let codes: Vec<&C> = envelope.errors.iter().map(|e| &e.code).collect();
                if codes
                    .iter()
                    .any(|c| matches!(c, C::Unauthorized | C::Denied))
                {
                    RegistryError::AccessDenied {
                        operation,
                        repository: format!("{registry}/{repository}"),
                        detail,
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c, C::ManifestUnknown | C::NameUnknown))
                {
                    RegistryError::ManifestNotFound {
                        reference: format!("{registry}/{repository}"),
                        detail,
                    }
                } else {
                    RegistryError::Protocol {
                        registry: registry.to_string(),
                        what: what.to_string(),
                        detail,
                    }
                }
            }
            E::ImageManifestNotFoundError(_) => RegistryError::ManifestNotFound {
                reference: format!("{registry}/{repository}"),
                detail,
            },
            E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => {
                RegistryError::AccessDenied {
                    operation,
                    repository: format!("{registry}/{repository}"),
                    detail,
                }
            }
            E::DigestError(_) => RegistryError::DigestMismatch {
                what: format!("{what} of {registry}/{repository}"),
                expected: String::new(),
                actual: detail,
            },
            E::RequestError(_) | E::IoError(_) => RegistryError::Transport {
                registry: registry.to_string(),
                detail: format!("{what}: {detail}"),
            },
            E::ServerError { code: 404, .. } => RegistryError::ManifestNotFound {
                reference: format!("{registry}/{repository}"),
                detail,
            },
            E::ServerError { code, .. } if code == 401 || code == 403 => {
                RegistryError::AccessDenied {
                    operation,
                    repository: format!("{registry}/{repository}"),
                    detail,
                }
            }
            _ => RegistryError::Protocol {
                registry: registry.to_string(),
                what: what.to_string(),
                detail,
            },
        }
    }
}
