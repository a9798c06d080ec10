//! Sizes as ZFS prints them and as users type them.
//!
//! `zfs get -Hp` prints exact byte counts, but zfs-fuse's `zpool list` (and any tool output
//! without `-p`) prints human sizes such as `1.95G`, `112K` or `0`: both forms are read here.
//! Users give sizes to `--storage-opt size=` as `10G`, `512m`, `1GB` or `100MiB`.

/// Read a number ZFS printed: an exact count (`794624`) or a human size (`1.95G`, `112K`, `0`).
/// Units are powers of 1024, as ZFS uses them. `None` for `-`, `none` or anything else.
pub fn parse_zfs_size(text: &str) -> Option<u64> {
    parse_with_units(text.trim(), false)
}

/// Read a size a user typed for `--storage-opt size=`: bytes, or a number with a unit
/// `k`, `m`, `g`, `t`, `p` (any case, optionally followed by `b` or `ib`), powers of 1024.
pub fn parse_user_size(text: &str) -> Option<u64> {
    parse_with_units(text.trim(), true)
}

fn parse_with_units(text: &str, allow_suffix_b: bool) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let mut unit = unit.trim().to_ascii_lowercase();
    if allow_suffix_b {
        if let Some(u) = unit.strip_suffix("ib") {
            unit = u.to_string();
        } else if let Some(u) = unit.strip_suffix('b') {
            unit = u.to_string();
        }
    }
    let shift = match unit.as_str() {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "e" => 60,
        _ => return None,
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(1u64 << shift);
    }
    let value: f64 = number.parse().ok()?;
    let bytes = value * (1u64 << shift) as f64;
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Some(bytes.round() as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_human_zfs_sizes() {
        assert_eq!(parse_zfs_size("794624"), Some(794_624));
        assert_eq!(parse_zfs_size("0"), Some(0));
        assert_eq!(parse_zfs_size("112K"), Some(112 * 1024));
        assert_eq!(parse_zfs_size("1016M"), Some(1016 * 1024 * 1024));
        assert_eq!(
            parse_zfs_size("1.95G"),
            Some((1.95f64 * (1u64 << 30) as f64).round() as u64)
        );
        assert_eq!(parse_zfs_size("-"), None);
        assert_eq!(parse_zfs_size("none"), None);
        assert_eq!(parse_zfs_size(""), None);
    }

    #[test]
    fn user_sizes_take_common_suffixes() {
        assert_eq!(parse_user_size("10G"), Some(10 << 30));
        assert_eq!(parse_user_size("512m"), Some(512 << 20));
        assert_eq!(parse_user_size("1GB"), Some(1 << 30));
        assert_eq!(parse_user_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_user_size("4096"), Some(4096));
        assert_eq!(parse_user_size("ten"), None);
        assert_eq!(parse_user_size("10X"), None);
        assert_eq!(parse_user_size("-1G"), None);
    }
}
