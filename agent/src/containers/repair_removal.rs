//! At start: finish the removals a crash cut short, and remove container directories that no
//! record names.
//!
//! A removal records its tombstone (`removing`) before it tears anything down
//! (`remove::remove_locked`), so a tombstoned record is a removal under way: its container is
//! killed (with its shim), its runtime state and record deleted. Its layers, mounts, network
//! endpoint and directories are then no longer named by any record, and the rest of the
//! start-up repair collects them like any other orphan.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::containers::paths::{containers_data_dir, remove_dir_if_present};
use crate::containers::repair_run::discard_run;
use crate::containers::{record, remove, Shared};
use crate::error::{EngineError, Result};

/// Finish every tombstoned removal. Runs on a blocking thread of the engine's runtime.
pub(crate) fn finish_removals(shared: &Arc<Shared>, handle: &tokio::runtime::Handle) -> Result<()> {
    for id in shared.db.read(record::removing_ids)? {
        let Ok(c) = shared.registry.find(&id) else {
            continue;
        };
        handle.block_on(discard_run(shared, &c));
        remove::delete_record(&shared.db, &id)?;
        shared.registry.remove(&id);
        c.live().removed = true;
        info!(id = %id, "finished a removal the previous agent did not complete");
    }
    Ok(())
}

/// Remove `<data-root>/containers/<id>` and `<exec-root>/containers/<id>` of every id no
/// container record names. Called at start, once recovery is done and before any request.
pub(crate) fn remove_orphan_dirs(shared: &Shared) -> Result<()> {
    let known: HashSet<String> = shared.registry.all().iter().map(|c| c.id.clone()).collect();
    for parent in [
        containers_data_dir(&shared.config.data_root),
        shared.config.exec_root.join("containers"),
    ] {
        remove_unknown_entries(&parent, &known)?;
    }
    Ok(())
}

fn remove_unknown_entries(parent: &Path, known: &HashSet<String>) -> Result<()> {
    let entries = match std::fs::read_dir(parent) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(EngineError::io(format!("reading {}", parent.display()), e)),
    };
    for entry in entries {
        let entry =
            entry.map_err(|e| EngineError::io(format!("reading {}", parent.display()), e))?;
        if known.contains(entry.file_name().to_string_lossy().as_ref()) {
            continue;
        }
        let path = entry.path();
        info!(path = %path.display(), "removing a container directory no record names");
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_dir_if_present(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = removed {
            warn!(path = %path.display(), error = %e, "removing an orphan container directory");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unknown_entries_go() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["kept", "orphan"] {
            std::fs::create_dir_all(dir.path().join(name).join("sub")).unwrap();
        }
        std::fs::write(dir.path().join("stray-file"), b"x").unwrap();
        let known: HashSet<String> = ["kept".to_string()].into();
        remove_unknown_entries(dir.path(), &known).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["kept"]);
        remove_unknown_entries(&dir.path().join("missing"), &known).unwrap();
    }
}
