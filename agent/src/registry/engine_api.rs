//! The engine's registry methods (what `docker pull`, `docker push` and `docker login` reach).

use super::credentials::Credentials;
use super::login::{self, LoginOutcome};
use super::progress::ProgressSink;
use super::pull::{self, PullOutcome};
use super::push::{self, PushOutcome};
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// `docker pull` (`POST /images/create?fromImage=&tag=`): progress goes to `progress`.
    pub async fn pull_image(
        &self,
        from_image: &str,
        tag: Option<&str>,
        credentials: &Credentials,
        progress: &ProgressSink,
    ) -> Result<PullOutcome> {
        let reference = pull::pull_reference(from_image, tag)?;
        tracing::info!(reference = %reference, "pulling");
        pull::pull(self, &reference, credentials, progress).await
    }

    /// `docker push` (`POST /images/{name}/push?tag=`): every tag of the repository when
    /// `tag` is empty, as dockerd.
    pub async fn push_image(
        &self,
        name: &str,
        tag: Option<&str>,
        credentials: &Credentials,
        progress: &ProgressSink,
    ) -> Result<Vec<PushOutcome>> {
        let references = push::push_references(self, name, tag)?;
        let mut outcomes = Vec::with_capacity(references.len());
        for reference in references {
            tracing::info!(reference = %reference, "pushing");
            outcomes.push(push::push(self, &reference, credentials, progress).await?);
        }
        Ok(outcomes)
    }

    /// `docker login` (`POST /auth`).
    pub async fn registry_login(&self, credentials: &Credentials) -> Result<LoginOutcome> {
        login::login(credentials, &self.inner.config.insecure_registries).await
    }
}
