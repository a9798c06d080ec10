//! `docker import`: a one-layer image from a tar stream (plain, gzip or zstd), with a config made
//! of the `--change` instructions and a history row `Imported from -` (or the message given).

use std::io::{BufReader, Read};
use std::pin::Pin;

use serde_json::Map;
use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;

use super::new_image::{spool_layer, store_image, target_reference, NewImageConfig};
use super::transfer_options::ImportOptions;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::layers::decompress::decompressing_reader;

impl Engine {
    /// `docker import FILE|- [REPO[:TAG]]`: the body is the root filesystem as a tar. Returns
    /// the new image id (`sha256:...`). Nothing is kept when the tar is refused.
    pub async fn import_image(
        &self,
        input: Pin<Box<dyn AsyncRead + Send>>,
        opts: ImportOptions,
    ) -> Result<String> {
        let input = BufReader::with_capacity(1024 * 1024, SyncIoBridge::new(input));
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.import_blocking(input, &opts))
            .await
            .map_err(|e| EngineError::Internal(format!("import task: {e}")))?
    }

    fn import_blocking(&self, input: impl Read, opts: &ImportOptions) -> Result<String> {
        let tag = target_reference(opts.repo.as_deref(), opts.tag.as_deref())?;
        let comment = if opts.message.is_empty() {
            format!("Imported from {}", opts.source)
        } else {
            opts.message.clone()
        };
        let config = NewImageConfig {
            parent_config: None,
            runtime: Map::new(),
            changes: opts.changes.clone(),
            author: String::new(),
            comment,
            created_by: String::new(),
            container: None,
        };
        config.validate()?;
        let images = &self.inner.images;
        let layer = spool_layer(images, "import", |out| {
            let (_, mut plain) = decompressing_reader(input).map_err(|e| {
                EngineError::InvalidArchive(format!("reading the imported tar: {e}"))
            })?;
            std::io::copy(&mut plain, out)
                .map_err(|e| EngineError::io("reading the imported tar", e))?;
            Ok(())
        })?;
        if layer.size == 0 {
            return Err(EngineError::InvalidArgument(
                "the imported tar is empty".into(),
            ));
        }
        let id = store_image(
            images,
            &self.inner.layers,
            None,
            None,
            layer,
            &config,
            tag.as_ref(),
        )?;
        Ok(id.to_string())
    }
}
