//! Where a container's files live: `<data-root>/containers/<id>/` (log, hostname, hosts,
//! resolv.conf) and `<exec-root>/containers/<id>/` (bundle, shim state).

use std::path::{Path, PathBuf};

use strata_drivers::fsutil::private;

use crate::config::EngineConfig;

/// `<exec-root>/containers`: one directory per container.
const EXEC_CONTAINERS_DIR: &str = "containers";

/// Every path that belongs to one container. Its two directories are 0700 (`data_dir`,
/// `exec_dir`; see [`close_to_others`]), its log 0600.
#[derive(Clone, Debug)]
pub(crate) struct ContainerPaths {
    /// `<data-root>/containers/<id>`: survives reboots.
    pub data_dir: PathBuf,
    /// The json-file log the shim appends to.
    pub log_path: PathBuf,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// `<exec-root>/containers/<id>`: runtime state, gone after a reboot.
    pub exec_dir: PathBuf,
    /// Holds `config.json`.
    pub bundle_dir: PathBuf,
    /// The shim's socket, pid file and exit file.
    pub shim_dir: PathBuf,
}

impl ContainerPaths {
    pub(crate) fn new(config: &EngineConfig, id: &str) -> Self {
        let data_dir = containers_data_dir(&config.data_root).join(id);
        let exec_dir = config.exec_root.join(EXEC_CONTAINERS_DIR).join(id);
        ContainerPaths {
            log_path: data_dir.join(format!("{id}-json.log")),
            hostname_path: data_dir.join("hostname"),
            hosts_path: data_dir.join("hosts"),
            resolv_conf_path: data_dir.join("resolv.conf"),
            data_dir,
            bundle_dir: exec_dir.join("bundle"),
            shim_dir: exec_dir.join("shim"),
            exec_dir,
        }
    }
}

/// Close the containers' host-side directories to other users, fixing what an older version
/// left: `<data-root>/containers`, `<exec-root>/containers` (bundles hold each container's
/// environment), the runtime root, and the json-file logs of `containers`. What containers
/// see through bind mounts (hostname, hosts, resolv.conf) keeps its mode: the closed
/// directories above it are enough on the host.
pub(crate) fn close_to_others<'a>(
    config: &EngineConfig,
    containers: impl IntoIterator<Item = &'a ContainerPaths>,
) -> std::io::Result<()> {
    for dir in [
        containers_data_dir(&config.data_root),
        config.exec_root.join(EXEC_CONTAINERS_DIR),
        runtime_root(config),
    ] {
        private::private_dir(&dir)?;
    }
    for paths in containers {
        for log in [
            paths.log_path.clone(),
            super::logs::rotated_path(&paths.log_path),
        ] {
            private::restrict_if_present(&log, private::PRIVATE_FILE_MODE)?;
        }
    }
    Ok(())
}

/// `<data-root>/containers`.
pub(crate) fn containers_data_dir(data_root: &Path) -> PathBuf {
    data_root.join("containers")
}

/// The OCI runtime's `--root`: `<exec-root>/runtime`, so two agents never share runtime state.
pub(crate) fn runtime_root(config: &EngineConfig) -> PathBuf {
    config.exec_root.join("runtime")
}

/// Remove a directory tree; a missing one is fine.
pub(crate) fn remove_dir_if_present(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
