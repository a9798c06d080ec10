//! One JSON record per thin device: `<home>/devices/<layer>.json`, plus `<home>/devices/@base.json`
//! for the base device (`@` is in no layer id, so the names cannot collide).
//!
//! The record is the transaction log of the device's life. It is written, atomically (temporary
//! name, fsync, rename), in state `creating` **before** `create_thin`/`create_snap` is sent to the
//! pool, rewritten as `ready` after, and rewritten as `deleting` before the pool's `delete`. A
//! device whose record is not `ready` when the driver opens was being made or removed by a
//! process that died: it is deleted from the pool and its record dropped (containerd marks such
//! devices Faulty and removes them the same way).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DriverError;
use crate::fsutil::atomic;
use crate::layer_id::LayerId;

/// Record file of the base device. Layer records are `<id>.json` where `<id>` is a valid layer
/// id; the base's name starts with `@`, which no layer id contains.
pub const BASE_FILE: &str = "@base.json";
/// Temporary names of records being written start with this (see `fsutil::atomic`).
const TMP_PREFIX: &str = ".tmp-";

/// Where a device is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// Recorded, creation message maybe sent: not usable, repaired at open.
    Creating,
    /// Complete.
    Ready,
    /// Being removed: finished at open.
    Deleting,
}

/// The stored facts of one thin device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Thin device id in the pool (24 bits).
    pub device_id: u32,
    /// Virtual size in bytes.
    pub size: u64,
    /// The layer it was snapshotted from (`None`: snapshot of the base device, or the base).
    pub parent: Option<String>,
    /// Made by `create_rw`.
    #[serde(default)]
    pub rw: bool,
    pub state: DeviceState,
}

impl DeviceRecord {
    /// The parent as a validated id.
    pub fn parent_id(&self) -> Result<Option<LayerId>, DriverError> {
        self.parent.as_deref().map(LayerId::new).transpose()
    }
}

/// The directory of device records.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

/// What a record file belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Base,
    Layer(LayerId),
}

impl Records {
    /// Records in `dir`, which is created if missing.
    pub fn open(dir: PathBuf) -> Result<Records, DriverError> {
        crate::fsutil::private::private_dir(&dir)
            .map_err(|e| DriverError::io(format!("creating {}", dir.display()), e))?;
        Ok(Records { dir })
    }

    fn path(&self, owner: &Owner) -> PathBuf {
        match owner {
            Owner::Base => self.dir.join(BASE_FILE),
            Owner::Layer(id) => self.dir.join(format!("{}.json", id.as_str())),
        }
    }

    /// The record of `owner`, `None` when there is none.
    pub fn read(&self, owner: &Owner) -> Result<Option<DeviceRecord>, DriverError> {
        read_record(&self.path(owner))
    }

    /// Store the record of `owner` all or nothing, durably.
    pub fn write(&self, owner: &Owner, record: &DeviceRecord) -> Result<(), DriverError> {
        let path = self.path(owner);
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| {
            DriverError::io(
                format!("encoding {}", path.display()),
                std::io::Error::other(e),
            )
        })?;
        atomic::write_file(&path, &bytes)
            .and_then(|()| atomic::sync_dir(&self.dir))
            .map_err(|e| DriverError::io(format!("writing device record {}", path.display()), e))
    }

    /// Remove the record of `owner` (no error when there is none).
    pub fn remove(&self, owner: &Owner) -> Result<(), DriverError> {
        let path = self.path(owner);
        match std::fs::remove_file(&path) {
            Ok(()) => atomic::sync_dir(&self.dir)
                .map_err(|e| DriverError::io(format!("syncing {}", self.dir.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DriverError::io(
                format!("removing device record {}", path.display()),
                e,
            )),
        }
    }

    /// Remove temporary files of record writes a crash interrupted (only at open, when no
    /// write of this process can be in progress).
    pub fn remove_temporaries(&self) -> Result<(), DriverError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| DriverError::io(format!("listing {}", self.dir.display()), e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    DriverError::io(format!("removing {}", entry.path().display()), e)
                })?;
            }
        }
        Ok(())
    }

    /// Every record, the base's included (temporary files of writes are skipped).
    pub fn all(&self) -> Result<Vec<(Owner, DeviceRecord)>, DriverError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| DriverError::io(format!("listing {}", self.dir.display()), e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| DriverError::io(format!("listing {}", self.dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TMP_PREFIX) {
                // A write in progress, or one a crash interrupted (`remove_temporaries`).
                continue;
            }
            let owner = if name == BASE_FILE {
                Owner::Base
            } else {
                match name.strip_suffix(".json").map(LayerId::new) {
                    Some(Ok(id)) => Owner::Layer(id),
                    _ => continue,
                }
            };
            if let Some(record) = read_record(&entry.path())? {
                out.push((owner, record));
            }
        }
        Ok(out)
    }
}

fn read_record(path: &Path) -> Result<Option<DeviceRecord>, DriverError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DriverError::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        DriverError::io(
            format!("device record {} is corrupt", path.display()),
            std::io::Error::other(e),
        )
    })
}
