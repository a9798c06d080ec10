//! Fetching an image's manifest: the reference's manifest (or index / manifest list, then the
//! linux/amd64 entry of it), Docker schema2 or OCI, each checked against its digest.

use serde::Deserialize;

use super::error::RegistryError;
use super::remote::Remote;
use crate::layers::Digest;

/// The media types asked for, most specific first.
pub const ACCEPTED: &[&str] = &[
    MEDIA_OCI_MANIFEST,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_DOCKER_LIST,
];
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MEDIA_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// Largest manifest or config accepted.
pub const MAX_JSON_BYTES: i64 = 32 * 1024 * 1024;

/// A content descriptor (`config` or a layer).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
}

impl Descriptor {
    /// The digest, validated.
    pub fn parsed_digest(&self, what: &str, registry: &str) -> Result<Digest, RegistryError> {
        Digest::parse(&self.digest).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            what: what.to_string(),
            detail: e,
        })
    }

    /// The form `oci-client` takes.
    pub fn to_client(&self) -> oci_client::manifest::OciDescriptor {
        oci_client::manifest::OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            ..Default::default()
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<IndexEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

/// An image manifest, resolved to one platform.
#[derive(Debug)]
pub struct ImageManifest {
    /// The digest the reference resolved to (of the index when there is one): what
    /// `RepoDigests` records, as Docker does.
    pub reference_digest: Digest,
    pub config: Descriptor,
    /// Bottom first.
    pub layers: Vec<Descriptor>,
}

/// Fetch the manifest `reference` (a tag or digest of `remote`) names, resolving an index to
/// its linux/amd64 manifest.
pub async fn fetch(
    remote: &Remote,
    reference: &oci_client::Reference,
    shown: &str,
) -> Result<ImageManifest, RegistryError> {
    let (bytes, digest) = fetch_raw(remote, reference, shown).await?;
    let raw = parse(remote, &bytes, shown)?;
    let reference_digest = digest;
    if let Some(entries) = raw.manifests {
        let chosen = entries
            .iter()
            .find(|e| {
                e.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
            })
            .ok_or_else(|| RegistryError::NoMatchingPlatform {
                reference: shown.to_string(),
            })?;
        let target = remote.digest_ref(&chosen.digest);
        let (bytes, _) = fetch_raw(remote, &target, shown).await?;
        let inner = parse(remote, &bytes, shown)?;
        if inner.manifests.is_some() {
            return Err(protocol(
                remote,
                shown,
                "an index entry is itself an index".into(),
            ));
        }
        return into_image(remote, inner, reference_digest, shown);
    }
    into_image(remote, raw, reference_digest, shown)
}

async fn fetch_raw(
    remote: &Remote,
    reference: &oci_client::Reference,
    shown: &str,
) -> Result<(Vec<u8>, Digest), RegistryError> {
    let (bytes, _claimed) = remote
        .client
        .pull_manifest_raw(reference, &remote.auth, ACCEPTED)
        .await
        .map_err(|e| match remote.error("pull", "fetching the manifest", e) {
            RegistryError::ManifestNotFound { detail, .. } => RegistryError::ManifestNotFound {
                reference: shown.to_string(),
                detail,
            },
            other => other,
        })?;
    if bytes.len() as i64 > MAX_JSON_BYTES {
        return Err(protocol(
            remote,
            shown,
            format!("manifest of {} bytes is too large", bytes.len()),
        ));
    }
    // Hash what we received ourselves: a digest reference must match the content, whatever
    // headers the registry sent.
    let actual = Digest::of_bytes(&bytes);
    if let Some(expected) = reference.digest() {
        if expected != actual.as_str() {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest of {shown}"),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok((bytes.to_vec(), actual))
}

fn parse(remote: &Remote, bytes: &[u8], shown: &str) -> Result<RawManifest, RegistryError> {
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| protocol(remote, shown, format!("manifest is not valid JSON: {e}")))?;
    if raw.schema_version == 1 || raw.media_type.as_deref() == Some(MEDIA_DOCKER_SCHEMA1) {
        return Err(protocol(
            remote,
            shown,
            "Docker image manifest schema 1 is not supported (push the image again with a current client)".into(),
        ));
    }
    if raw.schema_version != 2 {
        return Err(protocol(
            remote,
            shown,
            format!("unsupported manifest schemaVersion {}", raw.schema_version),
        ));
    }
    Ok(raw)
}

fn into_image(
    remote: &Remote,
    raw: RawManifest,
    reference_digest: Digest,
    shown: &str,
) -> Result<ImageManifest, RegistryError> {
    let config = raw
        .config
        .ok_or_else(|| protocol(remote, shown, "manifest has no config descriptor".into()))?;
    if config.size > MAX_JSON_BYTES || config.size < 0 {
        return Err(protocol(
            remote,
            shown,
            format!("image config size {} is out of range", config.size),
        ));
    }
    let layers = raw.layers.unwrap_or_default();
    if let Some(bad) = layers.iter().find(|l| l.size < 0) {
        return Err(protocol(
            remote,
            shown,
            format!("layer {} has a negative size", bad.digest),
        ));
    }
    Ok(ImageManifest {
        reference_digest,
        config,
        layers,
    })
}

fn protocol(remote: &Remote, shown: &str, detail: String) -> RegistryError {
    RegistryError::Protocol {
        registry: remote.registry.clone(),
        what: format!("manifest of {shown}"),
        detail,
    }
}
