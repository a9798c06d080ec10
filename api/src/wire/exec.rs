//! Docker's exec JSON (`ExecConfig`, `ExecInspectResponse`) to and from the engine's exec types.

use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use strata_agent::containers::exec::{ExecDetails, ExecSpec};

/// `POST /containers/{id}/exec` body -> what the engine runs.
pub fn spec_from_config(body: ExecConfig) -> ExecSpec {
    ExecSpec {
        cmd: body.cmd.unwrap_or_default(),
        env: body.env.unwrap_or_default(),
        user: body.user.unwrap_or_default(),
        working_dir: body.working_dir.unwrap_or_default(),
        tty: body.tty.unwrap_or(false),
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        privileged: body.privileged.unwrap_or(false),
    }
}

/// `GET /exec/{id}/json`.
pub fn inspect(d: &ExecDetails) -> ExecInspectResponse {
    let (entrypoint, arguments) = match d.spec.cmd.split_first() {
        Some((first, rest)) => (first.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    ExecInspectResponse {
        can_remove: Some(false),
        detach_keys: Some(String::new()),
        id: Some(d.id.clone()),
        running: Some(d.running),
        exit_code: d.exit_code,
        process_config: Some(ProcessConfig {
            privileged: Some(d.spec.privileged),
            user: Some(d.spec.user.clone()),
            tty: Some(d.spec.tty),
            entrypoint: Some(entrypoint),
            arguments: Some(arguments),
        }),
        open_stdin: Some(d.spec.attach_stdin),
        open_stderr: Some(d.spec.attach_stderr),
        open_stdout: Some(d.spec.attach_stdout),
        container_id: Some(d.container_id.clone()),
        pid: Some(d.pid),
    }
}
