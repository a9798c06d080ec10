//! `docker pull`: resolve the manifest, fetch and verify the config, then download the missing
//! layers in parallel (at most [`PARALLEL_DOWNLOADS`] at once) while registering them bottom-up
//! as they arrive. Layers already stored (same ChainID) are not fetched. The image and its
//! references are recorded in one transaction at the end; on any failure the layers this pull
//! registered are released again, and verified blobs stay in the pull cache for a retry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_client::RegistryOperation;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::blob_records::{self, LayerBlob};
use super::credentials::Credentials;
use super::download::{cache_dir, fetch_layer};
use super::error::RegistryError;
use super::manifest::{self, Descriptor};
use super::progress::ProgressSink;
use super::remote::Remote;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::config::ImageConfigFile;
use crate::images::records::{self as image_records, ImageRecord};
use crate::images::Reference;
use crate::layers::chain_id::chain_ids;
use crate::layers::digest::HashingReader;
use crate::layers::{Digest, LayerPins, LayerRecord};

/// How many layer blobs download at once (dockerd's default too).
pub const PARALLEL_DOWNLOADS: usize = 3;

/// What a pull did.
#[derive(Clone, Debug)]
pub struct PullOutcome {
    /// `sha256:...` of the image's config.
    pub image_id: String,
    /// The manifest (or index) digest the reference resolved to.
    pub manifest_digest: String,
    /// Whether anything new was stored (an image, or a reference moved).
    pub updated: bool,
}

/// The normalized reference a `POST /images/create?fromImage=&tag=` asks for: `tag` may be a
/// tag or a digest; without either, `:latest`.
pub fn pull_reference(from_image: &str, tag: Option<&str>) -> Result<Reference> {
    let base = Reference::parse_normalized(from_image)?;
    match tag.filter(|t| !t.is_empty()) {
        Some(digest) if digest.contains(':') => {
            Reference::parse_normalized(&format!("{}@{digest}", base.name()))
        }
        Some(tag) => base.with_tag(tag),
        None => Ok(base.with_default_tag()),
    }
}

/// Pull `reference` into the engine's store.
pub async fn pull(
    engine: &Engine,
    reference: &Reference,
    credentials: &Credentials,
    progress: &ProgressSink,
) -> Result<PullOutcome> {
    let insecure = &engine.inner.config.insecure_registries;
    let remote = Remote::new(reference, insecure, credentials);
    let shown = reference.familiar();
    let image_ref = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => remote.digest_ref(digest.as_str()),
        (None, Some(tag)) => remote.tag_ref(tag),
        (None, None) => remote.tag_ref("latest"),
    };
    remote
        .authenticate(&image_ref, RegistryOperation::Pull)
        .await?;
    let manifest = manifest::fetch(&remote, &image_ref, &shown).await?;
    let shown_id = match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, tag) => tag.unwrap_or("latest").to_string(),
    };
    progress.status(
        Some(&shown_id),
        format!("Pulling from {}", remote_path(reference, &remote)),
    );

    let (config_bytes, diff_ids) =
        fetch_config(&remote, &image_ref, &manifest.config, &shown).await?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Protocol {
            registry: remote.registry.clone(),
            what: format!("image {shown}"),
            detail: format!(
                "the config lists {} layer diff ids but the manifest lists {} layers",
                diff_ids.len(),
                manifest.layers.len()
            ),
        }
        .into());
    }
    let image_id = Digest::of_bytes(&config_bytes);
    let layers = plan_layers(engine, &remote, &manifest.layers, &diff_ids)?;

    let cache = cache_dir(engine.inner.images.tmp_root());
    let remote = Arc::new(remote);
    let downloads = start_downloads(&remote, &image_ref, &layers, &cache, progress);
    let mut pins = engine.inner.layers.pins();
    let mut downloaded = Vec::new();
    let stacked = apply_layers(
        engine,
        &mut pins,
        &layers,
        downloads,
        &mut downloaded,
        progress,
    )
    .await;
    let outcome = match stacked {
        Ok(stack) => {
            let blobs = layers
                .iter()
                .map(|l| LayerBlob {
                    diff_id: l.diff_id.clone(),
                    blob_digest: l.blob_digest.clone(),
                    size: l.descriptor.size,
                    media_type: l.descriptor.media_type.clone(),
                    registry: remote.registry.clone(),
                    repository: remote.repository.clone(),
                })
                .collect();
            record_image(
                engine,
                reference,
                &remote,
                &manifest.reference_digest,
                blobs,
                ImageRecord {
                    id: image_id.clone(),
                    config: config_bytes,
                    top_layer: stack.last().map(|l| l.chain_id.clone()),
                    size: stack.iter().map(|l| l.size).sum(),
                    parent_id: None,
                },
            )
            .await
        }
        Err(err) => Err(err),
    };
    match outcome {
        Ok(updated) => {
            drop(pins); // the image now holds its layers
            for path in downloaded {
                if let Err(e) = tokio::fs::remove_file(&path).await {
                    tracing::debug!(path = %path.display(), error = %e, "removing a registered blob");
                }
            }
            progress.status(None, format!("Digest: {}", manifest.reference_digest));
            let status = if updated {
                "Downloaded newer image for"
            } else {
                "Image is up to date for"
            };
            progress.status(None, format!("Status: {status} {shown}"));
            tracing::info!(image = %image_id, reference = %reference, digest = %manifest.reference_digest, "image pulled");
            Ok(PullOutcome {
                image_id: image_id.to_string(),
                manifest_digest: manifest.reference_digest.to_string(),
                updated,
            })
        }
        Err(err) => {
            abandon(engine, pins).await;
            Err(err)
        }
    }
}

/// `library/busybox` for Docker Hub names, the repository path elsewhere (as dockerd prints).
fn remote_path(_reference: &Reference, remote: &Remote) -> String {
    remote.repository.clone()
}

async fn fetch_config(
    remote: &Remote,
    image_ref: &oci_client::Reference,
    config: &Descriptor,
    shown: &str,
) -> Result<(Vec<u8>, Vec<Digest>)> {
    let expected = config.parsed_digest("image config digest", &remote.registry)?;
    let mut bytes: Vec<u8> = Vec::with_capacity(usize::try_from(config.size).unwrap_or(0));
    remote
        .client
        .pull_blob(image_ref, &config.to_client(), &mut bytes)
        .await
        .map_err(|e| remote.error("pull", &format!("fetching the config of {shown}"), e))?;
    let actual = Digest::of_bytes(&bytes);
    if actual != expected {
        return Err(RegistryError::DigestMismatch {
            what: format!("config of {shown}"),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    let name = format!("config {expected} of {shown}");
    let parsed = ImageConfigFile::parse(&bytes, &name)?;
    let diff_ids = parsed.diff_ids(&name)?;
    Ok((bytes, diff_ids))
}

/// One layer of the image, with what the store already has.
struct PlannedLayer {
    descriptor: Descriptor,
    blob_digest: Digest,
    diff_id: Digest,
    present: bool,
}

impl PlannedLayer {
    fn short(&self) -> &str {
        self.blob_digest.short()
    }
}

fn plan_layers(
    engine: &Engine,
    remote: &Remote,
    descriptors: &[Descriptor],
    diff_ids: &[Digest],
) -> Result<Vec<PlannedLayer>> {
    let chains = chain_ids(diff_ids);
    let mut planned = Vec::with_capacity(descriptors.len());
    for ((descriptor, diff_id), chain_id) in descriptors.iter().zip(diff_ids).zip(chains) {
        // Present means stored with everything below it: the ChainID covers the stack.
        let blob_digest = descriptor.parsed_digest("layer digest", &remote.registry)?;
        let present = engine.inner.layers.get(&chain_id)?.is_some();
        planned.push(PlannedLayer {
            descriptor: descriptor.clone(),
            blob_digest,
            diff_id: diff_id.clone(),
            present,
        });
    }
    Ok(planned)
}

/// Start the downloads of the layers the store lacks; one handle per layer, `None` for a
/// present one.
fn start_downloads(
    remote: &Arc<Remote>,
    image_ref: &oci_client::Reference,
    layers: &[PlannedLayer],
    cache: &Path,
    progress: &ProgressSink,
) -> Vec<Option<JoinHandle<Result<PathBuf>>>> {
    for layer in layers {
        if layer.present {
            progress.layer(layer.short(), "Already exists");
        } else {
            progress.layer(layer.short(), "Pulling fs layer");
        }
    }
    let slots = Arc::new(Semaphore::new(PARALLEL_DOWNLOADS));
    layers
        .iter()
        .map(|layer| {
            if layer.present {
                return None;
            }
            let (remote, image_ref, slots) = (remote.clone(), image_ref.clone(), slots.clone());
            let (descriptor, digest) = (layer.descriptor.clone(), layer.blob_digest.clone());
            let (cache, progress) = (cache.to_path_buf(), progress.clone());
            Some(tokio::spawn(async move {
                if slots.available_permits() == 0 {
                    progress.layer(digest.short(), "Waiting");
                }
                let _slot = slots
                    .acquire_owned()
                    .await
                    .map_err(|e| EngineError::Internal(format!("download slots: {e}")))?;
                fetch_layer(&remote, &image_ref, &descriptor, &digest, &cache, &progress).await
            }))
        })
        .collect()
}

/// Register the layers bottom-up as their downloads complete. On failure the downloads still
/// running are stopped (their partial files are removed).
async fn apply_layers(
    engine: &Engine,
    pins: &mut LayerPins,
    layers: &[PlannedLayer],
    downloads: Vec<Option<JoinHandle<Result<PathBuf>>>>,
    downloaded: &mut Vec<PathBuf>,
    progress: &ProgressSink,
) -> Result<Vec<LayerRecord>> {
    let aborts: Vec<_> = downloads
        .iter()
        .flatten()
        .map(|handle| handle.abort_handle())
        .collect();
    let result = apply_in_order(engine, pins, layers, downloads, downloaded, progress).await;
    if result.is_err() {
        for handle in aborts {
            handle.abort();
        }
    }
    result
}

async fn apply_in_order(
    engine: &Engine,
    pins: &mut LayerPins,
    layers: &[PlannedLayer],
    downloads: Vec<Option<JoinHandle<Result<PathBuf>>>>,
    downloaded: &mut Vec<PathBuf>,
    progress: &ProgressSink,
) -> Result<Vec<LayerRecord>> {
    let total = layers.len();
    let mut stack: Vec<LayerRecord> = Vec::with_capacity(total);
    for (index, (layer, download)) in layers.iter().zip(downloads).enumerate() {
        let blob = match download {
            Some(handle) => Some(
                handle
                    .await
                    .map_err(|e| EngineError::Internal(format!("download task: {e}")))??,
            ),
            None => None,
        };
        let label = format!("{} of {total} ({})", index + 1, layer.blob_digest);
        let parent = stack.last().cloned();
        let (diff_id, blob_digest) = (layer.diff_id.clone(), layer.blob_digest.clone());
        let moved_pins = std::mem::replace(pins, engine.inner.layers.pins());
        let worker = engine.clone();
        let blob_path = blob.clone();
        let (returned_pins, registered) = tokio::task::spawn_blocking(move || {
            let mut pins = moved_pins;
            let result = register_blob(
                &worker,
                &mut pins,
                parent.as_ref(),
                &diff_id,
                &label,
                blob_path.as_deref(),
                &blob_digest,
            );
            (pins, result)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("layer registration task: {e}")))?;
        // Put the operation's pins back; the placeholder held nothing.
        *pins = returned_pins;
        let registered = registered?;
        if let Some(path) = blob {
            // Kept until the image is recorded: a failed pull releases the layer again, and a
            // retry then registers it from here instead of downloading it again.
            downloaded.push(path);
            progress.layer(layer.short(), "Pull complete");
        }
        stack.push(registered);
    }
    Ok(stack)
}

/// Register one layer: from its downloaded blob, or pin the stored one when it was present.
fn register_blob(
    engine: &Engine,
    pins: &mut LayerPins,
    parent: Option<&LayerRecord>,
    diff_id: &Digest,
    label: &str,
    blob: Option<&Path>,
    blob_digest: &Digest,
) -> Result<LayerRecord> {
    let layers = &engine.inner.layers;
    let open = || -> Result<HashingReader<std::fs::File>> {
        let path = blob.ok_or_else(|| {
            // The layer vanished between planning and now (removed by an rmi): it must be
            // fetched again, which a retry does.
            EngineError::Conflict(format!(
                "layer {label} was removed while the pull ran; pull again"
            ))
        })?;
        let file = std::fs::File::open(path)
            .map_err(|e| EngineError::io(format!("opening downloaded layer {label}"), e))?;
        Ok(HashingReader::new(file))
    };
    let verify = |mut reader: HashingReader<std::fs::File>| -> Result<()> {
        reader
            .drain()
            .map_err(|e| EngineError::io(format!("reading downloaded layer {label}"), e))?;
        let (actual, _) = reader.finish();
        if &actual != blob_digest {
            return Err(EngineError::DigestMismatch {
                what: format!("layer {label} (blob)"),
                expected: blob_digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    };
    match blob {
        Some(_) => Ok(layers
            .register(pins, parent, diff_id, label, open, verify)?
            .layer),
        None => {
            let chain = crate::layers::chain_id::chain_id(parent.map(|p| &p.chain_id), diff_id);
            layers.pin_existing(pins, &chain)
        }
    }
}

/// Record the image, its tag (for a tag pull) and its repo digest in one transaction; returns
/// whether anything changed.
async fn record_image(
    engine: &Engine,
    reference: &Reference,
    remote: &Remote,
    manifest_digest: &Digest,
    blobs: Vec<LayerBlob>,
    record: ImageRecord,
) -> Result<bool> {
    let name = reference.name();
    let tag_ref = reference.tag().map(|tag| format!("{name}:{tag}"));
    let digest_ref = format!("{name}@{manifest_digest}");
    let registry = remote.registry.clone();
    let worker = engine.clone();
    tokio::task::spawn_blocking(move || {
        worker.inner.db.write("recording a pulled image", |tx| {
            let mut updated = image_records::insert_if_absent(tx, &record)?;
            if let Some(tag_ref) = &tag_ref {
                let before = image_records::ref_target(tx, tag_ref)?;
                image_records::set_ref(tx, tag_ref, record.id.as_str())?;
                updated |= before.as_deref() != Some(record.id.as_str());
            }
            image_records::set_ref(tx, &digest_ref, record.id.as_str())?;
            for blob in &blobs {
                blob_records::insert(tx, blob)?;
            }
            tracing::debug!(image = %record.id, registry = %registry, "pulled image recorded");
            Ok(updated)
        })
    })
    .await
    .map_err(|e| EngineError::Internal(format!("recording task: {e}")))?
}

async fn abandon(engine: &Engine, pins: LayerPins) {
    let worker = engine.clone();
    let released = tokio::task::spawn_blocking(move || worker.inner.layers.abandon(pins)).await;
    match released {
        Ok(Ok(released)) if !released.is_empty() => {
            tracing::info!(
                count = released.len(),
                "released the layers of a failed pull"
            )
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e,
            "releasing the layers of a failed pull; the next start collects them"),
        Err(e) => tracing::warn!(error = %e, "releasing the layers of a failed pull"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_parameters_make_the_reference_docker_would() {
        let r = pull_reference("busybox", Some("1.36")).unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:1.36");
        let r = pull_reference("docker.io/library/busybox", None).unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = pull_reference("127.0.0.1:5000/a/b", Some(&digest)).unwrap();
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/a/b@{digest}"));
        let r = pull_reference(&format!("x@{digest}"), None).unwrap();
        assert_eq!(r.digest().map(|d| d.to_string()), Some(digest));
    }
}
