//! One task per running container: fans the shim's output out to attached callers and records
//! the exit. When the engine is dropped it stops quietly, leaving the container to its shim.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::debug;

use crate::containers::exit::{finish_run, RunEnd};
use crate::containers::live::Container;
use crate::containers::start::start_failure_code;
use crate::containers::{time, Shared};
use crate::model::StdStream;
use crate::runtime::shim_client::{read_exit_file, ShimEvent};

/// Exit code recorded when a shim disappears without leaving an exit file.
pub(crate) const SHIM_VANISHED_CODE: i64 = 255;
pub(crate) const SHIM_VANISHED: &str = "shim vanished";

/// Start monitoring `c` through `events` (its shim connection).
pub(crate) fn spawn(shared: Arc<Shared>, c: Arc<Container>, events: mpsc::Receiver<ShimEvent>) {
    tokio::spawn(run(shared, c, events));
}

/// The monitor loop.
pub(crate) async fn run(
    shared: Arc<Shared>,
    c: Arc<Container>,
    mut events: mpsc::Receiver<ShimEvent>,
) {
    let cancel = shared.cancel.clone();
    let end = loop {
        let event = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                debug!(id = %c.id, "engine closing; the container stays with its shim");
                return;
            }
            event = events.recv() => event,
        };
        match event {
            Some(ShimEvent::Output(stream, data)) => fan_out(&c, stream, data).await,
            Some(ShimEvent::Exited(info)) => {
                break RunEnd {
                    exit_code: info.exit_code,
                    oom_killed: info.oom_killed,
                    finished_at: info.finished_at,
                    error: String::new(),
                    rw_mounted: true,
                }
            }
            None => break exit_from_files(&c),
        }
    };
    drop(events);
    let _guard = tokio::select! {
        _ = cancel.cancelled() => return,
        guard = c.lifecycle.lock() => guard,
    };
    let mut end = end;
    if let Some(message) = c.live().start_error.take() {
        end.exit_code = start_failure_code(&message);
        end.error = message;
    }
    finish_run(&shared, &c, end).await;
}

/// The exit a shim left behind, or "shim vanished" when it left none.
pub(crate) fn exit_from_files(c: &Container) -> RunEnd {
    match read_exit_file(&c.paths.shim_dir) {
        Some(info) => RunEnd {
            exit_code: info.exit_code,
            oom_killed: info.oom_killed,
            finished_at: info.finished_at,
            error: String::new(),
            rw_mounted: true,
        },
        None => RunEnd {
            exit_code: SHIM_VANISHED_CODE,
            oom_killed: false,
            finished_at: time::now_rfc3339(),
            error: SHIM_VANISHED.to_string(),
            rw_mounted: true,
        },
    }
}

/// Deliver one chunk to every subscriber that wants its stream, in order; drop subscribers that
/// went away.
async fn fan_out(c: &Container, stream: StdStream, data: Bytes) {
    let targets: Vec<_> = c
        .live()
        .subscribers
        .iter()
        .filter(|s| s.wants(stream))
        .map(|s| (s.key, s.tx.clone()))
        .collect();
    let mut gone = Vec::new();
    for (key, tx) in targets {
        if tx.send((stream, data.clone())).await.is_err() {
            gone.push(key);
        }
    }
    if !gone.is_empty() {
        c.live().subscribers.retain(|s| !gone.contains(&s.key));
    }
}
