//! `docker push`: upload an image's layers (as gzip blobs), config and a Docker schema2
//! manifest to a registry. A layer whose compressed blob the registry already has (known from
//! an earlier pull or push, see [`super::blob_records`]) is not uploaded again, so pushing the
//! same image twice gives the same manifest digest. New blobs are made from the layer's original
//! tar (rebuilt from its tar-split record, else the driver's diff), held to the layer's diffID,
//! gzip-compressed into a spool file and then uploaded.

use std::io::Write;
use std::path::PathBuf;

use futures::StreamExt;
use oci_client::RegistryOperation;
use serde_json::json;

use super::blob_records::{self, LayerBlob};
use super::credentials::Credentials;
use super::error::RegistryError;
use super::manifest::MEDIA_DOCKER_MANIFEST;
use super::progress::{ProgressSink, REPORT_EVERY_BYTES};
use super::remote::Remote;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::config::ImageConfigFile;
use crate::images::records as image_records;
use crate::images::{lookup, Reference};
use crate::layers::chain_id::chain_ids;
use crate::layers::digest::HashingWriter;
use crate::layers::{Digest, LayerPins, LayerRecord};

const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const MEDIA_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What a push did.
#[derive(Clone, Debug)]
pub struct PushOutcome {
    pub tag: String,
    pub manifest_digest: String,
    pub manifest_size: usize,
}

/// One local layer to push.
struct LocalLayer {
    diff_id: Digest,
    record: LayerRecord,
}

/// The normalized references a `POST /images/{name}/push?tag=` pushes: the one tag, or every
/// tag of the repository when no tag is given.
pub fn push_references(engine: &Engine, name: &str, tag: Option<&str>) -> Result<Vec<Reference>> {
    let base = Reference::parse_normalized(name)?;
    if base.digest().is_some() {
        return Err(EngineError::InvalidArgument(
            "cannot push a digest reference".into(),
        ));
    }
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        return Ok(vec![base.with_tag(tag)?]);
    }
    if base.tag().is_some() {
        return Ok(vec![base]);
    }
    let repo = base.name();
    let refs = engine.inner.db.read(|conn| {
        let all = image_records::all_refs(conn)?;
        Ok(all.into_values().flatten().collect::<Vec<String>>())
    })?;
    let mut tagged: Vec<Reference> = refs
        .iter()
        .filter_map(|r| Reference::parse_normalized(r).ok())
        .filter(|r| r.name() == repo && r.tag().is_some())
        .collect();
    tagged.sort_by_key(|r| r.to_string());
    if tagged.is_empty() {
        return Err(EngineError::NoSuchImage(base.familiar()));
    }
    Ok(tagged)
}

/// Push one tagged reference.
pub async fn push(
    engine: &Engine,
    reference: &Reference,
    credentials: &Credentials,
    progress: &ProgressSink,
) -> Result<PushOutcome> {
    let tag = reference.tag().unwrap_or("latest").to_string();
    let (worker, wanted) = (engine.clone(), reference.clone());
    let (pins, config, layers) = tokio::task::spawn_blocking(move || {
        let mut pins = worker.inner.layers.pins();
        local_image(&worker, &mut pins, &wanted).map(|(config, layers)| (pins, config, layers))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("image lookup task: {e}")))??;
    let remote = Remote::new(
        reference,
        &engine.inner.config.insecure_registries,
        credentials,
    );
    let image_ref = remote.tag_ref(&tag);
    remote
        .authenticate(&image_ref, RegistryOperation::Push)
        .await
        .map_err(|e| retitle(e, "push"))?;
    progress.status(
        None,
        format!("The push refers to repository [{}]", reference.name()),
    );
    for layer in layers.iter().rev() {
        progress.layer(layer.diff_id.short(), "Preparing");
    }
    let mut blobs = Vec::with_capacity(layers.len());
    for layer in layers.iter().rev() {
        blobs.push(push_layer(engine, &remote, &image_ref, layer, progress).await?);
    }
    blobs.reverse();

    let config_digest = Digest::of_bytes(&config);
    if !exists(&remote, &image_ref, &config_digest).await? {
        remote
            .client
            .push_blob(&image_ref, config.clone(), config_digest.as_str())
            .await
            .map_err(|e| remote.error("push", "uploading the image config", e))?;
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_DOCKER_MANIFEST,
        "config": {
            "mediaType": MEDIA_DOCKER_CONFIG,
            "size": config.len(),
            "digest": config_digest.as_str(),
        },
        "layers": blobs.iter().map(|b| json!({
            "mediaType": b.media_type,
            "size": b.size,
            "digest": b.blob_digest.as_str(),
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| EngineError::Internal(format!("encoding the manifest: {e}")))?;
    let manifest_digest = Digest::of_bytes(&manifest_bytes);
    let content_type = reqwest::header::HeaderValue::from_static(MEDIA_DOCKER_MANIFEST);
    remote
        .client
        .push_manifest_raw(&image_ref, manifest_bytes.clone(), content_type)
        .await
        .map_err(|e| remote.error("push", "uploading the manifest", e))?;

    let digest_ref = format!("{}@{manifest_digest}", reference.name());
    let image_id = Digest::of_bytes(&config);
    engine.inner.db.write("recording a pushed image", |tx| {
        for blob in &blobs {
            blob_records::insert(tx, blob)?;
        }
        image_records::set_ref(tx, &digest_ref, image_id.as_str())?;
        Ok(())
    })?;
    drop(pins);
    progress.status(
        None,
        format!(
            "{tag}: digest: {manifest_digest} size: {}",
            manifest_bytes.len()
        ),
    );
    tracing::info!(reference = %reference, digest = %manifest_digest, "image pushed");
    Ok(PushOutcome {
        tag,
        manifest_digest: manifest_digest.to_string(),
        manifest_size: manifest_bytes.len(),
    })
}

fn retitle(err: RegistryError, operation: &'static str) -> RegistryError {
    match err {
        RegistryError::AccessDenied {
            repository, detail, ..
        } => RegistryError::AccessDenied {
            operation,
            repository,
            detail,
        },
        other => other,
    }
}

/// The image's config and its layers (pinned in `pins` for the push's duration).
fn local_image(
    engine: &Engine,
    pins: &mut LayerPins,
    reference: &Reference,
) -> Result<(Vec<u8>, Vec<LocalLayer>)> {
    let (id, config) = engine.inner.db.read(|conn| {
        let found = lookup::find(conn, &reference.to_string())
            .map_err(|_| EngineError::NoSuchImage(reference.familiar()))?;
        let record = image_records::get(conn, found.id.as_str())?
            .ok_or_else(|| EngineError::NoSuchImage(reference.familiar()))?;
        Ok((found.id, record.config))
    })?;
    let parsed = ImageConfigFile::parse(&config, id.as_str())?;
    let diff_ids = parsed.diff_ids(id.as_str())?;
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (diff_id, chain) in diff_ids.iter().zip(chain_ids(&diff_ids)) {
        let record = engine.inner.layers.pin_existing(pins, &chain)?;
        layers.push(LocalLayer {
            diff_id: diff_id.clone(),
            record,
        });
    }
    Ok((config, layers))
}

async fn exists(
    remote: &Remote,
    image_ref: &oci_client::Reference,
    digest: &Digest,
) -> Result<bool> {
    remote
        .client
        .blob_exists(image_ref, digest.as_str())
        .await
        .map_err(|e| {
            remote
                .error("push", &format!("checking blob {digest}"), e)
                .into()
        })
}

/// Make sure the registry has a blob of `layer`; returns which.
async fn push_layer(
    engine: &Engine,
    remote: &Remote,
    image_ref: &oci_client::Reference,
    layer: &LocalLayer,
    progress: &ProgressSink,
) -> Result<LayerBlob> {
    let short = layer.diff_id.short().to_string();
    let known = engine.inner.db.read(|conn| {
        blob_records::for_layer(conn, &layer.diff_id, &remote.registry, &remote.repository)
    })?;
    for blob in known {
        if exists(remote, image_ref, &blob.blob_digest).await? {
            progress.layer(&short, "Layer already exists");
            return Ok(LayerBlob {
                repository: remote.repository.clone(),
                ..blob
            });
        }
        if blob.repository != remote.repository {
            // Another repository of the registry has it: ask for a cross-repository mount.
            let source = oci_client::Reference::with_digest(
                remote.registry.clone(),
                blob.repository.clone(),
                blob.blob_digest.to_string(),
            );
            match remote
                .client
                .mount_blob(image_ref, &source, blob.blob_digest.as_str())
                .await
            {
                Ok(()) => {
                    progress.layer(&short, format!("Mounted from {}", blob.repository));
                    return Ok(LayerBlob {
                        repository: remote.repository.clone(),
                        ..blob
                    });
                }
                Err(e) => tracing::debug!(blob = %blob.blob_digest, from = %blob.repository,
                    error = %e, "cross-repository mount refused; uploading instead"),
            }
        }
    }
    let spooled = compress_layer(engine, layer).await?;
    let blob = LayerBlob {
        diff_id: layer.diff_id.clone(),
        blob_digest: spooled.digest.clone(),
        size: i64::try_from(spooled.size).unwrap_or(i64::MAX),
        media_type: MEDIA_DOCKER_LAYER_GZIP.to_string(),
        registry: remote.registry.clone(),
        repository: remote.repository.clone(),
    };
    if exists(remote, image_ref, &spooled.digest).await? {
        progress.layer(&short, "Layer already exists");
        return Ok(blob);
    }
    let file = tokio::fs::File::open(&spooled.path)
        .await
        .map_err(|e| EngineError::io(format!("opening {}", spooled.path.display()), e))?;
    let total = spooled.size;
    let (sink, id) = (progress.clone(), short.clone());
    let mut sent: u64 = 0;
    let mut reported: u64 = 0;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).map(move |chunk| {
        let chunk = chunk.map_err(oci_client::errors::OciDistributionError::IoError)?;
        sent += chunk.len() as u64;
        if sent - reported >= REPORT_EVERY_BYTES || sent == total {
            reported = sent;
            sink.bytes(&id, "Pushing", sent, total);
        }
        Ok(chunk)
    });
    remote
        .client
        .push_blob_stream(image_ref, stream, spooled.digest.as_str(), Some(total))
        .await
        .map_err(|e| remote.error("push", &format!("uploading layer {}", layer.diff_id), e))?;
    progress.layer(&short, "Pushed");
    Ok(blob)
}

/// A gzip blob of a layer in the temporary directory, removed when dropped.
struct SpooledBlob {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

impl Drop for SpooledBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Gzip the layer's original tar (rebuilt from its tar-split record, or else the driver's diff)
/// into a spool file, holding it to the layer's diffID.
async fn compress_layer(engine: &Engine, layer: &LocalLayer) -> Result<SpooledBlob> {
    let worker = engine.clone();
    let record = layer.record.clone();
    tokio::task::spawn_blocking(move || {
        let layers = &worker.inner.layers;
        let mut had_split = false;
        let from_split = gzip_spool(&worker, &record.diff_id, |out| {
            had_split = layers.write_original_tar(&record, out)?;
            Ok(())
        });
        match from_split {
            Ok((spooled, actual)) if had_split && actual == record.diff_id => return Ok(spooled),
            Ok((_, actual)) if had_split => tracing::warn!(chain_id = %record.chain_id,
                expected = %record.diff_id, actual = %actual,
                "the layer's tar-split record does not rebuild its tar; trying the driver's diff"),
            Ok(_) => {}
            Err(e) => tracing::warn!(chain_id = %record.chain_id, error = %e,
                "rebuilding the layer's tar from its tar-split record failed; trying the driver's diff"),
        }
        let driver = &worker.inner.driver;
        let (spooled, actual) = gzip_spool(&worker, &record.diff_id, |out| {
            driver.diff(&record.cache_id, out)?;
            Ok(())
        })?;
        if actual != record.diff_id {
            return Err(EngineError::DigestMismatch {
                what: format!(
                    "layer {}: it has no tar-split record and the {} driver's diff does not reproduce it",
                    record.diff_id,
                    driver.name()
                ),
                expected: record.diff_id.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(spooled)
    })
    .await
    .map_err(|e| EngineError::Internal(format!("compressing task: {e}")))?
}

/// Gzip what `write` produces into a new spool file; returns it and the digest of the
/// uncompressed bytes.
fn gzip_spool(
    engine: &Engine,
    diff_id: &Digest,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<(SpooledBlob, Digest)> {
    let dir = engine.inner.images.tmp_root().join("push");
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
    let path = dir.join(format!(
        "{}-{}",
        diff_id.hex(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let file = strata_drivers::fsutil::private::private_file_options()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| EngineError::io(format!("creating {}", path.display()), e))?;
    let mut spooled = SpooledBlob {
        path,
        digest: diff_id.clone(),
        size: 0,
    };
    let compressed = HashingWriter::new(std::io::BufWriter::new(file));
    let gzip = flate2::write::GzEncoder::new(compressed, flate2::Compression::default());
    let mut plain = HashingWriter::new(gzip);
    write(&mut plain)?;
    let (actual, _, gzip) = plain.finish();
    let compressed = gzip
        .finish()
        .map_err(|e| EngineError::io(format!("compressing layer {diff_id}"), e))?;
    let (digest, size, mut writer) = compressed.finish();
    writer
        .flush()
        .map_err(|e| EngineError::io(format!("writing {}", spooled.path.display()), e))?;
    spooled.digest = digest;
    spooled.size = size;
    Ok((spooled, actual))
}
