//! Request extractors that fail the Docker way: `{"message": ...}` with 400, never axum's
//! plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. A body that does not parse is answered with 400 and the parser's
/// message (line and column included), as dockerd does.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse a JSON request body, naming what is wrong with it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "empty request body: a JSON object is required".into(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON in the request body: {e}")))
}

/// The query string as ordered key/value pairs, with Docker's helpers for booleans.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The first value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` when present and not empty.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A timeout in whole seconds (`t=` of stop and restart); `None` when absent or empty.
    pub fn seconds(&self, key: &str, what: &str) -> Result<Option<i64>, ApiError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(t) => t.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid {what} {key}={t:?}: expected whole seconds"
                ))
            }),
        }
    }

    /// A terminal dimension (`h=`/`w=` of resize); absent means 0.
    pub fn tty_dimension(&self, key: &str) -> Result<u16, ApiError> {
        let raw = self.get(key).unwrap_or("0");
        raw.parse::<u16>().map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid tty size {key}={raw:?}: expected 0 to 65535"
            ))
        })
    }

    /// Docker's boolean query values: absent, empty, `0`, `no`, `false` and `none` are false;
    /// anything else is true.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => {
                let v = v.trim().to_ascii_lowercase();
                !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
        Ok(Params(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_follow_docker_rules() {
        let params = Params(vec![
            ("a".into(), "1".into()),
            ("b".into(), "0".into()),
            ("c".into(), "true".into()),
            ("d".into(), "False".into()),
            ("e".into(), "".into()),
        ]);
        assert!(params.flag("a"));
        assert!(!params.flag("b"));
        assert!(params.flag("c"));
        assert!(!params.flag("d"));
        assert!(!params.flag("e"));
        assert!(!params.flag("missing"));
    }

    #[test]
    fn bad_json_names_the_problem() {
        let err = parse_json::<serde_json::Value>(b"{\"Image\": ").unwrap_err();
        assert!(
            matches!(err, ApiError::BadRequest(ref m) if m.contains("invalid JSON") && m.contains("line 1")),
            "{err}"
        );
        let err = parse_json::<serde_json::Value>(b"  ").unwrap_err();
        assert!(err.to_string().contains("empty request body"));
    }
}
