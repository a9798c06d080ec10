//! The interactive and detached `docker run` surface through the stock docker CLI: `run -it`
//! under a real pseudo-terminal (exit code, output, terminal size and resizes, Ctrl-C reaching
//! the shell, ctrl-p ctrl-q detaching without stopping, `attach` again with default and custom
//! detach keys), `run -d` with `--name` and `--rm`, `start -a [-i]`, signals forwarded by the
//! CLI without a tty, and `--entrypoint`/CMD/`-e`/`--env-file`/`-w`/`-u`/`--hostname` as Docker.

mod interactive_support;

use anyhow::{ensure, Context, Result};
use interactive_support::{
    cli_config_dir, docker_command, docker_shell_line, run_in_pty, send_signal, strata_bin,
    wait_child, wait_for, LineReader, Tmux, WAIT,
};
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::TestImage;

const IMAGE: &str = "strata-test/interactive:1";
/// The same image with `ENTRYPOINT ["/bin/echo", "ep"]` and `CMD ["default"]`.
const EP_IMAGE: &str = "strata-test/entrypoint:1";

/// A daemon on overlay2 with the test image loaded.
fn daemon(work: &std::path::Path) -> Result<StrataDaemon> {
    let d = StrataDaemon::start(strata_bin(), "overlay2")?;
    let archive = work.join("image.tar");
    TestImage::busybox(IMAGE).build_docker_archive(&archive)?;
    d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    Ok(d)
}

/// `POST path` (without a body) on the daemon's socket: the status code and the body.
fn api_post(d: &StrataDaemon, path: &str) -> Result<(u16, String)> {
    d.api("POST", path, None)
}

/// Whether process `parent` has a child whose command line is `cmdline` (NUL-separated).
fn child_running(parent: i64, cmdline: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let dir = e.path();
        let ppid = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|stat| {
                // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
                let rest = stat.rsplit_once(')')?.1;
                rest.split_whitespace().nth(1)?.parse::<i64>().ok()
            });
        ppid == Some(parent) && std::fs::read(dir.join("cmdline")).is_ok_and(|c| c == cmdline)
    })
}

fn ensure_gone(d: &StrataDaemon, name: &str) -> Result<()> {
    let out = d.docker(["inspect", name]);
    ensure!(
        out.code() != 0 && out.stderr_text().contains("No such object"),
        "{name} should be gone: {}",
        out.describe()
    );
    Ok(())
}

#[test]
fn run_it_in_a_real_pty_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let config = cli_config_dir(work.path())?;
    let d = daemon(work.path())?;

    // What is typed reaches the shell, its output comes back raw, its exit code is the CLI's.
    let run = run_in_pty(
        &d,
        &config,
        &["run", "-it", "--rm", IMAGE, "sh"],
        b"echo hi-from-tty; exit 7\r",
    )?;
    ensure!(
        run.code == 7,
        "docker run -it exits with the shell's 7; terminal:\n{}",
        run.output
    );
    ensure!(
        run.lines().iter().any(|l| l == "hi-from-tty"),
        "the shell's output line is on the terminal:\n{:?}",
        run.output
    );
    ensure!(
        run.output.contains("hi-from-tty\r\n"),
        "tty output keeps the terminal's CRLF: {:?}",
        run.output
    );
    let left = d.docker_ok(["ps", "-a", "-q"])?;
    ensure!(left.trim().is_empty(), "--rm removed it: {left:?}");

    // -e, -w, -u, --hostname and the tty's TERM, seen from an interactive shell.
    let run = run_in_pty(
        &d,
        &config,
        &[
            "run",
            "-it",
            "--rm",
            "-e",
            "GREETING=hello there",
            "-w",
            "/made/here",
            "-u",
            "1234:77",
            "--hostname",
            "box1",
            IMAGE,
            "sh",
        ],
        b"echo \"v=[$GREETING] $(pwd) $(id -u):$(id -g) $(hostname) $TERM\"; exit\r",
    )?;
    ensure!(run.code == 0, "exit code: {}\n{}", run.code, run.output);
    ensure!(
        run.lines()
            .iter()
            .any(|l| l == "v=[hello there] /made/here 1234:77 box1 xterm"),
        "environment, workdir, user and hostname inside the tty:\n{:?}",
        run.output
    );
    Ok(())
}

#[test]
fn tty_resize_ctrl_c_detach_and_attach_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let config = cli_config_dir(work.path())?;
    let d = daemon(work.path())?;

    let prompt = |l: &str| l.trim_end().ends_with('#');
    let tmux = Tmux::start(
        "run",
        91,
        27,
        &docker_shell_line(&d, &config, &["run", "-it", "--name", "tty1", IMAGE, "sh"]),
    )?;
    tmux.wait_line("the shell's prompt", prompt)?;

    // The container's terminal has the CLI's size, and follows a window change.
    tmux.type_line("busybox stty size")?;
    tmux.wait_line("the initial size 27 91", |l| l.trim() == "27 91")?;
    tmux.resize(120, 40)?;
    // The CLI notices SIGWINCH asynchronously: ask until the new size shows.
    wait_for(
        "stty size to show 40 120 after the resize",
        WAIT,
        || {
            if tmux.count_lines("40 120")? > 0 {
                return Ok(Some(()));
            }
            tmux.type_line("busybox stty size")?;
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(None)
        },
        || format!("screen:\n{}", tmux.screen().unwrap_or_default()),
    )?;

    // Ctrl-C goes through the terminal to the foreground process, not to the container.
    let shell_pid = d.inspect("tty1")?["State"]["Pid"]
        .as_i64()
        .context("State.Pid")?;
    tmux.type_line("sleep 600")?;
    wait_for(
        "sleep 600 to run under the container's shell",
        WAIT,
        || Ok(child_running(shell_pid, b"sleep\x00600\x00").then_some(())),
        || format!("screen:\n{}", tmux.screen().unwrap_or_default()),
    )?;
    tmux.send_keys(&["C-c"])?;
    tmux.type_line("echo after-$?")?;
    tmux.wait_line("sleep interrupted by Ctrl-C (130)", |l| {
        l.trim() == "after-130"
    })?;

    // ctrl-p ctrl-q detaches the CLI; the container keeps running.
    tmux.send_keys(&["C-p", "C-q"])?;
    tmux.wait_line("docker run to end after the detach keys", |l| {
        l.contains("EXIT=")
    })?;
    let state = d.inspect("tty1")?["State"].clone();
    ensure!(
        state["Running"] == true,
        "detaching left it running: {state}"
    );
    drop(tmux);

    // attach with custom detach keys: the shell is still the same one, and ctrl-x x detaches.
    let tmux = Tmux::start(
        "attach1",
        80,
        24,
        &docker_shell_line(
            &d,
            &config,
            &["attach", "--detach-keys", "ctrl-x,x", "tty1"],
        ),
    )?;
    tmux.type_line("echo attached-$((6*7))")?;
    tmux.wait_line("the shell answering through attach", |l| {
        l.trim() == "attached-42"
    })?;
    // ctrl-p ctrl-q are plain input now (ash recalls history with ctrl-p): still attached.
    tmux.send_keys(&["C-p", "C-q"])?;
    tmux.send_keys(&["C-c"])?;
    tmux.type_line("echo still-$((2+3))")?;
    tmux.wait_line("the shell answering after ctrl-p ctrl-q", |l| {
        l.trim() == "still-5"
    })?;
    tmux.send_keys(&["C-x", "x"])?;
    tmux.wait_line("docker attach to end after ctrl-x x", |l| {
        l.contains("EXIT=")
    })?;
    let state = d.inspect("tty1")?["State"].clone();
    ensure!(
        state["Running"] == true,
        "ctrl-x x detached and left it running: {state}"
    );
    drop(tmux);

    // attach again (default keys) and end the shell: the CLI reports its exit code.
    let tmux = Tmux::start(
        "attach2",
        80,
        24,
        &docker_shell_line(&d, &config, &["attach", "tty1"]),
    )?;
    tmux.type_line("echo again-$((1+1))")?;
    tmux.wait_line("the shell answering the second attach", |l| {
        l.trim() == "again-2"
    })?;
    tmux.type_line("exit 9")?;
    tmux.wait_line("docker attach to report exit code 9", |l| {
        l.trim().ends_with("EXIT=9")
    })?;
    let state = d.inspect("tty1")?["State"].clone();
    ensure!(
        state["Status"] == "exited" && state["ExitCode"] == 9,
        "after exit 9: {state}"
    );
    drop(tmux);

    // An unknown detach key is refused before the upgrade, as dockerd does: the CLI can only
    // report the status, the API answer carries dockerd's message.
    let bad = d.docker(["start", "-ai", "--detach-keys", "ctrl-nope", "tty1"]);
    ensure!(
        bad.code() != 0 && bad.stderr_text().contains("received 400"),
        "bad detach keys through the CLI: {}",
        bad.describe()
    );
    let (status, body) = api_post(
        &d,
        "/containers/tty1/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-nope",
    )?;
    ensure!(
        status == 400 && body.contains("Invalid detach keys (ctrl-nope) provided"),
        "bad detach keys through the API: {status} {body}"
    );
    d.docker_ok(["rm", "-f", "tty1"])?;
    Ok(())
}

#[test]
fn detached_named_rm_and_start_attach_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = daemon(work.path())?;

    // run -d prints the id and returns while the container runs; --rm removes it at its exit.
    let id = d.docker_ok([
        "run",
        "-d",
        "--rm",
        "--name",
        "det",
        IMAGE,
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.1; done",
    ])?;
    let id = id.trim();
    ensure!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "run -d prints the full id: {id:?}"
    );
    let ps = d.docker_ok(["ps", "--format", "{{.ID}} {{.Names}}"])?;
    ensure!(
        ps.lines().any(|l| l == format!("{} det", &id[..12])),
        "docker ps shows it by name:\n{ps}"
    );
    let merged = d.inspect("det")?["GraphDriver"]["Data"]["MergedDir"]
        .as_str()
        .context("MergedDir")?
        .to_string();
    std::fs::write(std::path::Path::new(&merged).join("tmp/go"), b"")?;
    wait_for(
        "the detached --rm container to be removed after its exit",
        WAIT,
        || Ok((d.docker(["inspect", "det"]).code() != 0).then_some(())),
        || d.docker(["ps", "-a"]).stdout_text(),
    )?;
    ensure_gone(&d, "det")?;
    ensure_gone(&d, id)?;

    // A name in use is a conflict.
    d.docker_ok(["create", "--name", "taken", IMAGE, "true"])?;
    let dup = d.docker(["create", "--name", "taken", IMAGE, "true"]);
    ensure!(
        dup.code() != 0 && dup.stderr_text().contains("is already in use"),
        "duplicate name: {}",
        dup.describe()
    );

    // start -a: streams kept apart, the exit code passed through, again on a second start.
    d.docker_ok([
        "create",
        "--name",
        "sa",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    ])?;
    for round in 1..=2 {
        let out = d.docker(["start", "-a", "sa"]);
        ensure!(
            out.code() == 4 && out.stdout_text() == "out\n" && out.stderr_text() == "err\n",
            "start -a (round {round}): {}",
            out.describe()
        );
    }

    // start -ai: stdin reaches the container.
    d.docker_ok([
        "create",
        "-i",
        "--name",
        "sai",
        IMAGE,
        "sh",
        "-c",
        "read x; echo got-$x; exit 5",
    ])?;
    let out = d.docker_with_stdin(["start", "-ai", "sai"], b"hello\n");
    ensure!(
        out.code() == 5 && out.stdout_text() == "got-hello\n",
        "start -ai: {}",
        out.describe()
    );
    d.docker_ok(["rm", "taken", "sa", "sai"])?;
    Ok(())
}

#[test]
fn signals_are_forwarded_without_a_tty_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let config = cli_config_dir(work.path())?;
    let d = daemon(work.path())?;
    let script = "trap 'echo got-int; exit 42' INT; trap 'echo got-term; exit 43' TERM; \
                  echo ready; while true; do sleep 0.1; done";
    for (signal, said, code) in [("INT", "got-int", 42), ("TERM", "got-term", 43)] {
        let name = format!("sig-{}", signal.to_ascii_lowercase());
        let mut run = LineReader::spawn(
            docker_command(
                &d,
                &config,
                &["run", "--name", &name, IMAGE, "sh", "-c", script],
            ),
            &work.path().join(format!("{name}.err")),
        )?;
        run.wait_line("ready", WAIT, |l| l == "ready")?;
        send_signal(run.child.id(), signal)?;
        run.wait_line(said, WAIT, |l| l == said)?;
        let status = wait_child(&mut run.child, "docker run", WAIT)?;
        ensure!(
            status.code() == Some(code),
            "SIG{signal} to the CLI reached the container, which exited {code}; the CLI: {status}"
        );
        let state = d.inspect(&name)?["State"].clone();
        ensure!(state["ExitCode"] == code, "recorded exit: {state}");
        d.docker_ok(["rm", &name])?;
    }
    Ok(())
}

#[test]
fn entrypoint_cmd_and_environment_as_docker_overlay2() -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = daemon(work.path())?;
    d.docker_ok(["create", "--name", "base", IMAGE, "true"])?;
    d.docker_ok([
        "commit",
        "--change",
        r#"ENTRYPOINT ["/bin/echo", "ep"]"#,
        "--change",
        r#"CMD ["default"]"#,
        "base",
        EP_IMAGE,
    ])?;
    d.docker_ok(["rm", "base"])?;

    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        d.docker(all)
    };
    // (flags and arguments, what it prints)
    let cases: [(&[&str], &str); 6] = [
        (&[EP_IMAGE], "ep default\n"),
        (&[EP_IMAGE, "a", "b"], "ep a b\n"),
        // Overriding the entrypoint drops the image's CMD.
        (&["--entrypoint", "/bin/echo", EP_IMAGE], "\n"),
        (&["--entrypoint", "/bin/echo", EP_IMAGE, "x"], "x\n"),
        // `--entrypoint ''` resets it: the arguments are the whole command.
        (&["--entrypoint", "", EP_IMAGE, "echo", "y"], "y\n"),
        // Without an entrypoint the image's CMD is the command.
        (&[IMAGE, "echo", "plain"], "plain\n"),
    ];
    for (args, expected) in cases {
        let out = run(args);
        ensure!(
            out.code() == 0 && out.stdout_text() == expected,
            "docker run --rm {args:?} should print {expected:?}: {}",
            out.describe()
        );
    }
    let out = run(&["--entrypoint", "", EP_IMAGE]);
    ensure!(
        out.code() == 125 && out.stderr_text().contains("no command specified"),
        "--entrypoint '' without arguments has no command: {}",
        out.describe()
    );
    d.docker_ok([
        "create",
        "--name",
        "reset",
        "--entrypoint",
        "",
        EP_IMAGE,
        "echo",
        "z",
    ])?;
    let c = d.inspect("reset")?;
    ensure!(
        c["Config"]["Entrypoint"].is_null()
            && c["Config"]["Cmd"] == serde_json::json!(["echo", "z"])
            && c["Path"] == "echo"
            && c["Args"] == serde_json::json!(["z"]),
        "inspect after --entrypoint '': Entrypoint {} Cmd {} Path {} Args {}",
        c["Config"]["Entrypoint"],
        c["Config"]["Cmd"],
        c["Path"],
        c["Args"]
    );
    d.docker_ok(["rm", "reset"])?;

    // -e (with a value, and by name from the CLI's environment) and --env-file (expanded by the
    // CLI: comments skipped, values kept whole, bare names taken from the CLI's environment).
    let env_file = work.path().join("env.list");
    std::fs::write(
        &env_file,
        "# a comment\nFROM_FILE=two words\nFROM_CLIENT_FILE\n",
    )?;
    let config = cli_config_dir(work.path())?;
    let out = docker_command(
        &d,
        &config,
        &[
            "run",
            "--rm",
            "-e",
            "SET=1",
            "-e",
            "FROM_CLIENT",
            "--env-file",
            env_file.to_str().context("utf-8 path")?,
            "-w",
            "/srv/app",
            "-u",
            "nobody",
            "--hostname",
            "named-host",
            IMAGE,
            "sh",
            "-c",
            r#"echo "$SET|$FROM_CLIENT|$FROM_FILE|$FROM_CLIENT_FILE|$(pwd)|$(id -un):$(id -u):$(id -g)|$(hostname)|$HOSTNAME""#,
        ],
    )
    .env("FROM_CLIENT", "cli value")
    .env("FROM_CLIENT_FILE", "file value")
    .output()?;
    ensure!(
        out.code() == 0
            && out.stdout_text()
                == "1|cli value|two words|file value|/srv/app|nobody:65534:65534|named-host|named-host\n",
        "environment, workdir, user, hostname: {}",
        out.describe()
    );
    // Without --hostname the hostname is the short id.
    let out = d.docker_ok(["run", "--name", "host-id", IMAGE, "hostname"])?;
    let id = d.inspect("host-id")?["Id"]
        .as_str()
        .context("Id")?
        .to_string();
    ensure!(
        out.trim() == &id[..12],
        "default hostname {out:?} vs id {id}"
    );
    d.docker_ok(["rm", "host-id"])?;
    Ok(())
}
