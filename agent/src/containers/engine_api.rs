//! The engine's container methods (what `docker create/start/run/wait/attach/ps/inspect/rm`
//! reach). Each finds the container, then hands over to the module that does the work.

use std::sync::Arc;

use crate::containers::handles::{Attachment, WaitHandle};
use crate::containers::{attach, create, inspect, list, remove, start, stop, wait, Shared};
use crate::engine::Engine;
use crate::error::Result;
use crate::model::{
    AttachOptions, ContainerDetails, ContainerListOptions, ContainerSpec, ContainerSummary,
    CreatedContainer, WaitCondition,
};

impl Engine {
    fn container_side(&self) -> &Arc<Shared> {
        self.inner.containers.shared()
    }

    /// `docker create`: resolve the image, merge its config, create the `-init` and rw layers and
    /// the record. `name` is generated (Docker style adjective_name) when `None`.
    pub async fn create_container(
        &self,
        name: Option<String>,
        spec: ContainerSpec,
    ) -> Result<CreatedContainer> {
        let engine = self.clone();
        let reference = spec.image.clone();
        let image = Shared::blocking("resolving the image", move || {
            engine.inner.images.resolve(&reference)
        })
        .await?;
        create::create(self.container_side(), name, spec, image).await
    }

    /// `docker start`.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        let c = self.container_side().find(id)?;
        crate::containers::restart::on_manual_start(self.container_side(), &c).await;
        start::start(self.container_side(), &c).await
    }

    /// `POST /containers/{id}/wait`: 404 now, or a handle that resolves later.
    pub async fn wait_container(&self, id: &str, condition: WaitCondition) -> Result<WaitHandle> {
        let c = self.container_side().find(id)?;
        Ok(wait::wait(&c, condition))
    }

    /// `POST /containers/{id}/attach`: may be called before start; output then begins with the
    /// container's first byte.
    pub async fn attach_container(&self, id: &str, opts: AttachOptions) -> Result<Attachment> {
        let c = self.container_side().find(id)?;
        attach::attach(self.container_side(), &c, opts).await
    }

    /// `docker ps [-a] [--filter ...]`.
    pub async fn list_containers(
        &self,
        opts: ContainerListOptions,
    ) -> Result<Vec<ContainerSummary>> {
        let engine = self.clone();
        Shared::blocking("listing containers", move || {
            let images = &engine.inner.images;
            let filters =
                list::Filters::parse(&opts.filters, |r| images.resolve(r).ok().map(|i| i.id))?;
            let all = opts.all || filters.implies_all();
            let volumes = crate::containers::volume_mounts::store_of(engine.container_side());
            let mut records: Vec<_> = engine
                .container_side()
                .registry
                .all()
                .into_iter()
                .map(|c| c.record())
                .filter(|r| all || crate::containers::live::is_active(r.state.status))
                .map(|r| {
                    let mounts = crate::containers::volume_mounts::mount_points_blocking(
                        &volumes,
                        &r.id,
                        &r.spec.host,
                    );
                    (r, mounts)
                })
                .filter(|(r, mounts)| filters.matches(r, mounts))
                .collect();
            records.sort_by(|a, b| b.0.created_at.cmp(&a.0.created_at));
            let now = chrono::Utc::now();
            let network = &engine.container_side().network;
            Ok(records
                .into_iter()
                .map(|(r, mounts)| {
                    let r = &r;
                    let mut line = list::summary(r, mounts, now);
                    if let Ok(Some(endpoint)) = network.endpoint(&r.id) {
                        line.ports = crate::network::published_ports(&endpoint);
                    }
                    line
                })
                .collect())
        })
        .await
    }

    /// `docker inspect CONTAINER` (id, id prefix or name).
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        let c = self.container_side().find(id)?;
        inspect::inspect(self.container_side(), &c).await
    }

    /// `docker rm [-f] [-v]`. `-v` also removes the container's anonymous volumes (named ones
    /// stay, as with Docker).
    pub async fn remove_container(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        let shared = self.container_side();
        let c = shared.find(id)?;
        let anonymous = if volumes {
            crate::containers::volume_mounts::anonymous_volumes(shared, &c.id).await
        } else {
            Vec::new()
        };
        remove::remove(shared, &c, force).await?;
        crate::containers::volume_mounts::remove_volumes(shared, anonymous).await;
        Ok(())
    }

    /// `docker kill [-s SIGNAL]`: default SIGKILL, which returns once the exit is recorded.
    /// 409 when the container is not running.
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let c = self.container_side().find(id)?;
        stop::kill(self.container_side(), &c, signal).await
    }

    /// `docker stop [-t SECONDS]`: the stop signal, then SIGKILL after the timeout (the
    /// container's `StopTimeout`, else 10 s; negative waits forever). 304 when not running.
    pub async fn stop_container(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        let c = self.container_side().find(id)?;
        stop::stop(self.container_side(), &c, timeout).await
    }

    /// `POST /containers/{id}/resize?h=&w=` for a tty container.
    pub async fn resize_container(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let c = self.container_side().find(id)?;
        stop::resize(&c, height, width).await
    }
}
