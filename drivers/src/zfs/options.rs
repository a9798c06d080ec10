//! The zfs driver's `--storage-opt` keys: `zfs.fsname` for the driver, `size` per container layer.

use std::collections::BTreeMap;

use crate::error::DriverError;
use crate::units::parse_user_size;

/// The driver-wide option naming the parent dataset every layer is created under.
pub const FSNAME_KEY: &str = "zfs.fsname";

/// The driver-wide option accepting a pool that cannot store xattrs (`true`/`false`).
pub const ALLOW_NO_XATTR_KEY: &str = "zfs.allow_no_xattr";

/// The per-layer option limiting a read-write layer's size (a ZFS `quota`).
pub const SIZE_KEY: &str = "size";

/// Driver-wide options, parsed and checked for form (not yet against ZFS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZfsOptions {
    /// Parent dataset, e.g. `tank/strata`.
    pub fsname: String,
    /// Open even when the pool refuses xattrs (layers then lose them, file capabilities too).
    pub allow_no_xattr: bool,
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> DriverError {
    DriverError::InvalidOption {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Whether `name` has the form of a ZFS filesystem name: `pool[/child...]`, components of
/// `[A-Za-z0-9_.:-]`, no snapshot (`@`) or bookmark (`#`) part.
fn is_dataset_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
        })
        && name.as_bytes()[0].is_ascii_alphabetic()
}

impl ZfsOptions {
    /// Parse the driver's `--storage-opt` pairs. `zfs.fsname` is required; unknown keys are
    /// refused so a typo does not silently fall back to something else.
    pub fn parse(storage_opt: &BTreeMap<String, String>) -> Result<ZfsOptions, DriverError> {
        let mut fsname = None;
        let mut allow_no_xattr = false;
        for (key, value) in storage_opt {
            match key.to_ascii_lowercase().as_str() {
                FSNAME_KEY => {
                    let name = value.trim().trim_end_matches('/');
                    if !is_dataset_name(name) {
                        return Err(invalid(
                            key,
                            value,
                            "expected a ZFS filesystem name such as POOL/strata",
                        ));
                    }
                    fsname = Some(name.to_string());
                }
                ALLOW_NO_XATTR_KEY => {
                    allow_no_xattr = match value.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(invalid(key, value, "expected true or false")),
                    };
                }
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "unknown option for the zfs driver (known: zfs.fsname, zfs.allow_no_xattr)",
                    ))
                }
            }
        }
        let fsname = fsname.ok_or_else(|| {
            invalid(
                FSNAME_KEY,
                "",
                "the zfs driver needs the parent dataset: --storage-opt zfs.fsname=POOL/strata",
            )
        })?;
        Ok(ZfsOptions {
            fsname,
            allow_no_xattr,
        })
    }

    /// The pool holding the parent dataset (its first component).
    pub fn pool(&self) -> &str {
        self.fsname.split('/').next().unwrap_or(&self.fsname)
    }
}

/// Parse a read-write layer's options: `size` (a quota in bytes) is the only key.
pub fn parse_layer_size(
    storage_opt: &BTreeMap<String, String>,
) -> Result<Option<u64>, DriverError> {
    let mut size = None;
    for (key, value) in storage_opt {
        match key.to_ascii_lowercase().as_str() {
            SIZE_KEY => {
                let bytes = parse_user_size(value).ok_or_else(|| {
                    invalid(
                        key,
                        value,
                        "expected a size such as 10G, 512M or 1073741824",
                    )
                })?;
                if bytes == 0 {
                    return Err(invalid(key, value, "the size limit must be more than zero"));
                }
                size = Some(bytes);
            }
            _ => {
                return Err(invalid(
                    key,
                    value,
                    "unknown option for a zfs layer (known: size)",
                ))
            }
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fsname_is_required_and_checked() {
        let err = ZfsOptions::parse(&opts(&[])).unwrap_err().to_string();
        assert!(err.contains("zfs.fsname"), "{err}");
        let o = ZfsOptions::parse(&opts(&[("zfs.fsname", "tank/strata/")])).unwrap();
        assert_eq!(o.fsname, "tank/strata");
        assert_eq!(o.pool(), "tank");
        assert!(ZfsOptions::parse(&opts(&[("zfs.fsname", "tank/a@snap")])).is_err());
        assert!(ZfsOptions::parse(&opts(&[("zfs.fsname", "tank//a")])).is_err());
        assert!(ZfsOptions::parse(&opts(&[("zfs.fsname", "tank"), ("zfs.bogus", "1")])).is_err());
        assert!(!o.allow_no_xattr);
    }

    #[test]
    fn allow_no_xattr_is_a_boolean() {
        let o = ZfsOptions::parse(&opts(&[
            ("zfs.fsname", "tank/s"),
            ("zfs.allow_no_xattr", "true"),
        ]))
        .unwrap();
        assert!(o.allow_no_xattr);
        let o = ZfsOptions::parse(&opts(&[
            ("zfs.fsname", "tank/s"),
            ("zfs.allow_no_xattr", "false"),
        ]))
        .unwrap();
        assert!(!o.allow_no_xattr);
        let err = ZfsOptions::parse(&opts(&[
            ("zfs.fsname", "tank/s"),
            ("zfs.allow_no_xattr", "maybe"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(err.contains("zfs.allow_no_xattr"), "{err}");
    }

    #[test]
    fn layer_size_option() {
        assert_eq!(parse_layer_size(&opts(&[])).unwrap(), None);
        assert_eq!(
            parse_layer_size(&opts(&[("size", "1G")])).unwrap(),
            Some(1 << 30)
        );
        assert!(parse_layer_size(&opts(&[("size", "0")])).is_err());
        assert!(parse_layer_size(&opts(&[("size", "lots")])).is_err());
        assert!(parse_layer_size(&opts(&[("color", "red")])).is_err());
    }
}
