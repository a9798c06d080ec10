//! Progress of a pull or push, as the events Docker's JSON message stream carries
//! (`{"status":"Downloading","id":"a3ed95caeb02","progressDetail":{"current":1,"total":2}}`).
//! The engine sends them into a channel; the HTTP layer writes them as JSON lines.

use tokio::sync::mpsc;

/// One progress message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressEvent {
    /// The short layer id (12 hex characters), the tag, or `None` for image-wide lines.
    pub id: Option<String>,
    /// `Pulling fs layer`, `Downloading`, `Pull complete`, `Digest: sha256:...`, ...
    pub status: String,
    /// Bytes done and total, for progress bars.
    pub detail: Option<ProgressDetail>,
    /// Whether the line carries an (empty or not) `progressDetail` object, as Docker's layer
    /// lines do even without figures.
    pub layer_line: bool,
}

/// `progressDetail`: bytes done out of a total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressDetail {
    pub current: u64,
    pub total: u64,
}

/// Where an operation sends its progress. Sending never blocks and never fails the operation:
/// a client that went away only stops seeing progress.
#[derive(Clone)]
pub struct ProgressSink {
    tx: Option<mpsc::UnboundedSender<ProgressEvent>>,
}

impl ProgressSink {
    /// A sink and the receiving end of its channel.
    pub fn channel() -> (ProgressSink, mpsc::UnboundedReceiver<ProgressEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (ProgressSink { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn discard() -> ProgressSink {
        ProgressSink { tx: None }
    }

    /// An image-wide line: `{"status": ...}` with an optional `id`.
    pub fn status(&self, id: Option<&str>, status: impl Into<String>) {
        self.send(ProgressEvent {
            id: id.map(str::to_string),
            status: status.into(),
            detail: None,
            layer_line: false,
        });
    }

    /// A layer line without figures (`Pulling fs layer`, `Pull complete`, ...).
    pub fn layer(&self, id: &str, status: impl Into<String>) {
        self.send(ProgressEvent {
            id: Some(id.to_string()),
            status: status.into(),
            detail: None,
            layer_line: true,
        });
    }

    /// A layer line with a progress bar (`Downloading`, `Pushing`).
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        self.send(ProgressEvent {
            id: Some(id.to_string()),
            status: status.to_string(),
            detail: Some(ProgressDetail { current, total }),
            layer_line: true,
        });
    }

    fn send(&self, event: ProgressEvent) {
        if let Some(tx) = &self.tx {
            // A closed channel means the client left; the operation goes on regardless.
            let _ = tx.send(event);
        }
    }
}

/// How often (in bytes) a transfer reports progress, so a fast local transfer does not flood
/// the client with lines.
pub const REPORT_EVERY_BYTES: u64 = 512 * 1024;
