//! How an engine is set up (what `strata serve` flags fill in).

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Persistent state: metadata database, driver homes, container directories, logs.
    pub data_root: PathBuf,
    /// Runtime state that need not survive a reboot: runtime state, shim sockets, bundles.
    pub exec_root: PathBuf,
    /// `--storage-driver`; `None` picks overlay2 where it works and vfs otherwise.
    pub storage_driver: Option<String>,
    /// `--storage-opt KEY=VALUE`.
    pub storage_opt: BTreeMap<String, String>,
    /// `--default-runtime`: the OCI runtime binary's name (`runc`, `crun`, `youki`) or path.
    pub default_runtime: String,
    /// Path of the binary to re-execute as the per-container shim (`strata shim ...`); normally
    /// the running executable.
    pub shim_binary: PathBuf,
    /// The init binary bind-mounted as PID 1 for `--init` (Debian's tini-static).
    pub init_binary: PathBuf,
    /// `--insecure-registry HOST[:PORT]`: registries spoken to over plain HTTP (besides
    /// `localhost` and 127.0.0.0/8, which always are).
    pub insecure_registries: Vec<String>,
    /// `--bridge` / `--bip`: the agent's bridge and its subnet.
    pub network: crate::network::NetworkConfig,
    /// `--cgroup-parent` (absolute, checked by `cgroups::parent::validate`); `None`: one of
    /// the agent's own, derived from the data root (`cgroups::parent::default_parent`).
    pub cgroup_parent: Option<String>,
    /// `--max-layer-size`: the most one layer may expand to when loaded, pulled, imported or
    /// committed (sum of its regular files' apparent sizes, sparse files at their full size).
    pub max_layer_size: u64,
}

/// Default of `--max-layer-size`: 100 GiB, far above any real image layer.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 100 << 30;

impl EngineConfig {
    /// Defaults matching dockerd's layout, under Strata's own names.
    pub fn with_roots(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Self {
        EngineConfig {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            storage_driver: None,
            storage_opt: BTreeMap::new(),
            default_runtime: "runc".to_string(),
            shim_binary: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("strata")),
            init_binary: PathBuf::from("/usr/bin/tini-static"),
            insecure_registries: Vec::new(),
            network: crate::network::NetworkConfig::default(),
            cgroup_parent: None,
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
        }
    }
}

impl EngineConfig {
    /// The cgroup parent of this agent's containers.
    pub fn cgroup_parent(&self) -> String {
        self.cgroup_parent
            .clone()
            .unwrap_or_else(|| crate::cgroups::parent::default_parent(&self.data_root))
    }
}
