//! Registries (the OCI distribution protocol, through the `oci-client` crate): `docker pull`,
//! `docker push` and `docker login`. References are normalized as Docker does
//! ([`crate::images::Reference`]); `localhost`, 127.0.0.0/8 and the `--insecure-registry` hosts
//! are spoken to over plain HTTP, every other registry over HTTPS.

pub mod blob_records;
pub mod credentials;
pub mod download;
pub mod engine_api;
pub mod error;
pub mod login;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod remote;

pub use credentials::Credentials;
pub use error::RegistryError;
pub use progress::{ProgressDetail, ProgressEvent, ProgressSink};
pub use pull::PullOutcome;
