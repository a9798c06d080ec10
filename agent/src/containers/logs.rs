//! `docker logs`: read back the json-file log the shim writes (`<id>-json.log`, and the rotated
//! `<id>-json.log.1` before it, see the shim's `json_log`), with `--tail`, `--since`, `--until`,
//! `-t` and `-f`.
//!
//! Following polls the log file (every [`FOLLOW_POLL`]) until the container is no longer
//! running; the shim writes every line before it records the exit, so one last read after the
//! container stopped sees them all. A rotation while following (the file renamed to `.1` and a
//! new one started) is noticed by its inode: the old handle is read to its end first.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::containers::handles::Attachment;
use crate::containers::live::Container;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::model::StdStream;

/// How often `logs -f` looks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// Chunks buffered for one reader before the reading thread waits for it.
const OUTPUT_BUFFER: usize = 256;

/// What `GET /containers/{id}/logs` asks for.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Prefix each entry with its RFC 3339 nanosecond time and a space.
    pub timestamps: bool,
    /// Only the last N entries (`None`: all).
    pub tail: Option<usize>,
}

/// Parse Docker's `since`/`until` values: unix seconds with optional fraction
/// (`1700000000.123456789`, what the CLI sends) or RFC 3339. `0` and empty mean unset.
pub fn parse_log_time(raw: &str) -> Result<Option<DateTime<Utc>>> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "0" {
        return Ok(None);
    }
    let bad = || {
        EngineError::InvalidArgument(format!(
            "invalid value for time {raw:?}: expected unix seconds (with optional .nanoseconds) \
             or an RFC 3339 timestamp"
        ))
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else if frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    DateTime::from_timestamp(secs, nanos)
        .map(Some)
        .ok_or_else(bad)
}

/// Parse Docker's `tail` value: `all`, empty or negative for everything, else a count.
pub fn parse_tail(raw: Option<&str>) -> Result<Option<usize>> {
    match raw.map(str::trim) {
        None | Some("") | Some("all") => Ok(None),
        Some(n) => match n.parse::<i64>() {
            Ok(v) if v < 0 => Ok(None),
            Ok(v) => Ok(Some(usize::try_from(v).unwrap_or(usize::MAX))),
            Err(_) => Err(EngineError::InvalidArgument(format!(
                "invalid value for \"tail\": {n:?}: expected a number or \"all\""
            ))),
        },
    }
}

impl Engine {
    /// `docker logs`: the container's logged output as chunks in order (the channel ends at the
    /// end of the log, or with `follow` once the container stopped and everything was sent).
    pub async fn container_logs(&self, id: &str, opts: LogOptions) -> Result<Attachment> {
        let shared = self.inner.containers.shared();
        let c = shared.find(id)?;
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::InvalidArgument(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let tty = c.record().config.tty;
        let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);
        let cancel = shared.cancel.clone();
        let reader = LogReader::new(c, opts, tx, cancel);
        tokio::task::spawn_blocking(move || reader.run());
        Ok(Attachment {
            tty,
            output: rx,
            input: None,
        })
    }
}

/// One line of the json-file log.
#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// An entry that passed the stream filter, ready to send.
struct Chunk {
    stream: StdStream,
    time: Option<DateTime<Utc>>,
    log: String,
}

/// Reads one container's log for one caller, on a blocking thread.
struct LogReader {
    c: Arc<Container>,
    opts: LogOptions,
    tx: mpsc::Sender<(StdStream, Bytes)>,
    cancel: CancellationToken,
}

/// Why sending stopped.
enum Stop {
    /// The caller went away or `until` was passed: nothing more to send.
    Done,
}

impl LogReader {
    fn new(
        c: Arc<Container>,
        opts: LogOptions,
        tx: mpsc::Sender<(StdStream, Bytes)>,
        cancel: CancellationToken,
    ) -> Self {
        LogReader {
            c,
            opts,
            tx,
            cancel,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.c.paths.log_path.clone()
    }

    fn run(self) {
        let path = self.log_path();
        let Ok(open) = self.send_existing(&path) else {
            return;
        };
        if self.opts.follow {
            self.follow(&path, open);
        }
    }

    /// Whether the container has a live process (following goes on while it has).
    fn container_running(&self) -> bool {
        !self.c.live().removed && self.c.is_running()
    }

    /// Send what is logged now (rotated file first), honouring `tail`. Returns the current log
    /// file, positioned after what was read, and the partial line at its end.
    fn send_existing(&self, path: &Path) -> Result<(Option<File>, Vec<u8>), Stop> {
        let mut chunks: VecDeque<Chunk> = VecDeque::new();
        let mut keep = |chunk: Chunk| {
            chunks.push_back(chunk);
            if let Some(n) = self.opts.tail {
                while chunks.len() > n {
                    chunks.pop_front();
                }
            }
        };
        let rotated = rotated_path(path);
        if let Some(bytes) = read_whole(&rotated) {
            for line in bytes.split(|b| *b == b'\n') {
                if let Some(chunk) = self.decode(line, &rotated) {
                    keep(chunk);
                }
            }
        }
        let mut current = open_log(path);
        let mut pending = Vec::new();
        if let Some(file) = current.as_mut() {
            if let Err(e) = file.read_to_end(&mut pending) {
                warn!(path = %path.display(), error = %e, "reading container log");
            }
            let complete = match pending.iter().rposition(|b| *b == b'\n') {
                Some(last) => pending.drain(..=last).collect(),
                None => Vec::new(),
            };
            for line in complete.split(|b| *b == b'\n') {
                if let Some(chunk) = self.decode(line, path) {
                    keep(chunk);
                }
            }
        }
        for chunk in chunks {
            self.send(chunk)?;
        }
        Ok((current, pending))
    }

    /// Send lines appended from now on, until the container stops.
    fn follow(&self, path: &Path, open: (Option<File>, Vec<u8>)) {
        let (mut current, mut pending) = open;
        loop {
            let stopped = !self.container_running();
            if let Some(file) = current.as_mut() {
                if self.drain(file, &mut pending, path).is_err() {
                    return;
                }
            }
            // A rotation (or a log created after we looked): the old file is read to its
            // end above; go on with the new one from its start.
            if let Some(new_inode) = inode_of(path) {
                let old_inode = current
                    .as_ref()
                    .and_then(|f| f.metadata().ok())
                    .map(|m| m.ino());
                if old_inode != Some(new_inode) {
                    pending.clear();
                    current = open_log(path);
                    continue;
                }
            }
            if stopped || self.cancel.is_cancelled() || self.tx.is_closed() {
                return;
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }

    /// Send every complete line from `file`'s current position on; a partial last line waits
    /// in `pending` for its end.
    fn drain(&self, file: &mut File, pending: &mut Vec<u8>, path: &Path) -> Result<(), Stop> {
        let mut buf = Vec::new();
        if let Err(e) = file.read_to_end(&mut buf) {
            debug!(path = %path.display(), error = %e, "reading container log");
            return Ok(());
        }
        pending.extend_from_slice(&buf);
        let Some(last_newline) = pending.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        let complete: Vec<u8> = pending.drain(..=last_newline).collect();
        for line in complete.split(|b| *b == b'\n') {
            if let Some(chunk) = self.decode(line, path) {
                self.send(chunk)?;
            }
        }
        Ok(())
    }

    /// The chunk for one log line, when it is of a wanted stream and time.
    fn decode(&self, line: &[u8], file: &Path) -> Option<Chunk> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let entry: Entry = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                // A crash may cut the last line short; nothing else writes the file.
                debug!(path = %file.display(), error = %e, "skipping an unreadable log line");
                return None;
            }
        };
        let stream = match entry.stream.as_str() {
            "stdout" if self.opts.stdout => StdStream::Stdout,
            "stderr" if self.opts.stderr => StdStream::Stderr,
            _ => return None,
        };
        let time = DateTime::parse_from_rfc3339(&entry.time)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        if let (Some(since), Some(t)) = (self.opts.since, time) {
            if t < since {
                return None;
            }
        }
        Some(Chunk {
            stream,
            time,
            log: entry.log,
        })
    }

    fn send(&self, chunk: Chunk) -> Result<(), Stop> {
        if let (Some(until), Some(t)) = (self.opts.until, chunk.time) {
            if t > until {
                return Err(Stop::Done);
            }
        }
        let payload = if self.opts.timestamps {
            let stamp = chunk
                .time
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
                .unwrap_or_default();
            format!("{stamp} {}", chunk.log)
        } else {
            chunk.log
        };
        self.tx
            .blocking_send((chunk.stream, Bytes::from(payload)))
            .map_err(|_| Stop::Done)
    }
}

/// Where the shim keeps the previous log file after a rotation.
pub(crate) fn rotated_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn read_whole(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "reading container log");
            None
        }
    }
}

/// The log file, or `None` when it does not exist (yet).
fn open_log(path: &Path) -> Option<File> {
    match File::open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(path = %path.display(), error = %e, "opening container log");
            }
            None
        }
    }
}

fn inode_of(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_the_cli_sends_them() {
        let t = parse_log_time("1700000000.5").unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        let t = parse_log_time("2026-01-02T03:04:05Z").unwrap().unwrap();
        assert_eq!(t.timestamp(), 1_767_323_045);
        assert!(parse_log_time("0").unwrap().is_none());
        assert!(parse_log_time("yesterday").is_err());
    }

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail(Some("all")).unwrap(), None);
        assert_eq!(parse_tail(Some("3")).unwrap(), Some(3));
        assert_eq!(parse_tail(Some("-1")).unwrap(), None);
        assert!(parse_tail(Some("x")).is_err());
    }

    #[test]
    fn rotated_name() {
        assert_eq!(
            rotated_path(Path::new("/d/c-json.log")),
            PathBuf::from("/d/c-json.log.1")
        );
    }
}
