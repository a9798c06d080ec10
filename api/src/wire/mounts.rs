//! `HostConfig.Mounts` (`docker run --mount`) -> [`model::MountRequest`].

use bollard_stubs::models::Mount;
use strata_agent::model;

/// One wire mount as the engine's request; the engine validates it.
pub fn mount_request(m: Mount) -> model::MountRequest {
    let tmpfs = m.tmpfs_options.unwrap_or_default();
    model::MountRequest {
        kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
        source: m.source.unwrap_or_default(),
        target: m.target.unwrap_or_default(),
        read_only: m.read_only.unwrap_or(false),
        no_copy: m.volume_options.and_then(|v| v.no_copy).unwrap_or(false),
        tmpfs_size_bytes: tmpfs.size_bytes.unwrap_or(0),
        tmpfs_mode: tmpfs.mode.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_mount_json() {
        let m: Mount = serde_json::from_str(
            r#"{"Type":"volume","Source":"data","Target":"/d","ReadOnly":true,"VolumeOptions":{"NoCopy":true}}"#,
        )
        .unwrap();
        let r = mount_request(m);
        assert_eq!(
            (r.kind.as_str(), r.source.as_str(), r.target.as_str()),
            ("volume", "data", "/d")
        );
        assert!(r.read_only && r.no_copy);
        let t: Mount = serde_json::from_str(
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}"#,
        )
        .unwrap();
        let r = mount_request(t);
        assert_eq!((r.tmpfs_size_bytes, r.tmpfs_mode), (1 << 20, 0o700));
    }
}
