//! After a crash: remove what a volume operation cut short left in `<data-root>/volumes`
//! (directories moved aside for removal, staging copies, directories made for a volume whose
//! row was never committed).

use std::collections::BTreeSet;

use tracing::{info, warn};

use super::{lock, rows, VolumeStore};
use crate::error::{EngineError, Result};

impl VolumeStore {
    /// Remove entries of the volumes directory that no volume row names. Called at engine start,
    /// before anything creates volumes.
    pub fn remove_orphans(&self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(EngineError::io(
                    format!("reading {}", self.root.display()),
                    e,
                ))
            }
        };
        let _guard = lock()?;
        let known: BTreeSet<String> = self
            .db
            .read(rows::list)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        for entry in entries {
            let entry = entry
                .map_err(|e| EngineError::io(format!("reading {}", self.root.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if known.contains(&name) {
                continue;
            }
            let path = entry.path();
            info!(path = %path.display(), "removing a volume directory no record names");
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed {
                warn!(path = %path.display(), error = %e, "removing an orphan volume directory");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::metadata::Db;
    use crate::model::VolumeCreateSpec;
    use crate::volumes::VolumeStore;

    #[test]
    fn orphans_go_and_volumes_stay() {
        let root = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&root.path().join("strata.db")).unwrap());
        let store = VolumeStore::new(db, root.path());
        let spec = VolumeCreateSpec {
            name: "kept".into(),
            ..Default::default()
        };
        let v = store.create(&spec, false).unwrap();
        std::fs::write(store.data_dir("kept").join("f"), "x").unwrap();
        let volumes = root.path().join("volumes");
        std::fs::create_dir_all(volumes.join("half-made/_data")).unwrap();
        std::fs::create_dir_all(volumes.join(".removing-old-1234/_data")).unwrap();
        store.remove_orphans().unwrap();
        let mut left: Vec<_> = std::fs::read_dir(&volumes)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["kept"]);
        assert!(std::path::Path::new(&v.mountpoint).join("f").exists());
    }
}
