//! Running a storage tool's command line for the drivers that drive one (`zfs`/`zpool`;
//! `dmsetup`, `losetup`, `mkfs.*`): finding the tool, running it under a deadline with `LC_ALL=C`,
//! and keeping what it said when it fails. Each driver reads the failure's words its own way
//! (`CliFailure::said`), since "not found" is phrased differently by every tool.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use crate::error::DriverError;

/// Where tools live when `PATH` does not name them (a test runner's `PATH` may lack sbin).
const FALLBACK_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"];

/// How long a command failing with "busy" is retried by [`retry_while_busy`].
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);
/// Pause between two tries of a command that failed with "busy".
const BUSY_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A failed tool run: the command line and what the tool said.
#[derive(Debug, thiserror::Error)]
#[error("{command} failed: {stderr}")]
pub struct CliFailure {
    /// The command line, for messages.
    pub command: String,
    /// The tool's standard error (or the spawn error).
    pub stderr: String,
}

impl CliFailure {
    /// Whether the tool's message contains any of `phrases` (lower case), ignoring case.
    pub fn said(&self, phrases: &[&str]) -> bool {
        let s = self.stderr.to_ascii_lowercase();
        phrases.iter().any(|p| s.contains(p))
    }

    /// Whether the tool said the object (dataset, device, mount) is busy.
    pub fn is_busy(&self) -> bool {
        self.said(&["busy"])
    }
}

impl From<CliFailure> for DriverError {
    fn from(f: CliFailure) -> Self {
        DriverError::Command {
            command: f.command,
            stderr: f.stderr,
        }
    }
}

/// Find `name` in `PATH`, then in the usual system directories.
pub fn locate(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Locate `name` or fail with `Unsupported` for `driver`, saying what to install.
pub fn require(name: &str, driver: &'static str, install: &str) -> Result<PathBuf, DriverError> {
    locate(name).ok_or_else(|| DriverError::Unsupported {
        driver,
        reason: format!(
            "the `{name}` command was not found in PATH or /usr/sbin, /sbin (install {install})"
        ),
    })
}

/// How to run a tool: extra environment, and a deadline after which it is killed and the call
/// fails (with `wedged_hint` added to the message).
#[derive(Clone, Copy, Debug)]
pub struct RunOpts {
    pub env: &'static [(&'static str, &'static str)],
    pub deadline: Option<Duration>,
    pub wedged_hint: &'static str,
}

/// Run `tool ARGS...` with `LC_ALL=C`; its standard output on success.
pub fn run(tool: &Path, args: &[&str], opts: RunOpts) -> Result<String, CliFailure> {
    let command = format!(
        "{} {}",
        tool.file_name().and_then(|n| n.to_str()).unwrap_or("tool"),
        args.join(" ")
    );
    let started = Instant::now();
    let mut cmd = Command::new(tool);
    cmd.args(args).env("LC_ALL", "C");
    for (key, value) in opts.env {
        cmd.env(key, value);
    }
    let output = match opts.deadline {
        Some(limit) => crate::fsutil::deadline::output_within(&mut cmd, limit),
        None => cmd.output(),
    }
    .map_err(|e| CliFailure {
        command: command.clone(),
        stderr: if e.kind() == std::io::ErrorKind::TimedOut && !opts.wedged_hint.is_empty() {
            format!("{e} ({})", opts.wedged_hint)
        } else {
            e.to_string()
        },
    })?;
    debug!(%command, elapsed_ms = started.elapsed().as_millis() as u64, "ran");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if stderr.is_empty() {
            stderr = format!("exited with {}", output.status);
        }
        Err(CliFailure { command, stderr })
    }
}

/// Call `attempt` again for a few seconds while it fails with "busy" (a filesystem still
/// finishing an unmount, udev still probing a device); any other outcome is returned at once.
pub fn retry_while_busy<T>(
    mut attempt: impl FnMut() -> Result<T, CliFailure>,
) -> Result<T, CliFailure> {
    let deadline = Instant::now() + BUSY_RETRY_FOR;
    loop {
        match attempt() {
            Err(f) if f.is_busy() && Instant::now() < deadline => {
                debug!(command = %f.command, "busy, trying again");
                std::thread::sleep(BUSY_RETRY_PAUSE);
            }
            Err(f) if f.is_busy() => {
                warn!(command = %f.command, "still busy after {:?}", BUSY_RETRY_FOR);
                return Err(f);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: RunOpts = RunOpts {
        env: &[],
        deadline: None,
        wedged_hint: "",
    };

    #[test]
    fn failures_keep_the_command_and_what_it_said() {
        let sh = locate("sh").expect("sh");
        let f = run(&sh, &["-c", "echo 'Dataset is BUSY' >&2; exit 3"], PLAIN).unwrap_err();
        assert!(f.command.starts_with("sh -c"), "{}", f.command);
        assert!(f.is_busy() && f.said(&["dataset is"]) && !f.said(&["not found"]));
        let silent = run(&sh, &["-c", "exit 4"], PLAIN).unwrap_err();
        assert!(silent.stderr.contains("exited with"), "{}", silent.stderr);
        assert_eq!(run(&sh, &["-c", "echo hi"], PLAIN).unwrap(), "hi\n");
    }

    #[test]
    fn a_deadline_kills_and_says_why() {
        let sh = locate("sh").expect("sh");
        let opts = RunOpts {
            env: &[("STRATA_CLI_TEST", "1")],
            deadline: Some(Duration::from_millis(200)),
            wedged_hint: "is the daemon wedged?",
        };
        let f = run(&sh, &["-c", "sleep 5"], opts).unwrap_err();
        assert!(f.stderr.contains("is the daemon wedged?"), "{}", f.stderr);
        assert_eq!(
            run(&sh, &["-c", "echo $STRATA_CLI_TEST"], opts).unwrap(),
            "1\n"
        );
    }

    #[test]
    fn busy_is_retried_and_other_failures_are_not() {
        let mut tries = 0;
        let out = retry_while_busy(|| {
            tries += 1;
            if tries < 3 {
                Err(CliFailure {
                    command: "x".into(),
                    stderr: "busy".into(),
                })
            } else {
                Ok(tries)
            }
        });
        assert_eq!(out.unwrap(), 3);
        let mut tries = 0;
        let out: Result<(), _> = retry_while_busy(|| {
            tries += 1;
            Err(CliFailure {
                command: "x".into(),
                stderr: "no such thing".into(),
            })
        });
        assert!(out.is_err());
        assert_eq!(tries, 1);
    }
}
