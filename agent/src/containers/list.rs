//! `docker ps`: filters (`status`, `name`, `id`, `label`, `ancestor`, `exited`, `volume`) and
//! the summary lines (with their `Mounts`), newest first.

use std::collections::BTreeMap;

use crate::containers::record::ContainerRecord;
use crate::containers::{merge, status_text, time};
use crate::error::{EngineError, Result};
use crate::model::{ContainerStatus, ContainerSummary, MountPoint};

/// Parsed `docker ps` filters. Values of one key are alternatives; keys must all match.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    status: Vec<ContainerStatus>,
    names: Vec<String>,
    ids: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    /// The reference as given, and the image id it resolves to (if any).
    ancestors: Vec<(String, Option<String>)>,
    exited: Vec<i64>,
    /// Volume names, bind sources or mount destinations.
    volumes: Vec<String>,
}

fn parse_status(value: &str) -> Result<ContainerStatus> {
    Ok(match value {
        "created" => ContainerStatus::Created,
        "running" => ContainerStatus::Running,
        "paused" => ContainerStatus::Paused,
        "restarting" => ContainerStatus::Restarting,
        "removing" => ContainerStatus::Removing,
        "exited" => ContainerStatus::Exited,
        "dead" => ContainerStatus::Dead,
        other => {
            return Err(EngineError::InvalidArgument(format!(
                "invalid filter 'status={other}': valid values are created, restarting, running, \
                 removing, paused, exited, dead"
            )))
        }
    })
}

impl Filters {
    /// Parse Docker's filter map; `resolve_image` turns an `ancestor` value into an image id.
    pub(crate) fn parse(
        raw: &BTreeMap<String, Vec<String>>,
        resolve_image: impl Fn(&str) -> Option<String>,
    ) -> Result<Filters> {
        let mut f = Filters::default();
        for (key, values) in raw {
            for value in values {
                match key.as_str() {
                    "status" => f.status.push(parse_status(value)?),
                    "name" => f.names.push(value.clone()),
                    "id" => f.ids.push(value.clone()),
                    "label" => f.labels.push(match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.clone(), None),
                    }),
                    "ancestor" => f.ancestors.push((value.clone(), resolve_image(value))),
                    "volume" => f.volumes.push(value.clone()),
                    "exited" => f.exited.push(value.parse().map_err(|_| {
                        EngineError::InvalidArgument(format!("invalid filter 'exited={value}'"))
                    })?),
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

    /// Whether the filters name states beyond running ones (`docker ps -f status=exited`
    /// shows exited containers without `-a`).
    pub(crate) fn implies_all(&self) -> bool {
        !self.status.is_empty() || !self.exited.is_empty()
    }

    /// Whether the container of `rec`, with `mounts`, passes every filter.
    pub(crate) fn matches(&self, rec: &ContainerRecord, mounts: &[MountPoint]) -> bool {
        let state = &rec.state;
        (self.status.is_empty() || self.status.contains(&state.status))
            && (self.names.is_empty() || self.names.iter().any(|p| name_matches(p, &rec.name)))
            && (self.ids.is_empty() || self.ids.iter().any(|p| rec.id.contains(p.as_str())))
            && self
                .labels
                .iter()
                .all(|(k, v)| match (rec.config.labels.get(k), v) {
                    (Some(actual), Some(wanted)) => actual == wanted,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
            && (self.ancestors.is_empty()
                || self.ancestors.iter().any(|(given, id)| {
                    rec.spec.image == *given || id.as_deref() == Some(rec.image_id.as_str())
                }))
            && (self.exited.is_empty()
                || (state.status == ContainerStatus::Exited
                    && self.exited.contains(&state.exit_code)))
            && (self.volumes.is_empty() || self.volumes.iter().any(|v| mounts_volume(mounts, v)))
    }
}

/// dockerd's `volume=` filter: a mount whose destination is `value`, or whose volume name (the
/// source for a bind) is.
fn mounts_volume(mounts: &[MountPoint], value: &str) -> bool {
    mounts.iter().any(|m| {
        let name = if m.name.is_empty() {
            &m.source
        } else {
            &m.name
        };
        m.destination == value || name == value
    })
}

/// Docker matches names as regular expressions against `/name`; we support the forms people
/// use: plain substrings and `^`/`$` anchors.
fn name_matches(pattern: &str, name: &str) -> bool {
    let slashed = format!("/{name}");
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    [name, slashed.as_str()]
        .iter()
        .any(|candidate| match (anchored_start, anchored_end) {
            (true, true) => *candidate == core,
            (true, false) => candidate.starts_with(core),
            (false, true) => candidate.ends_with(core),
            (false, false) => candidate.contains(core),
        })
}

/// One `docker ps` line.
pub(crate) fn summary(
    rec: &ContainerRecord,
    mounts: Vec<MountPoint>,
    now: chrono::DateTime<chrono::Utc>,
) -> ContainerSummary {
    let command = match merge::path_and_args(&rec.config) {
        Ok((path, args)) if args.is_empty() => path,
        Ok((path, args)) => format!("{path} {}", args.join(" ")),
        Err(_) => String::new(),
    };
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![rec.name.clone()],
        image: rec.spec.image.clone(),
        image_id: rec.image_id.clone(),
        command,
        created: time::unix_seconds(&rec.created_at),
        state: rec.state.status,
        status: status_text::status_text(&rec.state, now),
        labels: rec.config.labels.clone(),
        ports: Vec::new(),
        mounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(name_matches("^/web", "web-1"));
        assert!(!name_matches("^web$", "web-1"));
        assert!(name_matches("^web-1$", "web-1"));
    }

    #[test]
    fn unknown_filters_are_refused() {
        let mut raw = BTreeMap::new();
        raw.insert("bogus".to_string(), vec!["x".to_string()]);
        assert!(Filters::parse(&raw, |_| None).is_err());
        let mut raw = BTreeMap::new();
        raw.insert("status".to_string(), vec!["sleepy".to_string()]);
        assert!(Filters::parse(&raw, |_| None).is_err());
    }

    #[test]
    fn volume_filter_matches_names_sources_and_destinations() {
        let mount = |name: &str, source: &str, destination: &str| MountPoint {
            kind: if name.is_empty() { "bind" } else { "volume" }.to_string(),
            name: name.to_string(),
            source: source.to_string(),
            destination: destination.to_string(),
            mode: String::new(),
            rw: true,
        };
        let mounts = [
            mount("data", "/var/lib/strata/volumes/data/_data", "/data"),
            mount("", "/srv/www", "/www"),
        ];
        assert!(mounts_volume(&mounts, "data"));
        assert!(mounts_volume(&mounts, "/data"));
        assert!(mounts_volume(&mounts, "/srv/www"));
        assert!(mounts_volume(&mounts, "/www"));
        assert!(!mounts_volume(&mounts, "other"));
        assert!(!mounts_volume(
            &mounts,
            "/var/lib/strata/volumes/data/_data"
        ));
    }
}
