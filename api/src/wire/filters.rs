//! Docker's `filters` query parameter. Clients send either `{"status":["exited"]}` (old form) or
//! `{"status":{"exited":true}}` (what the docker CLI sends today); both become
//! `status -> ["exited"]`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ApiError;

/// Parse a `filters` value; an absent or empty value means no filters.
pub fn parse(raw: Option<&str>) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut filters = BTreeMap::new();
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(filters);
    };
    let value: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::BadRequest(format!("invalid filters {raw:?}: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::BadRequest(format!(
            "invalid filters {raw:?}: expected a JSON object"
        )));
    };
    for (key, values) in map {
        let list: Vec<String> = match values {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(ApiError::BadRequest(format!(
                        "invalid filters: value {other} for {key:?} is not a string"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Value::Object(set) => set
                .into_iter()
                .filter(|(_, on)| on.as_bool().unwrap_or(false))
                .map(|(k, _)| k)
                .collect(),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "invalid filters: value {other} for {key:?} is neither a list nor a set"
                )))
            }
        };
        filters.insert(key, list);
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse() {
        let a = parse(Some(r#"{"status":["exited"]}"#)).unwrap();
        let b = parse(Some(r#"{"status":{"exited":true}}"#)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["status"], vec!["exited".to_string()]);
        assert!(parse(None).unwrap().is_empty());
        assert!(parse(Some("")).unwrap().is_empty());
    }

    #[test]
    fn garbage_is_a_bad_request() {
        assert!(matches!(parse(Some("{nope")), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse(Some("[1]")), Err(ApiError::BadRequest(_))));
    }
}
