//! Images: references, configs, loading archives, and the image store.
//! (Skeleton: filled in by the image-store work.)

pub mod engine_api;

use std::sync::Arc;

use crate::config::EngineConfig;
use crate::error::Result;
use crate::metadata::Db;

pub struct ImageStore {
    #[allow(dead_code)]
    db: Arc<Db>,
}

impl ImageStore {
    pub fn open(db: Arc<Db>, _config: &EngineConfig) -> Result<Self> {
        Ok(ImageStore { db })
    }

    /// How many images are stored.
    pub fn count(&self) -> Result<i64> {
        Ok(0)
    }
}

/// What a container needs to know of its image.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// `sha256:...`
    pub id: String,
    pub config: crate::model::ImageRuntimeConfig,
    /// The driver id of the image's top layer; `None` for an image without layers.
    pub top_layer: Option<strata_drivers::LayerId>,
}

impl ImageStore {
    /// Find an image by reference (`busybox`, `busybox:1`, `docker.io/library/busybox:latest`,
    /// `name@sha256:...`), full id (`sha256:...`), or unambiguous id prefix (`3f57d9401f8d`).
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage> {
        Err(crate::error::EngineError::NoSuchImage(reference.to_string()))
    }
}
