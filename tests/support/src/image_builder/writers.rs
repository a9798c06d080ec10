//! Writing built images out: `docker save` archives (both layouts) and OCI-layout tars, every
//! entry with fixed metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::layers::FIXED_MTIME;
use super::{host_arch, sha256_digest, Blobs, DockerLayout, OciNaming, TestImage};

pub(super) fn write_docker_archive(
    images: &[(&TestImage, &Blobs)],
    layout: DockerLayout,
    path: &Path,
) -> Result<()> {
    let mut out = ArchiveWriter::create(path)?;
    let mut manifest = Vec::new();
    let mut written: BTreeMap<String, String> = BTreeMap::new(); // blob digest -> archive name
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index_manifests = Vec::new();
    if layout == DockerLayout::Blobs {
        out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        out.dir("blobs")?;
        out.dir("blobs/sha256")?;
    }
    for (image, blobs) in images {
        let config_name = match layout {
            DockerLayout::Legacy => format!("{}.json", hex_of(&blobs.built.id)),
            DockerLayout::Blobs => blob_path(&blobs.built.id),
        };
        out.file(&config_name, &blobs.config_bytes)?;
        let mut layer_names = Vec::new();
        for (i, layer) in blobs.layers.iter().enumerate() {
            let name = match layout {
                DockerLayout::Blobs => blob_path(&layer.digest),
                DockerLayout::Legacy => {
                    let dir = hex_of(&sha256_digest(format!("{} {i}", blobs.built.id).as_bytes()));
                    out.dir(&dir)?;
                    out.file(&format!("{dir}/VERSION"), b"1.0")?;
                    out.file(
                        &format!("{dir}/json"),
                        format!("{{\"id\":\"{dir}\"}}").as_bytes(),
                    )?;
                    format!("{dir}/layer.tar")
                }
            };
            match (written.get(&layer.digest), layout) {
                (Some(_), DockerLayout::Blobs) => {}
                (Some(first), DockerLayout::Legacy) => {
                    out.symlink(&name, &format!("../{first}"))?
                }
                (None, _) => {
                    out.file(&name, &layer.bytes)?;
                    written.insert(layer.digest.clone(), name.clone());
                }
            }
            layer_names.push(name);
        }
        if layout == DockerLayout::Legacy {
            if let Some(top) = layer_names.last() {
                for tag in &image.tags {
                    let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
                    let dir = top.trim_end_matches("/layer.tar").to_string();
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(t.to_string(), dir);
                }
            }
        } else {
            let (manifest_bytes, _) =
                oci_manifest(blobs, &blobs.built.id, &blobs.config_bytes, host_arch());
            let digest = sha256_digest(&manifest_bytes);
            out.file(&blob_path(&digest), &manifest_bytes)?;
            let mut descriptor = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest, "size": manifest_bytes.len(),
            });
            if let Some(tag) = image.tags.first() {
                descriptor["annotations"] = json!({
                    "io.containerd.image.name": full_name(tag),
                    "org.opencontainers.image.ref.name": tag.rsplit_once(':').map_or("latest", |(_, t)| t),
                });
            }
            index_manifests.push(descriptor);
        }
        manifest
            .push(json!({"Config": config_name, "RepoTags": image.tags, "Layers": layer_names}));
    }
    if layout == DockerLayout::Blobs {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index_manifests});
        out.file("index.json", &serde_json::to_vec(&index)?)?;
    } else {
        out.file("repositories", &serde_json::to_vec(&repositories)?)?;
    }
    out.file("manifest.json", &serde_json::to_vec(&manifest)?)?;
    out.finish()
}

pub(super) fn write_oci_layout(image: &TestImage, blobs: &Blobs, path: &Path) -> Result<()> {
    let mut out = ArchiveWriter::create(path)?;
    out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    out.dir("blobs")?;
    out.dir("blobs/sha256")?;
    out.file(&blob_path(&blobs.built.id), &blobs.config_bytes)?;
    let mut written = BTreeSet::new();
    for layer in &blobs.layers {
        if written.insert(layer.digest.clone()) {
            out.file(&blob_path(&layer.digest), &layer.bytes)?;
        }
    }
    let (manifest_bytes, media_type) =
        oci_manifest(blobs, &blobs.built.id, &blobs.config_bytes, host_arch());
    let manifest_digest = sha256_digest(&manifest_bytes);
    out.file(&blob_path(&manifest_digest), &manifest_bytes)?;

    let mut top =
        json!({"mediaType": media_type, "digest": manifest_digest, "size": manifest_bytes.len()});
    if image.nested_index {
        // An arm64 variant first (its config differs), then ours.
        let mut other_config = blobs.built.config.clone();
        other_config["architecture"] = json!("arm64");
        let other_config_bytes = serde_json::to_vec(&other_config)?;
        let other_config_digest = sha256_digest(&other_config_bytes);
        out.file(&blob_path(&other_config_digest), &other_config_bytes)?;
        let (other_manifest, _) =
            oci_manifest(blobs, &other_config_digest, &other_config_bytes, "arm64");
        let other_digest = sha256_digest(&other_manifest);
        out.file(&blob_path(&other_digest), &other_manifest)?;
        let nested = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": media_type, "digest": other_digest, "size": other_manifest.len(),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": media_type, "digest": manifest_digest, "size": manifest_bytes.len(),
                 "platform": {"architecture": host_arch(), "os": "linux"}},
            ]
        });
        let nested_bytes = serde_json::to_vec(&nested)?;
        let nested_digest = sha256_digest(&nested_bytes);
        out.file(&blob_path(&nested_digest), &nested_bytes)?;
        top = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": nested_digest,
            "size": nested_bytes.len()});
    }
    if let Some(tag) = image.tags.first() {
        let bare = tag.rsplit_once(':').map_or("latest", |(_, t)| t);
        let annotations = match image.oci_naming {
            OciNaming::Containerd => Some(json!({
                "io.containerd.image.name": full_name(tag),
                "org.opencontainers.image.ref.name": bare,
            })),
            OciNaming::RefNameFull => Some(json!({"org.opencontainers.image.ref.name": tag})),
            OciNaming::BareTag => Some(json!({"org.opencontainers.image.ref.name": bare})),
            OciNaming::Unnamed => None,
        };
        if let Some(annotations) = annotations {
            top["annotations"] = annotations;
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [top]});
    out.file("index.json", &serde_json::to_vec(&index)?)?;
    out.finish()
}

/// An OCI image manifest for these layers and a config; returns its bytes and media type.
fn oci_manifest(
    blobs: &Blobs,
    config_digest: &str,
    config_bytes: &[u8],
    _arch: &str,
) -> (Vec<u8>, &'static str) {
    let media_type = "application/vnd.oci.image.manifest.v1+json";
    let layers: Vec<Value> = blobs
        .layers
        .iter()
        .zip(&blobs.compressions)
        .map(|(l, c)| json!({"mediaType": c.media_type(), "digest": l.digest, "size": l.bytes.len()}))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": config_bytes.len()},
        "layers": layers,
    });
    (
        serde_json::to_vec(&manifest).unwrap_or_default(),
        media_type,
    )
}

/// Writes the outer archive with fixed metadata.
struct ArchiveWriter {
    builder: tar::Builder<BufWriter<File>>,
}

impl ArchiveWriter {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(ArchiveWriter {
            builder: tar::Builder::new(BufWriter::new(file)),
        })
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_mtime(FIXED_MTIME);
        header.set_size(size);
        header
    }

    fn file(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.builder.append_data(&mut header, name, data)?;
        Ok(())
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut header, format!("{name}/"), &[][..])?;
        Ok(())
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<()> {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.builder.append_link(&mut header, name, target)?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        let mut inner = self.builder.into_inner()?;
        inner.flush()?;
        Ok(())
    }
}

fn hex_of(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_string()
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", hex_of(digest))
}

/// `name:tag` as containerd names it (`docker.io/library/name:tag`).
fn full_name(tag: &str) -> String {
    let first = tag.split('/').next().unwrap_or("");
    if tag.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost") {
        tag.to_string()
    } else if tag.contains('/') {
        format!("docker.io/{tag}")
    } else {
        format!("docker.io/library/{tag}")
    }
}
