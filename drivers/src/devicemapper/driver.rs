//! The devicemapper graph driver: every layer a thin snapshot of its parent (or of the base
//! device, which carries an empty filesystem) in one thin pool.
//!
//! Layout of the home: `devices/<id>.json` (one record per thin device, the transaction log, see
//! `records`), `mnt/<id>` (mount point of an active layer; its tree is `mnt/<id>/rootfs`, as in
//! Docker, so the filesystem's `lost+found` stays out of the layer) and, for a loop-backed pool,
//! `devicemapper/{data,metadata}`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing::{debug, info, warn};

use super::cli::{CliFailure, DmSaid, Dmsetup};
use super::fs;
use super::options::{parse_layer_size, DmOptions};
use super::pool::{Pool, SECTOR};
use super::records::{DeviceRecord, DeviceState, Owner, Records};
use super::status;
use super::sysfs;
use crate::archive::{apply_tar, own_usage, write_naive_diff, WhiteoutMode};
use crate::driver::DriverOptions;
use crate::driver::{ApplyLimits, CreateOpts, GraphDriver, Usage};
use crate::error::DriverError;
use crate::held::{with_layer_and_parent, HeldLayer};
use crate::layer_id::LayerId;
use crate::mountinfo;
use crate::refcount::RefCounts;

/// Thin device ids are 24 bits.
const MAX_DEVICE_ID: u32 = 0x00ff_ffff;
/// dm names are at most 127 bytes.
const MAX_DM_NAME: usize = 127;
/// Directory inside every thin device's filesystem that holds the layer's tree.
const ROOTFS: &str = "rootfs";
/// How often a taken thin id is skipped before creating gives up.
const ID_TRIES: u32 = 64;

/// What changes under the lock: the pool (activated lazily) and the use counts.
struct State {
    pool: Pool,
    counts: RefCounts,
}

/// The devicemapper driver.
pub struct DevMapperDriver {
    dm: Dmsetup,
    options: DmOptions,
    mnt: PathBuf,
    records: Records,
    state: Mutex<State>,
}

impl DevMapperDriver {
    /// Open the driver: check options and tools, activate the pool, finish or undo device
    /// creations and removals a dead process left half done, and make the base device.
    pub fn open(opts: &DriverOptions) -> Result<DevMapperDriver, DriverError> {
        let options = DmOptions::parse(&opts.storage_opt)?;
        let dm = Dmsetup::locate()?;
        if !sysfs::device_mapper_loaded() {
            // Opening /dev/mapper/control loads dm_mod on demand: `dmsetup version` does that.
            let said = match dm.version() {
                Ok(_) => "dmsetup version succeeded".to_string(),
                Err(f) => f.to_string(),
            };
            if !sysfs::device_mapper_loaded() {
                return Err(DriverError::Unsupported {
                    driver: "devicemapper",
                    reason: format!(
                        "device-mapper is not available in this kernel (no \
                         /sys/class/misc/device-mapper; {said}); load dm_mod and dm_thin_pool, \
                         or run the tests through tests/vm/run.sh"
                    ),
                });
            }
        }
        if !Path::new("/dev/mapper/control").exists() {
            return Err(DriverError::Unsupported {
                driver: "devicemapper",
                reason: "/dev/mapper/control is missing: device-mapper is not available in this \
                         kernel (run the tests through tests/vm/run.sh)"
                    .into(),
            });
        }
        let home = std::fs::canonicalize(&opts.home).map_err(|e| {
            DriverError::io(format!("resolving driver home {}", opts.home.display()), e)
        })?;
        // Mount points: closed to other users (each mounted filesystem's root keeps its mode).
        let mnt = home.join("mnt");
        crate::fsutil::private::private_dir(&mnt)
            .map_err(|e| DriverError::io(format!("creating {}", mnt.display()), e))?;
        let records = Records::open(home.join("devices"))?;
        let mut pool = Pool::new(dm.clone(), &home, &options)?;
        pool.ensure_active()?;
        let driver = DevMapperDriver {
            dm,
            options,
            mnt,
            records,
            state: Mutex::new(State {
                pool,
                counts: RefCounts::default(),
            }),
        };
        driver.repair()?;
        driver.ensure_base()?;
        info!(home = %home.display(), pool = %driver.lock().pool.name(), "devicemapper driver ready");
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves counts that are still meaningful: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mount_point(&self, id: &LayerId) -> PathBuf {
        self.mnt.join(id.as_str())
    }

    /// dm name of `owner`'s thin device.
    fn dm_name(&self, pool: &Pool, owner: &Owner, record: &DeviceRecord) -> String {
        match owner {
            // Layer ids never start with '-', so `<prefix>--base` is no layer's name.
            Owner::Base => pool.device_name("-base"),
            Owner::Layer(id) => {
                let name = pool.device_name(id.as_str());
                if name.len() <= MAX_DM_NAME {
                    name
                } else {
                    pool.device_name(&format!("-id{}", record.device_id))
                }
            }
        }
    }

    fn ready_record(&self, id: &LayerId) -> Result<DeviceRecord, DriverError> {
        match self.records.read(&Owner::Layer(id.clone()))? {
            Some(r) if r.state == DeviceState::Ready => Ok(r),
            _ => Err(DriverError::NotFound(id.clone())),
        }
    }

    /// Activate `name` as thin device `record` of the pool, if it is not active.
    fn activate(&self, pool: &Pool, name: &str, record: &DeviceRecord) -> Result<(), DriverError> {
        if sysfs::dm_device(name)?.is_some() {
            return Ok(());
        }
        let table = format!(
            "0 {} thin /dev/mapper/{} {}",
            record.size / SECTOR,
            pool.name(),
            record.device_id
        );
        self.dm.create(name, &table)?;
        debug!(device = name, "activated");
        Ok(())
    }

    /// Undo what dead processes left half done: devices `creating` are deleted, devices
    /// `deleting` are finished; their records go.
    fn repair(&self) -> Result<(), DriverError> {
        let state = self.lock();
        self.records.remove_temporaries()?;
        for (owner, record) in self.records.all()? {
            if record.state == DeviceState::Ready {
                continue;
            }
            let name = self.dm_name(&state.pool, &owner, &record);
            warn!(device = %name, device_id = record.device_id, state = ?record.state,
                  "removing a thin device an interrupted create or remove left behind");
            if let Owner::Layer(id) = &owner {
                fs::unmount(&self.mount_point(id))?;
            }
            self.dm.remove(&name)?;
            self.delete_thin(&state.pool, record.device_id)?;
            self.records.remove(&owner)?;
        }
        Ok(())
    }

    /// Send `delete ID` to the pool; a device the pool does not have is not an error.
    fn delete_thin(&self, pool: &Pool, device_id: u32) -> Result<(), DriverError> {
        match self.dm.message(pool.name(), &format!("delete {device_id}")) {
            Ok(()) => Ok(()),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(f.into()),
        }
    }

    /// The next free thin id: one more than any recorded (ids of crashed creations were freed
    /// by `repair`; an id taken behind our back is skipped when the pool says so).
    fn next_device_id(&self) -> Result<u32, DriverError> {
        let max = self
            .records
            .all()?
            .iter()
            .map(|(_, r)| r.device_id)
            .max()
            .unwrap_or(0);
        if max >= MAX_DEVICE_ID {
            return Err(DriverError::Unsupported {
                driver: "devicemapper",
                reason: "the pool's thin device ids (24 bits) are used up".into(),
            });
        }
        Ok(max + 1)
    }

    /// Create the base device with its empty filesystem, unless it exists.
    fn ensure_base(&self) -> Result<(), DriverError> {
        let state = self.lock();
        if self.records.read(&Owner::Base)?.is_some() {
            return Ok(());
        }
        let mut record = DeviceRecord {
            device_id: self.next_device_id()?,
            size: self.options.base_size,
            parent: None,
            rw: false,
            state: DeviceState::Creating,
        };
        for _ in 0..ID_TRIES {
            self.records.write(&Owner::Base, &record)?;
            match self.dm.message(
                state.pool.name(),
                &format!("create_thin {}", record.device_id),
            ) {
                Ok(()) => break,
                Err(f) if f.is_exists() => record.device_id += 1,
                Err(f) => {
                    self.records.remove(&Owner::Base)?;
                    return Err(f.into());
                }
            }
        }
        let name = self.dm_name(&state.pool, &Owner::Base, &record);
        let made = (|| {
            self.activate(&state.pool, &name, &record)?;
            let device = format!("/dev/mapper/{name}");
            fs::make(self.options.fs, &device)?;
            let scratch = self.mnt.join("-base");
            fs::mount_device(self.options.fs, &device, &scratch)?;
            let made_root = std::fs::create_dir(scratch.join(ROOTFS))
                .map_err(|e| DriverError::io(format!("creating {ROOTFS} on the base device"), e));
            fs::unmount(&scratch)?;
            let _ = std::fs::remove_dir(&scratch);
            made_root?;
            self.dm.remove(&name)?;
            Ok::<(), DriverError>(())
        })();
        if let Err(e) = made {
            let _ = self.dm.remove(&name);
            let _ = self.delete_thin(&state.pool, record.device_id);
            let _ = self.records.remove(&Owner::Base);
            return Err(e);
        }
        record.state = DeviceState::Ready;
        self.records.write(&Owner::Base, &record)?;
        info!(device = %name, fs = self.options.fs.name(), size = record.size, "base device made");
        Ok(())
    }

    fn create_layer(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        rw: bool,
        size: Option<u64>,
    ) -> Result<(), DriverError> {
        let mut state = self.lock();
        let owner = Owner::Layer(id.clone());
        if self.records.read(&owner)?.is_some() {
            return Err(DriverError::AlreadyExists(id.clone()));
        }
        let (origin_owner, origin) = match parent {
            Some(p) => (Owner::Layer(p.clone()), self.ready_record(p)?),
            None => match self.records.read(&Owner::Base)? {
                Some(r) => (Owner::Base, r),
                None => {
                    return Err(DriverError::Unsupported {
                        driver: "devicemapper",
                        reason: "the base device is missing (reopen the driver to make it)".into(),
                    })
                }
            },
        };
        state.pool.ensure_active()?;
        self.check_free_space(&state.pool)?;
        let origin_name = self.dm_name(&state.pool, &origin_owner, &origin);
        let mut record = DeviceRecord {
            device_id: self.next_device_id()?,
            size: size.unwrap_or(origin.size).max(origin.size),
            parent: parent.map(|p| p.as_str().to_string()),
            rw,
            state: DeviceState::Creating,
        };
        let mut created = false;
        for _ in 0..ID_TRIES {
            // Recorded first: a crash from here on leaves a `creating` record, repaired at open.
            self.records.write(&owner, &record)?;
            match self.snapshot(
                &state.pool,
                &origin_name,
                origin.device_id,
                record.device_id,
            ) {
                Ok(()) => {
                    created = true;
                    break;
                }
                Err(f) if f.is_exists() => {
                    warn!(
                        device_id = record.device_id,
                        "thin id taken in the pool; trying the next"
                    );
                    record.device_id += 1;
                }
                Err(f) => {
                    self.records.remove(&owner)?;
                    return Err(f.into());
                }
            }
        }
        if !created {
            self.records.remove(&owner)?;
            return Err(DriverError::Command {
                command: "dmsetup message create_snap".into(),
                stderr: format!(
                    "{ID_TRIES} thin ids in a row are taken in pool {}",
                    state.pool.name()
                ),
            });
        }
        // Dying here leaves a thin device in the pool whose record says `creating` (the crash
        // test kills the process at this point; `repair` deletes the device at the next open).
        #[cfg(feature = "fault-injection")]
        super::fault::point(super::fault::SNAPSHOT_CREATED, id.as_str());
        let name = self.dm_name(&state.pool, &owner, &record);
        if record.size > origin.size {
            if let Err(e) = self.grow(&state.pool, &name, &record, id) {
                let _ = self.dm.remove(&name);
                let _ = self.delete_thin(&state.pool, record.device_id);
                let _ = self.records.remove(&owner);
                return Err(e);
            }
        }
        record.state = DeviceState::Ready;
        self.records.write(&owner, &record)?;
        debug!(layer = %id, device = %name, device_id = record.device_id, "created");
        Ok(())
    }

    /// `create_snap NEW ORIGIN`, with the origin suspended while it is active.
    fn snapshot(
        &self,
        pool: &Pool,
        origin_name: &str,
        origin_id: u32,
        new_id: u32,
    ) -> Result<(), CliFailure> {
        let active = sysfs::dm_device(origin_name).map_err(|e| CliFailure {
            command: format!("reading the state of {origin_name} in sysfs"),
            stderr: e.to_string(),
        })?;
        let suspend = matches!(active, Some(d) if !d.suspended);
        if suspend {
            self.dm.suspend(origin_name)?;
        }
        let result = self
            .dm
            .message(pool.name(), &format!("create_snap {new_id} {origin_id}"));
        if suspend {
            if let Err(e) = self.dm.resume(origin_name) {
                warn!(device = origin_name, error = %e, "resuming the origin of a snapshot");
                return result.and(Err(e));
            }
        }
        result
    }

    /// Grow a new layer's filesystem to its larger `size=`.
    fn grow(
        &self,
        pool: &Pool,
        name: &str,
        record: &DeviceRecord,
        id: &LayerId,
    ) -> Result<(), DriverError> {
        self.activate(pool, name, record)?;
        let scratch = self.mnt.join(format!("-grow-{}", id.as_str()));
        let result = fs::grow(self.options.fs, &format!("/dev/mapper/{name}"), &scratch);
        self.dm.remove(name)?;
        result
    }

    /// Refuse to create when free data or metadata space is below `dm.min_free_space`.
    fn check_free_space(&self, pool: &Pool) -> Result<(), DriverError> {
        let pct = u64::from(self.options.min_free_percent);
        if pct == 0 {
            return Ok(());
        }
        let u = pool.usage()?;
        let short =
            |used: u64, total: u64| total > 0 && (total - used.min(total)) * 100 < total * pct;
        if short(u.data_used, u.data_total) || short(u.metadata_used, u.metadata_total) {
            return Err(DriverError::Unsupported {
                driver: "devicemapper",
                reason: format!(
                    "thin pool {} has less than {pct}% free data or metadata space \
                     (data {}/{} bytes, metadata {}/{} bytes used; dm.min_free_space)",
                    pool.name(),
                    u.data_used,
                    u.data_total,
                    u.metadata_used,
                    u.metadata_total
                ),
            });
        }
        Ok(())
    }

    /// Unmount and deactivate layer `id` (whatever its count).
    fn deactivate(
        &self,
        pool: &Pool,
        id: &LayerId,
        record: &DeviceRecord,
    ) -> Result<(), DriverError> {
        let mp = self.mount_point(id);
        if mountinfo::is_mount_point(&mp).map_err(|e| DriverError::io("reading mountinfo", e))? {
            fs::unmount(&mp)?;
        }
        let _ = std::fs::remove_dir(&mp);
        let name = self.dm_name(pool, &Owner::Layer(id.clone()), record);
        // Most layers are not active (only mounted ones are): ask sysfs before running dmsetup.
        if sysfs::dm_device(&name)?.is_some() {
            self.dm.remove(&name)?;
        }
        Ok(())
    }

    /// Unmount and deactivate every layer except those in `keep` that are still mounted (each
    /// adopted with one use); active devices of ours that no record names are removed too.
    fn deactivate_all_except(&self, keep: &[LayerId]) -> Result<(), DriverError> {
        let mut state = self.lock();
        state.counts.clear();
        let mut first_error = None;
        let mut known = vec![state.pool.name().to_string()];
        for (owner, record) in self.records.all()? {
            let name = self.dm_name(&state.pool, &owner, &record);
            known.push(name);
            let Owner::Layer(id) = owner else { continue };
            let mp = self.mount_point(&id);
            let mounted = mountinfo::is_mount_point(&mp)
                .map_err(|e| DriverError::io("reading mountinfo", e))?;
            if mounted && keep.contains(&id) {
                state.counts.acquire(&id);
                info!(layer = %id, "adopted a mount left by an earlier process");
                continue;
            }
            if let Err(e) = self.deactivate(&state.pool, &id, &record) {
                warn!(layer = %id, error = %e, "deactivating");
                first_error.get_or_insert(e);
            }
        }
        let prefix = format!("{}-", state.pool.prefix());
        for name in sysfs::dm_names()? {
            if name.starts_with(&prefix) && !known.contains(&name) {
                warn!(device = %name, "removing an active device no record names");
                if let Err(e) = self.dm.remove(&name) {
                    first_error.get_or_insert(e.into());
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl GraphDriver for DevMapperDriver {
    fn name(&self) -> &'static str {
        "devicemapper"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.create_layer(id, parent, false, None)
    }

    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError> {
        let size = parse_layer_size(&opts.storage_opt, self.options.base_size)?;
        self.create_layer(id, parent, true, size)
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut state = self.lock();
        let owner = Owner::Layer(id.clone());
        let Some(mut record) = self.records.read(&owner)? else {
            return Err(DriverError::NotFound(id.clone()));
        };
        if state.counts.count(id) > 0 {
            return Err(DriverError::Busy(id.clone()));
        }
        let children: Vec<String> = self
            .records
            .all()?
            .into_iter()
            .filter_map(|(o, r)| match o {
                Owner::Layer(child) if r.parent.as_deref() == Some(id.as_str()) => {
                    Some(child.to_string())
                }
                _ => None,
            })
            .collect();
        if !children.is_empty() {
            return Err(DriverError::has_children(id, &children));
        }
        state.pool.ensure_active()?;
        self.deactivate(&state.pool, id, &record)?;
        record.state = DeviceState::Deleting;
        self.records.write(&owner, &record)?;
        self.delete_thin(&state.pool, record.device_id)?;
        self.records.remove(&owner)?;
        debug!(layer = %id, device_id = record.device_id, "removed");
        Ok(())
    }

    fn exists(&self, id: &LayerId) -> bool {
        match self.records.read(&Owner::Layer(id.clone())) {
            Ok(r) => r.is_some_and(|r| r.state == DeviceState::Ready),
            Err(e) => {
                warn!(layer = %id, error = %e, "checking whether a layer exists");
                false
            }
        }
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        match self.records.read(&Owner::Layer(id.clone()))? {
            Some(r) => r.parent_id(),
            None => Err(DriverError::NotFound(id.clone())),
        }
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        let mut state = self.lock();
        let record = self.ready_record(id)?;
        let mp = self.mount_point(id);
        if state.counts.count(id) == 0 {
            let mounted = mountinfo::is_mount_point(&mp)
                .map_err(|e| DriverError::io("reading mountinfo", e))?;
            if !mounted {
                state.pool.ensure_active()?;
                let name = self.dm_name(&state.pool, &Owner::Layer(id.clone()), &record);
                self.activate(&state.pool, &name, &record)?;
                if let Err(e) =
                    fs::mount_device(self.options.fs, &format!("/dev/mapper/{name}"), &mp)
                {
                    let _ = self.dm.remove(&name);
                    let _ = std::fs::remove_dir(&mp);
                    return Err(e);
                }
            }
        }
        state.counts.acquire(id);
        Ok(mp.join(ROOTFS))
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        let mut state = self.lock();
        match state.counts.count(id) {
            0 => {
                warn!(layer = %id, "put without a matching get");
                Ok(())
            }
            1 => {
                let record = self.ready_record(id)?;
                // Deactivate first: if that fails the layer stays mounted and counted.
                self.deactivate(&state.pool, id, &record)?;
                state.counts.release(id);
                Ok(())
            }
            _ => {
                state.counts.release(id);
                Ok(())
            }
        }
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        with_layer_and_parent(self, id, |parent, layer| {
            write_naive_diff(parent, layer, out)
        })
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        let layer = HeldLayer::hold(self, id)?;
        apply_tar(layer.path(), input, WhiteoutMode::Delete, limits)
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        with_layer_and_parent(self, id, own_usage)
    }

    fn status(&self) -> Vec<(String, String)> {
        let mut state = self.lock();
        if let Err(e) = state.pool.ensure_active() {
            warn!(error = %e, "thin pool unavailable for status");
        }
        status::status(&self.dm, &state.pool, &self.options)
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        let state = self.lock();
        let record = self.ready_record(id)?;
        let name = self.dm_name(&state.pool, &Owner::Layer(id.clone()), &record);
        Ok(BTreeMap::from([
            ("DeviceId".to_string(), record.device_id.to_string()),
            ("DeviceName".to_string(), name),
            ("DeviceSize".to_string(), record.size.to_string()),
        ]))
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        let mut ids: Vec<LayerId> = self
            .records
            .all()?
            .into_iter()
            .filter_map(|(o, _)| match o {
                Owner::Layer(id) => Some(id),
                Owner::Base => None,
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        self.deactivate_all_except(in_use)
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        self.deactivate_all_except(&[])
    }
}

impl Drop for DevMapperDriver {
    /// A pool the driver built on loop devices is taken down when no thin device of it is active
    /// any more (as Docker's `Shutdown`); while one is (a running container's layer, another
    /// driver instance on the same home using it), it stays.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        if state.pool.loop_paths().is_none() {
            return;
        }
        let prefix = format!("{}-", state.pool.prefix());
        let pool_name = state.pool.name().to_string();
        match sysfs::dm_names() {
            Ok(names) => {
                if let Some(busy) = names
                    .iter()
                    .find(|n| n.starts_with(&prefix) && **n != pool_name)
                {
                    debug!(device = %busy, "thin device still active; leaving the loop pool up");
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "listing dm devices before taking down the loop pool");
                return;
            }
        }
        if let Err(e) = state.pool.teardown() {
            warn!(pool = %pool_name, error = %e, "taking down the loop-backed thin pool");
        }
    }
}
