//! `docker create`: name, id, merged config, the `-init` and rw layers, then the record in one
//! transaction. On any failure everything made so far is removed again.

use std::sync::Arc;

use strata_drivers::fsutil::private::private_dir;
use strata_drivers::{CreateOpts, LayerId};
use tracing::{info, warn};

use crate::containers::init_layer::{self, IdentityFiles};
use crate::containers::live::Container;
use crate::containers::paths::{self, ContainerPaths};
use crate::containers::record::{self, ContainerRecord};
use crate::containers::{merge, names, time, validate, volume_mounts, Shared};
use crate::error::{EngineError, Result};
use crate::images::ResolvedImage;
use crate::model::{ContainerSpec, ContainerState, ContainerStatus, CreatedContainer};
use crate::volumes::ContainerVolume;

/// How many generated names to try before giving up.
const NAME_ATTEMPTS: usize = 20;

fn layer_id(raw: String) -> Result<LayerId> {
    LayerId::new(raw).map_err(EngineError::from)
}

/// Take the requested name or generate a free one.
fn take_name(shared: &Shared, requested: Option<String>, id: &str) -> Result<String> {
    if let Some(raw) = requested.filter(|n| !n.is_empty()) {
        let name = names::validate(&raw)?;
        shared.registry.reserve_name(&name, id)?;
        return Ok(name);
    }
    for attempt in 0..NAME_ATTEMPTS {
        let name = names::generate(attempt);
        if shared.registry.reserve_name(&name, id).is_ok() {
            return Ok(name);
        }
    }
    Err(EngineError::Internal(
        "could not generate a free container name".into(),
    ))
}

/// Create a container from `spec` on the already resolved `image`.
pub(crate) async fn create(
    shared: &Arc<Shared>,
    name: Option<String>,
    mut spec: ContainerSpec,
    image: ResolvedImage,
) -> Result<CreatedContainer> {
    let warnings = validate::create_request(shared, &mut spec, &validate::HostFacts::detect())?;
    let id = names::random_id();
    let mut config = merge::resolve_config(&id, &spec, &image.config)?;
    volume_mounts::add_requested_volumes(&mut config, &spec);
    merge::path_and_args(&config)?;
    let name = take_name(shared, name, &id)?;
    let volumes = match volume_mounts::prepare(shared, &spec.host, &config).await {
        Ok(volumes) => volumes,
        Err(e) => {
            shared.registry.release_name(&name);
            return Err(e);
        }
    };
    let files = init_layer::identity_files(&config, &spec.host);
    let rec = ContainerRecord {
        rw_layer: layer_id(id.clone())?,
        init_layer: layer_id(format!("{id}-init"))?,
        id: id.clone(),
        name: name.clone(),
        image_id: image.id.clone(),
        spec,
        config,
        state: ContainerState {
            status: ContainerStatus::Created,
            started_at: time::ZERO_TIME.to_string(),
            finished_at: time::ZERO_TIME.to_string(),
            ..Default::default()
        },
        created_at: time::now_rfc3339(),
        restart_count: 0,
    };
    let paths = ContainerPaths::new(&shared.config, &id);
    let worker = shared.clone();
    let (rec2, paths2, volumes2) = (rec.clone(), paths.clone(), volumes.clone());
    let built = Shared::blocking("creating container", move || {
        build(
            &worker,
            &rec2,
            image.top_layer.as_ref(),
            &files,
            &paths2,
            &volumes2,
        )
    })
    .await;
    if let Err(e) = built {
        shared.registry.release_name(&name);
        volume_mounts::discard(shared, volumes).await;
        return Err(e);
    }
    crate::faults::fault_point("container-recorded");
    shared.registry.insert(Arc::new(Container::new(rec, paths)));
    info!(id = %id, name = %name, image = %image.id, "container created");
    Ok(CreatedContainer { id, warnings })
}

/// Layers, directories and record; undone on failure.
fn build(
    shared: &Shared,
    rec: &ContainerRecord,
    parent: Option<&LayerId>,
    files: &IdentityFiles,
    paths: &ContainerPaths,
    volumes: &[ContainerVolume],
) -> Result<()> {
    let mut made = Vec::new();
    let result = build_steps(shared, rec, parent, files, paths, volumes, &mut made);
    if let Err(e) = &result {
        warn!(id = %rec.id, error = %e, "container creation failed; removing what was made");
        for layer in made.iter().rev() {
            if let Err(e) = shared.driver.remove(layer) {
                warn!(layer = %layer, error = %e, "removing layer of failed create");
            }
        }
        if let Err(e) = paths::remove_dir_if_present(&paths.data_dir) {
            warn!(dir = %paths.data_dir.display(), error = %e, "removing dir of failed create");
        }
    }
    result
}

fn build_steps(
    shared: &Shared,
    rec: &ContainerRecord,
    parent: Option<&LayerId>,
    files: &IdentityFiles,
    paths: &ContainerPaths,
    volumes: &[ContainerVolume],
    made: &mut Vec<LayerId>,
) -> Result<()> {
    let driver = &shared.driver;
    driver.create_rw(&rec.init_layer, parent, &CreateOpts::default())?;
    made.push(rec.init_layer.clone());
    let root = driver.get(&rec.init_layer)?;
    let populated = init_layer::populate(&root, files);
    let released = driver.put(&rec.init_layer);
    populated?;
    released?;

    let opts = CreateOpts {
        storage_opt: rec.spec.host.storage_opt.clone(),
    };
    driver.create_rw(&rec.rw_layer, Some(&rec.init_layer), &opts)?;
    made.push(rec.rw_layer.clone());
    crate::faults::fault_point("container-layers-created");

    private_dir(&paths.data_dir)
        .map_err(|e| EngineError::io(format!("creating {}", paths.data_dir.display()), e))?;
    for (path, content) in [
        (&paths.hostname_path, &files.hostname),
        (&paths.hosts_path, &files.hosts),
        (&paths.resolv_conf_path, &files.resolv_conf),
    ] {
        std::fs::write(path, content)
            .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
    }
    shared.db.write("recording container", |tx| {
        record::insert(tx, rec)?;
        volume_mounts::record(tx, &rec.id, volumes)
    })
}
