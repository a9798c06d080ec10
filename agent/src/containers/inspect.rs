//! `docker inspect CONTAINER`.

use std::sync::Arc;

use tracing::warn;

use crate::containers::live::Container;
use crate::containers::{merge, volume_mounts, Shared};
use crate::error::Result;
use crate::model::{ContainerDetails, GraphDriverData};

/// Everything `docker inspect` shows about `c`.
pub(crate) async fn inspect(shared: &Arc<Shared>, c: &Arc<Container>) -> Result<ContainerDetails> {
    let rec = c.record();
    let driver = shared.driver.clone();
    let rw = rec.rw_layer.clone();
    let data =
        match Shared::blocking("reading layer metadata", move || Ok(driver.metadata(&rw)?)).await {
            Ok(data) => data,
            Err(e) => {
                warn!(id = %c.id, error = %e, "reading the rw layer's driver metadata");
                Default::default()
            }
        };
    let (path, args) = merge::path_and_args(&rec.config).unwrap_or_default();
    let driver_name = shared.driver.name().to_string();
    let mounts = volume_mounts::mount_points(shared, &rec.id, &rec.spec.host).await;
    Ok(ContainerDetails {
        id: rec.id.clone(),
        name: rec.name.clone(),
        created: rec.created_at.clone(),
        path,
        args,
        state: rec.state.clone(),
        image_id: rec.image_id.clone(),
        mounts,
        config: rec.config.clone(),
        host: rec.spec.host.clone(),
        graph_driver: GraphDriverData {
            name: driver_name.clone(),
            data,
        },
        log_path: c.paths.log_path.display().to_string(),
        resolv_conf_path: c.paths.resolv_conf_path.display().to_string(),
        hostname_path: c.paths.hostname_path.display().to_string(),
        hosts_path: c.paths.hosts_path.display().to_string(),
        restart_count: rec.restart_count,
        driver: driver_name,
        network_settings: crate::network::network_settings(
            &rec.config.exposed_ports,
            &shared.network.named_endpoints(&rec.id),
        ),
    })
}
