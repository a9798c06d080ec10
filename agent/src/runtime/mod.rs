//! Running containers: OCI bundles (config.json), the OCI runtime CLI (runc, crun, youki), and
//! the per-container shim that holds a container's stdio and outlives the agent.
//! (Skeleton: filled in by the container work.)

/// Entry point of `strata shim ...` (the binary re-executes itself as a container's shim).
/// Returns the process exit code.
pub fn shim_main(_args: Vec<String>) -> i32 {
    eprintln!("strata shim: not implemented yet");
    1
}
