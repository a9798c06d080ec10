//! What `docker images`, `docker image inspect` and `docker history` show, built from the stored
//! config bytes, references and layer records.

use std::collections::HashMap;

use rusqlite::Connection;

use super::config::{format_rfc3339_nano, parse_time, ImageConfigFile};
use super::records::{self, ImageRecord};
use super::reference::Reference;
use crate::error::{EngineError, Result};
use crate::layers::chain_id::chain_ids;
use crate::layers::{records as layer_records, Digest};
use crate::model::{HistoryEntry, ImageSummary};

/// An image with its parsed config and references, as the read paths need it.
pub struct ImageView {
    pub record: ImageRecord,
    pub config: ImageConfigFile,
    /// Normalized references, sorted.
    pub refs: Vec<String>,
}

impl ImageView {
    pub fn load(conn: &Connection, id: &Digest) -> Result<ImageView> {
        let record = records::get(conn, id.as_str())?
            .ok_or_else(|| EngineError::NoSuchImage(id.to_string()))?;
        let refs = records::refs_of(conn, id.as_str())?;
        ImageView::from_parts(record, refs)
    }

    fn from_parts(record: ImageRecord, refs: Vec<String>) -> Result<ImageView> {
        let config = ImageConfigFile::parse(&record.config, record.id.as_str())
            .map_err(|e| EngineError::Internal(format!("stored config of {}: {e}", record.id)))?;
        Ok(ImageView {
            record,
            config,
            refs,
        })
    }

    /// Tags in familiar form (`busybox:latest`).
    pub fn repo_tags(&self) -> Vec<String> {
        self.familiar_refs(|r| r.tag().is_some())
    }

    /// Digest references in familiar form (`busybox@sha256:...`).
    pub fn repo_digests(&self) -> Vec<String> {
        self.familiar_refs(|r| r.tag().is_none() && r.digest().is_some())
    }

    fn familiar_refs(&self, keep: impl Fn(&Reference) -> bool) -> Vec<String> {
        self.refs
            .iter()
            .filter_map(|name| Reference::parse_normalized(name).ok())
            .filter(|r| keep(r))
            .map(|r| r.familiar())
            .collect()
    }

    /// `docker history`: newest first; the top row carries the image id and tags, the rows
    /// below `<missing>` (no local parent images); non-empty rows get their layer's size.
    pub fn history(&self, conn: &Connection) -> Result<Vec<HistoryEntry>> {
        let diff_ids = self.config.diff_ids(self.record.id.as_str())?;
        let chains = chain_ids(&diff_ids);
        let mut layer_index = 0usize;
        let mut rows = Vec::new();
        for row in self.config.history.iter().flatten() {
            let empty = row.empty_layer.unwrap_or(false);
            let size = if empty {
                0
            } else {
                let Some(chain) = chains.get(layer_index) else {
                    return Err(EngineError::Internal(format!(
                        "image {}: more non-empty history rows than layers",
                        self.record.id
                    )));
                };
                layer_index += 1;
                layer_records::get(conn, chain)?.map_or(0, |l| l.size)
            };
            rows.push(HistoryEntry {
                id: "<missing>".to_string(),
                created: row
                    .created
                    .as_deref()
                    .and_then(parse_time)
                    .map_or(0, |t| t.timestamp()),
                created_by: row.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: row.comment.clone().unwrap_or_default(),
                empty_layer: empty,
            });
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = self.record.id.to_string();
            top.tags = self.repo_tags();
        }
        Ok(rows)
    }

    /// A line of `docker images`.
    pub fn summary(&self, containers: i64) -> ImageSummary {
        ImageSummary {
            id: self.record.id.to_string(),
            parent_id: self.record.parent_id.clone().unwrap_or_default(),
            repo_tags: self.repo_tags(),
            repo_digests: self.repo_digests(),
            created: self.config.created_unix(),
            size: self.record.size,
            labels: self.config.runtime_config().labels,
            containers,
        }
    }

    /// `created` as Docker prints it.
    pub fn created(&self) -> String {
        self.config
            .created
            .as_deref()
            .and_then(parse_time)
            .map_or_else(
                || super::config::GO_ZERO_TIME.to_string(),
                format_rfc3339_nano,
            )
    }
}

/// Every image, newest first.
pub fn list(conn: &Connection) -> Result<Vec<ImageSummary>> {
    let mut refs = records::all_refs(conn)?;
    let counts: HashMap<String, i64> = records::container_counts(conn)?;
    let mut out = Vec::new();
    for record in records::all(conn)? {
        let id = record.id.to_string();
        let view = ImageView::from_parts(record, refs.remove(&id).unwrap_or_default())?;
        out.push(view.summary(counts.get(&id).copied().unwrap_or(0)));
    }
    out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}
