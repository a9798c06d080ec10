//! Test images built locally (nothing is downloaded): a busybox-static base layer plus layers of
//! random data that also delete files (whiteouts) and hide directories (opaque), written as a
//! docker-archive (`docker save`, both the pre-25 `<id>/layer.tar` layout and the 25+
//! `blobs/sha256` layout) or as an OCI-layout tar, with each layer plain, gzip or zstd.
//!
//! ```no_run
//! # use strata_test_support::image_builder::{TestImage, Compression};
//! # fn main() -> anyhow::Result<()> {
//! let built = TestImage::busybox("strata-test/multi:1")
//!     .random_layers(3, 64 * 1024)
//!     .compression(Compression::Gzip)
//!     .build_docker_archive(std::path::Path::new("/tmp/multi.tar"))?;
//! println!("{}", built.id);
//! # Ok(()) }
//! ```

mod layers;
mod writers;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use layers::{busybox_layer, LayerPlan};
pub use layers::{layer_tar, LayerEntry, APPLETS, BUSYBOX};
use writers::{write_docker_archive, write_oci_layout};

const CREATED: &str = "2024-01-02T03:04:05Z";

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    fn compress(self, tar: &[u8]) -> Result<Vec<u8>> {
        Ok(match self {
            Compression::None => tar.to_vec(),
            Compression::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gz.write_all(tar)?;
                gz.finish()?
            }
            Compression::Zstd => zstd::stream::encode_all(tar, 3)?,
        })
    }
}

/// Which `docker save` layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DockerLayout {
    /// Before Docker 25: `<id>/layer.tar`, `<config hex>.json`, `manifest.json`, `repositories`.
    Legacy,
    /// Docker 25+: `blobs/sha256/<hex>` for everything, `manifest.json` plus an OCI `index.json`.
    Blobs,
}

/// How an OCI layout names its image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciNaming {
    /// `io.containerd.image.name` = full name, `org.opencontainers.image.ref.name` = the tag
    /// (what Docker 25+ and containerd write).
    Containerd,
    /// Only `org.opencontainers.image.ref.name` = the full `name:tag`.
    RefNameFull,
    /// Only `org.opencontainers.image.ref.name` = the bare tag: names nothing on its own.
    BareTag,
    /// No annotations at all.
    Unnamed,
}

/// A test image to build.
#[derive(Clone, Debug)]
pub struct TestImage {
    tags: Vec<String>,
    with_busybox: bool,
    random_layers: usize,
    layer_size: usize,
    compression: Compression,
    per_layer_compression: BTreeMap<usize, Compression>,
    seed: u64,
    cmd: Vec<String>,
    extra_layers: Vec<LayerPlan>,
    layout: DockerLayout,
    oci_naming: OciNaming,
    nested_index: bool,
    corrupt_diff_id: Option<usize>,
    corrupt_blob_digest: Option<usize>,
    label: Option<(String, String)>,
    volumes: Vec<String>,
    exposed_ports: Vec<String>,
}

/// What was built: enough for tests to find the image and its layers.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// `sha256:` of the config: the image id.
    pub id: String,
    /// Tags as given (`strata-test/multi:1`).
    pub repo_tags: Vec<String>,
    /// Uncompressed layer digests, bottom first (as in the config, unless corrupted on purpose).
    pub diff_ids: Vec<String>,
    /// OCI ChainIDs of the layers, bottom first.
    pub chain_ids: Vec<String>,
    /// Digests of the layer blobs as stored (compressed).
    pub blob_digests: Vec<String>,
    /// Uncompressed size of each layer tar.
    pub layer_tar_sizes: Vec<u64>,
    /// The config JSON.
    pub config: Value,
}

/// All blobs of one image, ready to be written in either format.
struct Blobs {
    built: BuiltImage,
    config_bytes: Vec<u8>,
    layers: Vec<LayerBlob>,
    compressions: Vec<Compression>,
}

struct LayerBlob {
    bytes: Vec<u8>,
    digest: String,
}

impl TestImage {
    /// A busybox-static base layer (`/bin/busybox` and applet symlinks, `/etc/passwd` with root
    /// and nobody, `/etc/group`, `/tmp` 1777, `/root`), tagged `tag` (e.g. `name:1`).
    pub fn busybox(tag: &str) -> Self {
        TestImage {
            tags: vec![tag.to_string()],
            with_busybox: true,
            random_layers: 0,
            layer_size: 0,
            compression: Compression::None,
            per_layer_compression: BTreeMap::new(),
            seed: seed_from(tag),
            cmd: vec!["sh".to_string()],
            extra_layers: Vec::new(),
            layout: DockerLayout::Blobs,
            oci_naming: OciNaming::Containerd,
            nested_index: false,
            corrupt_diff_id: None,
            corrupt_blob_digest: None,
            label: None,
            volumes: Vec::new(),
            exposed_ports: Vec::new(),
        }
    }

    /// An image without the busybox base (for tests that only look at layering).
    pub fn scratch(tag: &str) -> Self {
        TestImage {
            with_busybox: false,
            ..TestImage::busybox(tag)
        }
    }

    /// Declare `path` as a `VOLUME` of the image (config `Volumes`).
    pub fn volume(mut self, path: &str) -> Self {
        self.volumes.push(path.to_string());
        self
    }

    /// Declare `port` (`80/tcp`, `53/udp`) as an `EXPOSE`d port of the image (config
    /// `ExposedPorts`).
    pub fn expose(mut self, port: &str) -> Self {
        self.exposed_ports.push(port.to_string());
        self
    }

    /// Add `count` layers of `size` random bytes each; every layer also overwrites
    /// `/data/common.txt`, deletes the previous layer's scratch file (whiteout) and, from the
    /// third on, makes `/data/dir-0` opaque.
    pub fn random_layers(mut self, count: usize, size: usize) -> Self {
        self.random_layers = count;
        self.layer_size = size;
        self
    }

    /// Compression of every layer (default: none).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Compression of layer `index` (0 = bottom), overriding [`TestImage::compression`].
    pub fn layer_compression(mut self, index: usize, compression: Compression) -> Self {
        self.per_layer_compression.insert(index, compression);
        self
    }

    /// Seed of the random layers (default: derived from the first tag).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn cmd(mut self, cmd: &[&str]) -> Self {
        self.cmd = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    /// An extra tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.to_string());
        self
    }

    /// No tags at all (`docker load` then reports `Loaded image ID:`).
    pub fn untagged(mut self) -> Self {
        self.tags.clear();
        self
    }

    /// A config label (changes the image id without changing layers).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.label = Some((key.to_string(), value.to_string()));
        self
    }

    /// A hand-made layer on top of the others.
    pub fn layer(mut self, created_by: &str, entries: Vec<LayerEntry>) -> Self {
        self.extra_layers.push(LayerPlan {
            entries,
            created_by: created_by.to_string(),
        });
        self
    }

    /// `docker save` layout (default: Docker 25+ blobs).
    pub fn layout(mut self, layout: DockerLayout) -> Self {
        self.layout = layout;
        self
    }

    /// How the OCI layout names the image (default: containerd annotations).
    pub fn oci_naming(mut self, naming: OciNaming) -> Self {
        self.oci_naming = naming;
        self
    }

    /// Put the manifest behind a nested index offering linux/arm64 first and linux/amd64.
    pub fn nested_index(mut self) -> Self {
        self.nested_index = true;
        self
    }

    /// Hostile: the config names a wrong diffID for layer `index`.
    pub fn corrupt_diff_id(mut self, index: usize) -> Self {
        self.corrupt_diff_id = Some(index);
        self
    }

    /// Hostile: the manifest / blob name states a wrong digest for layer `index`'s blob (the
    /// config's diffID stays right).
    pub fn corrupt_blob_digest(mut self, index: usize) -> Self {
        self.corrupt_blob_digest = Some(index);
        self
    }

    /// Write a `docker save` archive to `path`.
    pub fn build_docker_archive(&self, path: &Path) -> Result<BuiltImage> {
        let blobs = self.blobs()?;
        write_docker_archive(&[(self, &blobs)], self.layout, path)?;
        Ok(blobs.built)
    }

    /// Write an OCI-layout tar to `path`.
    pub fn build_oci_layout(&self, path: &Path) -> Result<BuiltImage> {
        let blobs = self.blobs()?;
        write_oci_layout(self, &blobs, path)?;
        Ok(blobs.built)
    }

    fn layer_plans(&self) -> Result<Vec<LayerPlan>> {
        let mut plans = Vec::new();
        if self.with_busybox {
            plans.push(busybox_layer()?);
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        for i in 0..self.random_layers {
            let mut data = vec![0u8; self.layer_size];
            rng.fill_bytes(&mut data);
            let mut entries = vec![
                LayerEntry::dir("data"),
                LayerEntry::file(&format!("data/layer-{i}.bin"), data),
                LayerEntry::file("data/common.txt", format!("written by layer {i}\n")),
                LayerEntry::file(&format!("data/scratch-{i}"), b"scratch".to_vec()),
                LayerEntry::dir(&format!("data/dir-{i}")),
                LayerEntry::file(&format!("data/dir-{i}/file"), format!("layer {i}\n")),
            ];
            if i >= 1 {
                entries.push(LayerEntry::whiteout(&format!("data/scratch-{}", i - 1)));
            }
            if i >= 2 {
                entries.push(LayerEntry::dir("data/dir-0"));
                entries.push(LayerEntry::opaque("data/dir-0"));
                entries.push(LayerEntry::file(
                    "data/dir-0/after-opaque",
                    format!("layer {i}\n"),
                ));
            }
            plans.push(LayerPlan {
                entries,
                created_by: format!(
                    "/bin/sh -c #(nop) random layer {i} ({} bytes)",
                    self.layer_size
                ),
            });
        }
        plans.extend(self.extra_layers.iter().cloned());
        Ok(plans)
    }

    fn blobs(&self) -> Result<Blobs> {
        let plans = self.layer_plans()?;
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut sizes = Vec::new();
        let mut compressions = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let tar = layer_tar(&plan.entries)?;
            let compression = self
                .per_layer_compression
                .get(&i)
                .copied()
                .unwrap_or(self.compression);
            let bytes = compression.compress(&tar)?;
            diff_ids.push(sha256_digest(&tar));
            sizes.push(tar.len() as u64);
            let digest = sha256_digest(&bytes);
            layers.push(LayerBlob { bytes, digest });
            compressions.push(compression);
        }
        let mut config_diff_ids = diff_ids.clone();
        if let Some(i) = self.corrupt_diff_id {
            let wrong = config_diff_ids
                .get_mut(i)
                .context("corrupt_diff_id: no such layer")?;
            *wrong = sha256_digest(format!("not layer {i}").as_bytes());
        }
        if let Some(i) = self.corrupt_blob_digest {
            let layer = layers
                .get_mut(i)
                .context("corrupt_blob_digest: no such layer")?;
            layer.digest = sha256_digest(format!("not blob {i}").as_bytes());
        }
        let mut history: Vec<Value> = plans
            .iter()
            .map(|p| json!({"created": CREATED, "created_by": p.created_by}))
            .collect();
        history.push(json!({
            "created": CREATED,
            "created_by": format!("/bin/sh -c #(nop)  CMD {}", serde_json::to_string(&self.cmd)?),
            "empty_layer": true
        }));
        let mut runtime = json!({
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": self.cmd,
            "WorkingDir": "/",
        });
        if let Some((k, v)) = &self.label {
            runtime["Labels"] = json!({ k: v });
        }
        if !self.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, Value> = self
                .exposed_ports
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            runtime["ExposedPorts"] = Value::Object(ports);
        }
        if !self.volumes.is_empty() {
            let volumes: serde_json::Map<String, Value> = self
                .volumes
                .iter()
                .map(|v| (v.clone(), json!({})))
                .collect();
            runtime["Volumes"] = Value::Object(volumes);
        }
        let config = json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": CREATED,
            "author": "strata test image builder",
            "config": runtime,
            "rootfs": {"type": "layers", "diff_ids": config_diff_ids},
            "history": history,
        });
        let config_bytes = serde_json::to_vec(&config)?;
        let built = BuiltImage {
            id: sha256_digest(&config_bytes),
            repo_tags: self.tags.clone(),
            chain_ids: chain_ids(&diff_ids),
            diff_ids,
            blob_digests: layers.iter().map(|l| l.digest.clone()).collect(),
            layer_tar_sizes: sizes,
            config,
        };
        Ok(Blobs {
            built,
            config_bytes,
            layers,
            compressions,
        })
    }
}

/// Write several images into one `docker save` archive (layers they share are written once; in
/// the legacy layout a repeated layer is a symlink to the first copy, as Docker writes it).
pub fn build_docker_archive_of(
    images: &[&TestImage],
    layout: DockerLayout,
    path: &Path,
) -> Result<Vec<BuiltImage>> {
    let blobs: Vec<Blobs> = images.iter().map(|i| i.blobs()).collect::<Result<_>>()?;
    let pairs: Vec<(&TestImage, &Blobs)> = images.iter().copied().zip(blobs.iter()).collect();
    write_docker_archive(&pairs, layout, path)?;
    Ok(blobs.into_iter().map(|b| b.built).collect())
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// OCI ChainIDs of diffIDs, bottom first.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The OCI architecture name of this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn seed_from(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}
