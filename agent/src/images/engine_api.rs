//! The engine's image methods (what `docker load/images/inspect/tag/rmi/history` reach).
//! (Skeleton: filled in by the image-store work.)

use std::pin::Pin;

use tokio::io::AsyncRead;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::{HistoryEntry, ImageDeleteItem, ImageDetails, ImageSummary, LoadReport};

impl Engine {
    /// `docker load`: a docker-archive (`docker save` format) or OCI-layout tar, layers gzip,
    /// zstd or uncompressed. All or nothing: on any error nothing of the archive is kept.
    pub async fn load_images(&self, _archive: Pin<Box<dyn AsyncRead + Send>>) -> Result<LoadReport> {
        Err(EngineError::Internal("load_images: not implemented yet".into()))
    }

    /// `docker images`.
    pub async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        Err(EngineError::Internal("list_images: not implemented yet".into()))
    }

    /// `docker image inspect NAME|ID|ID-PREFIX`.
    pub async fn inspect_image(&self, _name: &str) -> Result<ImageDetails> {
        Err(EngineError::Internal("inspect_image: not implemented yet".into()))
    }

    /// `docker tag SOURCE REPO[:TAG]`.
    pub async fn tag_image(&self, _source: &str, _repo: &str, _tag: Option<&str>) -> Result<()> {
        Err(EngineError::Internal("tag_image: not implemented yet".into()))
    }

    /// `docker rmi [-f] NAME`.
    pub async fn remove_image(&self, _name: &str, _force: bool, _noprune: bool) -> Result<Vec<ImageDeleteItem>> {
        Err(EngineError::Internal("remove_image: not implemented yet".into()))
    }

    /// `docker history NAME`.
    pub async fn image_history(&self, _name: &str) -> Result<Vec<HistoryEntry>> {
        Err(EngineError::Internal("image_history: not implemented yet".into()))
    }
}
