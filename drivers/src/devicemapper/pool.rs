//! The thin pool: an existing one (`dm.thinpooldev`) or one the driver builds on two sparse files
//! attached to loop devices (`<home>/devicemapper/data` and `.../metadata`, as Docker laid them
//! out; loop-lvm is for testing, and the driver says so when it builds one).
//!
//! A driver-built pool is activated lazily by every operation that needs it and torn down
//! (pool device removed, loop devices detached) when the driver is dropped, as Docker's
//! `Shutdown` did; a pool named by `dm.thinpooldev` is never changed beyond its thin devices.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::cli::{self, Dmsetup};
use super::options::{DmOptions, PoolSource};
use super::sysfs;
use crate::error::DriverError;
use crate::fsutil::private::{
    private_dir, private_file_options, restrict_if_present, PRIVATE_FILE_MODE,
};

/// Sectors are 512 bytes for device-mapper tables.
pub const SECTOR: u64 = 512;
/// Metadata blocks of the thin-pool target are 4 KiB.
const METADATA_BLOCK: u64 = 4096;

/// Space figures of the pool, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub data_used: u64,
    pub data_total: u64,
    pub metadata_used: u64,
    pub metadata_total: u64,
}

/// The pool in use and how to reach it.
#[derive(Debug)]
pub struct Pool {
    dm: Dmsetup,
    /// dm name of the pool device.
    name: String,
    /// Prefix of the dm names of this driver's thin devices.
    prefix: String,
    /// Present for a driver-built pool.
    loop_files: Option<LoopFiles>,
    block_size: u64,
    /// The pool's table was checked to be a thin pool.
    verified: bool,
    /// Loop devices this instance attached (detached by `teardown` even once the files are gone).
    attached: Vec<String>,
}

#[derive(Debug)]
struct LoopFiles {
    losetup: PathBuf,
    data: PathBuf,
    metadata: PathBuf,
    data_size: u64,
    metadata_size: u64,
}

/// Parse `dmsetup status` of a thin pool:
/// `START LEN thin-pool TRANSACTION USED_META/TOTAL_META USED_DATA/TOTAL_DATA ...`
/// (metadata in 4 KiB blocks, data in pool blocks).
pub fn parse_pool_status(line: &str, block_size: u64) -> Option<PoolUsage> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(2) != Some(&"thin-pool") {
        return None;
    }
    let pair = |s: &str| -> Option<(u64, u64)> {
        let (a, b) = s.split_once('/')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let (mu, mt) = pair(fields.get(4)?)?;
    let (du, dt) = pair(fields.get(5)?)?;
    Some(PoolUsage {
        data_used: du * block_size,
        data_total: dt * block_size,
        metadata_used: mu * METADATA_BLOCK,
        metadata_total: mt * METADATA_BLOCK,
    })
}

impl Pool {
    /// Describe the pool for the driver in `home` (nothing is activated yet).
    pub fn new(dm: Dmsetup, home: &Path, options: &DmOptions) -> Result<Pool, DriverError> {
        let md = std::fs::metadata(home)
            .map_err(|e| DriverError::io(format!("reading {}", home.display()), e))?;
        let (major, minor) = crate::fsutil::meta::dev_major_minor(md.dev());
        // As Docker: names carry the home's device and inode, so two homes never share names.
        let prefix = format!("strata-{major}:{minor}-{}", md.ino());
        match &options.pool {
            PoolSource::Existing(name) => Ok(Pool {
                dm,
                name: name.clone(),
                prefix,
                loop_files: None,
                block_size: options.block_size,
                verified: false,
                attached: Vec::new(),
            }),
            PoolSource::Loop {
                data_size,
                metadata_size,
            } => {
                let dir = home.join("devicemapper");
                Ok(Pool {
                    dm,
                    // Layer ids never start with '-': `<prefix>--pool` is no layer's device name.
                    name: format!("{prefix}--pool"),
                    prefix,
                    loop_files: Some(LoopFiles {
                        losetup: cli::require_tool("losetup", "the Debian package mount")?,
                        data: dir.join("data"),
                        metadata: dir.join("metadata"),
                        data_size: *data_size,
                        metadata_size: *metadata_size,
                    }),
                    block_size: options.block_size,
                    verified: false,
                    attached: Vec::new(),
                })
            }
        }
    }

    /// The pool's dm name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dm name of this driver's thin device called `suffix`.
    pub fn device_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    /// Prefix shared by every dm name of this driver.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Pool block size in bytes (for a pool named by `dm.thinpooldev`, read from its table).
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Paths of the loop-backed files (data, metadata), `None` for an existing pool.
    pub fn loop_paths(&self) -> Option<(&Path, &Path)> {
        self.loop_files
            .as_ref()
            .map(|l| (l.data.as_path(), l.metadata.as_path()))
    }

    /// Make sure the pool device is active: for an existing pool, that it is there and is a
    /// thin pool; for a loop pool, create the files, attach them and load the pool table.
    pub fn ensure_active(&mut self) -> Result<(), DriverError> {
        if sysfs::dm_device(&self.name)?.is_some() {
            if self.verified {
                return Ok(());
            }
            let table = self.dm.table(&self.name)?;
            let fields: Vec<&str> = table.split_whitespace().collect();
            if fields.get(2) != Some(&"thin-pool") {
                return Err(DriverError::InvalidOption {
                    key: "dm.thinpooldev".into(),
                    value: self.name.clone(),
                    reason: format!("{} is not a thin pool (table: {table})", self.name),
                });
            }
            if let Some(sectors) = fields.get(5).and_then(|s| s.parse::<u64>().ok()) {
                self.block_size = sectors * SECTOR;
            }
            self.verified = true;
            return Ok(());
        }
        let Some(files) = &self.loop_files else {
            return Err(DriverError::InvalidOption {
                key: "dm.thinpooldev".into(),
                value: self.name.clone(),
                reason: format!(
                    "no device-mapper device {} is active (`dmsetup ls` lists them)",
                    self.name
                ),
            });
        };
        warn!(
            data = %files.data.display(),
            "devicemapper: using loop-backed sparse files for the thin pool; loop devices are \
             slow and meant for testing only, use dm.thinpooldev in production"
        );
        let data_loop = files.attach(&files.data, files.data_size)?;
        let metadata_loop = files.attach(&files.metadata, files.metadata_size)?;
        let block_sectors = self.block_size / SECTOR;
        let data_sectors = files.data_size / self.block_size * block_sectors;
        let low_water = (data_sectors / block_sectors / 10).clamp(1, 32768);
        // As Docker's loop-lvm pool: `skip_block_zeroing`, so a newly provisioned block is not
        // first filled with zeros when a write covers only part of it (a filesystem reads only
        // what it wrote; zeroing costs a whole pool block of writes per small first write).
        let table = format!(
            "0 {data_sectors} thin-pool {metadata_loop} {data_loop} {block_sectors} {low_water} \
             1 skip_block_zeroing"
        );
        if let Err(e) = self.dm.create(&self.name, &table) {
            files.detach(&files.data);
            files.detach(&files.metadata);
            return Err(e.into());
        }
        self.attached = vec![data_loop.clone(), metadata_loop.clone()];
        self.verified = true;
        info!(pool = %self.name, %data_loop, %metadata_loop, "thin pool activated on loop devices");
        Ok(())
    }

    /// Tear down a driver-built pool (pool device, loop devices). An existing pool is left alone.
    pub fn teardown(&mut self) -> Result<(), DriverError> {
        let Some(files) = &self.loop_files else {
            return Ok(());
        };
        self.dm.remove(&self.name)?;
        self.verified = false;
        for dev in self.attached.drain(..) {
            // The number may have been reused since (another instance detached ours): detach
            // only when the device still reads one of our files.
            let ours = sysfs::loop_backing_file(&dev)
                .is_some_and(|b| b == files.data || b == files.metadata);
            if ours {
                if let Err(e) = cli::run(&files.losetup, &["-d", &dev]) {
                    warn!(device = %dev, error = %e, "detaching a loop device");
                }
            }
        }
        files.detach(&files.data);
        files.detach(&files.metadata);
        info!(pool = %self.name, "thin pool deactivated, loop devices detached");
        Ok(())
    }

    /// Space used and total, from the pool's status.
    pub fn usage(&self) -> Result<PoolUsage, DriverError> {
        let line = self.dm.status(&self.name)?;
        parse_pool_status(&line, self.block_size).ok_or_else(|| DriverError::Command {
            command: format!("dmsetup status {}", self.name),
            stderr: format!("unexpected thin-pool status {line:?}"),
        })
    }

    /// The loop device a file of a loop pool is attached to, for `docker info`.
    pub fn loop_device_of(&self, file: &Path) -> Option<String> {
        self.loop_files
            .as_ref()
            .and_then(|f| f.attached(file).ok().flatten())
    }
}

impl LoopFiles {
    /// The loop device `file` is attached to, if any (what `losetup -j FILE` says, from sysfs).
    fn attached(&self, file: &Path) -> Result<Option<String>, DriverError> {
        Ok(sysfs::loops_of(file)?.into_iter().next())
    }

    /// Create `file` sparse with `size` bytes if missing, attach it to a loop device (or find the
    /// one it is attached to) and return the device path. The file and its directory are closed
    /// to other users (they hold every layer's blocks), existing ones included.
    fn attach(&self, file: &Path, size: u64) -> Result<String, DriverError> {
        if let Some(dir) = file.parent() {
            private_dir(dir)
                .map_err(|e| DriverError::io(format!("creating {}", dir.display()), e))?;
        }
        restrict_if_present(file, PRIVATE_FILE_MODE)
            .map_err(|e| DriverError::io(format!("chmod {}", file.display()), e))?;
        if !file.exists() {
            let f = private_file_options()
                .write(true)
                .create_new(true)
                .open(file)
                .map_err(|e| DriverError::io(format!("creating {}", file.display()), e))?;
            f.set_len(size)
                .map_err(|e| DriverError::io(format!("sizing {}", file.display()), e))?;
        }
        if let Some(dev) = self.attached(file)? {
            return Ok(dev);
        }
        let path = file.to_string_lossy();
        let out = cli::run(&self.losetup, &["--find", "--show", &path]).map_err(|f| {
            DriverError::Unsupported {
                driver: "devicemapper",
                reason: format!(
                    "cannot attach {} to a loop device ({}: {}); is the loop module loaded?",
                    file.display(),
                    f.command,
                    f.stderr
                ),
            }
        })?;
        Ok(out.trim().to_string())
    }

    /// Detach every loop device `file` is attached to (errors only logged).
    fn detach(&self, file: &Path) {
        while let Ok(Some(dev)) = self.attached(file) {
            if let Err(e) = cli::run(&self.losetup, &["-d", &dev]) {
                warn!(device = %dev, file = %file.display(), error = %e, "detaching a loop device");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_status_gives_bytes() {
        let line = "0 4194304 thin-pool 3 91/16384 205/32768 - rw discard_passdown queue_if_no_space - 1024";
        let u = parse_pool_status(line, 64 << 10).unwrap();
        assert_eq!(u.metadata_used, 91 * 4096);
        assert_eq!(u.metadata_total, 16384 * 4096);
        assert_eq!(u.data_used, 205 * (64 << 10));
        assert_eq!(u.data_total, 32768 * (64 << 10));
        assert_eq!(parse_pool_status("0 10 linear 8:1 0", 1), None);
    }
}
