//! Fault injection for the crash-repair test (feature `fault-injection`, which only the guest
//! test build enables): a named point where the process can be made to die at once, as a power
//! cut or `kill -9` would leave it.
//!
//! Set `STRATA_FAULT_KILL_AT=devicemapper-snapshot-created` (the agent's variable, see
//! `agent/src/faults.rs`) and the process sends itself `SIGKILL` right after the pool made a thin
//! snapshot and before the device's record says `ready`; `...=devicemapper-snapshot-created:ID`
//! does so only while creating layer `ID`. Without this feature the point is not compiled at
//! all.

use std::sync::OnceLock;

/// The environment variable naming the point to die at.
pub const FAULT_ENV: &str = "STRATA_FAULT_KILL_AT";

/// After `create_snap`, before the record is rewritten as `ready`.
pub const SNAPSHOT_CREATED: &str = "devicemapper-snapshot-created";

/// The point named by [`FAULT_ENV`], read once.
fn armed_point() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(FAULT_ENV).ok().filter(|p| !p.is_empty()))
        .as_deref()
}

/// Die here (`SIGKILL` to this process: no destructor, no clean-up) when [`FAULT_ENV`] names
/// `point`, or `point:subject`; do nothing otherwise.
pub fn point(point: &str, subject: &str) {
    let Some(armed) = armed_point() else {
        return;
    };
    let hit = match armed.split_once(':') {
        Some((p, s)) => p == point && s == subject,
        None => armed == point,
    };
    if !hit {
        return;
    }
    tracing::error!(
        point,
        subject,
        "fault injection: killing the process (SIGKILL)"
    );
    let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGKILL);
    // SIGKILL cannot be caught; should it somehow not arrive, never carry on as if nothing
    // happened.
    std::process::abort();
}
