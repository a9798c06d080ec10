//! `POST /containers/{id}/attach`: a subscriber on the container's output and, with `OpenStdin`,
//! a writer to its stdin. Attaching before start sees the first byte: the subscriber exists
//! before the shim connection does.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::containers::handles::Attachment;
use crate::containers::live::{Container, StdinSlot, StdinState, Subscriber};
use crate::containers::{log_replay, Shared};
use crate::error::{EngineError, Result};
use crate::model::{AttachOptions, StdStream};

/// Chunks buffered per attached caller before the monitor waits for it.
const OUTPUT_BUFFER: usize = 1024;
/// Chunks of stdin buffered before the caller waits.
const INPUT_BUFFER: usize = 64;

/// Attach to container `c`.
pub(crate) async fn attach(
    shared: &Arc<Shared>,
    c: &Arc<Container>,
    opts: AttachOptions,
) -> Result<Attachment> {
    let rec = c.record();
    let wants_output = opts.stdout || opts.stderr;
    let (tx, rx) = mpsc::channel(OUTPUT_BUFFER);

    let mut subscriber = None;
    if wants_output && opts.stream {
        if opts.logs {
            // Subscribe now (nothing live is missed), replay the log first, then pass live
            // output on.
            let (live_tx, live_rx) = mpsc::channel(OUTPUT_BUFFER);
            subscriber = Some(subscribe(c, opts, live_tx)?);
            let path = c.paths.log_path.clone();
            tokio::spawn(replay_then_forward(
                path,
                opts,
                tx,
                live_rx,
                shared.cancel.clone(),
            ));
        } else {
            subscriber = Some(subscribe(c, opts, tx)?);
        }
    } else if wants_output && opts.logs {
        let path = c.paths.log_path.clone();
        let chunks = Shared::blocking("reading container log", move || {
            Ok(log_replay::read_log(&path, opts.stdout, opts.stderr))
        })
        .await?;
        tokio::spawn(async move {
            for chunk in chunks {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
        });
    } else {
        drop(tx);
    }

    let input = if opts.stdin && rec.config.open_stdin {
        let (in_tx, in_rx) = mpsc::channel(INPUT_BUFFER);
        // Docker closes the container's stdin when the caller's ends only for `StdinOnce`
        // without a tty; otherwise (a tty, where it is how the caller detaches) the caller's
        // end ends its attachment and the container keeps its stdin.
        let at_end = if rec.config.stdin_once && !rec.config.tty {
            InputEnd::CloseStdin
        } else {
            InputEnd::Detach(subscriber)
        };
        tokio::spawn(forward_stdin(
            c.clone(),
            in_rx,
            at_end,
            shared.cancel.clone(),
        ));
        Some(in_tx)
    } else {
        None
    };
    Ok(Attachment {
        tty: rec.config.tty,
        output: rx,
        input,
    })
}

/// Add an output subscriber; returns its key.
fn subscribe(
    c: &Container,
    opts: AttachOptions,
    tx: mpsc::Sender<(StdStream, Bytes)>,
) -> Result<u64> {
    let mut live = c.live();
    if live.removed {
        return Err(EngineError::NoSuchContainer(c.id.clone()));
    }
    let key = live.next_subscriber;
    live.next_subscriber += 1;
    live.subscribers.push(Subscriber {
        key,
        stdout: opts.stdout,
        stderr: opts.stderr,
        tx,
    });
    Ok(key)
}

/// What the end of a caller's stdin does.
#[derive(Clone, Copy, Debug)]
enum InputEnd {
    /// Close the container's stdin (`StdinOnce` without a tty).
    CloseStdin,
    /// Leave the container's stdin open and end the caller's output subscription, if any:
    /// the caller detached.
    Detach(Option<u64>),
}

/// End output subscription `key` of `c`: its channel closes once drained.
fn unsubscribe(c: &Container, key: u64) {
    c.live().subscribers.retain(|s| s.key != key);
}

async fn replay_then_forward(
    path: std::path::PathBuf,
    opts: AttachOptions,
    tx: mpsc::Sender<(StdStream, Bytes)>,
    mut live_rx: mpsc::Receiver<(StdStream, Bytes)>,
    cancel: CancellationToken,
) {
    let chunks =
        tokio::task::spawn_blocking(move || log_replay::read_log(&path, opts.stdout, opts.stderr))
            .await
            .unwrap_or_default();
    for chunk in chunks {
        if tx.send(chunk).await.is_err() {
            return;
        }
    }
    loop {
        let chunk = tokio::select! {
            _ = cancel.cancelled() => return,
            chunk = live_rx.recv() => chunk,
        };
        match chunk {
            Some(chunk) => {
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

/// Whether `slot` settles a writer bound to run `target`: that run has its stdin (or lost it),
/// or a later run began, or the container is gone.
fn settled(slot: &StdinSlot, target: u64) -> bool {
    slot.run > target || (slot.run == target && !matches!(slot.state, StdinState::Waiting))
}

/// Pass the caller's stdin to the container's, for the run that is current (or, when the
/// container is not running, the next one). The caller's end does what `at_end` says.
async fn forward_stdin(
    c: Arc<Container>,
    mut input: mpsc::Receiver<Bytes>,
    at_end: InputEnd,
    cancel: CancellationToken,
) {
    let mut slots = c.stdin.subscribe();
    let target = {
        let slot = slots.borrow();
        match slot.state {
            StdinState::Closed => slot.run.saturating_add(1),
            _ => slot.run,
        }
    };
    loop {
        let chunk = tokio::select! {
            _ = cancel.cancelled() => return,
            chunk = input.recv() => chunk,
        };
        let slot = tokio::select! {
            _ = cancel.cancelled() => return,
            slot = slots.wait_for(|s| settled(s, target)) => match slot {
                Ok(slot) => slot.clone(),
                Err(_) => return,
            },
        };
        let tx = match slot {
            StdinSlot {
                run,
                state: StdinState::Open(tx),
            } if run == target => tx,
            _ => {
                debug!(id = %c.id, "stdin: the container's stdin is closed; dropping input");
                return;
            }
        };
        match chunk {
            Some(data) => {
                if tx.send(data).await.is_err() {
                    return;
                }
            }
            None => {
                drop(tx);
                match at_end {
                    InputEnd::CloseStdin => c.close_stdin(target),
                    InputEnd::Detach(Some(key)) => {
                        debug!(id = %c.id, "attach: the caller's stdin ended; detaching it");
                        unsubscribe(&c, key);
                    }
                    InputEnd::Detach(None) => {}
                }
                return;
            }
        }
    }
}
