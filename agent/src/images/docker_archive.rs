//! The docker-archive format (`docker save`): `manifest.json` is
//! `[{"Config": "...", "RepoTags": [...], "Layers": [...]}]`. Layers are `<id>/layer.tar` (before
//! Docker 25) or `blobs/sha256/<hex>` (Docker 25+, which also writes an OCI layout beside it).

use serde::Deserialize;

use super::extract::ExtractedArchive;
use super::plan::{digest_in_blob_path, read_verified, ImagePlan, LayerSource, MAX_JSON_BYTES};
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::digest::is_sha256_hex;
use crate::layers::Digest;

/// The manifest file's name.
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

/// Read the images a docker-archive describes.
pub fn plan(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>> {
    let bytes = archive.read_small(MANIFEST, MAX_JSON_BYTES)?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::InvalidArchive(format!("{MANIFEST} is not valid: {e}")))?;
    if entries.is_empty() {
        return Err(EngineError::InvalidArchive(format!(
            "{MANIFEST} lists no images"
        )));
    }
    entries
        .into_iter()
        .map(|entry| plan_entry(archive, entry))
        .collect()
}

fn plan_entry(archive: &ExtractedArchive, entry: ManifestEntry) -> Result<ImagePlan> {
    // The config's file name states its digest in both layouts (`<hex>.json` or
    // `blobs/sha256/<hex>`): hold the bytes to it.
    let named = digest_in_blob_path(&entry.config).or_else(|| {
        let stem = entry
            .config
            .trim_start_matches("./")
            .strip_suffix(".json")?;
        is_sha256_hex(stem)
            .then(|| Digest::from_hex(stem).ok())
            .flatten()
    });
    let config_bytes = read_verified(archive, &entry.config, named.as_ref(), None, "image config")?;

    let layers = entry
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let path = archive.resolve(&name).map_err(|_| {
                EngineError::InvalidArchive(format!(
                    "{MANIFEST} names layer {name:?}, which the archive lacks"
                ))
            })?;
            Ok(LayerSource {
                blob_digest: digest_in_blob_path(&name),
                blob_size: None,
                name,
                path,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let tags = entry
        .repo_tags
        .unwrap_or_default()
        .iter()
        .map(|tag| parse_repo_tag(tag))
        .collect::<Result<Vec<_>>>()?;

    ImagePlan::new(config_bytes, &entry.config, layers, tags)
}

/// A `RepoTags` entry: a tag reference, normalized (`busybox:latest`).
fn parse_repo_tag(text: &str) -> Result<Reference> {
    let reference = Reference::parse_with_default_tag(text)?;
    if reference.digest().is_some() {
        return Err(EngineError::InvalidArchive(format!(
            "{MANIFEST}: RepoTags entry {text:?} is a digest reference, not a tag"
        )));
    }
    Ok(reference)
}
