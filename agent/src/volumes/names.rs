//! Volume names: Docker's rule for the local driver, and random names for anonymous volumes.

use crate::error::{EngineError, Result};

/// The longest name a volume directory can have (the kernel's `NAME_MAX`).
const MAX_NAME_LEN: usize = 255;

/// Check `name` against Docker's local volume name rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and its
/// length against what a directory name can hold (dockerd answers a 500 "file name too long").
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(EngineError::InvalidArgument(format!(
            "create {name}: volume name is too long ({} characters, at most {MAX_NAME_LEN})",
            name.len()
        )));
    }
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
        assert!(validate_name(&"a".repeat(255)).is_ok());
        assert!(validate_name(&"a".repeat(256))
            .unwrap_err()
            .to_string()
            .contains("too long (256 characters, at most 255)"));
        let n = random_name();
        assert_eq!(n.len(), 64);
        assert!(validate_name(&n).is_ok());
    }
}
