//! Sizes as users type them (`1M`, `20M`, `64K`) and numbers as the tables print them.

use crate::error::BenchError;

/// Parse a size such as `1M`, `20MiB`, `64k`, `1G` or `4096` (binary units: `1M` is 1 MiB, as
/// Docker's size flags read them; the drivers' parser). `flag` names the option in the error.
pub fn parse_size(flag: &'static str, text: &str) -> Result<u64, BenchError> {
    let bad = |reason: &str| BenchError::InvalidArg {
        flag,
        value: text.to_string(),
        reason: reason.to_string(),
    };
    match strata_drivers::units::parse_user_size(text) {
        None if text.trim().starts_with(|c: char| c.is_ascii_digit()) => Err(bad(
            "unknown unit or a size too large (use K, M, G or T; binary: 1M = 1 MiB)",
        )),
        None => Err(bad("expected a size such as 1M, 64K or 4096")),
        Some(0) => Err(bad("the size must be greater than zero")),
        Some(bytes) => Ok(bytes),
    }
}

/// Parse a comma-separated list with `item`, refusing an empty list and duplicates.
pub fn parse_list<T: PartialEq>(
    flag: &'static str,
    text: &str,
    mut item: impl FnMut(&str) -> Result<T, BenchError>,
) -> Result<Vec<T>, BenchError> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let value = item(part)?;
        if out.contains(&value) {
            return Err(BenchError::InvalidArg {
                flag,
                value: text.to_string(),
                reason: format!("{part} is listed twice"),
            });
        }
        out.push(value);
    }
    if out.is_empty() {
        return Err(BenchError::InvalidArg {
            flag,
            value: text.to_string(),
            reason: "the list is empty".into(),
        });
    }
    Ok(out)
}

/// Parse a positive count such as a layer count.
pub fn parse_count(flag: &'static str, text: &str) -> Result<usize, BenchError> {
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(BenchError::InvalidArg {
            flag,
            value: text.to_string(),
            reason: "expected a whole number greater than zero".into(),
        }),
    }
}

/// A byte count for people: `64 KiB`, `1 MiB`, `1.5 GiB`; exact bytes below 1 KiB.
pub fn human_bytes(bytes: f64) -> String {
    let sign = if bytes < 0.0 { "-" } else { "" };
    let b = bytes.abs();
    let units = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in units {
        let size = size as f64;
        if b >= size {
            let v = b / size;
            return if (v - v.round()).abs() < 0.05 {
                format!("{sign}{:.0} {name}", v.round())
            } else {
                format!("{sign}{v:.1} {name}")
            };
        }
    }
    format!("{sign}{b:.0} B")
}

/// A number with about three significant digits: `0.412`, `3.10`, `41.2`, `1234`.
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a < 1.0 {
        format!("{v:.3}")
    } else if a < 10.0 {
        format!("{v:.2}")
    } else if a < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary() {
        assert_eq!(parse_size("--layer-size", "1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("--layer-size", "20MiB").unwrap(), 20 << 20);
        assert_eq!(parse_size("--layer-size", "64k").unwrap(), 64 << 10);
        assert_eq!(parse_size("--layer-size", "4096").unwrap(), 4096);
        assert_eq!(parse_size("--layer-size", "2G").unwrap(), 2 << 30);
    }

    #[test]
    fn bad_sizes_name_the_flag() {
        for bad in ["", "M", "1X", "0", "-1M", "99999999999999999999"] {
            let err = parse_size("--layer-size", bad).unwrap_err().to_string();
            assert!(err.contains("--layer-size"), "{err}");
        }
    }

    #[test]
    fn lists_refuse_duplicates_and_empty() {
        let counts = parse_list("--layers", "1, 5,20", |s| parse_count("--layers", s)).unwrap();
        assert_eq!(counts, vec![1, 5, 20]);
        assert!(parse_list("--layers", "1,1", |s| parse_count("--layers", s)).is_err());
        assert!(parse_list("--layers", " , ", |s| parse_count("--layers", s)).is_err());
        assert!(parse_list("--layers", "0", |s| parse_count("--layers", s)).is_err());
    }

    #[test]
    fn human_output() {
        assert_eq!(human_bytes(1048576.0), "1 MiB");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(12.0), "12 B");
        assert_eq!(human_bytes(-2048.0), "-2 KiB");
        assert_eq!(short_number(0.41234), "0.412");
        assert_eq!(short_number(3.1), "3.10");
        assert_eq!(short_number(1234.4), "1234");
    }
}
