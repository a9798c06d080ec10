//! The engine facade: one value the HTTP layer holds, cheap to clone.
//!
//! Its methods live beside the code they drive: image methods in `images::engine_api`,
//! container methods in `containers::engine_api`, system methods here.

use std::sync::Arc;

use strata_drivers::fsutil::private;
use strata_drivers::{open_driver, DriverOptions, GraphDriver};

use crate::config::EngineConfig;
use crate::containers::ContainerManager;
use crate::error::{EngineError, Result};
use crate::images::ImageStore;
use crate::layers::LayerStore;
use crate::metadata::Db;
use crate::metrics::{MeteredDriver, Metrics};
use crate::model::{SystemInfo, VersionInfo};

/// The highest Docker Engine API version Strata speaks, and the lowest it accepts.
pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub config: EngineConfig,
    pub db: Arc<Db>,
    pub driver: Arc<dyn GraphDriver>,
    pub layers: LayerStore,
    pub images: ImageStore,
    pub containers: ContainerManager,
    pub metrics: Arc<Metrics>,
}

impl Engine {
    /// Open the engine on its data root: the metadata store, the storage driver, then repair what
    /// a crash may have left (orphan layers, containers whose shim died) before serving.
    pub async fn open(config: EngineConfig) -> Result<Engine> {
        let config2 = config.clone();
        tokio::task::spawn_blocking(move || Engine::open_blocking(config2))
            .await
            .map_err(|e| EngineError::Internal(format!("engine start task: {e}")))?
    }

    fn open_blocking(config: EngineConfig) -> Result<Engine> {
        // Traversable, not listable, by other users (what is inside is closed to them, each
        // store seeing to its own directory); an older, looser root is fixed here.
        for dir in [&config.data_root, &config.exec_root] {
            private::dir_with_mode(dir, private::TRAVERSE_ONLY_DIR_MODE)
                .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        }
        let id_file = config.data_root.join(ENGINE_ID_FILE);
        private::restrict_if_present(&id_file, private::PRIVATE_FILE_MODE)
            .map_err(|e| EngineError::io(format!("chmod {}", id_file.display()), e))?;
        let db = Arc::new(Db::open(&config.data_root.join("strata.db"))?);
        let driver_name = match &config.storage_driver {
            Some(name) => name.clone(),
            None => strata_drivers::registry::default_driver_name(&config.data_root).to_string(),
        };
        let mut driver_opts = DriverOptions::new(config.data_root.join(&driver_name));
        driver_opts.storage_opt = config.storage_opt.clone();
        let metrics = Arc::new(Metrics::new()?);
        let driver: Arc<dyn GraphDriver> = Arc::new(MeteredDriver::new(
            open_driver(&driver_name, &driver_opts)?,
            metrics.driver_duration.clone(),
            metrics.driver_errors.clone(),
        ));
        let layers = LayerStore::open(db.clone(), driver.clone(), &config)?;
        let images = ImageStore::open(db.clone(), &config)?;
        let containers = ContainerManager::open(db.clone(), driver.clone(), &config)?;
        let engine = Engine {
            inner: Arc::new(EngineInner {
                config,
                db,
                driver,
                layers,
                images,
                containers,
                metrics,
            }),
        };
        engine.inner.metrics.register_engine(Arc::downgrade(&engine.inner))?;
        engine.repair_blocking()?;
        Ok(engine)
    }

    /// Bring disk, mounts and metadata back in line after a crash (or a clean restart).
    fn repair_blocking(&self) -> Result<()> {
        let running = self.inner.containers.recover()?;
        self.inner.containers.remove_orphan_dirs()?;
        let running_ids = self.inner.containers.running_ids();
        // Before any policy start (they wait for the mounts to be reconciled, below).
        crate::cgroups::parent::remove_empty(&self.inner.config.cgroup_parent(), &running_ids);
        self.inner.containers.shared().network.repair_blocking(&running_ids)?;
        self.inner.driver.reconcile_mounts(&running)?;
        self.inner.containers.mounts_reconciled();
        let mut keep = self.inner.containers.layer_ids()?;
        keep.extend(self.inner.layers.cache_ids()?);
        self.inner.layers.remove_orphans(&keep)?;
        let volumes = self.volume_store();
        volumes.close_root()?;
        volumes.remove_orphans()?;
        Ok(())
    }

    /// Stop serving: containers keep running (their shims hold them); mounts of stopped
    /// containers are released.
    pub async fn shutdown(&self) -> Result<()> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let running = engine.inner.containers.running_layer_ids()?;
            engine.inner.driver.reconcile_mounts(&running)?;
            let running_ids = engine.inner.containers.running_ids();
            crate::cgroups::parent::remove_empty(&engine.inner.config.cgroup_parent(), &running_ids);
            Ok::<_, EngineError>(())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("shutdown task: {e}")))??;
        self.inner.containers.shared().network.shutdown().await;
        Ok(())
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The engine's metrics registry (the API records its requests here).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Every metric in Prometheus's text exposition format, gauges read now.
    pub async fn metrics_text(&self) -> Result<String> {
        let metrics = self.inner.metrics.clone();
        tokio::task::spawn_blocking(move || metrics.render())
            .await
            .map_err(|e| EngineError::Internal(format!("metrics task: {e}")))?
            .map_err(EngineError::from)
    }

    pub fn driver_name(&self) -> &'static str {
        self.inner.driver.name()
    }

    pub fn version(&self) -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: API_VERSION.to_string(),
            min_api_version: MIN_API_VERSION.to_string(),
            git_commit: String::new(),
            os: "linux".to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel_version: kernel_release(),
        }
    }

    pub async fn system_info(&self) -> Result<SystemInfo> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.system_info_blocking())
            .await
            .map_err(|e| EngineError::Internal(format!("info task: {e}")))?
    }

    fn system_info_blocking(&self) -> Result<SystemInfo> {
        let counts = self.inner.containers.counts()?;
        Ok(SystemInfo {
            id: engine_id(&self.inner.config.data_root),
            name: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            driver: self.inner.driver.name().to_string(),
            driver_status: self.inner.driver.status(),
            containers: counts.total,
            containers_running: counts.running,
            containers_paused: counts.paused,
            containers_stopped: counts.stopped,
            images: self.inner.images.count()?,
            data_root: self.inner.config.data_root.display().to_string(),
            default_runtime: self.inner.config.default_runtime.clone(),
            runtimes: vec![self.inner.config.default_runtime.clone()],
            cgroup_driver: "cgroupfs".to_string(),
            cgroup_version: if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
                "2".to_string()
            } else {
                "1".to_string()
            },
            kernel_version: kernel_release(),
            operating_system: operating_system(),
            os_type: "linux".to_string(),
            architecture: std::env::consts::ARCH.to_string(),
            ncpu: std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1),
            mem_total: mem_total_bytes(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            init_binary: self.inner.config.init_binary.display().to_string(),
            security_options: vec![crate::runtime::bundle::seccomp::SECURITY_OPTION.to_string()],
        })
    }
}

/// Where [`engine_id`] keeps the id, in the data root.
const ENGINE_ID_FILE: &str = "engine-id";

/// The engine's stable identity (`docker info` `ID`): made once per data root, kept in
/// `<data-root>/engine-id` (0600). An unreadable or unwritable file gives an empty id, never
/// an error.
fn engine_id(data_root: &std::path::Path) -> String {
    let path = data_root.join(ENGINE_ID_FILE);
    if let Ok(id) = std::fs::read_to_string(&path) {
        return id.trim().to_string();
    }
    let bytes: [u8; 16] = rand::random();
    let hex = hex::encode(bytes);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let tmp = data_root.join("engine-id.tmp");
    let written = private::private_file_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut f| std::io::Write::write_all(&mut f, id.as_bytes()));
    match written.and_then(|_| std::fs::rename(&tmp, &path)) {
        Ok(()) => id,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "cannot record the engine id");
            String::new()
        }
    }
}

/// The host's distribution as `docker info` shows it (`PRETTY_NAME` of /etc/os-release).
fn operating_system() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "linux".to_string())
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn mem_total_bytes() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| {
                l.split_whitespace().nth(1).and_then(|kb| kb.parse::<i64>().ok()).map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0)
}
