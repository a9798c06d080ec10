//! `-v` binds, `--tmpfs` and `--mount` mounts: validated at create (bad specs and duplicate
//! targets are 400s), turned into bundle mounts at start and into `docker inspect` `Mounts`.
//! Volumes (named `-v NAME:/ctr` and anonymous) are resolved in [`super::volume_mounts`].

use std::collections::BTreeSet;
use std::path::{Component, Path};

use crate::error::{EngineError, Result};
use crate::model::{HostSpec, MountPoint, MountRequest};
use crate::runtime::bundle::BundleMount;
use crate::volumes::validate_name;

/// Where a `-v` bind's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BindSource {
    /// An absolute host path.
    Host(String),
    /// A named volume (created on first use).
    Volume(String),
    /// A new anonymous volume (`--mount type=volume` without a source).
    Anonymous,
}

/// One parsed `SOURCE:CTR[:MODE]` bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bind {
    pub source: BindSource,
    /// Cleaned absolute path in the container.
    pub destination: String,
    pub read_only: bool,
    pub mode: String,
    /// `nocopy`: do not populate a volume from the image.
    pub no_copy: bool,
}

/// `/a//b/./c/` -> `/a/b/c` (lexically; `..` is refused by the caller's absolute check).
pub(crate) fn clean_path(path: &str) -> String {
    let mut out = String::new();
    for component in Path::new(path).components() {
        if let Component::Normal(name) = component {
            out.push('/');
            out.push_str(&name.to_string_lossy());
        }
    }
    if out.is_empty() {
        "/".to_string()
    } else {
        out
    }
}

fn invalid(raw: &str, why: &str) -> EngineError {
    EngineError::InvalidArgument(format!("invalid volume specification: '{raw}'{why}"))
}

/// Parse `SOURCE:CTR[:MODE]` where SOURCE is an absolute host path or a volume name.
pub(crate) fn parse_bind(raw: &str) -> Result<Bind> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid(raw, "")),
    };
    if source.is_empty() {
        return Err(invalid(raw, ""));
    }
    if !destination.starts_with('/') {
        return Err(invalid(
            raw,
            ": invalid mount config: mount path must be absolute",
        ));
    }
    if Path::new(destination)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(invalid(raw, ": mount path must not contain '..'"));
    }
    let destination = clean_path(destination);
    if destination == "/" {
        return Err(invalid(
            raw,
            ": invalid mount config: destination can't be '/'",
        ));
    }
    let source = if source.starts_with('/') {
        BindSource::Host(source.to_string())
    } else {
        validate_name(source)?;
        BindSource::Volume(source.to_string())
    };
    let mut read_only = false;
    let mut no_copy = false;
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "nocopy" => no_copy = true,
            "rw" | "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave"
            | "rslave" => {}
            other => return Err(invalid(raw, &format!(": invalid mode: {other}"))),
        }
    }
    Ok(Bind {
        source,
        destination,
        read_only,
        mode: mode.to_string(),
        no_copy,
    })
}

fn mount_error(m: &MountRequest, why: &str) -> EngineError {
    EngineError::InvalidArgument(format!(
        "invalid mount config for type \"{}\": {why}",
        m.kind
    ))
}

/// A `--mount` of type bind or volume as a [`Bind`]; `None` for tmpfs.
fn bind_of_mount(m: &MountRequest) -> Result<Option<Bind>> {
    if !m.target.starts_with('/')
        || Path::new(&m.target)
            .components()
            .any(|c| c == Component::ParentDir)
    {
        return Err(mount_error(
            m,
            &format!(
                "invalid mount path: '{}' mount path must be absolute",
                m.target
            ),
        ));
    }
    let destination = clean_path(&m.target);
    let source = match m.kind.as_str() {
        "bind" => {
            if !m.source.starts_with('/') {
                return Err(mount_error(
                    m,
                    &format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        m.source
                    ),
                ));
            }
            if !Path::new(&m.source).exists() {
                return Err(mount_error(
                    m,
                    &format!("bind source path does not exist: {}", m.source),
                ));
            }
            BindSource::Host(m.source.clone())
        }
        "volume" if m.source.is_empty() => BindSource::Anonymous,
        "volume" => {
            validate_name(&m.source)?;
            BindSource::Volume(m.source.clone())
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(mount_error(m, "source must not be specified"));
            }
            return Ok(None);
        }
        other => {
            return Err(EngineError::InvalidArgument(format!(
                "mount type \"{other}\" is not supported"
            )))
        }
    };
    Ok(Some(Bind {
        source,
        destination,
        read_only: m.read_only,
        mode: String::new(),
        no_copy: m.no_copy,
    }))
}

/// Every bind of `host`: `-v` specs, then `--mount` binds and volumes.
pub(crate) fn binds(host: &HostSpec) -> Result<Vec<Bind>> {
    let mut out = Vec::new();
    for raw in &host.binds {
        out.push(parse_bind(raw)?);
    }
    for m in &host.mounts {
        out.extend(bind_of_mount(m)?);
    }
    Ok(out)
}

/// Every tmpfs of `host` as (destination, mount options): `--tmpfs`, then `--mount type=tmpfs`.
pub(crate) fn tmpfs_mounts(host: &HostSpec) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = host
        .tmpfs
        .iter()
        .map(|(d, o)| (d.clone(), o.clone()))
        .collect();
    for m in host.mounts.iter().filter(|m| m.kind == "tmpfs") {
        let mut options = Vec::new();
        if m.tmpfs_size_bytes > 0 {
            options.push(format!("size={}", m.tmpfs_size_bytes));
        }
        if m.tmpfs_mode > 0 {
            options.push(format!("mode={:o}", m.tmpfs_mode));
        }
        if m.read_only {
            options.push("ro".to_string());
        }
        out.push((clean_path(&m.target), options.join(",")));
    }
    out
}

/// Check every bind and tmpfs of `host` (at create, so errors come early). Two mounts on one
/// target are refused with Docker's `Duplicate mount point: /x` rather than one silently
/// replacing the other.
pub(crate) fn validate(host: &HostSpec) -> Result<()> {
    let mut targets = BTreeSet::new();
    for bind in binds(host)? {
        if !targets.insert(bind.destination.clone()) {
            return Err(EngineError::InvalidArgument(format!(
                "Duplicate mount point: {}",
                bind.destination
            )));
        }
    }
    for (destination, _) in tmpfs_mounts(host) {
        if !destination.starts_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "invalid tmpfs destination {destination:?}: mount path must be absolute"
            )));
        }
        let cleaned = clean_path(&destination);
        if !targets.insert(cleaned.clone()) {
            return Err(EngineError::InvalidArgument(format!(
                "Duplicate mount point: {cleaned}"
            )));
        }
    }
    Ok(())
}

/// The destinations of `host`'s binds and tmpfs mounts (cleaned).
pub(crate) fn explicit_targets(host: &HostSpec) -> BTreeSet<String> {
    let binds = binds(host).unwrap_or_default();
    binds
        .into_iter()
        .map(|b| b.destination)
        .chain(tmpfs_mounts(host).into_iter().map(|(d, _)| clean_path(&d)))
        .collect()
}

/// The host-path binds and tmpfs mounts of the OCI bundle. Missing bind sources are created as
/// directories, as Docker does for `-v`. (Volumes come from [`super::volume_mounts`].)
pub(crate) fn bundle_mounts(host: &HostSpec) -> Result<Vec<BundleMount>> {
    let mut out = Vec::new();
    for bind in binds(host)? {
        let BindSource::Host(source) = bind.source else {
            continue;
        };
        if !Path::new(&source).exists() {
            std::fs::create_dir_all(&source).map_err(|e| {
                EngineError::io(
                    format!("creating bind source {source} for {}", bind.destination),
                    e,
                )
            })?;
        }
        out.push(BundleMount {
            destination: bind.destination,
            kind: "bind".to_string(),
            source,
            options: vec![
                "rbind".to_string(),
                "rprivate".to_string(),
                if bind.read_only { "ro" } else { "rw" }.to_string(),
            ],
        });
    }
    for (destination, options) in tmpfs_mounts(host) {
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
            destination,
            kind: "tmpfs".to_string(),
            source: "tmpfs".to_string(),
            options: opts,
        });
    }
    Ok(out)
}

/// `docker inspect` `Mounts` of the host-path binds and tmpfs mounts.
pub(crate) fn mount_points(host: &HostSpec) -> Vec<MountPoint> {
    let mut out = Vec::new();
    for bind in binds(host).unwrap_or_default() {
        if let Bind {
            source: BindSource::Host(source),
            destination,
            read_only,
            mode,
            ..
        } = bind
        {
            out.push(MountPoint {
                kind: "bind".to_string(),
                name: String::new(),
                source,
                destination,
                mode,
                rw: !read_only,
            });
        }
    }
    for (destination, _) in tmpfs_mounts(host) {
        out.push(MountPoint {
            kind: "tmpfs".to_string(),
            name: String::new(),
            source: String::new(),
            destination,
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
        assert_eq!(b.source, BindSource::Host("/h".into()));
        assert_eq!(b.destination, "/c");
        assert!(!parse_bind("/h:/c").unwrap().read_only);
        let v = parse_bind("vol:/c/:nocopy").unwrap();
        assert_eq!(v.source, BindSource::Volume("vol".into()));
        assert_eq!(v.destination, "/c");
        assert!(v.no_copy);
        assert!(parse_bind("bad name:/c").is_err());
        assert!(parse_bind("/h:c").is_err());
        assert!(parse_bind("/h:/c:bogus").is_err());
        assert!(parse_bind("/h:/").is_err());
        assert!(parse_bind("/h:/a/../b").is_err());
    }

    #[test]
    fn duplicate_targets_are_refused() {
        let mut host = HostSpec {
            binds: vec!["/a:/data".into(), "vol:/data/".into()],
            ..Default::default()
        };
        assert_eq!(
            validate(&host).unwrap_err().to_string(),
            "Duplicate mount point: /data"
        );
        host.binds = vec!["/a:/data".into()];
        host.tmpfs.insert("/data".into(), String::new());
        assert!(validate(&host).is_err());
        host.tmpfs.clear();
        host.tmpfs.insert("/run".into(), String::new());
        assert!(validate(&host).is_ok());
    }
}
