//! Entry names: normalization and lexical escape checks.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::ArchiveError;

/// Turn a raw tar entry name into a path relative to the layer root: leading `/` and `./` are
/// stripped, empty and `.` components dropped. Any `..` component is refused. The layer root
/// itself comes back as the empty path.
pub fn normalize_entry_path(raw: &[u8]) -> Result<PathBuf, ArchiveError> {
    let mut out = PathBuf::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => {
                return Err(ArchiveError::PathEscape {
                    path: String::from_utf8_lossy(raw).into_owned(),
                })
            }
            _ => out.push(OsStr::from_bytes(part)),
        }
    }
    Ok(out)
}

/// Whether a symlink at `entry` (relative to the layer root) with a *relative* `target` climbs
/// above the layer root when resolved lexically from the entry's directory. Absolute targets
/// never escape: they resolve inside the container's root at run time.
pub fn symlink_escapes(entry: &Path, target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut depth: i64 = entry
        .parent()
        .map(|p| {
            p.components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .count() as i64
        })
        .unwrap_or(0);
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(
            normalize_entry_path(b"./a/b/").unwrap(),
            PathBuf::from("a/b")
        );
        assert_eq!(
            normalize_entry_path(b"/etc//passwd").unwrap(),
            PathBuf::from("etc/passwd")
        );
        assert_eq!(normalize_entry_path(b"./").unwrap(), PathBuf::new());
        assert!(matches!(
            normalize_entry_path(b"../x"),
            Err(ArchiveError::PathEscape { .. })
        ));
        assert!(matches!(
            normalize_entry_path(b"a/../../x"),
            Err(ArchiveError::PathEscape { .. })
        ));
    }

    #[test]
    fn detects_symlink_escapes() {
        assert!(symlink_escapes(Path::new("evil"), b"../../.."));
        assert!(symlink_escapes(Path::new("a/evil"), b"../.."));
        assert!(!symlink_escapes(Path::new("a/ok"), b"../b"));
        assert!(!symlink_escapes(Path::new("a/b/ok"), b"../../c/./d"));
        assert!(!symlink_escapes(Path::new("abs"), b"/../../etc"));
        assert!(symlink_escapes(Path::new("a/x"), b"b/../../../c"));
    }
}
