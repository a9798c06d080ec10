//! Image config JSON (OCI image config / Docker image JSON). Parsed leniently: Docker configs
//! carry extra fields (`container_config`, `docker_version`, ...) and `null`s where OCI has
//! nothing; unknown fields are ignored and the bytes are kept exactly as received.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{EngineError, Result};
use crate::layers::Digest;
use crate::model::ImageRuntimeConfig;

/// The parts of an image config Strata reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub config: Option<RuntimeConfigJson>,
    #[serde(default)]
    pub rootfs: Option<RootFsJson>,
    #[serde(default)]
    pub history: Option<Vec<HistoryJson>>,
}

/// The `config` object (Docker's capitalised keys).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuntimeConfigJson {
    #[serde(rename = "User", default)]
    pub user: Option<String>,
    #[serde(rename = "Env", default)]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Entrypoint", default)]
    pub entrypoint: Option<StringOrList>,
    #[serde(rename = "Cmd", default)]
    pub cmd: Option<StringOrList>,
    #[serde(rename = "WorkingDir", default)]
    pub working_dir: Option<String>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(rename = "ExposedPorts", default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "Volumes", default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(rename = "StopSignal", default)]
    pub stop_signal: Option<String>,
}

/// Docker accepts `"Cmd": "sh -c x"` as well as a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    List(Vec<String>),
}

impl StringOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::List(v) => v,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFsJson {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub diff_ids: Option<Vec<String>>,
}

/// One `history` row.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct HistoryJson {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub empty_layer: Option<bool>,
}

impl ImageConfigFile {
    /// Parse config bytes; `what` names the file in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfigFile> {
        serde_json::from_slice(bytes).map_err(|e| {
            EngineError::InvalidArchive(format!("image config {what} is not valid: {e}"))
        })
    }

    /// `rootfs.diff_ids`, validated.
    pub fn diff_ids(&self, what: &str) -> Result<Vec<Digest>> {
        let rootfs = self.rootfs.as_ref().ok_or_else(|| {
            EngineError::InvalidArchive(format!("image config {what} has no rootfs"))
        })?;
        if let Some(kind) = &rootfs.kind {
            if kind != "layers" {
                return Err(EngineError::InvalidArchive(format!(
                    "image config {what} has rootfs type {kind:?} (want \"layers\")"
                )));
            }
        }
        rootfs
            .diff_ids
            .iter()
            .flatten()
            .map(|d| {
                Digest::parse(d).map_err(|e| {
                    EngineError::InvalidArchive(format!("image config {what}: bad diff id: {e}"))
                })
            })
            .collect()
    }

    /// The runtime config as `docker image inspect` shows it.
    pub fn runtime_config(&self) -> ImageRuntimeConfig {
        let Some(c) = self.config.clone() else {
            return ImageRuntimeConfig::default();
        };
        ImageRuntimeConfig {
            user: c.user.filter(|u| !u.is_empty()),
            env: c.env.unwrap_or_default(),
            entrypoint: c.entrypoint.map(StringOrList::into_vec),
            cmd: c.cmd.map(StringOrList::into_vec),
            working_dir: c.working_dir.filter(|w| !w.is_empty()),
            labels: c.labels.unwrap_or_default(),
            exposed_ports: c.exposed_ports.unwrap_or_default().into_keys().collect(),
            volumes: c.volumes.unwrap_or_default().into_keys().collect(),
            stop_signal: c.stop_signal.filter(|s| !s.is_empty()),
        }
    }

    /// `created` as Unix seconds (0 when absent or unreadable).
    pub fn created_unix(&self) -> i64 {
        self.created
            .as_deref()
            .and_then(parse_time)
            .map_or(0, |t| t.timestamp())
    }

    /// `created` in Go's RFC 3339 with nanoseconds (trailing zeros trimmed), as Docker prints it;
    /// Go's zero time when absent.
    pub fn created_rfc3339(&self) -> String {
        self.created
            .as_deref()
            .and_then(parse_time)
            .map_or_else(|| GO_ZERO_TIME.to_string(), format_rfc3339_nano)
    }
}

/// What Docker prints for a time that was never set.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parse an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Go's `time.RFC3339Nano`: fractional seconds with trailing zeros removed.
pub fn format_rfc3339_nano(time: chrono::DateTime<chrono::Utc>) -> String {
    let full = time.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_docker_config_with_extra_fields_and_nulls() {
        let json = br#"{
            "architecture": "amd64", "os": "linux", "docker_version": "24.0.7",
            "created": "2024-05-06T07:08:09.120000000Z",
            "container_config": {"Hostname": "x"},
            "config": {"Env": ["PATH=/bin"], "Cmd": "sh", "Labels": null,
                       "ExposedPorts": {"80/tcp": {}}, "Volumes": null, "WorkingDir": ""},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]},
            "history": [{"created_by": "ADD rootfs"}, {"created_by": "CMD", "empty_layer": true}]
        }"#;
        let config = ImageConfigFile::parse(json, "test").unwrap();
        let runtime = config.runtime_config();
        assert_eq!(runtime.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(runtime.env, vec!["PATH=/bin".to_string()]);
        assert_eq!(runtime.exposed_ports, vec!["80/tcp".to_string()]);
        assert_eq!(runtime.working_dir, None);
        assert_eq!(config.diff_ids("test").unwrap().len(), 1);
        assert_eq!(config.created_rfc3339(), "2024-05-06T07:08:09.12Z");
        assert_eq!(config.created_unix(), 1714979289);
    }

    #[test]
    fn missing_rootfs_or_bad_diff_id_is_an_invalid_archive() {
        let config = ImageConfigFile::parse(b"{}", "c.json").unwrap();
        assert!(config
            .diff_ids("c.json")
            .unwrap_err()
            .to_string()
            .contains("no rootfs"));
        let config = ImageConfigFile::parse(
            br#"{"rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}}"#,
            "c",
        )
        .unwrap();
        assert!(matches!(
            config.diff_ids("c"),
            Err(EngineError::InvalidArchive(_))
        ));
        assert!(ImageConfigFile::parse(b"[1,2]", "c").is_err());
    }
}
