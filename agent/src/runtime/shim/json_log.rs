//! The container's log in Docker's json-file format: one JSON object per line of output,
//! `{"log":"...","stream":"stdout","time":"<RFC 3339 nanos>"}`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diag::diag;
use crate::model::StdStream;

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
}

impl JsonLog {
    pub(crate) fn open(path: &Path) -> std::io::Result<JsonLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(JsonLog {
            path: path.to_path_buf(),
            file: Some(file),
            failed: false,
        })
    }

    /// Log one chunk of output: an entry per line; a trailing partial line becomes an entry
    /// of its own (without the newline).
    pub(crate) fn write(&mut self, stream: StdStream, chunk: &[u8]) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let encoded = encode_entries(stream, chunk, &now());
        if let Err(e) = file.write_all(&encoded) {
            if !self.failed {
                diag!("writing container log {}: {e}", self.path.display());
                self.failed = true;
            }
        } else {
            self.failed = false;
        }
    }
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
}
