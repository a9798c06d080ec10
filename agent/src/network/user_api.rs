//! The engine's network verbs: `docker network create/rm/prune/connect/disconnect`.

use std::net::Ipv4Addr;

use tracing::{info, warn};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::{ContainerStatus, EndpointRequest};
use crate::network::container_start::{self, Mode};
use crate::network::user_networks::{self, NetworkCreate, NetworkRecord};
use crate::network::{blocking, DEFAULT_NETWORK};

impl Engine {
    /// `docker network create`: returns the new network's id.
    pub async fn create_network(&self, req: NetworkCreate) -> Result<String> {
        let shared = self.inner.containers.shared();
        let record = shared.network.create_network(req).await?;
        Ok(record.id)
    }

    /// `docker network rm`.
    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let shared = self.inner.containers.shared();
        shared.network.remove_network(key).await?;
        Ok(())
    }

    /// `docker network prune`: removes every user-defined network no container is attached
    /// to; returns their names.
    pub async fn prune_networks(&self) -> Result<Vec<String>> {
        let net = &self.inner.containers.shared().network;
        let mut removed = Vec::new();
        for record in net.user_networks()? {
            if net.has_endpoints(&record.id)? {
                continue;
            }
            match net.remove_network(&record.id).await {
                Ok(r) => removed.push(r.name),
                // Someone attached in between: not unused any more.
                Err(EngineError::Conflict(m)) => {
                    info!(network = %record.name, reason = %m, "not pruned")
                }
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }

    fn user_network(&self, key: &str) -> Result<NetworkRecord> {
        let net = &self.inner.containers.shared().network;
        if key == DEFAULT_NETWORK || key == "host" || key == "none" {
            return Err(EngineError::InvalidArgument(format!(
                "connecting to or disconnecting from the predefined network {key} is not supported"
            )));
        }
        net.find_user_network(key)?
            .ok_or_else(|| EngineError::NoSuchNetwork(key.to_string()))
    }

    /// `docker network connect`: recorded for the container's next starts and, when it runs,
    /// made live (a new interface in its namespace, its hosts file updated).
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        request: EndpointRequest,
    ) -> Result<()> {
        let record = self.user_network(network)?;
        let shared = self.inner.containers.shared();
        let net = &shared.network;
        let c = shared.find(container)?;
        let _lifecycle = c.lifecycle.lock().await;
        let rec = c.record();
        let already = EngineError::Conflict(format!(
            "endpoint with name {} already exists in network {}",
            rec.name, record.name
        ));
        match container_start::mode(&rec.spec.host.network_mode)? {
            Mode::Bridge => {}
            Mode::User(name) => {
                if net.find_user_network(&name)?.map(|n| n.id) == Some(record.id.clone()) {
                    return Err(already);
                }
            }
            Mode::None | Mode::Host | Mode::Container(_) => {
                return Err(EngineError::Conflict(
                    "container sharing network namespace with another container or host cannot be connected to any other network".into(),
                ))
            }
        }
        if net
            .connections(&c.id)?
            .iter()
            .any(|x| x.network_id == record.id)
        {
            return Err(already);
        }
        let target = container_start::user_target(record.clone(), &request)?;
        let (db, id, net_id, req) = (
            net.db.clone(),
            c.id.clone(),
            record.id.clone(),
            request.clone(),
        );
        blocking("recording a network connection", move || {
            db.write("recording a network connection", |tx| {
                user_networks::connect(tx, &id, &net_id, &req)
            })
        })
        .await?;
        let running = matches!(
            rec.state.status,
            ContainerStatus::Running | ContainerStatus::Paused
        );
        if running {
            if let Err(e) = net.connect_live(&c.id, &rec.name, &target).await {
                let (db, id, net_id) = (net.db.clone(), c.id.clone(), record.id.clone());
                let undo = blocking("forgetting a network connection", move || {
                    db.write("forgetting a network connection", |tx| {
                        user_networks::disconnect(tx, &id, &net_id)
                    })
                })
                .await;
                if let Err(undo) = undo {
                    warn!(id = %c.id, error = %undo, "forgetting a failed network connection");
                }
                return Err(e);
            }
            self.refresh_container_hosts(&c.paths.hosts_path, &rec.config, &c.id);
        }
        info!(id = %c.id, network = %record.name, live = running, "container connected");
        Ok(())
    }

    /// `docker network disconnect`: forgets the connection and, when the container runs,
    /// removes its interface on that network.
    pub async fn disconnect_network(&self, network: &str, container: &str) -> Result<()> {
        let record = self.user_network(network)?;
        let shared = self.inner.containers.shared();
        let net = &shared.network;
        let c = shared.find(container)?;
        let _lifecycle = c.lifecycle.lock().await;
        let rec = c.record();
        let (db, id, net_id) = (net.db.clone(), c.id.clone(), record.id.clone());
        let forgotten = blocking("forgetting a network connection", move || {
            db.write("forgetting a network connection", |tx| {
                user_networks::disconnect(tx, &id, &net_id)
            })
        })
        .await?;
        let removed_live = net.disconnect_live(&c.id, &record.id).await?;
        if !forgotten && !removed_live {
            return Err(EngineError::Conflict(format!(
                "container {} is not connected to network {}",
                rec.name, record.name
            )));
        }
        if removed_live {
            self.refresh_container_hosts(&c.paths.hosts_path, &rec.config, &c.id);
        }
        info!(id = %c.id, network = %record.name, "container disconnected");
        Ok(())
    }

    /// Rewrite a running container's hosts file with the addresses it has now (logged, not
    /// fatal: the interfaces are what matters).
    fn refresh_container_hosts(
        &self,
        path: &std::path::Path,
        config: &crate::model::ResolvedConfig,
        id: &str,
    ) {
        let net = &self.inner.containers.shared().network;
        let addresses: Vec<Ipv4Addr> = match net.endpoints_of(id) {
            Ok(list) => list.iter().map(|e| e.address).collect(),
            Err(e) => {
                warn!(id, error = %e, "reading endpoints to update /etc/hosts");
                return;
            }
        };
        if let Err(e) = container_start::refresh_hosts(path, config, &addresses) {
            warn!(id, error = %e, "updating the container's /etc/hosts");
        }
    }
}
