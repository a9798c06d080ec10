//! `docker container prune`: remove every container that is not running (created, exited,
//! dead), optionally only those matching `label`/`label!`/`until` filters, and report what was
//! removed and the space their rw layers held.

use std::collections::BTreeMap;

use tracing::warn;

use crate::containers::live::is_active;
use crate::containers::logs::parse_log_time;
use crate::containers::{remove, time, Shared};
use crate::engine::Engine;
use crate::error::{EngineError, Result};

/// What `POST /containers/prune` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Full ids of the removed containers.
    pub deleted: Vec<String>,
    /// Bytes the removed containers' writable layers held.
    pub space_reclaimed: u64,
}

/// Parsed prune filters.
#[derive(Default)]
struct PruneFilters {
    labels: Vec<(String, Option<String>)>,
    not_labels: Vec<(String, Option<String>)>,
    until: Option<chrono::DateTime<chrono::Utc>>,
}

fn label_pair(value: &str) -> (String, Option<String>) {
    match value.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (value.to_string(), None),
    }
}

fn label_matches(labels: &BTreeMap<String, String>, (k, v): &(String, Option<String>)) -> bool {
    match (labels.get(k), v) {
        (Some(actual), Some(wanted)) => actual == wanted,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl PruneFilters {
    fn parse(raw: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        let mut f = PruneFilters::default();
        for (key, values) in raw {
            for value in values {
                match key.as_str() {
                    "label" => f.labels.push(label_pair(value)),
                    "label!" => f.not_labels.push(label_pair(value)),
                    "until" => f.until = parse_log_time(value)?,
                    other => {
                        return Err(EngineError::InvalidArgument(format!(
                            "invalid filter '{other}'"
                        )))
                    }
                }
            }
        }
        Ok(f)
    }

    fn matches(&self, labels: &BTreeMap<String, String>, created_at: &str) -> bool {
        self.labels.iter().all(|l| label_matches(labels, l))
            && !self.not_labels.iter().any(|l| label_matches(labels, l))
            && match (self.until, time::parse(created_at)) {
                (Some(until), Some(created)) => created < until,
                _ => true,
            }
    }
}

impl Engine {
    /// `docker container prune [--filter ...]`.
    pub async fn prune_containers(
        &self,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<PruneReport> {
        let filters = PruneFilters::parse(filters)?;
        let shared = self.inner.containers.shared();
        let mut report = PruneReport::default();
        for c in shared.registry.all() {
            let rec = c.record();
            if is_active(rec.state.status) || !filters.matches(&rec.config.labels, &rec.created_at)
            {
                continue;
            }
            let driver = shared.driver.clone();
            let rw = rec.rw_layer.clone();
            let size = Shared::blocking("measuring a container layer", move || {
                Ok(driver.usage(&rw).map(|u| u.size_bytes).unwrap_or(0))
            })
            .await
            .unwrap_or(0);
            match remove::remove(shared, &c, false).await {
                Ok(()) => {
                    report.deleted.push(rec.id.clone());
                    report.space_reclaimed += size;
                }
                // Started or removed meanwhile: not ours to prune any more.
                Err(e) => warn!(id = %rec.id, error = %e, "prune: container not removed"),
            }
        }
        Ok(report)
    }
}
