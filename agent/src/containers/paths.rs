//! Where a container's files live: `<data-root>/containers/<id>/` (log, hostname, hosts,
//! resolv.conf) and `<exec-root>/containers/<id>/` (bundle, shim state).

use std::path::{Path, PathBuf};

use crate::config::EngineConfig;

/// Every path that belongs to one container.
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
        let exec_dir = config.exec_root.join("containers").join(id);
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
