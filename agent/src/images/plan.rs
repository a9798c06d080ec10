//! What an archive asks to load, once its format is understood and before anything is stored:
//! per image, the config bytes, the layer files with what they must hash to, and the tags.

use std::path::PathBuf;

use super::config::ImageConfigFile;
use super::extract::ExtractedArchive;
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::Digest;

/// Largest JSON file (manifest, index, config) read from an archive.
pub const MAX_JSON_BYTES: u64 = 32 * 1024 * 1024;

/// One image to load.
#[derive(Debug)]
pub struct ImagePlan {
    /// The config exactly as found; the image id is its sha256.
    pub config_bytes: Vec<u8>,
    pub id: Digest,
    pub config: ImageConfigFile,
    pub diff_ids: Vec<Digest>,
    /// Bottom first, one per diff id.
    pub layers: Vec<LayerSource>,
    /// Normalized tag references (no digests).
    pub tags: Vec<Reference>,
}

/// Where a layer blob is in the unpacked archive and what it must hash to.
#[derive(Clone, Debug)]
pub struct LayerSource {
    /// The name in the archive, for messages.
    pub name: String,
    pub path: PathBuf,
    /// The blob's digest (of the bytes as stored, compressed or not), when the archive states it.
    pub blob_digest: Option<Digest>,
    /// The blob's size, when the archive states it.
    pub blob_size: Option<u64>,
}

impl ImagePlan {
    /// Build a plan from config bytes and layer sources, checking that they agree.
    pub fn new(
        config_bytes: Vec<u8>,
        config_name: &str,
        layers: Vec<LayerSource>,
        tags: Vec<Reference>,
    ) -> Result<ImagePlan> {
        let id = Digest::of_bytes(&config_bytes);
        let config = ImageConfigFile::parse(&config_bytes, config_name)?;
        let diff_ids = config.diff_ids(config_name)?;
        if diff_ids.len() != layers.len() {
            return Err(EngineError::InvalidArchive(format!(
                "image config {config_name} lists {} layer diff ids but the manifest lists {} layers",
                diff_ids.len(),
                layers.len()
            )));
        }
        Ok(ImagePlan {
            config_bytes,
            id,
            config,
            diff_ids,
            layers,
            tags,
        })
    }
}

/// If `name` is `blobs/<alg>/<hex>`, the digest it names.
pub fn digest_in_blob_path(name: &str) -> Option<Digest> {
    let rest = name.trim_start_matches("./").strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{algorithm}:{hex}")).ok()
}

/// Read a JSON file of the archive that must hash to `expected` (when given).
pub fn read_verified(
    archive: &ExtractedArchive,
    name: &str,
    expected: Option<&Digest>,
    expected_size: Option<u64>,
    what: &str,
) -> Result<Vec<u8>> {
    let bytes = archive.read_small(name, MAX_JSON_BYTES)?;
    if let Some(size) = expected_size {
        if bytes.len() as u64 != size {
            return Err(EngineError::InvalidArchive(format!(
                "{what} {name} is {} bytes but its descriptor says {size}",
                bytes.len()
            )));
        }
    }
    if let Some(expected) = expected {
        let actual = Digest::of_bytes(&bytes);
        if &actual != expected {
            return Err(EngineError::DigestMismatch {
                what: format!("{what} {name}"),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(bytes)
}
