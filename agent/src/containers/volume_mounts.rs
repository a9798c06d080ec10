//! A container's volumes: resolved at create (named volumes made on first use, anonymous ones
//! for the image's `VOLUME`s and `-v /ctr`), recorded with the container, mounted (and populated
//! from the image when empty) at start, listed by inspect, and removed with the container by
//! `rm -v` and `--rm` when anonymous.

use std::sync::Arc;

use tracing::{debug, warn};

use crate::containers::mounts::{self, BindSource};
use crate::containers::Shared;
use crate::error::{EngineError, Result};
use crate::model::{ContainerSpec, HostSpec, MountPoint, ResolvedConfig, VolumeCreateSpec};
use crate::runtime::bundle::BundleMount;
use crate::volumes::{populate_if_empty, ContainerVolume, VolumeStore};

pub(crate) use crate::volumes::record_container_volumes as record;

fn store(shared: &Shared) -> VolumeStore {
    VolumeStore::new(shared.db.clone(), &shared.config.data_root)
}

/// Add the paths the request asked to be volumes (`-v /ctr`) to the container's
/// `Config.Volumes` (after the image's).
pub(crate) fn add_requested_volumes(config: &mut ResolvedConfig, spec: &ContainerSpec) {
    for path in &spec.volumes {
        if !config.volumes.contains(path) {
            config.volumes.push(path.clone());
        }
    }
}

/// Create (or find) every volume the container mounts; returns what to record with it. On
/// failure, anonymous volumes made here are removed again.
pub(crate) async fn prepare(
    shared: &Arc<Shared>,
    host: &HostSpec,
    config: &ResolvedConfig,
) -> Result<Vec<ContainerVolume>> {
    let store = store(shared);
    let host = host.clone();
    let paths = config.volumes.clone();
    Shared::blocking("creating the container's volumes", move || {
        let mut out = Vec::new();
        let made = resolve(&store, &host, &paths, &mut out);
        if let Err(e) = made {
            discard_blocking(&store, &out);
            return Err(e);
        }
        Ok(out)
    })
    .await
}

fn resolve(
    store: &VolumeStore,
    host: &HostSpec,
    anonymous_paths: &[String],
    out: &mut Vec<ContainerVolume>,
) -> Result<()> {
    for bind in mounts::binds(host)? {
        let (name, anonymous) = match bind.source {
            BindSource::Host(_) => continue,
            BindSource::Volume(name) => (name, false),
            BindSource::Anonymous => (String::new(), true),
        };
        let spec = VolumeCreateSpec {
            name,
            ..Default::default()
        };
        let volume = store.create(&spec, anonymous)?;
        out.push(ContainerVolume {
            destination: bind.destination,
            volume: volume.name,
            read_only: bind.read_only,
            mode: if bind.mode.is_empty() && !anonymous {
                "z".to_string()
            } else {
                bind.mode
            },
            copy_data: !bind.no_copy,
            anonymous,
        });
    }
    let mut taken = mounts::explicit_targets(host);
    for path in anonymous_paths {
        if !path.starts_with('/') {
            return Err(EngineError::InvalidArgument(format!(
                "invalid volume specification: '{path}': invalid mount config: mount path must be absolute"
            )));
        }
        let destination = mounts::clean_path(path);
        if !taken.insert(destination.clone()) {
            continue;
        }
        let volume = store.create(&VolumeCreateSpec::default(), true)?;
        out.push(ContainerVolume {
            destination,
            volume: volume.name,
            read_only: false,
            mode: String::new(),
            copy_data: true,
            anonymous: true,
        });
    }
    Ok(())
}

fn discard_blocking(store: &VolumeStore, mounts: &[ContainerVolume]) {
    for m in mounts.iter().filter(|m| m.anonymous) {
        if let Err(e) = store.remove(&m.volume, true) {
            warn!(volume = %m.volume, error = %e, "removing an anonymous volume of a failed create");
        }
    }
}

/// Remove the anonymous volumes in `mounts` (after a failed create).
pub(crate) async fn discard(shared: &Arc<Shared>, mounts: Vec<ContainerVolume>) {
    let store = store(shared);
    let _ = Shared::blocking("removing volumes of a failed create", move || {
        discard_blocking(&store, &mounts);
        Ok(())
    })
    .await;
}

/// The extra mounts of container `id`'s bundle: host binds, tmpfs and volumes, parents before
/// children. Empty volumes are populated from `rootfs` (the mounted container root) first.
/// Runs on a blocking thread.
pub(crate) fn bundle_mounts(
    store: &VolumeStore,
    id: &str,
    rootfs: &std::path::Path,
    host: &HostSpec,
) -> Result<Vec<BundleMount>> {
    let mut out = mounts::bundle_mounts(host)?;
    for v in store.container_volumes(id)? {
        let data = store.data_dir(&v.volume);
        if v.copy_data {
            populate_if_empty(rootfs, &v.destination, &data)?;
        } else if !data.exists() {
            store.make_data_dir(&v.volume)?;
        }
        out.push(BundleMount {
            destination: v.destination,
            kind: "bind".to_string(),
            source: data.display().to_string(),
            options: vec![
                "rbind".to_string(),
                "rprivate".to_string(),
                if v.read_only { "ro" } else { "rw" }.to_string(),
            ],
        });
    }
    out.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
    Ok(out)
}

/// The store handle [`bundle_mounts`] needs, to move into a blocking task.
pub(crate) fn store_of(shared: &Shared) -> VolumeStore {
    store(shared)
}

/// `docker inspect` `Mounts`: binds, tmpfs mounts and volumes.
pub(crate) async fn mount_points(
    shared: &Arc<Shared>,
    id: &str,
    host: &HostSpec,
) -> Vec<MountPoint> {
    let store = store(shared);
    let key = id.to_string();
    let host = host.clone();
    Shared::blocking("reading the container's volumes", move || {
        Ok(mount_points_blocking(&store, &key, &host))
    })
    .await
    .unwrap_or_default()
}

/// [`mount_points`] for callers on the blocking pool (`docker ps` lists every container's).
pub(crate) fn mount_points_blocking(
    store: &VolumeStore,
    id: &str,
    host: &HostSpec,
) -> Vec<MountPoint> {
    let mut out = mounts::mount_points(host);
    match store.container_volumes(id) {
        Ok(list) => out.extend(list.into_iter().map(|v| MountPoint {
            kind: "volume".to_string(),
            source: store.data_dir(&v.volume).display().to_string(),
            name: v.volume,
            destination: v.destination,
            mode: v.mode,
            rw: !v.read_only,
        })),
        Err(e) => warn!(id, error = %e, "listing the container's volumes"),
    }
    out
}

/// Names of the anonymous volumes container `id` mounts (read before removing it: the rows go
/// with the container's).
pub(crate) async fn anonymous_volumes(shared: &Arc<Shared>, id: &str) -> Vec<String> {
    let store = store(shared);
    let key = id.to_string();
    let listed = Shared::blocking("reading the container's volumes", move || {
        store.container_volumes(&key)
    })
    .await;
    match listed {
        Ok(list) => list
            .into_iter()
            .filter(|v| v.anonymous)
            .map(|v| v.volume)
            .collect(),
        Err(e) => {
            warn!(id, error = %e, "reading the container's anonymous volumes");
            Vec::new()
        }
    }
}

/// Remove volumes `names` after their container went (`rm -v`, `--rm`). One still used by
/// another container stays.
pub(crate) async fn remove_volumes(shared: &Arc<Shared>, names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    let store = store(shared);
    let _ = Shared::blocking("removing the container's anonymous volumes", move || {
        for name in &names {
            match store.remove(name, true) {
                Ok(()) => {}
                Err(EngineError::Conflict(m)) => debug!(volume = %name, reason = %m, "volume kept"),
                Err(e) => warn!(volume = %name, error = %e, "removing an anonymous volume"),
            }
        }
        Ok(())
    })
    .await;
}
