//! `docker volume ls --filter` and `docker volume prune --filter`.

use std::collections::BTreeMap;

use crate::error::{EngineError, Result};
use crate::model::VolumeInfo;

/// Parsed filters. Within one key, any value may match; all keys must match.
#[derive(Clone, Debug, Default)]
pub(crate) struct VolumeFilters {
    dangling: Option<bool>,
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<String>,
    not_labels: Vec<String>,
    /// Prune: named volumes too, not only anonymous ones.
    all: bool,
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(EngineError::InvalidArgument(format!(
            "invalid filter '{key}={value}'"
        ))),
    }
}

fn label_matches(labels: &BTreeMap<String, String>, wanted: &str) -> bool {
    match wanted.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(wanted),
    }
}

impl VolumeFilters {
    /// Filters of `docker volume ls`.
    pub(crate) fn for_list(raw: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        Self::parse(raw, &["dangling", "name", "driver", "label"])
    }

    /// Filters of `docker volume prune`.
    pub(crate) fn for_prune(raw: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        Self::parse(raw, &["label", "label!", "all"])
    }

    fn parse(raw: &BTreeMap<String, Vec<String>>, allowed: &[&str]) -> Result<Self> {
        let mut f = VolumeFilters::default();
        for (key, values) in raw {
            if !allowed.contains(&key.as_str()) {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid filter '{key}'"
                )));
            }
            for value in values {
                match key.as_str() {
                    "dangling" => f.dangling = Some(parse_bool(key, value)?),
                    "all" => f.all = parse_bool(key, value)?,
                    "name" => f.names.push(value.clone()),
                    "driver" => f.drivers.push(value.clone()),
                    "label" => f.labels.push(value.clone()),
                    _ => f.not_labels.push(value.clone()),
                }
            }
        }
        Ok(f)
    }

    /// Whether `ls` shows `volume` (`in_use`: some container references it).
    pub(crate) fn lists(&self, volume: &VolumeInfo, in_use: bool) -> bool {
        if self.dangling.is_some_and(|d| d == in_use) {
            return false;
        }
        if !self.names.is_empty() && !self.names.iter().any(|n| volume.name.contains(n.as_str())) {
            return false;
        }
        if !self.drivers.is_empty() && !self.drivers.contains(&volume.driver) {
            return false;
        }
        self.labels.iter().all(|l| label_matches(&volume.labels, l))
    }

    /// Whether `prune` removes `volume` (already known unused).
    pub(crate) fn prunes(&self, volume: &VolumeInfo) -> bool {
        (self.all || volume.anonymous)
            && self.labels.iter().all(|l| label_matches(&volume.labels, l))
            && !self
                .not_labels
                .iter()
                .any(|l| label_matches(&volume.labels, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn list_and_prune_rules() {
        let mut v = VolumeInfo {
            name: "web-data".into(),
            driver: "local".into(),
            ..Default::default()
        };
        v.labels.insert("env".into(), "prod".into());
        let f = VolumeFilters::for_list(&raw(&[("dangling", "true")])).unwrap();
        assert!(f.lists(&v, false) && !f.lists(&v, true));
        let f = VolumeFilters::for_list(&raw(&[("name", "web"), ("label", "env=prod")])).unwrap();
        assert!(f.lists(&v, true));
        let f = VolumeFilters::for_list(&raw(&[("label", "env=dev")])).unwrap();
        assert!(!f.lists(&v, true));
        assert!(VolumeFilters::for_list(&raw(&[("bogus", "x")])).is_err());

        let f = VolumeFilters::for_prune(&BTreeMap::new()).unwrap();
        assert!(!f.prunes(&v), "named volumes survive a plain prune");
        let f = VolumeFilters::for_prune(&raw(&[("all", "true")])).unwrap();
        assert!(f.prunes(&v));
        let f = VolumeFilters::for_prune(&raw(&[("all", "1"), ("label!", "env")])).unwrap();
        assert!(!f.prunes(&v));
    }
}
