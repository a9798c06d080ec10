//! `POST /containers/{id}/wait`: a handle that resolves when the condition is met.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::containers::handles::WaitHandle;
use crate::containers::live::{is_active, Container};
use crate::model::{WaitCondition, WaitOutcome};

/// What a waiter gets when the engine goes away before the condition is met.
fn abandoned() -> WaitOutcome {
    WaitOutcome {
        status_code: -1,
        error: Some("the engine stopped before the wait condition was met".to_string()),
    }
}

/// Wait for `condition` on container `c`.
pub(crate) fn wait(c: &Arc<Container>, condition: WaitCondition) -> WaitHandle {
    let pending: Result<oneshot::Receiver<WaitOutcome>, WaitOutcome> = {
        let mut live = c.live();
        let now = Container::outcome(&live.record.state);
        if live.removed {
            Err(now)
        } else {
            match condition {
                WaitCondition::NotRunning if !is_active(live.record.state.status) => Err(now),
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    let (tx, rx) = oneshot::channel();
                    live.exit_waiters.push(tx);
                    Ok(rx)
                }
                WaitCondition::Removed => {
                    let (tx, rx) = oneshot::channel();
                    live.removed_waiters.push(tx);
                    Ok(rx)
                }
            }
        }
    };
    match pending {
        Err(outcome) => WaitHandle(Box::pin(async move { outcome })),
        Ok(rx) => WaitHandle(Box::pin(
            async move { rx.await.unwrap_or_else(|_| abandoned()) },
        )),
    }
}
