//! Making an image from one new layer (`docker commit`, `docker import`): the layer's tar is
//! spooled first (so its diffID is known), registered through the layer store on the parent's
//! top layer like a loaded layer, then the image and its tag are recorded in one transaction.
//! On failure the new layer is released again.

use std::fs::File;
use std::io::Write;

use serde_json::{json, Map, Value};

use super::change_instructions::apply_changes;
use super::config::format_rfc3339_nano;
use super::records::{self, ImageRecord};
use super::reference::Reference;
use super::spool::{anonymous_file, rewind};
use super::ImageStore;
use crate::error::{EngineError, Result};
use crate::layers::digest::HashingWriter;
use crate::layers::{records as layer_records, Digest, LayerPins, LayerRecord, LayerStore};

/// A layer tar spooled to an unlinked file, with its diffID.
pub struct SpooledLayer {
    pub file: File,
    pub diff_id: Digest,
    pub size: u64,
}

/// Spool the uncompressed layer tar that `write` produces, hashing it on the way.
pub fn spool_layer(
    images: &ImageStore,
    what: &str,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<SpooledLayer> {
    let file = anonymous_file(images.tmp_root(), what)?;
    let mut hashing = HashingWriter::new(file);
    write(&mut hashing)?;
    hashing
        .flush()
        .map_err(|e| EngineError::io(format!("writing the {what} spool file"), e))?;
    let (diff_id, _, mut file) = hashing.finish();
    let size = rewind(&mut file, what)?;
    Ok(SpooledLayer {
        file,
        diff_id,
        size,
    })
}

/// What the new image's config says beyond its layers.
pub struct NewImageConfig {
    /// The parent image's config (commit), `None` for an image from scratch (import).
    pub parent_config: Option<Vec<u8>>,
    /// The runtime `config` object before `--change` instructions.
    pub runtime: Map<String, Value>,
    pub changes: Vec<String>,
    pub author: String,
    pub comment: String,
    /// `created_by` of the new history row.
    pub created_by: String,
    /// The container the image was committed from.
    pub container: Option<String>,
}

impl NewImageConfig {
    /// Check the `--change` instructions before any work is done.
    pub fn validate(&self) -> Result<()> {
        let mut scratch = self.runtime.clone();
        apply_changes(&mut scratch, &self.changes)
    }

    /// The config JSON of the image: the parent's history and diff ids plus one row and one
    /// layer, the runtime config with the changes applied.
    pub fn to_bytes(&self, diff_id: &Digest) -> Result<Vec<u8>> {
        let parent: Map<String, Value> = match &self.parent_config {
            Some(bytes) => match serde_json::from_slice(bytes) {
                Ok(Value::Object(map)) => map,
                _ => {
                    return Err(EngineError::Internal(
                        "the parent image's stored config is not a JSON object".into(),
                    ))
                }
            },
            None => Map::new(),
        };
        let mut runtime = self.runtime.clone();
        apply_changes(&mut runtime, &self.changes)?;
        let created = format_rfc3339_nano(chrono::Utc::now());

        let mut history: Vec<Value> = parent
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut row = Map::new();
        row.insert("created".into(), json!(created));
        if !self.created_by.is_empty() {
            row.insert("created_by".into(), json!(self.created_by));
        }
        if !self.author.is_empty() {
            row.insert("author".into(), json!(self.author));
        }
        if !self.comment.is_empty() {
            row.insert("comment".into(), json!(self.comment));
        }
        history.push(Value::Object(row));

        let mut diff_ids: Vec<Value> = parent
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        diff_ids.push(json!(diff_id.as_str()));

        let mut out = Map::new();
        out.insert(
            "architecture".into(),
            parent
                .get("architecture")
                .cloned()
                .unwrap_or_else(|| json!(host_architecture())),
        );
        if let Some(variant) = parent.get("variant") {
            out.insert("variant".into(), variant.clone());
        }
        out.insert(
            "os".into(),
            parent.get("os").cloned().unwrap_or_else(|| json!("linux")),
        );
        out.insert("created".into(), json!(created));
        if !self.author.is_empty() {
            out.insert("author".into(), json!(self.author));
        }
        if !self.comment.is_empty() {
            out.insert("comment".into(), json!(self.comment));
        }
        if let Some(container) = &self.container {
            out.insert("container".into(), json!(container));
        }
        out.insert("config".into(), Value::Object(runtime));
        out.insert("history".into(), Value::Array(history));
        out.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        serde_json::to_vec(&Value::Object(out))
            .map_err(|e| EngineError::Internal(format!("encoding the new image config: {e}")))
    }
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

/// Register `layer` on `parent_top` (the parent image's top layer), then record the image
/// (`parent_image` as its local parent) and point `tag` at it. Returns the image id.
pub fn store_image(
    images: &ImageStore,
    layers: &LayerStore,
    parent_top: Option<&Digest>,
    parent_image: Option<String>,
    layer: SpooledLayer,
    config: &NewImageConfig,
    tag: Option<&Reference>,
) -> Result<Digest> {
    let mut pins = layers.pins();
    match store_pinned(
        images,
        layers,
        &mut pins,
        parent_top,
        parent_image,
        layer,
        config,
        tag,
    ) {
        Ok(id) => {
            drop(pins); // the image now holds its layers
            Ok(id)
        }
        Err(err) => {
            if let Err(cleanup) = layers.abandon(pins) {
                tracing::warn!(error = %cleanup,
                    "releasing the layer of a failed commit/import; the next start collects it");
            }
            Err(err)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn store_pinned(
    images: &ImageStore,
    layers: &LayerStore,
    pins: &mut LayerPins,
    parent_top: Option<&Digest>,
    parent_image: Option<String>,
    layer: SpooledLayer,
    config: &NewImageConfig,
    tag: Option<&Reference>,
) -> Result<Digest> {
    let parent = parent_top
        .map(|chain| layers.pin_existing(pins, chain))
        .transpose()?;
    let diff_id = layer.diff_id.clone();
    let file = layer.file;
    let registered = layers.register(
        pins,
        parent.as_ref(),
        &diff_id,
        "new layer",
        || Ok(file),
        |_| Ok(()),
    )?;
    let config_bytes = config.to_bytes(&diff_id)?;
    let id = Digest::of_bytes(&config_bytes);
    let size = chain_size(images, &registered.layer)?;
    let record = ImageRecord {
        id: id.clone(),
        config: config_bytes,
        top_layer: Some(registered.layer.chain_id.clone()),
        size,
        parent_id: parent_image,
    };
    images.db().write("recording a new image", |tx| {
        records::insert_if_absent(tx, &record)?;
        if let Some(tag) = tag {
            records::set_ref(tx, &tag.to_string(), id.as_str())?;
        }
        Ok(())
    })?;
    tracing::info!(image = %id, layer = %registered.layer.chain_id, "image created");
    Ok(id)
}

/// Sum of the sizes of `top` and every layer below it.
fn chain_size(images: &ImageStore, top: &LayerRecord) -> Result<i64> {
    images.db().read(|conn| {
        let mut size = top.size;
        let mut next = top.parent.clone();
        while let Some(chain) = next {
            let layer = layer_records::get(conn, &chain)?
                .ok_or_else(|| EngineError::Internal(format!("layer {chain} is not recorded")))?;
            size += layer.size;
            next = layer.parent;
        }
        Ok(size)
    })
}

/// The target of `repo` and `tag` as given to commit or import; `None` without a repo.
pub fn target_reference(repo: Option<&str>, tag: Option<&str>) -> Result<Option<Reference>> {
    let Some(repo) = repo.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let target = Reference::parse_normalized(repo)?;
    if target.digest().is_some() {
        return Err(EngineError::InvalidArgument(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    Ok(Some(match tag.filter(|t| !t.is_empty()) {
        Some(tag) => target.with_tag(tag)?,
        None if target.tag().is_some() => target,
        None => target.with_default_tag(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT_DIFF: &str =
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const NEW_DIFF: &str =
        "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn commit_config_extends_the_parent_history_and_layers() {
        let parent = json!({
            "architecture": "arm64", "variant": "v8", "os": "linux",
            "config": {"Cmd": ["sh"]},
            "history": [{"created_by": "ADD rootfs"}],
            "rootfs": {"type": "layers", "diff_ids": [PARENT_DIFF]}
        });
        let mut runtime = Map::new();
        runtime.insert("Cmd".into(), json!(["sh", "-c", "echo hi > /x"]));
        runtime.insert("Env".into(), json!(["PATH=/bin"]));
        let config = NewImageConfig {
            parent_config: Some(serde_json::to_vec(&parent).unwrap()),
            runtime,
            changes: vec![r#"CMD ["cat","/x"]"#.into()],
            author: "A <a@example.com>".into(),
            comment: "msg".into(),
            created_by: "sh -c echo hi > /x".into(),
            container: Some("c1".into()),
        };
        let bytes = config.to_bytes(&Digest::parse(NEW_DIFF).unwrap()).unwrap();
        let out: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(out["architecture"], "arm64");
        assert_eq!(out["variant"], "v8");
        assert_eq!(out["config"]["Cmd"], json!(["cat", "/x"]));
        assert_eq!(out["config"]["Env"], json!(["PATH=/bin"]));
        assert_eq!(out["rootfs"]["diff_ids"], json!([PARENT_DIFF, NEW_DIFF]));
        let history = out["history"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1]["created_by"], "sh -c echo hi > /x");
        assert_eq!(history[1]["comment"], "msg");
        assert_eq!(history[1]["author"], "A <a@example.com>");
        assert_eq!(out["author"], "A <a@example.com>");
        // The stored bytes parse as an image config Strata reads back.
        let parsed = super::super::config::ImageConfigFile::parse(&bytes, "new").unwrap();
        assert_eq!(parsed.diff_ids("new").unwrap().len(), 2);
    }

    #[test]
    fn import_config_starts_from_nothing() {
        let config = NewImageConfig {
            parent_config: None,
            runtime: Map::new(),
            changes: vec!["ENV A=1".into()],
            author: String::new(),
            comment: "Imported from -".into(),
            created_by: String::new(),
            container: None,
        };
        let out: Value =
            serde_json::from_slice(&config.to_bytes(&Digest::parse(NEW_DIFF).unwrap()).unwrap())
                .unwrap();
        assert_eq!(out["os"], "linux");
        assert_eq!(out["config"]["Env"], json!(["A=1"]));
        assert_eq!(out["history"][0]["comment"], "Imported from -");
        assert!(out["history"][0].get("created_by").is_none());
        assert_eq!(out["rootfs"]["diff_ids"], json!([NEW_DIFF]));
    }

    #[test]
    fn target_references_take_tags_from_repo_or_tag() {
        assert_eq!(target_reference(None, Some("x")).unwrap(), None);
        let r = target_reference(Some("app"), None).unwrap().unwrap();
        assert_eq!(r.familiar(), "app:latest");
        let r = target_reference(Some("app:1"), None).unwrap().unwrap();
        assert_eq!(r.familiar(), "app:1");
        let r = target_reference(Some("app"), Some("2")).unwrap().unwrap();
        assert_eq!(r.familiar(), "app:2");
        assert!(target_reference(Some("Bad Name"), None).is_err());
    }
}
