//! How a container ended (`ExitInfo`), and the exit file a shim leaves behind (`exit.json`),
//! also the payload of the exit frame.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::runtime::state_files;

/// How a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, or 128 + signal number when killed by a signal.
    pub exit_code: i64,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds.
    pub finished_at: String,
}

/// On-disk (and on-wire) form of [`ExitInfo`].
#[derive(Serialize, Deserialize)]
struct ExitRecord {
    exit_code: i64,
    oom_killed: bool,
    finished_at: String,
}

/// `info` as JSON.
pub(crate) fn encode(info: &ExitInfo) -> Vec<u8> {
    let record = ExitRecord {
        exit_code: info.exit_code,
        oom_killed: info.oom_killed,
        finished_at: info.finished_at.clone(),
    };
    // Serializing a struct of plain fields cannot fail.
    serde_json::to_vec(&record).unwrap_or_default()
}

/// Parse what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Option<ExitInfo> {
    let r: ExitRecord = serde_json::from_slice(bytes).ok()?;
    Some(ExitInfo {
        exit_code: r.exit_code,
        oom_killed: r.oom_killed,
        finished_at: r.finished_at,
    })
}

/// Write `state_dir/exit.json` atomically: temporary file, fsync, rename.
pub(crate) fn write(state_dir: &Path, info: &ExitInfo) -> std::io::Result<()> {
    let path = state_dir.join(state_files::EXIT);
    let tmp = state_dir.join(format!(".{}.tmp", state_files::EXIT));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&encode(info))?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The exit recorded in `state_dir`, if any (an unreadable file counts as none).
pub(crate) fn read(state_dir: &Path) -> Option<ExitInfo> {
    decode(&std::fs::read(state_dir.join(state_files::EXIT)).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let info = ExitInfo {
            exit_code: 137,
            oom_killed: true,
            finished_at: "2026-01-02T03:04:05.123456789Z".into(),
        };
        write(dir.path(), &info).unwrap();
        assert_eq!(read(dir.path()), Some(info));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only exit.json remains"
        );
    }
}
