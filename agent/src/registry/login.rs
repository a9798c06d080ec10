//! `docker login`: check credentials against a registry's `/v2/` endpoint. Basic-auth
//! registries are asked with the credentials directly; token registries through their token
//! service (which refuses bad credentials).

use oci_client::RegistryOperation;

use super::credentials::Credentials;
use super::remote::is_insecure;
use crate::error::{EngineError, Result};

/// What the registry said about the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Succeeded,
    /// Refused, with the registry's reason.
    Denied(String),
}

/// Docker Hub's login address as the CLI sends it.
const DOCKER_HUB_LOGIN: &str = "https://index.docker.io/v1/";

/// The `host[:port]` a `serveraddress` names (`https://host/v1/` and bare hosts alike).
pub fn registry_host(server_address: &str) -> String {
    let trimmed = server_address.trim();
    if trimmed.is_empty() || trimmed == DOCKER_HUB_LOGIN {
        return "docker.io".to_string();
    }
    let without_scheme = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .unwrap_or(trimmed);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme);
    if host == "index.docker.io" || host == "registry-1.docker.io" {
        "docker.io".to_string()
    } else {
        host.to_string()
    }
}

/// Check `credentials` against the registry they name.
pub async fn login(
    credentials: &Credentials,
    insecure_registries: &[String],
) -> Result<LoginOutcome> {
    let registry = registry_host(&credentials.server_address);
    let scheme = if is_insecure(&registry, insecure_registries) {
        "http"
    } else {
        "https"
    };
    let api_host = if registry == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        registry.clone()
    };
    let url = format!("{scheme}://{api_host}/v2/");
    let http = reqwest::Client::new();
    let transport = |e: reqwest::Error| {
        EngineError::from(super::RegistryError::Transport {
            registry: registry.clone(),
            detail: format!("GET {url}: {e}"),
        })
    };
    let anonymous = http.get(&url).send().await.map_err(transport)?;
    if anonymous.status().is_success() {
        // The registry asks for no credentials at all; Docker reports success too.
        return Ok(LoginOutcome::Succeeded);
    }
    let challenge = anonymous
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if challenge.to_ascii_lowercase().starts_with("bearer") {
        // Let the token service judge: oci-client's auth fails on refused credentials.
        let reference = oci_client::Reference::with_tag(
            registry.clone(),
            "library/hello-world".into(),
            "latest".into(),
        );
        let config = oci_client::client::ClientConfig {
            protocol: if scheme == "http" {
                oci_client::client::ClientProtocol::Http
            } else {
                oci_client::client::ClientProtocol::Https
            },
            ..Default::default()
        };
        let client = oci_client::Client::new(config);
        return match client
            .auth(
                &reference,
                &credentials.to_client_auth(),
                RegistryOperation::Pull,
            )
            .await
        {
            Ok(_) => Ok(LoginOutcome::Succeeded),
            Err(e) => Ok(LoginOutcome::Denied(format!(
                "login to {registry} refused: {e}"
            ))),
        };
    }
    let checked = http
        .get(&url)
        .basic_auth(&credentials.username, Some(&credentials.password))
        .send()
        .await
        .map_err(transport)?;
    if checked.status().is_success() {
        Ok(LoginOutcome::Succeeded)
    } else {
        Ok(LoginOutcome::Denied(format!(
            "login attempt to {url} failed with status: {}",
            checked.status()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_name_their_registry() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }
}
