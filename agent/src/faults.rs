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
