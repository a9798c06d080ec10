//! Volume names: Docker's rule for the local driver, and random names for anonymous volumes.

use crate::error::{EngineError, Result};

/// Check `name` against Docker's local volume name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok =
        name.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        return Ok(());
    }
    Err(EngineError::InvalidArgument(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \
         \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, \
         use absolute path"
    )))
}

/// A random 64-hex name, as Docker gives anonymous volumes.
pub(crate) fn random_name() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_volume_name_rule() {
        for ok in ["data", "my-vol_1.x", "0a"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-x", ".x", "a/b", "a:b", "a b", "../x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let n = random_name();
        assert_eq!(n.len(), 64);
        assert!(validate_name(&n).is_ok());
    }
}
