//! The engine's container methods (what `docker create/start/run/wait/attach/ps/inspect/rm`
//! reach). (Skeleton: filled in by the container work.)

use crate::containers::handles::{Attachment, WaitHandle};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::{
    AttachOptions, ContainerDetails, ContainerListOptions, ContainerSpec, ContainerSummary,
    CreatedContainer, WaitCondition,
};

impl Engine {
    /// `docker create`: resolve the image, merge its config, create the `-init` and rw layers and
    /// the record. `name` is generated (Docker style adjective_name) when `None`.
    pub async fn create_container(&self, _name: Option<String>, _spec: ContainerSpec) -> Result<CreatedContainer> {
        Err(EngineError::Internal("create_container: not implemented yet".into()))
    }

    /// `docker start`.
    pub async fn start_container(&self, _id: &str) -> Result<()> {
        Err(EngineError::Internal("start_container: not implemented yet".into()))
    }

    /// `POST /containers/{id}/wait`: 404 now, or a handle that resolves later.
    pub async fn wait_container(&self, _id: &str, _condition: WaitCondition) -> Result<WaitHandle> {
        Err(EngineError::Internal("wait_container: not implemented yet".into()))
    }

    /// `POST /containers/{id}/attach`: may be called before start; output then begins with the
    /// container's first byte.
    pub async fn attach_container(&self, _id: &str, _opts: AttachOptions) -> Result<Attachment> {
        Err(EngineError::Internal("attach_container: not implemented yet".into()))
    }

    /// `docker ps [-a] [--filter ...]`.
    pub async fn list_containers(&self, _opts: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        Err(EngineError::Internal("list_containers: not implemented yet".into()))
    }

    /// `docker inspect CONTAINER` (id, id prefix or name).
    pub async fn inspect_container(&self, _id: &str) -> Result<ContainerDetails> {
        Err(EngineError::Internal("inspect_container: not implemented yet".into()))
    }

    /// `docker rm [-f] [-v]`.
    pub async fn remove_container(&self, _id: &str, _force: bool, _volumes: bool) -> Result<()> {
        Err(EngineError::Internal("remove_container: not implemented yet".into()))
    }
}
