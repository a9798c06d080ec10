//! The shim outlives the agent that launched it: an "agent" process (this test binary run
//! again in agent role) launches a shim and is SIGKILLed; the container keeps running, a new
//! client connects to the orphaned shim and gets the output and the exit.
//!
//! Its own test binary: it makes the test process a child subreaper (so the orphaned shim is
//! reparented here and can be reaped), which must not affect other tests.

mod runtime_support;

use std::path::PathBuf;

use bytes::Bytes;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use runtime_support::*;
use strata_agent::model::StdStream;
use strata_agent::runtime::shim_client::{connect, launch, shim_alive, ShimConfig, ShimEvent};

const TEST_NAME: &str = "shim_outlives_the_agent_process";
const ROLE_ENV: &str = "STRATA_RT_AGENT_ROLE";

#[tokio::test]
async fn shim_outlives_the_agent_process() {
    if let Ok(config) = std::env::var(ROLE_ENV) {
        return play_the_agent(&config).await;
    }
    nix::sys::prctl::set_child_subreaper(true).expect("becoming a child subreaper");
    let sb = Sandbox::new("detach");
    sb.write_bundle(&sb.gated_spec(5));
    let config = sb.shim_config(false, false);
    let encoded = [
        config.id.clone(),
        config.bundle_dir.display().to_string(),
        config.runtime_binary.clone(),
        config.runtime_root.display().to_string(),
        config.state_dir.display().to_string(),
        config.log_path.display().to_string(),
    ]
    .join("\n");

    let agent = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, encoded)
        .env("STRATA_BIN", strata_bin())
        .output()
        .expect("running the agent role");
    let stdout = String::from_utf8_lossy(&agent.stdout);
    // libtest prints "test NAME ... " on the same line before our output.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("LAUNCHED ").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!(
                "agent role did not launch: {stdout}\n{}",
                String::from_utf8_lossy(&agent.stderr)
            )
        });
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&agent.status),
        Some(libc::SIGKILL),
        "the agent died by SIGKILL"
    );
    let shim_pid: i32 = line
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("shim pid");

    assert!(shim_alive(&sb.state_dir), "the shim survived its agent");
    assert_eq!(
        nix::unistd::getsid(Some(Pid::from_raw(shim_pid))).expect("getsid"),
        Pid::from_raw(shim_pid)
    );
    let stat = std::fs::read_to_string(format!("/proc/{shim_pid}/stat")).expect("shim stat");
    let ppid: u32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        ppid,
        std::process::id(),
        "the orphaned shim was reparented to the subreaper"
    );

    let mut conn = connect(&sb.state_dir)
        .await
        .expect("connect to the orphaned shim");
    sb.runtime().start(&sb.id).await.expect("start");
    sb.release();
    let events = events_until_exit(&mut conn).await;
    assert_eq!(
        events[..events.len() - 1],
        [ShimEvent::Output(
            StdStream::Stdout,
            Bytes::from_static(b"bye\n")
        )]
    );
    assert_eq!(exit_code(&events), 5);
    let status = tokio::task::spawn_blocking(move || waitpid(Pid::from_raw(shim_pid), None))
        .await
        .expect("join")
        .expect("waitpid on the shim");
    assert_eq!(
        status,
        WaitStatus::Exited(Pid::from_raw(shim_pid), 0),
        "the shim exits cleanly"
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

/// Agent role: launch the shim, say so, die without any cleanup.
async fn play_the_agent(encoded: &str) {
    let f: Vec<&str> = encoded.split('\n').collect();
    let config = ShimConfig {
        id: f[0].to_string(),
        bundle_dir: PathBuf::from(f[1]),
        runtime_binary: f[2].to_string(),
        runtime_root: PathBuf::from(f[3]),
        state_dir: PathBuf::from(f[4]),
        log_path: PathBuf::from(f[5]),
        tty: false,
        stdin: false,
    };
    let handle = launch(&strata_bin(), &config)
        .await
        .expect("launch in the agent role");
    println!("LAUNCHED {} {}", handle.shim_pid, handle.container_pid);
    let _ = nix::sys::signal::kill(Pid::this(), nix::sys::signal::Signal::SIGKILL);
}
