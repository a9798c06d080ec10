//! Images: references, configs, loading archives (docker-archive and OCI layout), and the image
//! store (the `images` and `refs` tables).

pub mod change_instructions;
pub mod config;
pub mod delete;
pub mod details;
pub mod docker_archive;
pub mod engine_api;
pub mod extract;
pub mod import;
pub mod load;
pub mod lookup;
pub mod new_image;
pub mod oci_layout;
pub mod plan;
pub mod records;
pub mod reference;
pub mod save;
pub mod spool;
pub mod transfer_options;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::layers::records as layer_records;
use crate::metadata::Db;

pub use crate::layers::Digest;
pub use reference::Reference;

/// Images and their references.
pub struct ImageStore {
    db: Arc<Db>,
    /// `<data-root>/tmp`: where loads unpack archives; wiped at open.
    tmp_root: PathBuf,
}

impl ImageStore {
    /// Open the store and wipe `<data-root>/tmp` (what an interrupted load left there).
    pub fn open(db: Arc<Db>, config: &EngineConfig) -> Result<Self> {
        let tmp_root = config.data_root.join("tmp");
        if tmp_root.exists() {
            std::fs::remove_dir_all(&tmp_root)
                .map_err(|e| EngineError::io(format!("wiping {}", tmp_root.display()), e))?;
        }
        // Closed to other users: loads and pulls stage image content (env in configs) here.
        strata_drivers::fsutil::private::private_dir(&tmp_root)
            .map_err(|e| EngineError::io(format!("creating {}", tmp_root.display()), e))?;
        Ok(ImageStore { db, tmp_root })
    }

    /// How many images are stored.
    pub fn count(&self) -> Result<i64> {
        self.db.read(records::count)
    }

    /// The directory loads unpack archives in.
    pub fn tmp_root(&self) -> &Path {
        &self.tmp_root
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
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
        self.db.read(|conn| {
            let found = lookup::find(conn, reference)?;
            let view = details::ImageView::load(conn, &found.id)?;
            let top_layer = match &view.record.top_layer {
                Some(chain) => Some(
                    layer_records::get(conn, chain)?
                        .ok_or_else(|| {
                            EngineError::Internal(format!(
                                "image {}: top layer {chain} is not recorded",
                                found.id
                            ))
                        })?
                        .cache_id,
                ),
                None => None,
            };
            Ok(ResolvedImage {
                id: found.id.to_string(),
                config: view.config.runtime_config(),
                top_layer,
            })
        })
    }
}
