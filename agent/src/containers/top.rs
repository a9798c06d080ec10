//! `docker top CONTAINER [ps OPTIONS]`: the container's processes (as the runtime lists them
//! from its cgroup, `runc ps --format json`) shown with the host's `ps`, keeping only their rows,
//! as dockerd does.

use std::process::Stdio;

use tokio::process::Command;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::runtime::oci::log_messages;

/// `ps` arguments when the caller gives none (Docker's default).
const DEFAULT_PS_ARGS: &str = "-ef";

/// What `GET /containers/{id}/top` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopOutput {
    /// The `ps` header columns.
    pub titles: Vec<String>,
    /// One row per process of the container, as many cells as titles.
    pub processes: Vec<Vec<String>>,
}

impl Engine {
    /// `docker top`: 409 when the container is not running.
    pub async fn top_container(&self, id: &str, ps_args: Option<&str>) -> Result<TopOutput> {
        let shared = self.inner.containers.shared();
        let c = shared.find(id)?;
        if !c.is_running() {
            return Err(EngineError::Conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let runtime = &shared.runtime;
        let out = Command::new(&runtime.binary)
            .arg("--root")
            .arg(&runtime.root)
            .args(["--log-format", "json", "ps", "--format", "json", &c.id])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| EngineError::io(format!("running {} ps {}", runtime.binary, c.id), e))?;
        if !out.status.success() {
            return Err(EngineError::Runtime(format!(
                "listing the processes of container {}: {}",
                c.id,
                log_messages(&out.stderr)
            )));
        }
        let pids: Vec<i64> = serde_json::from_slice(&out.stdout).map_err(|e| {
            EngineError::Runtime(format!(
                "listing the processes of container {}: unreadable output ({e})",
                c.id
            ))
        })?;
        let args = ps_args
            .filter(|a| !a.trim().is_empty())
            .unwrap_or(DEFAULT_PS_ARGS);
        let ps = Command::new("ps")
            .args(args.split_whitespace())
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| EngineError::io("running ps", e))?;
        if !ps.status.success() {
            return Err(EngineError::InvalidArgument(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&ps.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&ps.stdout), &pids)
    }
}

/// Keep the rows of `ps` output whose PID column is one of `pids`. The last column (the command)
/// may contain spaces: extra fields are joined into it.
fn parse_ps(output: &str, pids: &[i64]) -> Result<TopOutput> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidArgument("Couldn't find PID field in ps output".into())
    })?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i64>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields[..last].iter().map(|f| f.to_string()).collect();
        row.push(fields[last..].join(" "));
        processes.push(row);
    }
    Ok(TopOutput { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_container_rows_and_whole_commands() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 4242 4200 0 10:01 ? 00:00:00 sleep 300\n";
        let top = parse_ps(out, &[4242]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "4242");
        assert_eq!(top.processes[0][7], "sleep 300");
    }

    #[test]
    fn no_pid_column_is_an_error() {
        assert!(parse_ps("USER CMD\nroot x\n", &[1]).is_err());
    }
}
