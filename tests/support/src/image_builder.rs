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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// Where the static busybox comes from (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked to busybox in the base layer.
pub const APPLETS: &[&str] = &[
    "sh",
    "echo",
    "ls",
    "cat",
    "sleep",
    "true",
    "false",
    "env",
    "id",
    "mkdir",
    "rm",
    "rmdir",
    "touch",
    "ps",
    "hostname",
    "wc",
    "head",
    "tail",
    "grep",
    "sed",
    "printf",
    "test",
    "pwd",
    "uname",
    "date",
    "dd",
    "stat",
    "kill",
    "seq",
    "sort",
    "du",
    "df",
    "cp",
    "mv",
    "ln",
    "chmod",
    "chown",
    "whoami",
    "mount",
    "umount",
    "readlink",
    "find",
    "xargs",
    "tr",
    "cut",
    "sha256sum",
    "md5sum",
    "mktemp",
    "nproc",
    "free",
    "top",
    "yes",
    "wget",
    "nc",
    "ip",
    "ifconfig",
    "ping",
    "awk",
    "tee",
    "basename",
    "dirname",
    "which",
    "sync",
    "vi",
    "hexdump",
    "od",
    "cmp",
    "diff",
    "tar",
    "gzip",
    "gunzip",
];

/// The mtime of every entry, so identical content gives identical layers (and diffIDs).
const FIXED_MTIME: u64 = 1_700_000_000;
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

/// One entry of a hand-made layer.
#[derive(Clone, Debug)]
pub enum LayerEntry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A hard link to an earlier entry of the same layer.
    Hardlink {
        path: String,
        target: String,
    },
}

impl LayerEntry {
    pub fn dir(path: &str) -> Self {
        LayerEntry::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        LayerEntry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o644,
        }
    }
    pub fn symlink(path: &str, target: &str) -> Self {
        LayerEntry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    /// A whiteout: deletes `dir/name` of the layers below.
    pub fn whiteout(path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        LayerEntry::file(&wh, Vec::new())
    }
    /// Marks `dir` opaque: what the layers below had in it is hidden.
    pub fn opaque(dir: &str) -> Self {
        LayerEntry::file(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }
}

/// A layer and how it was described.
#[derive(Clone, Debug)]
struct LayerPlan {
    entries: Vec<LayerEntry>,
    created_by: String,
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
        }
    }

    /// An image without the busybox base (for tests that only look at layering).
    pub fn scratch(tag: &str) -> Self {
        TestImage {
            with_busybox: false,
            ..TestImage::busybox(tag)
        }
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

fn write_docker_archive(
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

fn write_oci_layout(image: &TestImage, blobs: &Blobs, path: &Path) -> Result<()> {
    let mut out = ArchiveWriter::create(path)?;
    out.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    out.dir("blobs")?;
    out.dir("blobs/sha256")?;
    out.file(&blob_path(&blobs.built.id), &blobs.config_bytes)?;
    let mut written = std::collections::BTreeSet::new();
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

/// The busybox-static base layer.
fn busybox_layer() -> Result<LayerPlan> {
    let busybox = std::fs::read(BUSYBOX).with_context(|| {
        format!("reading {BUSYBOX}: the test images need Debian's busybox-static (apt-get install busybox-static)")
    })?;
    let mut entries = vec![LayerEntry::dir("bin")];
    entries.push(LayerEntry::File {
        path: "bin/busybox".into(),
        data: busybox,
        mode: 0o755,
    });
    for applet in APPLETS {
        entries.push(LayerEntry::symlink(&format!("bin/{applet}"), "busybox"));
    }
    for dir in ["dev", "etc", "proc", "sys", "usr", "usr/bin", "var"] {
        entries.push(LayerEntry::dir(dir));
    }
    entries.push(LayerEntry::Dir {
        path: "root".into(),
        mode: 0o700,
    });
    entries.push(LayerEntry::Dir {
        path: "tmp".into(),
        mode: 0o1777,
    });
    entries.push(LayerEntry::file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ));
    entries.push(LayerEntry::file(
        "etc/group",
        "root:x:0:\nnobody:x:65534:\n",
    ));
    Ok(LayerPlan {
        entries,
        created_by: "/bin/sh -c #(nop) ADD file:busybox-static in /".into(),
    })
}

/// Serialize layer entries as a tar stream with fixed metadata. Names and link targets are
/// written as given (even `..` or absolute ones), so hostile layers can be made too.
pub fn layer_tar(entries: &[LayerEntry]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(FIXED_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        // As Go's archive/tar (Docker) writes them: zeros, not blanks.
        header.set_device_major(0)?;
        header.set_device_minor(0)?;
        let (path, data): (&str, &[u8]) = match entry {
            LayerEntry::Dir { path, mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                (path, &[])
            }
            LayerEntry::File { path, data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (path, data)
            }
            LayerEntry::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                set_raw(&mut header.as_old_mut().linkname, target)?;
                (path, &[])
            }
            LayerEntry::Hardlink { path, target } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                set_raw(&mut header.as_old_mut().linkname, target)?;
                (path, &[])
            }
        };
        let name = if matches!(entry, LayerEntry::Dir { .. }) && !path.ends_with('/') {
            format!("{path}/")
        } else {
            path.to_string()
        };
        set_raw(&mut header.as_old_mut().name, &name)?;
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data)?;
    }
    Ok(builder.into_inner()?)
}

fn set_raw(slot: &mut [u8], text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    if bytes.len() > slot.len() {
        bail!("tar name {text:?} is longer than {} bytes", slot.len());
    }
    slot.fill(0);
    slot[..bytes.len()].copy_from_slice(bytes);
    Ok(())
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
