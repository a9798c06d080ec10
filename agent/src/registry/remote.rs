//! One remote repository: which registry and repository a reference names, whether to speak
//! plain HTTP to it, and an `oci-client` client set up for it.

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::credentials::Credentials;
use super::error::RegistryError;
use crate::images::Reference;

/// Docker Hub's name in references.
const DOCKER_HUB: &str = "docker.io";

/// A repository on a registry, with a client ready to talk to it.
pub struct Remote {
    pub client: Client,
    pub auth: RegistryAuth,
    /// `127.0.0.1:5000`, `docker.io`.
    pub registry: String,
    /// `library/busybox`, `a/b`.
    pub repository: String,
    /// Whether the registry is spoken to over plain HTTP.
    pub insecure: bool,
}

impl Remote {
    /// Set up for `reference`'s repository; plain HTTP when the registry is insecure (named in
    /// `insecure_registries`, `localhost` or on 127.0.0.0/8, as dockerd).
    pub fn new(
        reference: &Reference,
        insecure_registries: &[String],
        credentials: &Credentials,
    ) -> Remote {
        let name = reference.name();
        let (registry, repository) = match name.split_once('/') {
            Some((registry, repository)) => (registry.to_string(), repository.to_string()),
            None => (DOCKER_HUB.to_string(), name.clone()),
        };
        let insecure = is_insecure(&registry, insecure_registries);
        let protocol = if insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            platform_resolver: Some(Box::new(oci_client::client::linux_amd64_resolver)),
            ..Default::default()
        };
        Remote {
            client: Client::new(config),
            auth: credentials.to_client_auth(),
            registry,
            repository,
            insecure,
        }
    }

    /// The `oci-client` reference of a tag of this repository.
    pub fn tag_ref(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.registry.clone(),
            self.repository.clone(),
            tag.to_string(),
        )
    }

    /// The `oci-client` reference of a digest of this repository.
    pub fn digest_ref(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.registry.clone(),
            self.repository.clone(),
            digest.to_string(),
        )
    }

    /// Authenticate for `operation` (a bearer token dance when the registry asks for one);
    /// the client keeps what it got for later requests.
    pub async fn authenticate(
        &self,
        image: &oci_client::Reference,
        operation: RegistryOperation,
    ) -> Result<(), RegistryError> {
        self.client
            .auth(image, &self.auth, operation)
            .await
            .map(|_| ())
            .map_err(|e| self.error(operation_name(operation), "authenticating", e))
    }

    /// Wrap an `oci-client` error with this repository's names.
    pub fn error(
        &self,
        operation: &'static str,
        what: &str,
        err: oci_client::errors::OciDistributionError,
    ) -> RegistryError {
        RegistryError::from_client(operation, &self.registry, &self.repository, what, err)
    }
}

fn operation_name(operation: RegistryOperation) -> &'static str {
    match operation {
        RegistryOperation::Pull => "pull",
        RegistryOperation::Push => "push",
    }
}

/// Whether `registry` (`host[:port]`) is spoken to over plain HTTP.
pub fn is_insecure(registry: &str, insecure_registries: &[String]) -> bool {
    let host = host_of(registry);
    if host == "localhost" || host == "::1" {
        return true;
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        if ip.is_loopback() {
            return true;
        }
    }
    insecure_registries
        .iter()
        .map(|entry| entry.trim_start_matches("http://").trim_end_matches('/'))
        .any(|entry| entry == registry || entry == host)
}

/// The host part of `host[:port]` (brackets of an IPv6 address removed).
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_localhost_are_insecure_by_default() {
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("127.1.2.3:80", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("docker.io", &[]));
        assert!(!is_insecure("10.0.0.1:5000", &[]));
    }

    #[test]
    fn configured_registries_are_insecure() {
        let list = vec!["10.0.0.1:5000".to_string(), "registry.lan".to_string()];
        assert!(is_insecure("10.0.0.1:5000", &list));
        assert!(!is_insecure("10.0.0.1:5001", &list));
        assert!(is_insecure("registry.lan:443", &list));
    }

    #[test]
    fn references_split_into_registry_and_repository() {
        let r = Reference::parse_with_default_tag("busybox").unwrap();
        let remote = Remote::new(&r, &[], &Credentials::default());
        assert_eq!(remote.registry, "docker.io");
        assert_eq!(remote.repository, "library/busybox");
        assert!(!remote.insecure);
        let r = Reference::parse_with_default_tag("127.0.0.1:5000/a/b:1").unwrap();
        let remote = Remote::new(&r, &[], &Credentials::default());
        assert_eq!(remote.registry, "127.0.0.1:5000");
        assert_eq!(remote.repository, "a/b");
        assert!(remote.insecure);
    }
}
