//! Small readers for the shapes of cgroup files: one number, `max`-or-number, `key value` lines.

use std::collections::BTreeMap;
use std::path::Path;

use super::CgroupError;

/// The whole file, trimmed.
pub fn read_text(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// The file as `None` when it does not exist (a controller this kernel lacks).
pub fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parse one unsigned number.
pub fn number(path: &Path, text: &str) -> Result<u64, CgroupError> {
    text.trim().parse::<u64>().map_err(|e| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("expected a number, found {text:?}: {e}"),
    })
}

/// A file holding one unsigned number.
pub fn read_number(path: &Path) -> Result<u64, CgroupError> {
    let text = read_text(path)?;
    number(path, &text)
}

/// `max` (unlimited) or a number.
pub fn max_or_number(path: &Path, text: &str) -> Result<Option<u64>, CgroupError> {
    if text.trim() == "max" {
        Ok(None)
    } else {
        number(path, text).map(Some)
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`); lines that are not a key and
/// a number are skipped.
pub fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let key = parts.next()?;
            let value = parts.next()?.parse::<u64>().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

/// Space-separated numbers (`cpuacct.usage_percpu`).
pub fn numbers(path: &Path, text: &str) -> Result<Vec<u64>, CgroupError> {
    text.split_whitespace().map(|n| number(path, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let p = Path::new("/x");
        assert_eq!(max_or_number(p, "max\n").unwrap(), None);
        assert_eq!(max_or_number(p, "67108864\n").unwrap(), Some(67108864));
        assert!(number(p, "lots").is_err());
        let kv = key_values("cache 4096\nrss 8192\ngarbage\n");
        assert_eq!(kv.get("rss"), Some(&8192));
        assert_eq!(kv.len(), 2);
        assert_eq!(numbers(p, "1 2 3 \n").unwrap(), vec![1, 2, 3]);
    }
}
