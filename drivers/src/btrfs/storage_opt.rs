//! `--storage-opt` for btrfs container layers: `size=` only, as Docker's btrfs driver.

use std::collections::BTreeMap;

use crate::error::DriverError;
use crate::units::parse_user_size;

/// What a read-write layer asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RwOptions {
    /// Limit on the bytes the layer's subvolume refers to (image content included), enforced
    /// through its btrfs qgroup. `None` (or `size=0`) means no limit.
    pub size_limit: Option<u64>,
}

/// Parse the per-layer storage options. Unknown keys and bad sizes are refused by name.
pub fn parse(opts: &BTreeMap<String, String>) -> Result<RwOptions, DriverError> {
    let mut out = RwOptions::default();
    for (key, value) in opts {
        match key.to_ascii_lowercase().as_str() {
            "size" => {
                let bytes = parse_user_size(value).ok_or_else(|| DriverError::InvalidOption {
                    key: key.clone(),
                    value: value.clone(),
                    reason: "expected a size such as 10G, 512m or 1048576".into(),
                })?;
                out.size_limit = (bytes > 0).then_some(bytes);
            }
            _ => {
                return Err(DriverError::InvalidOption {
                    key: key.clone(),
                    value: value.clone(),
                    reason: "the btrfs driver knows only the option size".into(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_what_is_wrong() {
        let mut opts = BTreeMap::new();
        opts.insert("size".to_string(), "20M".to_string());
        assert_eq!(parse(&opts).unwrap().size_limit, Some(20 << 20));
        opts.insert("size".to_string(), "0".to_string());
        assert_eq!(parse(&opts).unwrap().size_limit, None);
        opts.insert("size".to_string(), "lots".to_string());
        assert!(parse(&opts).unwrap_err().to_string().contains("size=lots"));
        let mut unknown = BTreeMap::new();
        unknown.insert("inodes".to_string(), "5".to_string());
        assert!(parse(&unknown)
            .unwrap_err()
            .to_string()
            .contains("inodes=5"));
    }
}
