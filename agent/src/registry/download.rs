//! Downloading one layer blob into the pull cache (`<data-root>/tmp/pull-blobs/<hex>`), hashed
//! while it streams: it gets its final name only once its digest and size are verified, so a
//! retry after a failed or interrupted pull reuses what was complete and fetches the rest.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use sha2::{Digest as _, Sha256};
use strata_drivers::fsutil::private::private_file_options;
use tokio::io::AsyncWriteExt;

use super::error::RegistryError;
use super::manifest::Descriptor;
use super::progress::{ProgressSink, REPORT_EVERY_BYTES};
use super::remote::Remote;
use crate::error::{EngineError, Result};
use crate::layers::Digest;

/// The directory verified blobs wait in until their layer is registered.
pub fn cache_dir(tmp_root: &Path) -> PathBuf {
    tmp_root.join("pull-blobs")
}

/// Download `layer` (whose digest is `digest`) unless the cache has it; returns its path.
pub async fn fetch_layer(
    remote: &Remote,
    image: &oci_client::Reference,
    layer: &Descriptor,
    digest: &Digest,
    cache: &Path,
    progress: &ProgressSink,
) -> Result<PathBuf> {
    let short = digest.short().to_string();
    let path = cache.join(digest.hex());
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        tracing::debug!(layer = %digest, "layer blob already downloaded by an earlier attempt");
        progress.layer(&short, "Download complete");
        return Ok(path);
    }
    tokio::fs::create_dir_all(cache)
        .await
        .map_err(|e| EngineError::io(format!("creating {}", cache.display()), e))?;
    let partial = PartialFile::new(cache.join(format!(
        "{}.partial-{}",
        digest.hex(),
        hex::encode(rand::random::<[u8; 6]>())
    )));
    let total = u64::try_from(layer.size).unwrap_or(0);
    let what = format!(
        "layer {digest} of {}/{}",
        remote.registry, remote.repository
    );

    let mut stream = remote
        .client
        .pull_blob_stream(image, &layer.to_client())
        .await
        .map_err(|e| remote.error("pull", &format!("fetching {what}"), e))?;
    let mut file = tokio::fs::OpenOptions::from(private_file_options())
        .write(true)
        .create(true)
        .truncate(true)
        .open(partial.path())
        .await
        .map_err(|e| EngineError::io(format!("creating {}", partial.path().display()), e))?;
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut reported: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) if is_digest_error(&err) => {
                return Err(mismatch(&what, digest, hasher).into());
            }
            Err(err) => {
                return Err(RegistryError::Transport {
                    registry: remote.registry.clone(),
                    detail: format!("downloading {what}: {err}"),
                }
                .into())
            }
        };
        hasher.update(&chunk);
        received += chunk.len() as u64;
        if received > total {
            return Err(EngineError::from(RegistryError::Protocol {
                registry: remote.registry.clone(),
                what: what.clone(),
                detail: format!("blob is larger than the {total} bytes its descriptor says"),
            }));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| EngineError::io(format!("writing {}", partial.path().display()), e))?;
        if received - reported >= REPORT_EVERY_BYTES {
            reported = received;
            progress.bytes(&short, "Downloading", received, total);
        }
    }
    let actual =
        Digest::from_hex(&hex::encode(hasher.finalize())).map_err(EngineError::Internal)?;
    if &actual != digest {
        return Err(RegistryError::DigestMismatch {
            what,
            expected: digest.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    if received != total {
        return Err(RegistryError::Protocol {
            registry: remote.registry.clone(),
            what,
            detail: format!("blob is {received} bytes but its descriptor says {total}"),
        }
        .into());
    }
    progress.bytes(&short, "Downloading", received, total);
    file.sync_all()
        .await
        .map_err(|e| EngineError::io(format!("syncing {}", partial.path().display()), e))?;
    drop(file);
    partial.persist(&path).await?;
    progress.layer(&short, "Verifying Checksum");
    progress.layer(&short, "Download complete");
    Ok(path)
}

fn is_digest_error(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<oci_client::errors::DigestError>())
}

fn mismatch(what: &str, expected: &Digest, hasher: Sha256) -> RegistryError {
    RegistryError::DigestMismatch {
        what: what.to_string(),
        expected: expected.to_string(),
        actual: format!("sha256:{}", hex::encode(hasher.finalize())),
    }
}

/// A download in progress: removed when dropped unless persisted (also when the download task
/// is aborted because another layer failed).
struct PartialFile {
    path: Option<PathBuf>,
}

impl PartialFile {
    fn new(path: PathBuf) -> PartialFile {
        PartialFile { path: Some(path) }
    }

    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Give the verified file its final name.
    async fn persist(mut self, target: &Path) -> Result<()> {
        let Some(path) = self.path.take() else {
            return Ok(());
        };
        match tokio::fs::rename(&path, target).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(EngineError::io(
                    format!("renaming {} to {}", path.display(), target.display()),
                    e,
                ))
            }
        }
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e,
                        "removing a partial download; the next start wipes it");
                }
            }
        }
    }
}
