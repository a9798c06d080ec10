//! `-v` binds and `--tmpfs` mounts: validated at create, turned into bundle mounts at start and
//! into `docker inspect` `Mounts`.

use std::path::Path;

use crate::error::{EngineError, Result};
use crate::model::{HostSpec, MountPoint};
use crate::runtime::bundle::BundleMount;

/// One parsed `HOST:CTR[:MODE]` bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bind {
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    pub mode: String,
}

/// Parse `HOST:CTR[:MODE]`. Only host paths are supported yet; named volumes are refused.
pub(crate) fn parse_bind(raw: &str) -> Result<Bind> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(EngineError::InvalidArgument(format!(
                "invalid volume specification: '{raw}'"
            )))
        }
    };
    if !destination.starts_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "invalid volume specification: '{raw}': invalid mount config: mount path must be absolute"
        )));
    }
    if !source.starts_with('/') {
        return Err(EngineError::InvalidArgument(format!(
            "invalid volume specification: '{raw}': named volumes are not supported yet"
        )));
    }
    let mut read_only = false;
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave"
            | "rslave" | "nocopy" => {}
            other => {
                return Err(EngineError::InvalidArgument(format!(
                    "invalid volume specification: '{raw}': invalid mode: {other}"
                )))
            }
        }
    }
    Ok(Bind {
        source: source.to_string(),
        destination: destination.to_string(),
        read_only,
        mode: mode.to_string(),
    })
}

/// Check every bind and tmpfs of `host` (at create, so errors come early).
pub(crate) fn validate(host: &HostSpec) -> Result<()> {
    for bind in &host.binds {
        parse_bind(bind)?;
    }
    for destination in host.tmpfs.keys() {
        if !destination.starts_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "invalid tmpfs destination {destination:?}: mount path must be absolute"
            )));
        }
    }
    Ok(())
}

/// The extra mounts of the OCI bundle. Missing bind sources are created as directories, as
/// Docker does for `-v`.
pub(crate) fn bundle_mounts(host: &HostSpec) -> Result<Vec<BundleMount>> {
    let mut out = Vec::new();
    for raw in &host.binds {
        let bind = parse_bind(raw)?;
        if !Path::new(&bind.source).exists() {
            std::fs::create_dir_all(&bind.source).map_err(|e| {
                EngineError::io(format!("creating bind source {} for {raw}", bind.source), e)
            })?;
        }
        out.push(BundleMount {
            destination: bind.destination,
            kind: "bind".to_string(),
            source: bind.source,
            options: vec![
                "rbind".to_string(),
                "rprivate".to_string(),
                if bind.read_only { "ro" } else { "rw" }.to_string(),
            ],
        });
    }
    for (destination, options) in &host.tmpfs {
        let mut opts = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        opts.extend(
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string),
        );
        out.push(BundleMount {
            destination: destination.clone(),
            kind: "tmpfs".to_string(),
            source: "tmpfs".to_string(),
            options: opts,
        });
    }
    Ok(out)
}

/// `docker inspect` `Mounts`.
pub(crate) fn mount_points(host: &HostSpec) -> Vec<MountPoint> {
    let mut out = Vec::new();
    for raw in &host.binds {
        if let Ok(bind) = parse_bind(raw) {
            out.push(MountPoint {
                kind: "bind".to_string(),
                name: String::new(),
                source: bind.source,
                destination: bind.destination,
                mode: bind.mode,
                rw: !bind.read_only,
            });
        }
    }
    for destination in host.tmpfs.keys() {
        out.push(MountPoint {
            kind: "tmpfs".to_string(),
            name: String::new(),
            source: String::new(),
            destination: destination.clone(),
            mode: String::new(),
            rw: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse() {
        let b = parse_bind("/h:/c:ro").unwrap();
        assert!(b.read_only);
        assert_eq!(b.source, "/h");
        assert_eq!(b.destination, "/c");
        assert!(!parse_bind("/h:/c").unwrap().read_only);
        assert!(parse_bind("vol:/c").is_err());
        assert!(parse_bind("/h:c").is_err());
        assert!(parse_bind("/h:/c:bogus").is_err());
    }
}
