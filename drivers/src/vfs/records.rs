//! Each vfs layer's parent, kept in `meta/<id>.json` (written atomically).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DriverError;
use crate::fsutil::atomic;
use crate::layer_id::LayerId;

#[derive(Serialize, Deserialize)]
struct Record {
    parent: Option<String>,
}

/// The directory of parent records.
pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Records { dir }
    }

    fn path(&self, id: &LayerId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Record `id`'s parent.
    pub(crate) fn write(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        let rec = Record {
            parent: parent.map(|p| p.to_string()),
        };
        let bytes = serde_json::to_vec(&rec).map_err(|e| {
            DriverError::io(
                format!("encoding the record of layer {id}"),
                io::Error::other(e),
            )
        })?;
        let path = self.path(id);
        atomic::write_file(&path, &bytes)
            .map_err(|e| DriverError::io(format!("writing {}", path.display()), e))
    }

    /// `id`'s parent (`None` without a record: such a layer was created without one).
    pub(crate) fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        read_record(&self.path(id))
    }

    /// Forget `id`.
    pub(crate) fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriverError::io(format!("removing {}", path.display()), e)),
        }
    }

    /// Every (layer, parent) pair on record.
    pub(crate) fn all(&self) -> Result<Vec<(LayerId, Option<LayerId>)>, DriverError> {
        let ctx = |e| DriverError::io(format!("listing {}", self.dir.display()), e);
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = LayerId::new(stem) else { continue };
            out.push((id, read_record(&entry.path())?));
        }
        Ok(out)
    }
}

fn read_record(path: &Path) -> Result<Option<LayerId>, DriverError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DriverError::io(format!("reading {}", path.display()), e)),
    };
    let rec: Record = serde_json::from_slice(&bytes)
        .map_err(|e| DriverError::io(format!("parsing {}", path.display()), io::Error::other(e)))?;
    rec.parent.map(LayerId::new).transpose()
}
