//! Sizes with binary units, as users type them (`--storage-opt size=10G`) and as storage tools
//! print them (`zfs`'s `1.95G`, `112K`). One parser for every driver (and for the agent's and
//! the bench's flags): `1K` is 1024 bytes, as Docker's `units.RAMInBytes` reads it.

/// A size a user typed: bytes (`4096`), or a number with a unit `k`, `m`, `g`, `t` or `p` in any
/// case, optionally followed by `b` or `ib` (`512m`, `10G`, `2GB`, `100MiB`, `1.5g`). `None` for
/// anything else, negative numbers included.
pub fn parse_user_size(text: &str) -> Option<u64> {
    parse(text, true)
}

/// A size a storage tool printed: an exact count (`794624`) or a human size with a one-letter
/// unit and no `b` (`1.95G`, `112K`, `0`). `None` for `-`, `none` or anything else.
pub fn parse_tool_size(text: &str) -> Option<u64> {
    parse(text, false)
}

fn parse(text: &str, allow_suffix_b: bool) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let mut unit = unit.trim().to_ascii_lowercase();
    if allow_suffix_b {
        if let Some(u) = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b')) {
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
        "e" if !allow_suffix_b => 60,
        _ => return None,
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(1u64 << shift);
    }
    let value: f64 = number.parse().ok()?;
    let bytes = value * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then(|| bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_sizes_in_docker_units() {
        assert_eq!(parse_user_size("1024"), Some(1024));
        assert_eq!(parse_user_size("10k"), Some(10 * 1024));
        assert_eq!(parse_user_size("512m"), Some(512 << 20));
        assert_eq!(parse_user_size("512M"), Some(512 << 20));
        assert_eq!(parse_user_size("10G"), Some(10 << 30));
        assert_eq!(parse_user_size("1GB"), Some(1 << 30));
        assert_eq!(parse_user_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_user_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_user_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_user_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_user_size("0"), Some(0));
        for bad in ["", "G", "-1G", "10X", "1..2G", ".5G", "ten", "lots", "1E"] {
            assert_eq!(parse_user_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn tool_sizes_exact_and_human() {
        assert_eq!(parse_tool_size("794624"), Some(794_624));
        assert_eq!(parse_tool_size("0"), Some(0));
        assert_eq!(parse_tool_size("112K"), Some(112 * 1024));
        assert_eq!(parse_tool_size("1016M"), Some(1016 * 1024 * 1024));
        assert_eq!(
            parse_tool_size("1.95G"),
            Some((1.95f64 * (1u64 << 30) as f64).round() as u64)
        );
        for bad in ["-", "none", "", "1GB"] {
            assert_eq!(parse_tool_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn overflow_is_refused() {
        assert_eq!(parse_user_size("99999999999999999999"), None);
        assert_eq!(parse_user_size("20000000p"), None);
    }
}
