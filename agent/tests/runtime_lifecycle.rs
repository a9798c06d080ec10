//! Containers run by real runc through the shim: output, exit codes, the json-file log, stdin,
//! signals, runc's errors, `--init`, users, tty, loopback, OOM and runtime state.

mod runtime_support;

use bytes::Bytes;
use runtime_support::*;
use strata_agent::model::{Resources, StdStream};
use strata_agent::runtime::shim_client::{self, connect, launch, shim_alive, ShimEvent};
use strata_agent::runtime::RuntimeError;

#[tokio::test]
async fn output_streams_exit_code_and_json_log() {
    let sb = Sandbox::new("output");
    sb.write_bundle(&sb.spec(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    let handle = launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    assert!(handle.container_pid > 0 && handle.shim_pid > 0);
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    assert!(conn.stdin.is_none(), "no stdin was asked for");
    sb.runtime().start(&sb.id).await.expect("start");

    let events = events_until_exit(&mut conn).await;
    // stdout and stderr are separate pipes: their relative order is not guaranteed, the
    // content of each is, and the exit comes last.
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(
        events.contains(&ShimEvent::Output(
            StdStream::Stdout,
            Bytes::from_static(b"out\n")
        )),
        "{events:?}"
    );
    assert!(
        events.contains(&ShimEvent::Output(
            StdStream::Stderr,
            Bytes::from_static(b"err\n")
        )),
        "{events:?}"
    );
    assert_eq!(exit_code(&events), 3);
    let ShimEvent::Exited(exit) = events.last().unwrap().clone() else {
        unreachable!()
    };
    assert!(!exit.oom_killed);
    assert!(
        exit.finished_at.ends_with('Z') && exit.finished_at.contains('T'),
        "{}",
        exit.finished_at
    );
    assert_eq!(
        conn.events.recv().await,
        None,
        "the connection closes after the exit"
    );

    let mut log = sb.log_entries();
    log.sort();
    assert_eq!(
        log,
        vec![
            ("stderr".to_string(), "err\n".to_string()),
            ("stdout".to_string(), "out\n".to_string())
        ]
    );
    assert_eq!(
        shim_client::read_exit_file(&sb.state_dir),
        Some(exit.clone())
    );
    assert!(
        !shim_alive(&sb.state_dir),
        "the shim is gone once the container exited"
    );

    // A client arriving after the end reads the exit file.
    let mut late = connect(&sb.state_dir).await.expect("connect after exit");
    assert_eq!(late.events.recv().await, Some(ShimEvent::Exited(exit)));
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn stdin_reaches_cat_and_closing_it_ends_cat() {
    let sb = Sandbox::new("stdin");
    sb.write_bundle(&sb.spec(&["cat"]));
    launch(&strata_bin(), &sb.shim_config(false, true))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    let stdin = conn.stdin.take().expect("stdin is open");
    stdin
        .send(Bytes::from_static(b"hello shim\n"))
        .await
        .expect("send stdin");
    let mut echoed = Vec::new();
    while echoed != b"hello shim\n" {
        match tokio::time::timeout(HANG_GUARD, conn.events.recv()).await {
            Ok(Some(ShimEvent::Output(StdStream::Stdout, b))) => echoed.extend_from_slice(&b),
            other => panic!("expected cat's echo, got {other:?} after {echoed:?}"),
        }
    }
    drop(stdin);
    let events = events_until_exit(&mut conn).await;
    assert_eq!(
        exit_code(&events),
        0,
        "cat ends at end of input: {events:?}"
    );
    assert_eq!(
        sb.log_entries(),
        vec![("stdout".to_string(), "hello shim\n".to_string())]
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn sigkill_gives_137() {
    let sb = Sandbox::new("kill");
    sb.write_bundle(&sb.spec(&["sleep", "1000"]));
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    let runtime = sb.runtime();
    runtime.start(&sb.id).await.expect("start");
    runtime
        .kill(&sb.id, libc::SIGKILL, false)
        .await
        .expect("kill");
    let events = events_until_exit(&mut conn).await;
    assert_eq!(exit_code(&events), 137);
    runtime.delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn shim_survives_its_client_and_later_connects_get_the_exit() {
    let sb = Sandbox::new("reconnect");
    sb.write_bundle(&sb.gated_spec(7));
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let first = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    drop(first);
    assert!(shim_alive(&sb.state_dir), "the shim outlives its client");
    let mut second = connect(&sb.state_dir).await.expect("second connect");
    sb.release();
    let events = events_until_exit(&mut second).await;
    assert_eq!(
        events[..events.len() - 1],
        [ShimEvent::Output(
            StdStream::Stdout,
            Bytes::from_static(b"bye\n")
        )]
    );
    assert_eq!(exit_code(&events), 7);
    let mut third = connect(&sb.state_dir).await.expect("connect after exit");
    assert_eq!(
        exit_code(&[third.events.recv().await.expect("exit from the file")]),
        7
    );
    assert_eq!(third.events.recv().await, None);
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn runtime_state_follows_the_lifecycle() {
    let sb = Sandbox::new("state");
    sb.write_bundle(&sb.spec(&["sleep", "1000"]));
    let runtime = sb.runtime();
    assert_eq!(
        runtime.state(&sb.id).await.expect("state"),
        None,
        "unknown before create"
    );
    let handle = launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let created = runtime
        .state(&sb.id)
        .await
        .expect("state")
        .expect("known after create");
    assert_eq!(
        (created.status.as_str(), created.pid),
        ("created", handle.container_pid as i64)
    );
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    runtime.start(&sb.id).await.expect("start");
    assert_eq!(
        runtime.state(&sb.id).await.unwrap().unwrap().status,
        "running"
    );
    runtime.pause(&sb.id).await.expect("pause");
    assert_eq!(
        runtime.state(&sb.id).await.unwrap().unwrap().status,
        "paused"
    );
    runtime.resume(&sb.id).await.expect("resume");
    assert_eq!(
        runtime.state(&sb.id).await.unwrap().unwrap().status,
        "running"
    );
    // (PID 1 of a pid namespace ignores signals it has no handler for, such as SIGTERM.)
    runtime
        .kill(&sb.id, libc::SIGKILL, true)
        .await
        .expect("kill --all");
    let events = events_until_exit(&mut conn).await;
    assert_eq!(exit_code(&events), 137);
    assert_eq!(
        runtime.state(&sb.id).await.unwrap().unwrap().status,
        "stopped"
    );
    runtime.delete(&sb.id, false).await.expect("delete");
    assert_eq!(
        runtime.state(&sb.id).await.expect("state"),
        None,
        "unknown after delete"
    );
    runtime
        .delete(&sb.id, false)
        .await
        .expect("deleting twice is fine");
    let err = runtime
        .start(&sb.id)
        .await
        .expect_err("start of a deleted container");
    assert!(err.to_string().contains("does not exist"), "{err}");
    sb.finish();
}

#[tokio::test]
async fn missing_executable_fails_launch_with_runcs_message() {
    for (name, cmd, expected) in [
        ("abs", "/nonexistent", "/nonexistent"),
        (
            "path",
            "nosuchcmd",
            "exec: \"nosuchcmd\": executable file not found in $PATH",
        ),
    ] {
        let sb = Sandbox::new(&format!("badcmd-{name}"));
        sb.write_bundle(&sb.spec(&[cmd]));
        let err = launch(&strata_bin(), &sb.shim_config(false, false))
            .await
            .expect_err("launch must fail");
        assert!(
            matches!(err, RuntimeError::Runtime { ref action, .. } if action == "create"),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(expected),
            "error {err} should contain {expected:?}"
        );
        assert!(!shim_alive(&sb.state_dir));
        assert_eq!(
            sb.runtime().state(&sb.id).await.expect("state"),
            None,
            "runc kept nothing"
        );
        sb.finish();
    }
}

#[tokio::test]
async fn init_makes_tini_pid_1() {
    let sb = Sandbox::new("init");
    assert!(
        std::path::Path::new(TINI).is_file(),
        "{TINI} is missing: install tini (apt-get install tini)"
    );
    let mut spec = sb.spec(&["cat", "/proc/1/cmdline"]);
    spec.init = Some(TINI.into());
    sb.write_bundle(&spec);
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    let events = events_until_exit(&mut conn).await;
    assert_eq!(exit_code(&events), 0, "{events:?}");
    let cmdline = stream_bytes(&events, StdStream::Stdout);
    assert_eq!(
        cmdline,
        b"/sbin/docker-init\0--\0cat\0/proc/1/cmdline\0",
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn user_forms_reach_the_process() {
    for (name, user, expected) in [
        // Supplementary groups are the ones listing the user (busybox `id` shows getgroups()).
        (
            "named",
            "app",
            "uid=1000(app) gid=1000(app) groups=2000(extra)",
        ),
        ("numeric", "4321:77", "uid=4321 gid=77"),
    ] {
        let sb = Sandbox::new(&format!("user-{name}"));
        let mut spec = sb.spec(&["id"]);
        spec.user = user.into();
        sb.write_bundle(&spec);
        launch(&strata_bin(), &sb.shim_config(false, false))
            .await
            .expect("launch");
        let mut conn = connect(&sb.state_dir).await.expect("connect");
        sb.runtime().start(&sb.id).await.expect("start");
        let events = events_until_exit(&mut conn).await;
        let out = String::from_utf8_lossy(&stream_bytes(&events, StdStream::Stdout))
            .trim()
            .to_string();
        assert_eq!(out, expected, "-u {user}");
        sb.runtime().delete(&sb.id, false).await.expect("delete");
        sb.finish();
    }
}

#[tokio::test]
async fn tty_takes_resize_and_merges_output() {
    let mut sb = Sandbox::new("tty");
    // A state directory too long for a unix socket path: the shim's socket and the console
    // socket must still work.
    sb.state_dir = sb.dir.path().join("d".repeat(90)).join("state");
    // Waits for a line, so the size is read only after our resize reached the shim.
    let mut spec = sb.spec(&["sh", "-c", "read x; stty size; echo to-stderr >&2"]);
    spec.tty = true;
    sb.write_bundle(&spec);
    launch(&strata_bin(), &sb.shim_config(true, true))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    conn.resize.send((33, 101)).await.expect("resize");
    let stdin = conn.stdin.take().expect("stdin is open");
    stdin
        .send(Bytes::from_static(b"go\n"))
        .await
        .expect("stdin");
    let events = events_until_exit(&mut conn).await;
    assert_eq!(exit_code(&events), 0, "{events:?}");
    assert!(
        stream_bytes(&events, StdStream::Stderr).is_empty(),
        "a tty has one stream"
    );
    let out = String::from_utf8_lossy(&stream_bytes(&events, StdStream::Stdout)).to_string();
    assert!(
        out.contains("33 101\r\n"),
        "stty sees the size we set: {out:?}"
    );
    assert!(
        out.contains("to-stderr\r\n"),
        "stderr goes to the terminal too: {out:?}"
    );
    assert!(
        sb.state_dir.join("shim.sock").as_os_str().len() > 108,
        "the path was really too long"
    );
    drop(stdin);
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn new_network_namespace_has_loopback_up() {
    let sb = Sandbox::new("lo");
    sb.write_bundle(&sb.spec(&["ip", "-o", "link", "show"]));
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    let events = events_until_exit(&mut conn).await;
    let out = String::from_utf8_lossy(&stream_bytes(&events, StdStream::Stdout)).to_string();
    let links: Vec<&str> = out.lines().collect();
    assert_eq!(links.len(), 1, "only loopback: {out}");
    assert!(
        links[0].contains("lo:") && links[0].contains(",UP"),
        "loopback is up: {out}"
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn memory_limit_oom_kill_is_reported() {
    let sb = Sandbox::new("oom");
    // The shell buffers a command substitution in memory: 64 MiB against a 16 MiB limit.
    let mut spec = sb.spec(&[
        "sh",
        "-c",
        "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived",
    ]);
    spec.resources = Resources {
        memory: 16 << 20,
        memory_swap: 16 << 20,
        ..Default::default()
    };
    sb.write_bundle(&spec);
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    let events = events_until_exit(&mut conn).await;
    let ShimEvent::Exited(exit) = events.last().unwrap() else {
        unreachable!()
    };
    assert!(exit.oom_killed, "the OOM kill is reported: {events:?}");
    assert!(
        !String::from_utf8_lossy(&stream_bytes(&events, StdStream::Stdout)).contains("survived")
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}

#[tokio::test]
async fn large_output_arrives_complete_and_in_order() {
    let sb = Sandbox::new("bulk");
    let script = "i=0; while [ $i -lt 5000 ]; do echo line-$i; i=$((i+1)); done; \
                  head -c 4194304 /dev/zero | tr '\\0' z";
    sb.write_bundle(&sb.spec(&["sh", "-c", script]));
    launch(&strata_bin(), &sb.shim_config(false, false))
        .await
        .expect("launch");
    let mut conn = connect(&sb.state_dir).await.expect("connect");
    sb.runtime().start(&sb.id).await.expect("start");
    let events = events_until_exit(&mut conn).await;
    assert_eq!(exit_code(&events), 0);
    let mut expected: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line-{i}\n").into_bytes())
        .collect();
    expected.extend(std::iter::repeat_n(b'z', 4 << 20));
    let got = stream_bytes(&events, StdStream::Stdout);
    assert_eq!(got.len(), expected.len());
    assert!(
        got == expected,
        "stdout differs from what the container wrote"
    );
    let logged: Vec<u8> = sb
        .log_entries()
        .into_iter()
        .filter(|(stream, _)| stream == "stdout")
        .flat_map(|(_, log)| log.into_bytes())
        .collect();
    assert!(
        logged == expected,
        "the json-file log holds every byte, in order"
    );
    sb.runtime().delete(&sb.id, false).await.expect("delete");
    sb.finish();
}
