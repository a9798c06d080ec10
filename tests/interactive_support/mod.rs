//! Helpers shared by `e2e_interactive.rs` and `e2e_outlive.rs`: the docker CLI run as a long-lived
//! process (under a pty through `script`, inside a tmux session, or with its output read line by
//! line), bounded waits, and the test image.
//!
//! Every wait here is bounded and fails with what it saw; none asserts speed.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::which;

/// Upper bound of every wait for something the CLI or a container should do.
pub const WAIT: Duration = Duration::from_secs(60);

/// The `strata` binary under test.
pub fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// `value` quoted for `sh`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r#"'\''"#))
}

/// The environment that points the docker CLI at `d`, as `KEY=value` words for `env`.
pub fn docker_env(d: &StrataDaemon, config_dir: &Path) -> Vec<String> {
    vec![
        format!("DOCKER_HOST={}", d.host()),
        format!("DOCKER_CONFIG={}", config_dir.display()),
        "DOCKER_CLI_HINTS=false".to_string(),
    ]
}

/// A shell command line that runs `docker args...` against `d`.
pub fn docker_shell_line(d: &StrataDaemon, config_dir: &Path, args: &[&str]) -> String {
    let mut words = vec!["env".to_string(), "-u".into(), "DOCKER_CONTEXT".into()];
    words.extend(docker_env(d, config_dir).iter().map(|w| shell_quote(w)));
    words.push("docker".into());
    words.extend(args.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

/// A `docker` command against `d`, for callers that need the process itself.
pub fn docker_command(d: &StrataDaemon, config_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", config_dir)
        .env("DOCKER_CLI_HINTS", "false")
        .env_remove("DOCKER_CONTEXT")
        .args(args);
    cmd
}

/// Poll `check` until it returns `Some`, at most `timeout`; the error says what was awaited and
/// what `describe` shows then.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
    describe: impl Fn() -> String,
) -> Result<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if started.elapsed() > timeout {
            bail!(
                "gave up after {}s waiting for {what}; {}",
                timeout.as_secs(),
                describe()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Send `signal` (a `kill -s` name) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill -s {signal} {pid} failed: {status}");
    }
    Ok(())
}

/// Wait for `child` to exit, at most `timeout`; it is killed when it does not.
pub fn wait_child(child: &mut Child, what: &str, timeout: Duration) -> Result<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for {what}"))?
        {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not exit within {}s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process whose stdout is read line by line on a thread.
pub struct LineReader {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl LineReader {
    /// Spawn `cmd` with stdin null, stdout piped and stderr to `stderr_file`.
    pub fn spawn(mut cmd: Command, stderr_file: &Path) -> Result<Self> {
        let stderr = std::fs::File::create(stderr_file)
            .with_context(|| format!("creating {}", stderr_file.display()))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("spawning the docker CLI")?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Ok(LineReader {
            child,
            lines: rx,
            seen: Vec::new(),
        })
    }

    /// Read lines until one satisfies `wanted` (returned), at most `timeout`.
    pub fn wait_line(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "no line {what} within {}s; lines so far: {:?}",
                    timeout.as_secs(),
                    self.tail()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!(
                    "output ended before a line {what}; lines: {:?}",
                    self.tail()
                ),
            }
        }
    }

    fn tail(&self) -> &[String] {
        &self.seen[self.seen.len().saturating_sub(20)..]
    }
}

impl Drop for LineReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a command run under a pseudo-terminal printed, and how it ended.
pub struct PtyRun {
    /// Everything written to the terminal (with the terminal's `\r\n`).
    pub output: String,
    pub code: i32,
}

impl PtyRun {
    /// The lines of the terminal output, without `\r`.
    pub fn lines(&self) -> Vec<String> {
        self.output
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    }
}

/// Run `docker args...` under a real pseudo-terminal (util-linux `script`), typing `input`
/// into it; the terminal stays open until the CLI exits.
pub fn run_in_pty(
    d: &StrataDaemon,
    config_dir: &Path,
    args: &[&str],
    input: &[u8],
) -> Result<PtyRun> {
    let script = which("script").context(
        "util-linux `script` is needed to give the docker CLI a real terminal (apt-get install bsdutils)",
    )?;
    let line = docker_shell_line(d, config_dir, args);
    let mut child = Command::new(script)
        .args(["-qfec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting script")?;
    let mut stdout = child.stdout.take().context("script's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    // Keep our end of its stdin open until it exits: `script` ends the session when its input
    // ends.
    let mut stdin = child.stdin.take().context("script's stdin")?;
    stdin.write_all(input).context("typing into the terminal")?;
    stdin.flush().ok();
    let status = wait_child(&mut child, "docker under script", WAIT)?;
    drop(stdin);
    let output = reader.join().unwrap_or_default();
    Ok(PtyRun {
        output: String::from_utf8_lossy(&output).into_owned(),
        code: status.code().unwrap_or(-1),
    })
}

/// A detached tmux session (its own server) running one command in a terminal of a given
/// size; the server is killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `command` (a shell line) in a `width`x`height` terminal. After the command ends, the
    /// pane shows `EXIT=<code>` and stays.
    pub fn start(name: &str, width: u16, height: u16, command: &str) -> Result<Self> {
        which("tmux").context(
            "tmux is needed to drive the docker CLI in a resizable terminal (apt-get install tmux)",
        )?;
        let tmux = Tmux {
            socket: format!("strata-e2e-{name}-{}", std::process::id()),
        };
        let line = format!("{command}; echo EXIT=$?; sleep 600");
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            &line,
        ])?;
        Ok(tmux)
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .context("running tmux")?;
        if !out.status.success() {
            bail!(
                "tmux {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Type `keys` (tmux key names, e.g. `Enter`, `C-p`).
    pub fn send_keys(&self, keys: &[&str]) -> Result<()> {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args).map(drop)
    }

    /// Type `text` literally, then Enter.
    pub fn type_line(&self, text: &str) -> Result<()> {
        self.run(&["send-keys", "-t", "t", "-l", text])?;
        self.send_keys(&["Enter"])
    }

    /// Resize the terminal.
    pub fn resize(&self, width: u16, height: u16) -> Result<()> {
        self.run(&[
            "resize-window",
            "-t",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ])
        .map(drop)
    }

    /// The screen and its scrollback, without trailing blank lines.
    pub fn screen(&self) -> Result<String> {
        let text = self.run(&["capture-pane", "-p", "-t", "t", "-S", "-200"])?;
        Ok(text.trim_end().to_string())
    }

    /// Wait until some line on the screen satisfies `wanted`, returning it.
    pub fn wait_line(&self, what: &str, wanted: impl Fn(&str) -> bool) -> Result<String> {
        wait_for(
            what,
            WAIT,
            || {
                Ok(self
                    .screen()?
                    .lines()
                    .find(|l| wanted(l))
                    .map(str::to_string))
            },
            || format!("screen:\n{}", self.screen().unwrap_or_default()),
        )
    }

    /// Lines on the screen equal to `text` (after trimming).
    pub fn count_lines(&self, text: &str) -> Result<usize> {
        Ok(self.screen()?.lines().filter(|l| l.trim() == text).count())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// A per-test directory for the docker CLI's config (nothing in it is needed).
pub fn cli_config_dir(work: &Path) -> Result<PathBuf> {
    let dir = work.join("docker-config");
    std::fs::create_dir_all(&dir).context("creating the docker config dir")?;
    Ok(dir)
}
