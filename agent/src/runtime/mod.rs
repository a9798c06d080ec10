//! Running containers: OCI bundles (config.json via oci-spec), the OCI runtime CLI (runc, crun,
//! youki), and the per-container shim that holds a container's stdio and outlives the agent.
//!
//! Contract (the container code uses only this):
//! 1. `bundle::write_bundle(dir, &BundleSpec)` writes `dir/config.json`.
//! 2. `shim_client::launch(shim_binary, &ShimConfig)` starts `strata shim` detached (own session,
//!    survives the agent); the shim runs `RUNTIME create` with its own pipes (or a console socket
//!    for a tty) as the container's stdio and returns once the container is *created* (not started)
//!    and the shim's socket accepts connections.
//! 3. `shim_client::connect(state_dir)` gives a `ShimConnection`: output chunks in order, stdin,
//!    resize, and finally the exit. Works the same after an agent restart.
//! 4. `oci::OciRuntime::start(id)` starts the created container (the agent calls it once it has
//!    connected, so no output is lost); `kill`, `delete`, `state`, `pause`, `resume`.
//! 5. The shim writes the container's output to a json-file log (Docker's format), waits for the
//!    container, writes the exit file (`shim_client::read_exit_file`), tells connected clients,
//!    and exits.
//!
//! Files: `bundle` (config.json), `user` (`-u` resolution), `oci` (runtime CLI), `shim` (the
//! shim process), `shim_client` (launch/connect), `shim_protocol` (frames on the shim's
//! socket), `state_files` (names in a shim's state directory), `exit_file` (exit.json).

pub mod bundle;
pub mod error;
mod exit_file;
pub mod oci;
pub(crate) mod shim;
pub mod shim_client;
mod shim_protocol;
pub(crate) mod state_files;
pub mod user;

pub use error::RuntimeError;

/// Entry point of `strata shim ...` (the binary re-executes itself as a container's shim).
/// Returns the process exit code.
pub fn shim_main(args: Vec<String>) -> i32 {
    shim::main(args)
}
