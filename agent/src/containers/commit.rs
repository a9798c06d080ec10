//! `docker commit`: the container's changes (the driver's diff of its rw layer against its
//! parent, the `-init` layer, so the files the agent puts there are not in it) become a new
//! layer on the image's top layer; the new config is the container's config with the `--change`
//! instructions applied; the history gains one row (`created_by` = the container's command).
//! A running container is frozen while its changes are read unless `pause=false`; an agent
//! killed before the thaw leaves it frozen, and the next start thaws it
//! (`repair_run::reconcile`).

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::containers::live::Container;
use crate::containers::Shared;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::new_image::{spool_layer, store_image, target_reference, NewImageConfig};
use crate::images::transfer_options::CommitOptions;
use crate::layers::Digest;
use crate::model::{ContainerStatus, ResolvedConfig};

impl Engine {
    /// `docker commit CONTAINER [REPO[:TAG]]`: returns the new image id (`sha256:...`).
    pub async fn commit_container(&self, id: &str, opts: CommitOptions) -> Result<String> {
        let shared = self.inner.containers.shared().clone();
        let c = shared.find(id)?;
        let tag = target_reference(opts.repo.as_deref(), opts.tag.as_deref())?;
        let record = c.record();
        let config = NewImageConfig {
            parent_config: None,
            runtime: runtime_config(&record.config),
            changes: opts.changes.clone(),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            created_by: record.config.cmd.join(" "),
            container: Some(c.id.clone()),
        };
        config.validate()?;

        let frozen = if opts.pause {
            freeze(&shared, &c).await?
        } else {
            false
        };
        if frozen {
            crate::faults::fault_point("commit-container-frozen");
        }
        let engine = self.clone();
        let image_id = record.image_id.clone();
        let rw_layer = record.rw_layer.clone();
        let result = tokio::task::spawn_blocking(move || {
            let (parent_config, parent_top) = engine.inner.db.read(|conn| {
                let parent = crate::images::records::get(conn, &image_id)?
                    .ok_or_else(|| EngineError::NoSuchImage(image_id.clone()))?;
                Ok((parent.config, parent.top_layer))
            })?;
            let config = NewImageConfig {
                parent_config: Some(parent_config),
                ..config
            };
            let images = &engine.inner.images;
            let driver = &engine.inner.driver;
            let layer = spool_layer(images, "commit", |out| {
                driver.diff(&rw_layer, out)?;
                Ok(())
            })?;
            store_image(
                images,
                &engine.inner.layers,
                parent_top.as_ref(),
                Some(image_id.clone()),
                layer,
                &config,
                tag.as_ref(),
            )
        })
        .await
        .map_err(|e| EngineError::Internal(format!("commit task: {e}")));
        if frozen {
            if matches!(result, Ok(Ok(_))) {
                crate::faults::fault_point("commit-image-recorded");
            }
            thaw(&shared, &c).await;
        }
        let new_id: Digest = result??;
        info!(container = %c.id, image = %new_id, "container committed");
        Ok(new_id.to_string())
    }
}

/// Freeze a running container for the commit; `true` when this call froze it. A container
/// the user paused stays as it is.
async fn freeze(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<bool> {
    let _guard = c.lifecycle.lock().await;
    if c.state().status != ContainerStatus::Running {
        return Ok(false);
    }
    shared.runtime.pause(&c.id).await.map_err(|e| {
        EngineError::Runtime(format!("Cannot pause container {} to commit it: {e}", c.id))
    })?;
    Ok(true)
}

/// Thaw what [`freeze`] froze (unless the container stopped meanwhile).
async fn thaw(shared: &Arc<Shared>, c: &Arc<Container>) {
    let _guard = c.lifecycle.lock().await;
    if c.state().status != ContainerStatus::Running {
        return;
    }
    if let Err(e) = shared.runtime.resume(&c.id).await {
        warn!(id = %c.id, error = %e, "thawing a container after commit failed");
    }
}

/// The image config's `config` object from the container's merged config, as dockerd writes it
/// for a commit (empty fields left out).
fn runtime_config(config: &ResolvedConfig) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_string(), value);
    };
    if !config.user.is_empty() {
        put("User", json!(config.user));
    }
    if !config.exposed_ports.is_empty() {
        let ports: Map<String, Value> = config
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        put("ExposedPorts", Value::Object(ports));
    }
    put("Env", json!(config.env));
    put(
        "Cmd",
        if config.cmd.is_empty() {
            Value::Null
        } else {
            json!(config.cmd)
        },
    );
    if !config.volumes.is_empty() {
        let volumes: Map<String, Value> = config
            .volumes
            .iter()
            .map(|v| (v.clone(), json!({})))
            .collect();
        put("Volumes", Value::Object(volumes));
    }
    if !config.working_dir.is_empty() {
        put("WorkingDir", json!(config.working_dir));
    }
    put(
        "Entrypoint",
        if config.entrypoint.is_empty() {
            Value::Null
        } else {
            json!(config.entrypoint)
        },
    );
    if !config.labels.is_empty() {
        put("Labels", json!(config.labels));
    }
    if let Some(signal) = &config.stop_signal {
        put("StopSignal", json!(signal));
    }
    out
}
