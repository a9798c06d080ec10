//! A container as the running agent holds it: its stored record plus what lives only in memory
//! (attach subscribers, stdin, waiters, the lock that orders lifecycle steps).

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::containers::paths::ContainerPaths;
use crate::containers::record::ContainerRecord;
use crate::model::{ContainerState, ContainerStatus, StdStream, WaitOutcome};

/// One attached caller that wants output.
pub(crate) struct Subscriber {
    pub key: u64,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: mpsc::Sender<(StdStream, Bytes)>,
}

impl Subscriber {
    pub(crate) fn wants(&self, stream: StdStream) -> bool {
        match stream {
            StdStream::Stdout => self.stdout,
            StdStream::Stderr => self.stderr,
            StdStream::Stdin => false,
        }
    }
}

/// The container's stdin for one run. `run` counts starts, so a writer attached for one run
/// never feeds (or closes) the next.
#[derive(Clone, Debug)]
pub(crate) struct StdinSlot {
    pub run: u64,
    pub state: StdinState,
}

#[derive(Clone, Debug)]
pub(crate) enum StdinState {
    /// A start is under way; the shim's stdin is not there yet.
    Waiting,
    /// The shim's stdin for this run.
    Open(mpsc::Sender<Bytes>),
    /// Not running, stdin closed, or the container is gone.
    Closed,
}

/// `run` value that tells stdin writers the container is gone.
pub(crate) const RUN_REMOVED: u64 = u64::MAX;

/// The parts of a container that change.
pub(crate) struct Live {
    pub record: ContainerRecord,
    /// Set once the container's record is deleted; every later call answers 404.
    pub removed: bool,
    pub subscribers: Vec<Subscriber>,
    pub next_subscriber: u64,
    /// Resolved at the next exit (`NotRunning` while running, `NextExit`).
    pub exit_waiters: Vec<oneshot::Sender<WaitOutcome>>,
    /// Resolved when the container is removed.
    pub removed_waiters: Vec<oneshot::Sender<WaitOutcome>>,
    /// Terminal size changes for a running tty container.
    pub resize: Option<mpsc::Sender<(u16, u16)>>,
    /// Why the runtime refused to start a container that the shim had already created; the
    /// monitor records it with the exit.
    pub start_error: Option<String>,
    /// What the restart policy remembers (manual stop, backoff delay).
    pub restart: crate::containers::restart::RestartMemory,
    /// `docker exec` instances of this container, by exec id.
    pub execs:
        std::collections::HashMap<String, std::sync::Arc<crate::containers::exec::ExecInstance>>,
}

/// One container known to this agent.
pub(crate) struct Container {
    pub id: String,
    pub paths: ContainerPaths,
    /// Orders lifecycle steps (start, exit handling, removal): held across their awaits.
    pub lifecycle: tokio::sync::Mutex<()>,
    live: Mutex<Live>,
    pub stdin: watch::Sender<StdinSlot>,
}

impl Container {
    pub(crate) fn new(record: ContainerRecord, paths: ContainerPaths) -> Self {
        let (stdin, _) = watch::channel(StdinSlot {
            run: 0,
            state: StdinState::Closed,
        });
        Container {
            id: record.id.clone(),
            paths,
            lifecycle: tokio::sync::Mutex::new(()),
            live: Mutex::new(Live {
                record,
                removed: false,
                subscribers: Vec::new(),
                next_subscriber: 0,
                exit_waiters: Vec::new(),
                removed_waiters: Vec::new(),
                resize: None,
                start_error: None,
                restart: Default::default(),
                execs: Default::default(),
            }),
            stdin,
        }
    }

    /// The in-memory part. A panic elsewhere while it was held leaves the data intact (every
    /// change is a plain field update), so a poisoned lock is taken over.
    pub(crate) fn live(&self) -> MutexGuard<'_, Live> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn record(&self) -> ContainerRecord {
        self.live().record.clone()
    }

    pub(crate) fn state(&self) -> ContainerState {
        self.live().record.state.clone()
    }

    pub(crate) fn name(&self) -> String {
        self.live().record.name.clone()
    }

    pub(crate) fn is_running(&self) -> bool {
        is_active(self.live().record.state.status)
    }

    /// Whether a process of this container runs (running or paused; not `restarting`).
    pub(crate) fn has_process(&self) -> bool {
        matches!(
            self.live().record.state.status,
            ContainerStatus::Running | ContainerStatus::Paused
        )
    }

    /// The outcome a waiter gets from the current state.
    pub(crate) fn outcome(state: &ContainerState) -> WaitOutcome {
        WaitOutcome {
            status_code: state.exit_code,
            error: (!state.error.is_empty()).then(|| state.error.clone()),
        }
    }

    /// Register for the next exit.
    pub(crate) fn on_next_exit(&self) -> oneshot::Receiver<WaitOutcome> {
        let (tx, rx) = oneshot::channel();
        self.live().exit_waiters.push(tx);
        rx
    }

    /// Begin a new run: stdin writers attached from now on wait for this run's stdin.
    pub(crate) fn begin_run(&self) -> u64 {
        let mut run = 0;
        self.stdin.send_modify(|slot| {
            slot.run += 1;
            slot.state = StdinState::Waiting;
            run = slot.run;
        });
        run
    }

    /// Hand the shim's stdin (or its absence) to writers of the current run.
    pub(crate) fn open_stdin(&self, tx: Option<mpsc::Sender<Bytes>>) {
        self.stdin.send_modify(|slot| {
            slot.state = match tx {
                Some(tx) => StdinState::Open(tx),
                None => StdinState::Closed,
            }
        });
    }

    /// Close the container's stdin for `run` (when it is still that run's).
    pub(crate) fn close_stdin(&self, run: u64) {
        self.stdin.send_if_modified(|slot| {
            if slot.run == run && !matches!(slot.state, StdinState::Closed) {
                slot.state = StdinState::Closed;
                true
            } else {
                false
            }
        });
    }

    /// End of a run: stdin closed, subscribers closed (their channels end once they drained what
    /// was sent), exit waiters taken for the caller to resolve.
    pub(crate) fn end_run(&self, state: ContainerState) -> Vec<oneshot::Sender<WaitOutcome>> {
        let waiters = {
            let mut live = self.live();
            live.record.state = state;
            live.subscribers.clear();
            live.resize = None;
            std::mem::take(&mut live.exit_waiters)
        };
        self.stdin
            .send_modify(|slot| slot.state = StdinState::Closed);
        waiters
    }
}

/// Whether a container in `status` has a live process.
pub(crate) fn is_active(status: ContainerStatus) -> bool {
    matches!(
        status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
    )
}

/// Resolve every waiter with `outcome`.
pub(crate) fn resolve(waiters: Vec<oneshot::Sender<WaitOutcome>>, outcome: &WaitOutcome) {
    for waiter in waiters {
        let _ = waiter.send(outcome.clone());
    }
}
