//! The Strata engine. Everything a Docker-compatible host does between the HTTP layer and the
//! graph drivers: the metadata store, layers and images, containers and their OCI runtime.
//!
//! Callers (the `api` crate) talk to [`Engine`] only, in the domain types of [`model`].

mod build;
pub mod cgroups;
pub mod config;
pub mod containers;
pub mod engine;
pub mod error;
pub mod faults;
pub mod images;
pub mod layers;
pub mod metadata;
pub mod metrics;
pub mod model;
pub mod network;
pub mod registry;
pub mod runtime;
pub mod volumes;

pub use config::EngineConfig;
pub use engine::Engine;
pub use error::EngineError;
