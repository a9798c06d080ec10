//! `docker load`: unpack the upload into a private temporary directory, understand its format,
//! register the layers bottom-up (verifying every digest while unpacking), then record images and
//! tags in one transaction. On any failure nothing of the archive remains: layers created only
//! for it are released and the temporary directory is removed.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::docker_archive;
use super::extract::ExtractedArchive;
use super::oci_layout;
use super::plan::{ImagePlan, LayerSource};
use super::records::{self, ImageRecord};
use super::reference::Reference;
use super::ImageStore;
use crate::error::{EngineError, Result};
use crate::layers::digest::HashingReader;
use crate::layers::{LayerPins, LayerRecord, LayerStore};
use crate::model::LoadReport;

/// Load every image of the archive streamed by `input`.
pub fn load(images: &ImageStore, layers: &LayerStore, input: impl Read) -> Result<LoadReport> {
    let workdir = TempDir::create(images.tmp_root())?;
    let archive = ExtractedArchive::extract(input, workdir.path())?;
    let plans = plan(&archive)?;
    tracing::debug!(images = plans.len(), "archive understood");

    let mut pins = layers.pins();
    match store(images, layers, &mut pins, &plans) {
        Ok(report) => {
            drop(pins); // the images now hold their layers
            Ok(report)
        }
        Err(err) => {
            match layers.abandon(pins) {
                Ok(released) if !released.is_empty() => {
                    tracing::info!(
                        count = released.len(),
                        "released the layers of a failed load"
                    )
                }
                Ok(_) => {}
                Err(cleanup) => tracing::warn!(error = %cleanup,
                    "releasing the layers of a failed load; the next start collects them"),
            }
            Err(err)
        }
    }
}

/// Detect the archive's format and read what it asks to load.
fn plan(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>> {
    if archive.has_file(docker_archive::MANIFEST) {
        docker_archive::plan(archive)
    } else if archive.has_file(oci_layout::INDEX_FILE) {
        if !archive.has_file(oci_layout::LAYOUT_FILE) {
            return Err(EngineError::InvalidArchive(format!(
                "the archive has {} but no {} file: not an OCI layout",
                oci_layout::INDEX_FILE,
                oci_layout::LAYOUT_FILE
            )));
        }
        oci_layout::plan(archive)
    } else {
        Err(EngineError::InvalidArchive(format!(
            "neither {} (docker save format) nor {} (OCI layout) found in the archive",
            docker_archive::MANIFEST,
            oci_layout::INDEX_FILE
        )))
    }
}

/// Register every image's layers, then record images and tags in one transaction.
fn store(
    images: &ImageStore,
    layers: &LayerStore,
    pins: &mut LayerPins,
    plans: &[ImagePlan],
) -> Result<LoadReport> {
    let mut records = Vec::with_capacity(plans.len());
    for plan in plans {
        let stack = register_layers(layers, pins, plan)?;
        records.push(ImageRecord {
            id: plan.id.clone(),
            config: plan.config_bytes.clone(),
            top_layer: stack.last().map(|l| l.chain_id.clone()),
            size: stack.iter().map(|l| l.size).sum(),
            parent_id: None,
        });
    }
    images.db().write("recording loaded images", |tx| {
        let mut messages = Vec::new();
        for (plan, record) in plans.iter().zip(&records) {
            if records::insert_if_absent(tx, record)? {
                tracing::info!(image = %record.id, layers = plan.layers.len(), "image loaded");
            }
            if plan.tags.is_empty() {
                messages.push(format!("Loaded image ID: {}", record.id));
            }
            for tag in &plan.tags {
                if let Some(previous) = records::set_ref(tx, &tag.to_string(), record.id.as_str())?
                {
                    messages.push(renamed_message(tag, &previous));
                }
                messages.push(format!("Loaded image: {}", tag.familiar()));
            }
        }
        Ok(LoadReport { messages })
    })
}

fn renamed_message(tag: &Reference, previous: &str) -> String {
    format!(
        "The image {} already exists, renaming the old one with ID {previous} to empty string",
        tag.familiar()
    )
}

/// Register one image's layers bottom-up; returns their records.
fn register_layers(
    layers: &LayerStore,
    pins: &mut LayerPins,
    plan: &ImagePlan,
) -> Result<Vec<LayerRecord>> {
    let mut stack: Vec<LayerRecord> = Vec::with_capacity(plan.layers.len());
    let total = plan.layers.len();
    for (index, (source, diff_id)) in plan.layers.iter().zip(&plan.diff_ids).enumerate() {
        let label = format!("{} of {total} ({})", index + 1, source.name);
        let registered = layers.register(
            pins,
            stack.last(),
            diff_id,
            &label,
            || open_blob(source),
            |blob| verify_blob(source, blob),
        )?;
        stack.push(registered.layer);
    }
    Ok(stack)
}

fn open_blob(source: &LayerSource) -> Result<HashingReader<File>> {
    let file = File::open(&source.path)
        .map_err(|e| EngineError::io(format!("opening layer {} of the archive", source.name), e))?;
    Ok(HashingReader::new(file))
}

/// Hold the blob to the digest and size the archive states for it.
fn verify_blob(source: &LayerSource, mut blob: HashingReader<File>) -> Result<()> {
    if source.blob_digest.is_none() && source.blob_size.is_none() {
        return Ok(());
    }
    blob.drain()
        .map_err(|e| EngineError::io(format!("reading layer {} of the archive", source.name), e))?;
    let (actual, size) = blob.finish();
    if let Some(expected) = &source.blob_size {
        if *expected != size {
            return Err(EngineError::InvalidArchive(format!(
                "layer {} is {size} bytes but its descriptor says {expected}",
                source.name
            )));
        }
    }
    match &source.blob_digest {
        Some(expected) if expected != &actual => Err(EngineError::DigestMismatch {
            what: format!("layer {} (blob)", source.name),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A private directory under `<data-root>/tmp`, removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn create(parent: &Path) -> Result<TempDir> {
        let name = format!("load-{}", hex::encode(rand::random::<[u8; 8]>()));
        let path = parent.join(name);
        std::fs::create_dir_all(&path)
            .map_err(|e| EngineError::io(format!("creating {}", path.display()), e))?;
        Ok(TempDir { path })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %err,
                "removing a load's temporary directory; the next start wipes it");
        }
    }
}
