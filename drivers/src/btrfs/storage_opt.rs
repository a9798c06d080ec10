//! `--storage-opt` for btrfs container layers: `size=` only, as Docker's btrfs driver.

use std::collections::BTreeMap;

use crate::error::DriverError;

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
                let bytes = parse_size(value).ok_or_else(|| DriverError::InvalidOption {
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

/// A size as Docker reads `--storage-opt size=` (binary units): `1024`, `10k`, `512M`, `10G`,
/// `1.5g`, `2GB`, `2GiB`, `1t`. Returns bytes, or `None` for anything else.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let multiplier = 1u64 << shift;
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(multiplier),
        Some((whole, frac)) => {
            let value: f64 = format!("{whole}.{frac}").parse().ok()?;
            let bytes = value * multiplier as f64;
            (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_docker_units() {
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("10k"), Some(10 * 1024));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("10G"), Some(10 << 30));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("0"), Some(0));
        for bad in ["", "G", "-1G", "10X", "1..2G", ".5G", "ten"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

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
