//! Registry credentials as the Docker CLI sends them: the `X-Registry-Auth` header (base64url of
//! a JSON object) on pull and push, and the JSON body of `POST /auth` (`docker login`).

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{EngineError, Result};

/// What a client offers to authenticate with. Empty fields mean "not given".
#[derive(Clone, Default, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `docker login --password-stdin` sends the password here too; registries that issue
    /// identity tokens (OAuth refresh tokens) get it back in later requests.
    #[serde(default, rename = "identitytoken")]
    pub identity_token: String,
    /// A registry token to send as is (`Authorization: Bearer ...`).
    #[serde(default, rename = "registrytoken")]
    pub registry_token: String,
    /// The registry these credentials are for (`127.0.0.1:5000`, `https://index.docker.io/v1/`).
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("server_address", &self.server_address)
            .finish()
    }
}

impl Credentials {
    /// Decode an `X-Registry-Auth` header. The CLI sends base64url with padding; plain base64
    /// and unpadded forms are accepted too. An empty header or `{}` means anonymous.
    pub fn from_header(value: &str) -> Result<Credentials> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Credentials::default());
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(value).ok())
            .ok_or_else(|| {
                EngineError::InvalidArgument(
                    "X-Registry-Auth header is not base64-encoded JSON".into(),
                )
            })?;
        Credentials::from_json(&bytes)
    }

    /// Decode the JSON form (`POST /auth` body, decoded header).
    pub fn from_json(bytes: &[u8]) -> Result<Credentials> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Credentials::default());
        }
        serde_json::from_slice(bytes).map_err(|e| {
            EngineError::InvalidArgument(format!("registry credentials are not valid JSON: {e}"))
        })
    }

    /// Whether nothing was given (anonymous access).
    pub fn is_anonymous(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }

    /// The form `oci-client` takes.
    pub(crate) fn to_client_auth(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        if !self.registry_token.is_empty() {
            RegistryAuth::Bearer(self.registry_token.clone())
        } else if !self.username.is_empty() {
            RegistryAuth::Basic(self.username.clone(), self.password.clone())
        } else {
            RegistryAuth::Anonymous
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_decodes_in_the_forms_clients_send() {
        let json = br#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#;
        for engine in [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
        ] {
            let creds = Credentials::from_header(&engine.encode(json)).unwrap();
            assert_eq!(creds.username, "u");
            assert_eq!(creds.password, "p?>");
            assert_eq!(creds.server_address, "127.0.0.1:5000");
        }
    }

    #[test]
    fn empty_header_and_empty_object_are_anonymous() {
        assert!(Credentials::from_header("").unwrap().is_anonymous());
        let empty = base64::engine::general_purpose::URL_SAFE.encode(b"{}");
        assert!(Credentials::from_header(&empty).unwrap().is_anonymous());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(Credentials::from_header("%%%").is_err());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let creds = Credentials {
            username: "u".into(),
            password: "secret".into(),
            ..Default::default()
        };
        assert!(!format!("{creds:?}").contains("secret"));
    }
}
