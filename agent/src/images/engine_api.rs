//! The engine's image methods (what `docker load/images/inspect/tag/rmi/history` reach). Each
//! runs its blocking work (files, the database, the driver) on the blocking pool.

use std::io::BufReader;
use std::pin::Pin;

use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use super::details::{self, ImageView};
use super::reference::Reference;
use super::{delete, load, lookup, records};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::layers::records as layer_records;
use crate::model::{
    GraphDriverData, HistoryEntry, ImageDeleteItem, ImageDetails, ImageSummary, LoadReport,
};

impl Engine {
    /// `docker load`: a docker-archive (`docker save` format) or OCI-layout tar, layers gzip,
    /// zstd or uncompressed. All or nothing: on any error nothing of the archive is kept.
    pub async fn load_images(&self, archive: Pin<Box<dyn AsyncRead + Send>>) -> Result<LoadReport> {
        let started = std::time::Instant::now();
        let archive = crate::metrics::CountingReader::new(archive);
        let received = archive.counter();
        let input = BufReader::with_capacity(1024 * 1024, SyncIoBridge::new(archive));
        let result = self
            .blocking("load", move |engine| {
                load::load(&engine.inner.images, &engine.inner.layers, input)
            })
            .await;
        let bytes = received.load(std::sync::atomic::Ordering::Relaxed);
        self.metrics().observe_image_load(bytes, started.elapsed(), result.is_ok());
        result
    }

    /// `docker images`.
    pub async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        self.blocking("images", |engine| engine.inner.db.read(details::list))
            .await
    }

    /// `docker images` with Docker's filters (`reference`, `dangling`, `label`, `before`,
    /// `since`), as the HTTP layer receives them. (Stub added by the API work, for the image
    /// store to implement: without filters it is `list_images`; any filter is refused for now,
    /// so `docker images NAME` never lists unrelated images.)
    pub async fn list_images_filtered(
        &self,
        filters: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<ImageSummary>> {
        if let Some(key) = filters.keys().next() {
            return Err(EngineError::InvalidArgument(format!(
                "image list filter {key:?} is not supported yet"
            )));
        }
        self.list_images().await
    }

    /// `docker image inspect NAME|ID|ID-PREFIX`.
    pub async fn inspect_image(&self, name: &str) -> Result<ImageDetails> {
        let name = name.to_string();
        self.blocking("image inspect", move |engine| {
            engine.inspect_image_blocking(&name)
        })
        .await
    }

    /// `docker tag SOURCE REPO[:TAG]`.
    pub async fn tag_image(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let (source, repo, tag) = (
            source.to_string(),
            repo.to_string(),
            tag.map(str::to_string),
        );
        self.blocking("tag", move |engine| {
            let target = Reference::parse_normalized(&repo)?;
            if target.digest().is_some() {
                return Err(EngineError::InvalidArgument(
                    "refusing to create a tag with a digest reference".into(),
                ));
            }
            let target = match tag.as_deref().filter(|t| !t.is_empty()) {
                Some(tag) => target.with_tag(tag)?,
                None => target.with_default_tag(),
            };
            engine.inner.db.write("tagging an image", |tx| {
                let found = lookup::find(tx, &source)?;
                records::set_ref(tx, &target.to_string(), found.id.as_str())?;
                tracing::info!(image = %found.id, tag = %target, "tagged");
                Ok(())
            })
        })
        .await
    }

    /// `docker rmi [-f] NAME`.
    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
        _noprune: bool,
    ) -> Result<Vec<ImageDeleteItem>> {
        let name = name.to_string();
        self.blocking("rmi", move |engine| {
            delete::remove(&engine.inner.layers, &name, force)
        })
        .await
    }

    /// `docker history NAME`.
    pub async fn image_history(&self, name: &str) -> Result<Vec<HistoryEntry>> {
        let name = name.to_string();
        self.blocking("history", move |engine| {
            engine.inner.db.read(|conn| {
                let found = lookup::find(conn, &name)?;
                ImageView::load(conn, &found.id)?.history(conn)
            })
        })
        .await
    }

    fn inspect_image_blocking(&self, name: &str) -> Result<ImageDetails> {
        let (view, history, top) = self.inner.db.read(|conn| {
            let found = lookup::find(conn, name)?;
            let view = ImageView::load(conn, &found.id)?;
            let history = view.history(conn)?;
            let top = match &view.record.top_layer {
                Some(chain) => layer_records::get(conn, chain)?,
                None => None,
            };
            Ok((view, history, top))
        })?;
        let driver = &self.inner.driver;
        let data = match &top {
            Some(layer) => driver.metadata(&layer.cache_id)?,
            None => Default::default(),
        };
        let config = &view.config;
        Ok(ImageDetails {
            id: view.record.id.to_string(),
            repo_tags: view.repo_tags(),
            repo_digests: view.repo_digests(),
            parent: view.record.parent_id.clone().unwrap_or_default(),
            comment: config.comment.clone().unwrap_or_default(),
            created: view.created(),
            author: config.author.clone().unwrap_or_default(),
            architecture: config.architecture.clone().unwrap_or_default(),
            os: config.os.clone().unwrap_or_default(),
            size: view.record.size,
            config: config.runtime_config(),
            layers: config
                .diff_ids(view.record.id.as_str())?
                .iter()
                .map(|d| d.to_string())
                .collect(),
            graph_driver: GraphDriverData {
                name: driver.name().to_string(),
                data,
            },
            history,
        })
    }

    /// Run `work` on the blocking pool with a clone of the engine.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        work: impl FnOnce(&Engine) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || work(&engine))
            .await
            .map_err(|e| EngineError::Internal(format!("{what} task: {e}")))?
    }
}
