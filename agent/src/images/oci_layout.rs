//! The OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`). Every blob is held to
//! its descriptor's digest and size. Nested indexes are followed; where there is a platform
//! choice, the host's (linux/amd64 here) is taken. Names come from the annotations
//! `io.containerd.image.name` (a full reference) and `org.opencontainers.image.ref.name` (a full
//! reference, or a bare tag that alone names nothing).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::extract::ExtractedArchive;
use super::plan::{read_verified, ImagePlan, LayerSource};
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::Digest;

pub const LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";

const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// How deep nested indexes may go.
const MAX_INDEX_DEPTH: usize = 8;

#[derive(Clone, Debug, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Clone, Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// A blob that is either an index or a manifest.
enum Node {
    Index(Index),
    Manifest(Manifest),
}

/// Read the images an OCI layout describes.
pub fn plan(archive: &ExtractedArchive) -> Result<Vec<ImagePlan>> {
    let index_bytes = read_verified(archive, INDEX_FILE, None, None, "index")?;
    let index: Index = serde_json::from_slice(&index_bytes)
        .map_err(|e| EngineError::InvalidArchive(format!("{INDEX_FILE} is not valid: {e}")))?;
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| !is_attestation(d))
        .collect();
    if candidates.is_empty() {
        return Err(EngineError::InvalidArchive(format!(
            "{INDEX_FILE} lists no images"
        )));
    }
    // Several platform variants of one image listed at the top: choose one, as for a nested index.
    let tops: Vec<&Descriptor> =
        if candidates.len() > 1 && candidates.iter().all(|d| d.platform.is_some()) {
            vec![choose_platform(&candidates, INDEX_FILE)?]
        } else {
            candidates
        };
    tops.into_iter().map(|top| plan_top(archive, top)).collect()
}

fn plan_top(archive: &ExtractedArchive, top: &Descriptor) -> Result<ImagePlan> {
    let manifest = resolve_manifest(archive, top, 0)?;
    let config_digest = parse_digest(&manifest.config.digest, "config descriptor")?;
    let config_name = blob_name(&config_digest);
    let config_bytes = read_verified(
        archive,
        &config_name,
        Some(&config_digest),
        Some(manifest.config.size),
        "image config",
    )?;
    let layers = manifest
        .layers
        .iter()
        .map(|layer| {
            let digest = parse_digest(&layer.digest, "layer descriptor")?;
            let name = blob_name(&digest);
            let path = archive.resolve(&name).map_err(|_| {
                EngineError::InvalidArchive(format!(
                    "the manifest names layer blob {name}, which the archive lacks"
                ))
            })?;
            Ok(LayerSource {
                name,
                path,
                blob_digest: Some(digest),
                blob_size: Some(layer.size),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let tags = names_of(top)?;
    ImagePlan::new(config_bytes, &config_name, layers, tags)
}

/// Follow indexes down to one image manifest.
fn resolve_manifest(
    archive: &ExtractedArchive,
    descriptor: &Descriptor,
    depth: usize,
) -> Result<Manifest> {
    if depth > MAX_INDEX_DEPTH {
        return Err(EngineError::InvalidArchive(format!(
            "indexes nest more than {MAX_INDEX_DEPTH} deep"
        )));
    }
    match read_node(archive, descriptor)? {
        Node::Manifest(manifest) => Ok(manifest),
        Node::Index(index) => {
            let candidates: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|d| !is_attestation(d))
                .collect();
            let what = format!("index {}", descriptor.digest);
            let chosen = match candidates.as_slice() {
                [] => {
                    return Err(EngineError::InvalidArchive(format!(
                        "{what} lists no manifests"
                    )))
                }
                [only] => *only,
                _ => choose_platform(&candidates, &what)?,
            };
            resolve_manifest(archive, chosen, depth + 1)
        }
    }
}

fn read_node(archive: &ExtractedArchive, descriptor: &Descriptor) -> Result<Node> {
    let digest = parse_digest(&descriptor.digest, "manifest descriptor")?;
    let name = blob_name(&digest);
    let bytes = read_verified(
        archive,
        &name,
        Some(&digest),
        Some(descriptor.size),
        "manifest",
    )?;
    let invalid = |e: serde_json::Error| {
        EngineError::InvalidArchive(format!("manifest {name} is not valid: {e}"))
    };
    let media_type = descriptor.media_type.clone().or_else(|| {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
    });
    let is_index = match media_type.as_deref() {
        Some(MEDIA_OCI_INDEX) | Some(MEDIA_DOCKER_LIST) => true,
        Some(MEDIA_OCI_MANIFEST) | Some(MEDIA_DOCKER_MANIFEST) => false,
        _ => {
            let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
            value.get("manifests").is_some() && value.get("config").is_none()
        }
    };
    if is_index {
        Ok(Node::Index(
            serde_json::from_slice(&bytes).map_err(invalid)?,
        ))
    } else {
        Ok(Node::Manifest(
            serde_json::from_slice(&bytes).map_err(invalid)?,
        ))
    }
}

/// The descriptor for this host's platform among several.
fn choose_platform<'a>(candidates: &[&'a Descriptor], what: &str) -> Result<&'a Descriptor> {
    let want_arch = host_architecture();
    let matching: Vec<&'a Descriptor> = candidates
        .iter()
        .copied()
        .filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == want_arch)
        })
        .collect();
    if let Some(first) = matching.first() {
        return Ok(first);
    }
    if candidates.iter().all(|d| d.platform.is_none()) {
        return Ok(candidates[0]);
    }
    let offered: Vec<String> = candidates
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{}", p.os, p.architecture, v),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    Err(EngineError::InvalidArchive(format!(
        "{what} has no manifest for linux/{want_arch} (it offers {})",
        offered.join(", ")
    )))
}

/// The OCI name of the host's CPU architecture.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn is_attestation(descriptor: &Descriptor) -> bool {
    let annotated = descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REFERENCE_TYPE))
        .is_some_and(|t| t == "attestation-manifest");
    let unknown_platform = descriptor
        .platform
        .as_ref()
        .is_some_and(|p| p.os == "unknown");
    annotated || unknown_platform
}

/// The tag a top-level descriptor gives its image, if any.
fn names_of(descriptor: &Descriptor) -> Result<Vec<Reference>> {
    let Some(annotations) = &descriptor.annotations else {
        return Ok(Vec::new());
    };
    let full = annotations.get(ANNOTATION_CONTAINERD_NAME).or_else(|| {
        annotations
            .get(ANNOTATION_REF_NAME)
            // A bare tag (`1.0`, `latest`) names no repository on its own.
            .filter(|name| name.contains('/') || name.contains(':') || name.contains('@'))
    });
    let Some(full) = full else {
        return Ok(Vec::new());
    };
    let reference = Reference::parse_with_default_tag(full)?;
    if reference.digest().is_some() {
        // A digest names content, not a tag: nothing to record as a repo tag.
        return Ok(Vec::new());
    }
    Ok(vec![reference])
}

fn parse_digest(text: &str, what: &str) -> Result<Digest> {
    Digest::parse(text).map_err(|e| EngineError::InvalidArchive(format!("{what}: {e}")))
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}
