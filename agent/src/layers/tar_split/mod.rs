//! Tar-split: what it takes to give back a layer's original tar byte for byte.
//!
//! A layer's diffID is the digest of the exact tar it came from, and graph drivers do not keep
//! that tar: their diff of the layer is a different (equivalent) tar for any layer another tool
//! wrote. So while a layer is unpacked, [`SplitRecorder`] follows the uncompressed stream and
//! records it as segments — raw bytes for headers, padding, end blocks and trailing bytes, and a
//! reference (path, size) for each regular file's content, which the layer's tree keeps anyway.
//! [`LayerStore::write_original_tar`] replays the segments, reading file contents back from the
//! tree, and the caller checks the result against the diffID.
//!
//! Files: `<data-root>/layers/<chain-id-hex>/tar-split` (gzip'd records, see [`format`]),
//! written to a temporary name in `<data-root>/layers/` and renamed into place only after the
//! layer is recorded. A layer without a split (a crash between the two steps, a failure to write
//! it, or a layer from before this existed) is saved from the driver's diff as before.
//! Temporary files and splits of layers nothing records are removed at start.

mod error;
pub mod format;
mod reassemble;
mod recorder;
pub mod scanner;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use strata_drivers::fsutil::private::private_dir;

pub use error::TarSplitError;
pub use recorder::{PendingSplit, SplitRecorder};

use super::digest::{is_sha256_hex, Digest};
use super::records::LayerRecord;
use super::LayerStore;
use crate::error::{EngineError, Result};

/// Name prefix of temporary split files in the splits directory.
const TEMP_PREFIX: &str = ".tmp-tar-split-";
/// Name of a layer's split file inside its directory.
const SPLIT_FILE: &str = "tar-split";

/// Where split files live: `<data-root>/layers`.
#[derive(Clone, Debug)]
pub struct SplitStore {
    dir: PathBuf,
}

impl SplitStore {
    /// The split store of the engine whose data root is `data_root`.
    pub fn new(data_root: &Path) -> Self {
        SplitStore {
            dir: data_root.join("layers"),
        }
    }

    /// [`SplitStore::new`], its directory made (or fixed) closed to other users: splits record
    /// every file of every layer.
    pub fn create(data_root: &Path) -> Result<Self> {
        let store = Self::new(data_root);
        private_dir(&store.dir)
            .map_err(|e| EngineError::io(format!("creating {}", store.dir.display()), e))?;
        Ok(store)
    }

    /// The split file of the layer with this ChainID.
    pub fn path(&self, chain_id: &Digest) -> PathBuf {
        self.dir.join(chain_id.hex()).join(SPLIT_FILE)
    }

    /// Wrap a layer's uncompressed tar stream so that reading it records its split.
    pub fn recorder<R: Read>(&self, inner: R) -> SplitRecorder<R> {
        SplitRecorder::new(inner, &self.dir)
    }

    /// Make a finished split the one of layer `chain_id` (one rename). Failure is logged: the
    /// layer is then saved from the driver's diff.
    pub fn publish(&self, split: PendingSplit, chain_id: &Digest) {
        let target = self.path(chain_id);
        let renamed = target
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::rename(split.temp.path(), &target));
        match renamed {
            Ok(()) => {
                split.temp.keep();
                tracing::debug!(chain_id = %chain_id, "tar-split recorded");
            }
            Err(err) => {
                tracing::warn!(chain_id = %chain_id, path = %target.display(), error = %err,
                "storing the layer's tar-split file failed; save will use the driver's diff")
            }
        }
    }

    /// Remove the split of a released layer (logged, not fatal: the next start retries).
    pub fn remove(&self, chain_id: &Digest) {
        let dir = self.dir.join(chain_id.hex());
        match fs::remove_dir_all(&dir) {
            Ok(()) => tracing::debug!(chain_id = %chain_id, "tar-split removed"),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(chain_id = %chain_id, path = %dir.display(), error = %err,
                "removing a released layer's tar-split failed; the next start removes it"),
        }
    }

    /// Remove temporary files and the splits of layers not in `recorded` (ChainID hex). Only
    /// safe before serving. Entries it does not recognise are left alone.
    pub fn remove_orphans(&self, recorded: &HashSet<String>) -> io::Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let removed = if name.starts_with(TEMP_PREFIX) {
                fs::remove_file(&path)
            } else if is_sha256_hex(&name) && !recorded.contains(name.as_ref()) {
                fs::remove_dir_all(&path)
            } else {
                continue;
            };
            match removed {
                Ok(()) => tracing::info!(path = %path.display(), "removed orphaned tar-split data"),
                Err(err) => tracing::warn!(path = %path.display(), error = %err,
                    "removing orphaned tar-split data failed"),
            }
        }
        Ok(())
    }

    /// Open the split of `chain_id`, `None` when it has none.
    fn open(&self, chain_id: &Digest) -> std::result::Result<Option<SplitFile>, TarSplitError> {
        let path = self.path(chain_id);
        match File::open(&path) {
            Ok(file) => Ok(Some(SplitFile { path, file })),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TarSplitError::SplitFile { path, source }),
        }
    }
}

struct SplitFile {
    path: PathBuf,
    file: File,
}

impl LayerStore {
    /// Write `layer`'s original tar (as recorded in its split) to `out`. Returns `Ok(false)`,
    /// having written nothing, when the layer has no split. The caller checks the written
    /// bytes against the layer's diffID.
    pub fn write_original_tar(&self, layer: &LayerRecord, out: &mut dyn Write) -> Result<bool> {
        let Some(split) = self.splits.open(&layer.chain_id)? else {
            return Ok(false);
        };
        let reader = format::SplitReader::new(BufReader::new(split.file))
            .map_err(|e| EngineError::Internal(format!("{}: {e}", split.path.display())))?;
        let mounted = reassemble::MountedLayer::get(self.driver.as_ref(), &layer.cache_id)?;
        let written = reassemble::reassemble(reader, mounted.path(), out).map_err(|e| {
            EngineError::Internal(format!(
                "rebuilding layer {} from {}: {e}",
                layer.chain_id,
                split.path.display()
            ))
        })?;
        tracing::debug!(chain_id = %layer.chain_id, bytes = written, "layer tar rebuilt from its tar-split");
        Ok(true)
    }

    /// Remove split files no recorded layer owns and temporary ones (start-up repair).
    pub(super) fn remove_orphan_splits(&self) -> Result<()> {
        let recorded: HashSet<String> = self.db.read(recorded_chain_hexes)?;
        self.splits
            .remove_orphans(&recorded)
            .map_err(|e| EngineError::io(format!("cleaning {}", self.splits.dir.display()), e))
    }
}

fn recorded_chain_hexes(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn
        .prepare("SELECT chain_id FROM layers")
        .map_err(|e| EngineError::metadata("listing layer chain ids", e))?;
    let ids = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
        .map_err(|e| EngineError::metadata("listing layer chain ids", e))?;
    Ok(ids
        .into_iter()
        .filter_map(|id| Digest::parse(&id).ok().map(|d| d.hex().to_string()))
        .collect())
}
