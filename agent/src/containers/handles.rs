//! Live handles the engine gives callers: an attachment to a container's streams, a pending wait.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::model::{StdStream, WaitOutcome};

/// A caller attached to a container's stdio.
pub struct Attachment {
    /// Whether the container has a tty: output is then raw (one stream), else multiplexed.
    pub tty: bool,
    /// Output chunks in order. The channel closes once the container has exited and all of its
    /// output has been delivered.
    pub output: mpsc::Receiver<(StdStream, Bytes)>,
    /// Where to send stdin, when asked for and the container has `OpenStdin`. Dropping it closes
    /// the container's stdin (for `StdinOnce`).
    pub input: Option<mpsc::Sender<Bytes>>,
}

/// A wait that resolves when the condition is met. Errors that can be known at once (no such
/// container) come back before this handle exists, so the HTTP layer can answer 404 first and
/// send 200 headers before awaiting this.
pub struct WaitHandle(pub Pin<Box<dyn Future<Output = WaitOutcome> + Send>>);
