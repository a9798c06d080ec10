//! Volumes: directories under `<data-root>/volumes/<name>/_data` that outlive containers, with
//! their records in the metadata store (`volumes`, and `container_volumes` for which container
//! mounts which volume where).
//!
//! A volume becomes visible with one transaction (its row), after its directory exists; removal
//! deletes the row first (refused while a container references it), then moves the directory
//! aside and deletes it. Creation and removal are serialised by one lock so a directory is never
//! taken away under a volume being created with the same name.

mod copy_up;
pub mod engine_api;
mod filters;
mod names;
mod repair;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::{info, warn};

use crate::error::{EngineError, Result};
use crate::metadata::Db;
use crate::model::{VolumeCreateSpec, VolumeInfo, VolumePruneReport};

pub(crate) use copy_up::populate_if_empty;
pub(crate) use filters::VolumeFilters;
pub(crate) use names::{random_name, validate_name};
pub(crate) use rows::{container_volumes, record_container_volumes, ContainerVolume};

/// The one driver Strata has.
pub const LOCAL_DRIVER: &str = "local";

/// The label Docker puts on anonymous volumes (what `volume prune` without `--all` removes).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Serialises volume creation and removal in this process.
static VOLUME_LOCK: Mutex<()> = Mutex::new(());

fn lock() -> Result<MutexGuard<'static, ()>> {
    VOLUME_LOCK
        .lock()
        .map_err(|_| EngineError::Internal("volume lock poisoned".into()))
}

/// The volume store of one data root. Cheap to make: it holds the database handle and paths.
#[derive(Clone)]
pub struct VolumeStore {
    db: Arc<Db>,
    root: PathBuf,
}

impl VolumeStore {
    /// The store for `data_root` (volumes live in `<data_root>/volumes`).
    pub fn new(db: Arc<Db>, data_root: &Path) -> Self {
        VolumeStore {
            db,
            root: data_root.join("volumes"),
        }
    }

    /// The directory holding volume `name`'s content.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Make (or fix) `<data-root>/volumes` closed to other users (0700). The volumes' own
    /// directories keep their modes: containers see `_data` through a bind mount.
    pub fn close_root(&self) -> Result<()> {
        strata_drivers::fsutil::private::private_dir(&self.root)
            .map_err(|e| EngineError::io(format!("creating {}", self.root.display()), e))
    }

    /// Make volume `name`'s content directory (and the closed store root above it).
    pub(crate) fn make_data_dir(&self, name: &str) -> Result<PathBuf> {
        self.close_root()?;
        let data = self.data_dir(name);
        std::fs::create_dir_all(&data).map_err(|e| {
            EngineError::io(format!("creating volume directory {}", data.display()), e)
        })?;
        Ok(data)
    }

    fn info(&self, row: rows::VolumeRow) -> VolumeInfo {
        let mountpoint = self.data_dir(&row.name).display().to_string();
        row.into_info(mountpoint)
    }

    /// `docker volume create`: make the volume, or return the existing one of that name.
    pub fn create(&self, spec: &VolumeCreateSpec, anonymous: bool) -> Result<VolumeInfo> {
        if !spec.driver.is_empty() && spec.driver != LOCAL_DRIVER {
            let name = &spec.name;
            let driver = &spec.driver;
            return Err(EngineError::InvalidArgument(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        if !spec.options.is_empty() {
            let keys: Vec<&str> = spec.options.keys().map(String::as_str).collect();
            return Err(EngineError::InvalidArgument(format!(
                "volume options are not supported by the local driver of Strata: {}",
                keys.join(", ")
            )));
        }
        let name = if spec.name.is_empty() {
            random_name()
        } else {
            validate_name(&spec.name)?;
            spec.name.clone()
        };
        let _guard = lock()?;
        if let Some(row) = self.db.read(|conn| rows::get(conn, &name))? {
            return Ok(self.info(row));
        }
        let dir = self.root.join(&name);
        let existed = dir.exists();
        self.make_data_dir(&name)?;
        let mut labels = spec.labels.clone();
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
        }
        let row = rows::VolumeRow {
            name: name.clone(),
            driver: LOCAL_DRIVER.to_string(),
            labels,
            options: spec.options.clone(),
            anonymous,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        if let Err(e) = self
            .db
            .write("creating volume", |tx| rows::insert(tx, &row))
        {
            if !existed {
                remove_tree(&dir);
            }
            return Err(e);
        }
        info!(volume = %name, anonymous, "volume created");
        Ok(self.info(row))
    }

    /// `docker volume inspect`.
    pub fn get(&self, name: &str) -> Result<VolumeInfo> {
        match self.db.read(|conn| rows::get(conn, name))? {
            Some(row) => Ok(self.info(row)),
            None => Err(EngineError::NoSuchVolume(name.to_string())),
        }
    }

    /// Every volume with the ids of the containers that reference it.
    pub fn list_with_users(&self) -> Result<Vec<(VolumeInfo, Vec<String>)>> {
        let listed = self.db.read(|conn| {
            let mut out = Vec::new();
            for row in rows::list(conn)? {
                let users = rows::users(conn, &row.name)?;
                out.push((row, users));
            }
            Ok(out)
        })?;
        Ok(listed
            .into_iter()
            .map(|(row, users)| (self.info(row), users))
            .collect())
    }

    /// The volumes container `id` mounts.
    pub(crate) fn container_volumes(&self, id: &str) -> Result<Vec<ContainerVolume>> {
        self.db.read(|conn| container_volumes(conn, id))
    }

    /// `docker volume rm [-f]`: refused (409) while a container references the volume; `force`
    /// only turns "no such volume" into success, as Docker's does.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _guard = lock()?;
        let removed = self.db.write("removing volume", |tx| {
            if rows::get(tx, name)?.is_none() {
                return Ok(false);
            }
            let users = rows::users(tx, name)?;
            if !users.is_empty() {
                return Err(EngineError::Conflict(format!(
                    "remove {name}: volume is in use - [{}]",
                    users.join(", ")
                )));
            }
            rows::delete(tx, name)?;
            Ok(true)
        })?;
        if !removed {
            if force {
                return Ok(());
            }
            return Err(EngineError::NoSuchVolume(name.to_string()));
        }
        self.discard_dir(name);
        info!(volume = %name, "volume removed");
        Ok(())
    }

    /// `docker volume prune`: remove unused volumes that `filters` select (anonymous ones only
    /// unless `all=true`). Returns their names and the bytes they held.
    pub(crate) fn prune(&self, filters: &VolumeFilters) -> Result<VolumePruneReport> {
        let mut report = VolumePruneReport::default();
        for (volume, users) in self.list_with_users()? {
            if !users.is_empty() || !filters.prunes(&volume) {
                continue;
            }
            let size = copy_up::tree_size(&self.root.join(&volume.name));
            match self.remove(&volume.name, false) {
                Ok(()) => {
                    report.deleted.push(volume.name);
                    report.space_reclaimed += size;
                }
                // Taken into use (or removed) since the listing: not ours to prune.
                Err(EngineError::Conflict(_)) | Err(EngineError::NoSuchVolume(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Move a removed volume's directory aside (one rename), then delete it.
    fn discard_dir(&self, name: &str) {
        let dir = self.root.join(name);
        let trash = self.root.join(format!(
            ".removing-{name}-{}",
            random_name().get(..8).unwrap_or("x")
        ));
        match std::fs::rename(&dir, &trash) {
            Ok(()) => remove_tree(&trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "moving a removed volume's directory aside");
                remove_tree(&dir);
            }
        }
    }
}

fn remove_tree(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(dir = %path.display(), error = %e, "removing volume directory");
        }
    }
}
