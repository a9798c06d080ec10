//! Fault injection for crash-repair tests: named points in the engine where the process can be
//! made to die at once, as a power cut or `kill -9` would leave it.
//!
//! Set `STRATA_FAULT_KILL_AT=<point>` in the agent's environment and the first time execution
//! reaches [`fault_point`] with that name, the agent sends itself `SIGKILL`: no destructor, no
//! clean-up, no flush. The variable is read once; without it every point costs one atomic load
//! and a comparison of `None`.
//!
//! Points in use:
//! - `layer-created`: a layer exists in the graph driver with its content unpacked, and is not
//!   recorded in the metadata yet (`layers/register.rs`).
//! - `container-layers-created`: a container's init and rw layers exist in the driver, and the
//!   container is not recorded yet (`containers/create.rs`).
//! - `container-recorded`: a container is recorded (`created`), and the create not answered
//!   yet (`containers/create.rs`).
//! - `start-runtime-created`: the shim runs and the runtime has created the container (`runc
//!   init` waits), not started it; the container is not recorded running (`containers/start.rs`).
//! - `start-runtime-started`: the runtime has started the container's process, and the
//!   container is not recorded running yet (`containers/start.rs`).
//! - `commit-container-frozen`: a running container is frozen for `docker commit`, and the new
//!   image is not recorded yet (`containers/commit.rs`).
//! - `commit-image-recorded`: the committed image is recorded, and the container is still
//!   frozen (`containers/commit.rs`).
//! - `remove-tombstoned`: a container's removal is recorded (its `removing` tombstone) and
//!   nothing is torn down yet; with `rm -f` the container still runs (`containers/remove.rs`).
//! - `remove-runtime-deleted`: the removal has deleted the runtime's state, not the layers
//!   (`containers/remove.rs`).
//! - `remove-layers-removed`: the removal has removed the container's layers, not its
//!   directories nor its record (`containers/remove.rs`).
//! - `remove-files-removed`: the removal has removed layers and directories, not the record
//!   (`containers/remove.rs`).

use std::sync::OnceLock;

/// The environment variable naming the point to die at.
pub const FAULT_ENV: &str = "STRATA_FAULT_KILL_AT";

/// The point named by [`FAULT_ENV`], read on first use.
fn armed_point() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let point = std::env::var(FAULT_ENV).ok().filter(|p| !p.is_empty());
            if let Some(point) = &point {
                tracing::warn!(point = %point, "fault injection armed: the agent will kill itself there");
            }
            point
        })
        .as_deref()
}

/// Die here (`SIGKILL` to this very process) when `STRATA_FAULT_KILL_AT` names `point`; do
/// nothing otherwise.
pub fn fault_point(point: &str) {
    if armed_point() != Some(point) {
        return;
    }
    tracing::error!(point, "fault injection: killing the agent (SIGKILL)");
    // SIGKILL cannot be caught or ignored: the process ends here, in the middle of whatever the
    // caller was doing, which is the point. Should the signal somehow not be delivered, abort
    // so that the caller never carries on as if nothing happened.
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unarmed_point_returns() {
        // The test process does not set the variable for these names.
        fault_point("no-such-point-for-tests");
    }
}
