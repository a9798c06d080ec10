//! `docker save`: a docker-archive in Docker 25+'s layout, which `docker load` (Docker's and
//! ours) and skopeo read: `blobs/sha256/<hex>` for configs, OCI manifests and uncompressed layer
//! tars, `manifest.json`, `repositories`, `index.json` and `oci-layout`.
//!
//! A layer's tar must hash to the diffID the image config records. It is rebuilt from the
//! layer's tar-split record (its original tar's headers and layout, file contents read from the
//! layer's tree; see `layers::tar_split`) when the layer has one, else from the driver's `diff`
//! of the layer against its parent. A layer neither reproduces byte for byte makes the save fail
//! with [`SaveError::NotReproducible`] rather than write an archive `docker load` would refuse.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read, Write};

use serde_json::{json, Value};

use super::config::ImageConfigFile;
use super::lookup::{self, FoundBy};
use super::new_image::{spool_layer, SpooledLayer};
use super::records;
use super::reference::Reference;
use super::spool::{anonymous_file, rewind, SpooledArchive};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::layers::chain_id::chain_ids;
use crate::layers::{Digest, LayerPins, LayerRecord};

const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// Why an archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Neither the layer's tar-split record nor the driver's diff gives back a tar that hashes
    /// to the layer's recorded diffID.
    #[error(
        "cannot save image {image}: layer {index} of {total} has diffID {expected}; it has no \
         usable tar-split record of its original tar and the {driver} driver's diff of it \
         hashes to {actual}: the driver does not reproduce this layer's original tar byte for \
         byte, so `docker load` would refuse the archive"
    )]
    NotReproducible {
        image: String,
        index: usize,
        total: usize,
        driver: String,
        expected: String,
        actual: String,
    },
    /// Nothing to save.
    #[error("no image names given to save")]
    NoNames,
}

impl From<SaveError> for EngineError {
    fn from(err: SaveError) -> Self {
        match err {
            SaveError::NoNames => EngineError::InvalidArgument(err.to_string()),
            SaveError::NotReproducible { .. } => EngineError::Internal(err.to_string()),
        }
    }
}

/// One image to write, with the tags it is saved under.
struct SavedImage {
    id: Digest,
    config: Vec<u8>,
    /// Bottom first.
    layers: Vec<LayerRecord>,
    tags: Vec<Reference>,
}

impl Engine {
    /// `docker save NAME...`: the archive is written to an unlinked spool file first, so any
    /// failure is answered before the first byte; the caller streams the file.
    pub async fn save_images(&self, names: Vec<String>) -> Result<SpooledArchive> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.save_blocking(&names))
            .await
            .map_err(|e| EngineError::Internal(format!("save task: {e}")))?
    }

    fn save_blocking(&self, names: &[String]) -> Result<SpooledArchive> {
        if names.is_empty() {
            return Err(SaveError::NoNames.into());
        }
        let mut pins = self.inner.layers.pins();
        let images = self.resolve_for_save(names, &mut pins)?;
        let out = anonymous_file(self.inner.images.tmp_root(), "save")?;
        let mut writer = ArchiveWriter::new(out);
        writer.dir("blobs/")?;
        writer.dir("blobs/sha256/")?;
        writer.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;

        let mut written: HashSet<Digest> = HashSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for image in &images {
            let mut layer_names = Vec::new();
            let mut descriptors = Vec::new();
            for (i, layer) in image.layers.iter().enumerate() {
                let diff_id = &layer.diff_id;
                let name = blob_name(diff_id);
                if written.insert(diff_id.clone()) {
                    let size = self.write_layer(&mut writer, image, i, layer)?;
                    descriptors.push(descriptor(LAYER_MEDIA_TYPE, diff_id, size));
                } else {
                    let size = writer.size_of(diff_id).unwrap_or(0);
                    descriptors.push(descriptor(LAYER_MEDIA_TYPE, diff_id, size));
                }
                layer_names.push(name);
            }
            if written.insert(image.id.clone()) {
                writer.file(&blob_name(&image.id), &image.config)?;
            }
            let oci_manifest = json!({
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": descriptor(CONFIG_MEDIA_TYPE, &image.id, image.config.len() as u64),
                "layers": descriptors,
            });
            let manifest_bytes = to_json(&oci_manifest, "OCI manifest")?;
            let manifest_digest = Digest::of_bytes(&manifest_bytes);
            if written.insert(manifest_digest.clone()) {
                writer.file(&blob_name(&manifest_digest), &manifest_bytes)?;
            }
            let repo_tags: Vec<String> = image.tags.iter().map(Reference::familiar).collect();
            manifest.push(json!({
                "Config": blob_name(&image.id),
                "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
                "Layers": layer_names,
            }));
            let manifest_descriptor = descriptor(
                MANIFEST_MEDIA_TYPE,
                &manifest_digest,
                manifest_bytes.len() as u64,
            );
            if image.tags.is_empty() {
                index.push(manifest_descriptor.clone());
            }
            for tag in &image.tags {
                let mut entry = manifest_descriptor.clone();
                entry["annotations"] = json!({
                    "io.containerd.image.name": tag.to_string(),
                    "org.opencontainers.image.ref.name": tag.tag().unwrap_or("latest"),
                });
                index.push(entry);
                if let Some(top) = image.layers.last() {
                    repositories.entry(tag.familiar_name()).or_default().insert(
                        tag.tag().unwrap_or("latest").to_string(),
                        top.diff_id.hex().to_string(),
                    );
                }
            }
        }
        writer.file(
            "index.json",
            &to_json(
                &json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": index,
                }),
                "index.json",
            )?,
        )?;
        writer.file(
            "manifest.json",
            &to_json(&json!(manifest), "manifest.json")?,
        )?;
        if !repositories.is_empty() {
            writer.file(
                "repositories",
                &to_json(&json!(repositories), "repositories")?,
            )?;
        }
        let mut file = writer.finish()?;
        let size = rewind(&mut file, "save")?;
        drop(pins); // the archive is complete
        tracing::info!(images = images.len(), bytes = size, "images saved");
        Ok(SpooledArchive { file, size })
    }

    /// Find every named image (an image named twice is written once, with both tags) and pin
    /// its layers so a concurrent `rmi` cannot remove them while they are read.
    fn resolve_for_save(&self, names: &[String], pins: &mut LayerPins) -> Result<Vec<SavedImage>> {
        let found = self.inner.db.read(|conn| {
            let mut out: Vec<(Digest, Vec<u8>, Option<Reference>)> = Vec::new();
            for name in names {
                let found = lookup::find(conn, name)?;
                let record = records::get(conn, found.id.as_str())?
                    .ok_or_else(|| EngineError::NoSuchImage(name.clone()))?;
                let tag = match found.by {
                    FoundBy::Reference(reference) if reference.tag().is_some() => Some(reference),
                    _ => None,
                };
                out.push((found.id, record.config, tag));
            }
            Ok(out)
        })?;
        let mut images: Vec<SavedImage> = Vec::new();
        for (id, config, tag) in found {
            if let Some(existing) = images.iter_mut().find(|i| i.id == id) {
                if let Some(tag) = tag {
                    if !existing.tags.contains(&tag) {
                        existing.tags.push(tag);
                    }
                }
                continue;
            }
            let parsed = ImageConfigFile::parse(&config, id.as_str())
                .map_err(|e| EngineError::Internal(format!("stored config of {id}: {e}")))?;
            let diff_ids = parsed.diff_ids(id.as_str())?;
            let mut layers = Vec::with_capacity(diff_ids.len());
            for (diff_id, chain) in diff_ids.iter().zip(chain_ids(&diff_ids)) {
                let layer = self.inner.layers.pin_existing(pins, &chain)?;
                debug_assert_eq!(&layer.diff_id, diff_id);
                layers.push(layer);
            }
            images.push(SavedImage {
                id,
                config,
                layers,
                tags: tag.into_iter().collect(),
            });
        }
        Ok(images)
    }

    /// Spool one layer's tar (from its tar-split record, else the driver's diff), hold it to the
    /// diffID, append it. Returns its size.
    fn write_layer(
        &self,
        writer: &mut ArchiveWriter,
        image: &SavedImage,
        index: usize,
        layer: &LayerRecord,
    ) -> Result<u64> {
        let (diff_id, cache_id) = (&layer.diff_id, &layer.cache_id);
        if let Some(spooled) = self.layer_from_split(layer) {
            let size = spooled.size;
            writer.blob(diff_id, spooled.file, size)?;
            return Ok(size);
        }
        let driver = &self.inner.driver;
        let spooled = spool_layer(&self.inner.images, "save-layer", |out| {
            driver.diff(cache_id, out)?;
            Ok(())
        })?;
        if &spooled.diff_id != diff_id {
            return Err(SaveError::NotReproducible {
                image: image.id.to_string(),
                index: index + 1,
                total: image.layers.len(),
                driver: driver.name().to_string(),
                expected: diff_id.to_string(),
                actual: spooled.diff_id.to_string(),
            }
            .into());
        }
        let size = spooled.size;
        writer.blob(diff_id, spooled.file, size)?;
        Ok(size)
    }
}

impl Engine {
    /// The layer's original tar rebuilt from its tar-split record, when it has one that
    /// reproduces its diffID. A record that fails or does not match is logged and skipped (the
    /// driver's diff is tried next).
    fn layer_from_split(&self, layer: &LayerRecord) -> Option<SpooledLayer> {
        let mut had_split = false;
        let rebuilt = spool_layer(&self.inner.images, "save-layer", |out| {
            had_split = self.inner.layers.write_original_tar(layer, out)?;
            Ok(())
        });
        match rebuilt {
            Ok(spooled) if had_split && spooled.diff_id == layer.diff_id => Some(spooled),
            Ok(spooled) if had_split => {
                tracing::warn!(chain_id = %layer.chain_id, expected = %layer.diff_id,
                    actual = %spooled.diff_id,
                    "the layer's tar-split record does not rebuild its tar; trying the driver's diff");
                None
            }
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(chain_id = %layer.chain_id, error = %err,
                    "rebuilding the layer's tar from its tar-split record failed; trying the driver's diff");
                None
            }
        }
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest.as_str(), "size": size})
}

fn to_json(value: &Value, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| EngineError::Internal(format!("encoding {what}: {e}")))
}

/// The outer tar, written to the spool file.
struct ArchiveWriter {
    builder: tar::Builder<BufWriter<File>>,
    /// Sizes of layer blobs written, for manifests that share them.
    sizes: BTreeMap<Digest, u64>,
}

impl ArchiveWriter {
    fn new(out: File) -> Self {
        ArchiveWriter {
            builder: tar::Builder::new(BufWriter::with_capacity(1024 * 1024, out)),
            sizes: BTreeMap::new(),
        }
    }

    fn header(name_kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(name_kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(size);
        header
    }

    fn append(&mut self, name: &str, header: &mut tar::Header, data: impl Read) -> Result<()> {
        self.builder
            .append_data(header, name, data)
            .map_err(|e| EngineError::io(format!("writing {name} to the archive"), e))
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.append(name, &mut header, std::io::empty())
    }

    fn file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        self.append(name, &mut header, bytes)
    }

    fn blob(&mut self, digest: &Digest, file: File, size: u64) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, 0o644, size);
        self.append(&blob_name(digest), &mut header, file.take(size))?;
        self.sizes.insert(digest.clone(), size);
        Ok(())
    }

    fn size_of(&self, digest: &Digest) -> Option<u64> {
        self.sizes.get(digest).copied()
    }

    fn finish(self) -> Result<File> {
        let mut out = self
            .builder
            .into_inner()
            .map_err(|e| EngineError::io("finishing the archive", e))?;
        out.flush()
            .map_err(|e| EngineError::io("writing the archive", e))?;
        out.into_inner()
            .map_err(|e| EngineError::io("writing the archive", e.into_error()))
    }
}
