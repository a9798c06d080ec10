//! Reading back the json-file log the shim writes (`{"log":"...","stream":"stdout","time":...}`
//! per line), for `attach` with `logs=1`.

use std::io::{BufRead, BufReader};
use std::path::Path;

use bytes::Bytes;
use serde::Deserialize;
use tracing::warn;

use crate::model::StdStream;

#[derive(Deserialize)]
struct Line {
    log: String,
    stream: String,
}

/// Every chunk logged so far for the wanted streams, in order. A missing log is empty; a line
/// that does not parse is skipped with a warning (a crash may cut the last line short).
pub(crate) fn read_log(path: &Path, stdout: bool, stderr: bool) -> Vec<(StdStream, Bytes)> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "opening container log");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let Ok(entry) = serde_json::from_str::<Line>(&line) else {
            warn!(path = %path.display(), "skipping an unreadable log line");
            continue;
        };
        let stream = match entry.stream.as_str() {
            "stdout" if stdout => StdStream::Stdout,
            "stderr" if stderr => StdStream::Stderr,
            _ => continue,
        };
        out.push((stream, Bytes::from(entry.log)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-json.log");
        std::fs::write(
            &path,
            "{\"log\":\"out\\n\",\"stream\":\"stdout\",\"time\":\"2025-01-01T00:00:00Z\"}\n\
             {\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2025-01-01T00:00:00Z\"}\n{\"lo",
        )
        .unwrap();
        let all = read_log(&path, true, true);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], (StdStream::Stdout, Bytes::from("out\n")));
        let err_only = read_log(&path, false, true);
        assert_eq!(err_only, vec![(StdStream::Stderr, Bytes::from("err\n"))]);
    }
}
