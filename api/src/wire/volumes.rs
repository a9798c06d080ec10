//! Volume requests and answers (`/volumes...`), in Docker's JSON shapes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use strata_agent::model;

use super::to_hash_map;

/// `GET /volumes/{name}` and one entry of the list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<HashMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<HashMap<String, String>>,
    pub scope: String,
}

/// `GET /volumes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeList {
    pub volumes: Vec<Volume>,
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePrune {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `POST /volumes/create` body (fields Strata does not use, like `ClusterVolumeSpec`, are
/// ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreate {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub driver_opts: Option<HashMap<String, String>>,
    pub labels: Option<HashMap<String, String>>,
}

fn map_or_null(
    map: &std::collections::BTreeMap<String, String>,
) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| to_hash_map(map))
}

/// A volume as Docker shows it.
pub fn volume(v: &model::VolumeInfo) -> Volume {
    Volume {
        created_at: v.created_at.clone(),
        driver: v.driver.clone(),
        labels: map_or_null(&v.labels),
        mountpoint: v.mountpoint.clone(),
        name: v.name.clone(),
        options: map_or_null(&v.options),
        scope: "local".to_string(),
    }
}

/// The create body as the engine's spec.
pub fn create_spec(body: VolumeCreate) -> model::VolumeCreateSpec {
    model::VolumeCreateSpec {
        name: body.name.unwrap_or_default(),
        driver: body.driver.unwrap_or_default(),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        options: body.driver_opts.unwrap_or_default().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_create_body_and_inspect_shape() {
        let body: VolumeCreate = serde_json::from_str(
            r#"{"Driver":"local","DriverOpts":{},"Labels":{"a":"b"},"Name":"data"}"#,
        )
        .unwrap();
        let spec = create_spec(body);
        assert_eq!(spec.name, "data");
        assert_eq!(spec.labels.get("a").map(String::as_str), Some("b"));
        assert!(spec.options.is_empty());
        let json = serde_json::to_value(volume(&model::VolumeInfo {
            name: "data".into(),
            driver: "local".into(),
            mountpoint: "/r/volumes/data/_data".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(json["Mountpoint"], "/r/volumes/data/_data");
        assert_eq!(json["Scope"], "local");
        assert!(json["Labels"].is_null());
    }
}
