//! What the kernel says about active dm devices and loop devices, read from sysfs instead of
//! asking `dmsetup info` / `dmsetup ls` / `losetup -j`.
//!
//! These questions are asked several times per layer operation ("is this device active?", "is
//! the origin suspended?", "which loop device reads this file?"); answering them from
//! `/sys/block` costs a few small reads instead of a process each, which matters where process
//! start-up is slow (the emulated test guest takes ~0.3 s per process). Everything that changes
//! state still goes through `dmsetup`/`losetup` (see `cli`).
//!
//! - `/sys/block/dm-N/dm/name`: the dm name of `dm-N`;
//! - `/sys/block/dm-N/dm/suspended`: `1` while suspended;
//! - `/sys/block/loopN/loop/backing_file`: the file behind an attached loop device.

use std::path::{Path, PathBuf};

use crate::error::DriverError;

/// Where block devices appear.
const SYS_BLOCK: &str = "/sys/block";
/// Present while device-mapper (`dm_mod`) is in the kernel.
const DM_MISC: &str = "/sys/class/misc/device-mapper";

/// One active device-mapper device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmDevice {
    /// Its dm name (`dmsetup ls`).
    pub name: String,
    /// Suspended (I/O queued until `resume`).
    pub suspended: bool,
}

/// Whether device-mapper is in the running kernel (module loaded or built in).
pub fn device_mapper_loaded() -> bool {
    Path::new(DM_MISC).exists()
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string())
}

/// Entries of `/sys/block` whose name starts with `prefix` (`dm-`, `loop`).
fn block_devices(prefix: &str) -> Result<Vec<PathBuf>, DriverError> {
    let entries = std::fs::read_dir(SYS_BLOCK)
        .map_err(|e| DriverError::io(format!("listing {SYS_BLOCK}"), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DriverError::io(format!("listing {SYS_BLOCK}"), e))?;
        if entry.file_name().to_string_lossy().starts_with(prefix) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Every active dm device. A device removed while it is read is left out.
pub fn dm_devices() -> Result<Vec<DmDevice>, DriverError> {
    let mut out = Vec::new();
    for dir in block_devices("dm-")? {
        let Some(name) = read_trimmed(&dir.join("dm/name")) else {
            continue;
        };
        let suspended = read_trimmed(&dir.join("dm/suspended")).is_some_and(|s| s == "1");
        out.push(DmDevice { name, suspended });
    }
    Ok(out)
}

/// The active dm device called `name`, if any.
pub fn dm_device(name: &str) -> Result<Option<DmDevice>, DriverError> {
    Ok(dm_devices()?.into_iter().find(|d| d.name == name))
}

/// Names of all active dm devices.
pub fn dm_names() -> Result<Vec<String>, DriverError> {
    Ok(dm_devices()?.into_iter().map(|d| d.name).collect())
}

/// The file behind loop device `dev` (`/dev/loopN` or `loopN`), without the ` (deleted)` mark;
/// `None` when the device is not attached.
pub fn loop_backing_file(dev: &str) -> Option<PathBuf> {
    let name = Path::new(dev).file_name()?.to_str()?;
    let text = read_trimmed(&Path::new(SYS_BLOCK).join(name).join("loop/backing_file"))?;
    Some(PathBuf::from(
        text.strip_suffix(" (deleted)").unwrap_or(&text),
    ))
}

/// Loop devices (`/dev/loopN`) attached to `file`, lowest number first.
pub fn loops_of(file: &Path) -> Result<Vec<String>, DriverError> {
    let mut out: Vec<(u32, String)> = Vec::new();
    for dir in block_devices("loop")? {
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if loop_backing_file(&name).is_some_and(|b| b == file) {
            let number = name.trim_start_matches("loop").parse().unwrap_or(u32::MAX);
            out.push((number, format!("/dev/{name}")));
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, dev)| dev).collect())
}
