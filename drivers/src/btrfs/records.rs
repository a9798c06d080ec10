//! One small JSON record per layer (`<home>/layers/<id>`): its parent, whether it is an image
//! or a read-write layer, and its size limit. The record is written (atomically) after the
//! subvolume exists and removed after the subvolume is gone, so a layer counts as complete
//! exactly when both are there; anything else is a leftover of a crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DriverError;
use crate::fsutil::atomic;
use crate::layer_id::LayerId;

/// What kind of layer a subvolume holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Made by `create`: filled once by `apply_diff`, then read-only.
    Image,
    /// Made by `create_rw`: a writable container or `-init` layer.
    Rw,
}

/// The stored facts of one layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The layer it was snapshotted from.
    pub parent: Option<String>,
    pub kind: LayerKind,
    /// `size=` of a read-write layer: the qgroup limit on referenced bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_limit: Option<u64>,
}

impl LayerRecord {
    /// The parent as a validated id.
    pub fn parent_id(&self) -> Result<Option<LayerId>, DriverError> {
        self.parent.as_deref().map(LayerId::new).transpose()
    }
}

/// The directory of layer records.
#[derive(Clone, Debug)]
pub struct RecordDir {
    dir: PathBuf,
}

impl RecordDir {
    /// The record directory at `dir` (created by the caller).
    pub fn new(dir: PathBuf) -> Self {
        RecordDir { dir }
    }

    fn path(&self, id: &LayerId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    /// The layer's record, `None` when it has none.
    pub fn read(&self, id: &LayerId) -> Result<Option<LayerRecord>, DriverError> {
        read_record(&self.path(id))
    }

    /// Store the layer's record (all or nothing).
    pub fn write(&self, id: &LayerId, record: &LayerRecord) -> Result<(), DriverError> {
        let path = self.path(id);
        let bytes = serde_json::to_vec(record).map_err(|e| {
            DriverError::io(
                format!("encoding {}", path.display()),
                std::io::Error::other(e),
            )
        })?;
        atomic::write_file(&path, &bytes)
            .map_err(|e| DriverError::io(format!("writing layer record {}", path.display()), e))
    }

    /// Remove the layer's record (no error when there is none).
    pub fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriverError::io(
                format!("removing layer record {}", path.display()),
                e,
            )),
        }
    }

    /// Every layer with a record, with the record, sorted by id. Temporary files of
    /// interrupted writes (`.tmp-*`) are not layer ids and are skipped.
    pub fn all(&self) -> Result<Vec<(LayerId, LayerRecord)>, DriverError> {
        let ctx = |e| DriverError::io(format!("listing {}", self.dir.display()), e);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| LayerId::new(n).ok())
            else {
                continue;
            };
            if let Some(record) = read_record(&entry.path())? {
                out.push((id, record));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The layers whose parent is `id`.
    pub fn children(&self, id: &LayerId) -> Result<Vec<LayerId>, DriverError> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|(_, r)| r.parent.as_deref() == Some(id.as_str()))
            .map(|(child, _)| child)
            .collect())
    }
}

fn read_record(path: &Path) -> Result<Option<LayerRecord>, DriverError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(DriverError::io(
                format!("reading layer record {}", path.display()),
                e,
            ))
        }
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        DriverError::io(
            format!("layer record {} is corrupt", path.display()),
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_list_children() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RecordDir::new(tmp.path().to_path_buf());
        let a = LayerId::new("a").unwrap();
        let b = LayerId::new("b").unwrap();
        let ra = LayerRecord {
            parent: None,
            kind: LayerKind::Image,
            size_limit: None,
        };
        let rb = LayerRecord {
            parent: Some("a".into()),
            kind: LayerKind::Rw,
            size_limit: Some(5),
        };
        dir.write(&a, &ra).unwrap();
        dir.write(&b, &rb).unwrap();
        std::fs::write(tmp.path().join(".tmp-c"), b"{").unwrap();
        assert_eq!(dir.read(&b).unwrap(), Some(rb.clone()));
        assert_eq!(dir.all().unwrap(), vec![(a.clone(), ra), (b.clone(), rb)]);
        assert_eq!(dir.children(&a).unwrap(), vec![b.clone()]);
        dir.remove(&b).unwrap();
        dir.remove(&b).unwrap();
        assert!(dir.children(&a).unwrap().is_empty());
    }
}
