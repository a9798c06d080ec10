//! The container's log in Docker's json-file format: one JSON object per line of output,
//! `{"log":"...","stream":"stdout","time":"<RFC 3339 nanos>"}`.
//!
//! Size cap: when a write would take the file past [`MAX_FILE_BYTES`], the file is renamed to
//! `<log>.1` (replacing the previous one) and a new file is started, so a container's log never
//! holds more than two files (about twice the cap). `docker logs` reads `<log>.1` first.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diag::diag;
use crate::model::StdStream;

/// Size at which the log file is rotated (dockerd's json-file has no default cap; its `local`
/// driver rotates at 20 MB).
pub(crate) const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// Appends output to the json-file log. Write failures (full disk) are reported in the shim's
/// diagnostics and do not stop the container.
pub(crate) struct JsonLog {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
    /// Bytes in the current file.
    size: u64,
    max_size: u64,
}

impl JsonLog {
    pub(crate) fn open(path: &Path) -> std::io::Result<JsonLog> {
        Self::open_capped(path, MAX_FILE_BYTES)
    }

    fn open_capped(path: &Path, max_size: u64) -> std::io::Result<JsonLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file: Some(file),
            failed: false,
            size,
            max_size,
        })
    }

    /// Rename the full file to `<log>.1` and start a new one. On failure the current file is
    /// kept (the cap is exceeded rather than output lost).
    fn rotate(&mut self) {
        let mut rotated = self.path.as_os_str().to_owned();
        rotated.push(".1");
        if let Err(e) = std::fs::rename(&self.path, &rotated) {
            diag!("rotating container log {}: {e}", self.path.display());
            return;
        }
        match open_append(&self.path) {
            Ok(file) => {
                self.file = Some(file);
                self.size = 0;
            }
            Err(e) => {
                // Go on appending to the renamed file rather than lose output.
                diag!("starting a new container log {}: {e}", self.path.display());
            }
        }
    }

    /// Log one chunk of output: an entry per line; a trailing partial line becomes an entry
    /// of its own (without the newline).
    pub(crate) fn write(&mut self, stream: StdStream, chunk: &[u8]) {
        let encoded = encode_entries(stream, chunk, &now());
        if self.size > 0 && self.size + encoded.len() as u64 > self.max_size {
            self.rotate();
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if let Err(e) = file.write_all(&encoded) {
            if !self.failed {
                diag!("writing container log {}: {e}", self.path.display());
                self.failed = true;
            }
        } else {
            self.failed = false;
            self.size += encoded.len() as u64;
        }
    }
}

/// Open (creating 0600: output may carry secrets) the log for appending.
fn open_append(path: &Path) -> std::io::Result<File> {
    strata_drivers::fsutil::private::private_file_options()
        .create(true)
        .append(true)
        .open(path)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn stream_name(stream: StdStream) -> &'static str {
    match stream {
        StdStream::Stdin => "stdin",
        StdStream::Stdout => "stdout",
        StdStream::Stderr => "stderr",
    }
}

/// The log lines for one chunk.
fn encode_entries(stream: StdStream, chunk: &[u8], time: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in chunk.split_inclusive(|b| *b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let entry = Entry {
            log: &text,
            stream: stream_name(stream),
            time,
        };
        if serde_json::to_writer(&mut out, &entry).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_line_and_partial_lines_as_they_come() {
        let out = encode_entries(StdStream::Stderr, b"a\nb \"q\"\npart", "T");
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0],
            serde_json::json!({"log":"a\n","stream":"stderr","time":"T"})
        );
        assert_eq!(lines[1]["log"], "b \"q\"\n");
        assert_eq!(lines[2]["log"], "part");
        assert!(
            text.starts_with(r#"{"log":"a\n","stream":"stderr","time":"T"}"#),
            "field order as dockerd"
        );
    }

    #[test]
    fn appends_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/c-json.log");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(StdStream::Stdout, b"x\n");
        log.write(StdStream::Stdout, b"y\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[test]
    fn rotates_at_the_cap_keeping_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut log = JsonLog::open_capped(&path, 300).unwrap();
        for i in 0..20 {
            log.write(StdStream::Stdout, format!("line {i}\n").as_bytes());
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(dir.path().join("c-json.log.1")).unwrap();
        assert!(current.len() <= 300 && old.len() <= 300);
        assert!(
            current.contains("line 19\\n"),
            "newest line in the current file"
        );
        let kept = old.lines().count() + current.lines().count();
        assert!(kept < 20, "older lines were dropped with the cap");
        let last_old: serde_json::Value =
            serde_json::from_str(old.lines().last().unwrap()).unwrap();
        let first_new: serde_json::Value =
            serde_json::from_str(current.lines().next().unwrap()).unwrap();
        let n = |v: &serde_json::Value| -> u32 {
            v["log"]
                .as_str()
                .unwrap()
                .trim()
                .trim_start_matches("line ")
                .parse()
                .unwrap()
        };
        assert_eq!(
            n(&last_old) + 1,
            n(&first_new),
            "no line lost between the files"
        );
    }
}
