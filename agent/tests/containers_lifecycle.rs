//! Container lifecycle against a real engine (vfs and overlay2) and runc: create, attach, start,
//! wait, list, inspect, remove, `--rm`, start failures, stdin.

mod containers_support;

use bytes::Bytes;
use containers_support::*;
use strata_agent::error::ErrorKind;
use strata_agent::model::{
    AttachOptions, ContainerListOptions, ContainerStatus, HostSpec, WaitCondition,
};

async fn streams_and_exit_code(driver: &str) {
    let root = TestRoot::new(driver);
    let engine = root.engine_with_image().await;
    let created = engine
        .create_container(None, spec(&["sh", "-c", "echo out; echo err >&2; exit 3"]))
        .await
        .expect("create");
    let (out, code) = run(&engine, &created.id, WaitCondition::NextExit).await;
    assert_eq!(
        out,
        Output {
            stdout: "out\n".into(),
            stderr: "err\n".into()
        }
    );
    assert_eq!(code, 3);

    let details = engine
        .inspect_container(&created.id)
        .await
        .expect("inspect");
    assert_eq!(details.state.status, ContainerStatus::Exited);
    assert_eq!(details.state.exit_code, 3);
    assert_eq!(details.path, "sh");
    assert_eq!(details.args, vec!["-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(details.config.hostname, created.id[..12]);
    let listed = engine
        .list_containers(ContainerListOptions {
            all: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].status.starts_with("Exited (3) "),
        "status text: {}",
        listed[0].status
    );
    let running = engine
        .list_containers(ContainerListOptions::default())
        .await
        .expect("list");
    assert!(
        running.is_empty(),
        "an exited container is not listed without --all"
    );

    engine
        .remove_container(&created.id, false, false)
        .await
        .expect("remove");
    assert_container_gone(&root, &created.id);
    let err = engine.inspect_container(&created.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfs_run_separates_streams_and_returns_exit_code() {
    streams_and_exit_code("vfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay2_run_separates_streams_and_returns_exit_code() {
    streams_and_exit_code("overlay2").await;
}

async fn auto_remove(driver: &str) {
    let root = TestRoot::new(driver);
    let engine = root.engine_with_image().await;
    let mut s = spec(&["sh", "-c", "echo bye; exit 5"]);
    s.host = HostSpec {
        auto_remove: true,
        ..Default::default()
    };
    let created = engine
        .create_container(Some("rm-me".into()), s)
        .await
        .expect("create");
    let (out, code) = run(&engine, &created.id, WaitCondition::Removed).await;
    assert_eq!(out.stdout, "bye\n");
    assert_eq!(code, 5);
    // Removed means removed: no record, no files, no layers, no mounts, no runtime state.
    assert_eq!(
        engine.inspect_container("rm-me").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_container_gone(&root, &created.id);
    assert_eq!(db_count(&root, "containers"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfs_auto_remove_leaves_nothing() {
    auto_remove("vfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay2_auto_remove_leaves_nothing() {
    auto_remove("overlay2").await;
}

async fn names_and_lookups(driver: &str) {
    let root = TestRoot::new(driver);
    let engine = root.engine_with_image().await;
    let first = engine
        .create_container(Some("web".into()), spec(&["true"]))
        .await
        .expect("create");
    let err = engine
        .create_container(Some("/web".into()), spec(&["true"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "Conflict. The container name \"/web\" is already in use by container \"{}\". You \
             have to remove (or rename) that container to be able to reuse that name.",
            first.id
        )
    );
    let bad = engine
        .create_container(Some("a".into()), spec(&["true"]))
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument);

    let by_prefix = engine
        .inspect_container(&first.id[..7])
        .await
        .expect("inspect by prefix");
    assert_eq!(by_prefix.id, first.id);
    assert_eq!(
        engine.inspect_container("web").await.expect("by name").id,
        first.id
    );
    assert_eq!(
        engine.inspect_container("/web").await.expect("by /name").id,
        first.id
    );
    assert_eq!(by_prefix.name, "web");
    assert_eq!(by_prefix.state.status, ContainerStatus::Created);
    assert_eq!(by_prefix.state.started_at, "0001-01-01T00:00:00Z");

    let generated = engine
        .create_container(None, spec(&["true"]))
        .await
        .expect("create");
    let name = engine
        .inspect_container(&generated.id)
        .await
        .expect("inspect")
        .name;
    assert!(
        name.contains('_'),
        "generated names look like adjective_surname: {name}"
    );

    let missing = engine.create_container(
        None,
        strata_agent::model::ContainerSpec {
            image: "no-such-image:1".into(),
            cmd: Some(vec!["true".into()]),
            ..Default::default()
        },
    );
    let err = missing.await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "No such image: no-such-image:1");

    let mut empty = spec(&[]);
    empty.entrypoint = Some(vec![]);
    let err = engine.create_container(None, empty).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.to_string(), "no command specified");
    assert_eq!(
        db_count(&root, "containers"),
        2,
        "failed creates leave no record"
    );

    let mut filters = std::collections::BTreeMap::new();
    filters.insert("name".to_string(), vec!["web".to_string()]);
    let listed = engine
        .list_containers(ContainerListOptions { all: true, filters })
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, "Created");

    for id in [&first.id, &generated.id] {
        engine
            .remove_container(id, false, false)
            .await
            .expect("remove");
        assert_container_gone(&root, id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfs_names_conflicts_and_lookups() {
    names_and_lookups("vfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay2_names_conflicts_and_lookups() {
    names_and_lookups("overlay2").await;
}

async fn running_removal(driver: &str) {
    let root = TestRoot::new(driver);
    let engine = root.engine_with_image().await;
    let created = engine
        .create_container(Some("sleeper".into()), spec(&["sleep", "1000"]))
        .await
        .expect("create");
    engine.start_container(&created.id).await.expect("start");
    let again = engine.start_container(&created.id).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NotModified);

    let details = engine
        .inspect_container(&created.id)
        .await
        .expect("inspect");
    assert_eq!(details.state.status, ContainerStatus::Running);
    assert!(details.state.pid > 0);
    let data = &details.graph_driver.data;
    assert_eq!(details.graph_driver.name, driver);
    let mut paths: Vec<String> = Vec::new();
    if driver == "overlay2" {
        for key in ["MergedDir", "UpperDir", "WorkDir"] {
            paths.push(
                data.get(key)
                    .unwrap_or_else(|| panic!("GraphDriver.Data.{key} missing"))
                    .clone(),
            );
        }
        let lower = data
            .get("LowerDir")
            .expect("GraphDriver.Data.LowerDir missing");
        assert!(
            lower.split(':').count() >= 2,
            "LowerDir holds the init layer and the image: {lower}"
        );
        paths.extend(lower.split(':').map(str::to_string));
        let merged = std::path::Path::new(&data["MergedDir"]);
        assert!(
            merged.join("bin/busybox").exists(),
            "MergedDir shows the container's tree"
        );
        assert!(merged.join(".dockerenv").exists());
    } else {
        paths.push(
            data.get("Dir")
                .expect("GraphDriver.Data.Dir missing")
                .clone(),
        );
    }
    for p in &paths {
        assert!(
            std::path::Path::new(p).exists(),
            "GraphDriver path {p} does not exist"
        );
    }
    let running = engine
        .list_containers(ContainerListOptions::default())
        .await
        .expect("list");
    assert_eq!(running.len(), 1);
    assert!(
        running[0].status.starts_with("Up "),
        "status text: {}",
        running[0].status
    );

    let err = engine
        .remove_container("sleeper", false, false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "cannot remove container \"/sleeper\": container is running: stop the container before \
         removing or force remove"
    );
    engine
        .remove_container("sleeper", true, false)
        .await
        .expect("force remove");
    assert_container_gone(&root, &created.id);
    let image_layer_paths: Vec<&String> = if driver == "overlay2" {
        // The init layer's diff (first lower) and upper/work/merged go; image layers stay.
        paths.iter().take(4).collect()
    } else {
        paths.iter().collect()
    };
    for p in image_layer_paths {
        assert!(
            !std::path::Path::new(p).exists(),
            "GraphDriver path {p} remains after remove"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfs_running_container_removal_needs_force() {
    running_removal("vfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay2_running_container_removal_needs_force() {
    running_removal("overlay2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_command_fails_start_with_127() {
    let root = TestRoot::new("overlay2");
    let engine = root.engine_with_image().await;
    let created = engine
        .create_container(None, spec(&["nosuchcmd"]))
        .await
        .expect("create");
    let opts = AttachOptions {
        stdout: true,
        stderr: true,
        stream: true,
        ..Default::default()
    };
    let mut attachment = engine
        .attach_container(&created.id, opts)
        .await
        .expect("attach");
    let err = engine.start_container(&created.id).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidArgument,
        "a missing command is a 400, as in Docker"
    );
    assert!(
        err.to_string().contains("nosuchcmd"),
        "the runtime's message reaches the caller: {err}"
    );
    assert!(
        attachment.output.recv().await.is_none(),
        "attach streams end when the start fails"
    );
    let details = engine
        .inspect_container(&created.id)
        .await
        .expect("inspect");
    assert_eq!(details.state.status, ContainerStatus::Exited);
    assert_eq!(details.state.exit_code, 127);
    assert!(
        details.state.error.contains("nosuchcmd"),
        "State.Error: {}",
        details.state.error
    );
    assert!(
        root.mounts()
            .iter()
            .all(|m| !m.to_string_lossy().contains(&created.id)),
        "rw layer released"
    );
    engine
        .remove_container(&created.id, false, false)
        .await
        .expect("remove");
    assert_container_gone(&root, &created.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_reaches_the_container_and_closing_it_ends_cat() {
    let root = TestRoot::new("vfs");
    let engine = root.engine_with_image().await;
    let mut s = spec(&["cat"]);
    s.open_stdin = true;
    s.stdin_once = true;
    s.attach_stdin = true;
    let created = engine.create_container(None, s).await.expect("create");
    let opts = AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
    };
    let mut attachment = engine
        .attach_container(&created.id, opts)
        .await
        .expect("attach");
    let input = attachment
        .input
        .take()
        .expect("stdin is offered for OpenStdin containers");
    // Written before start: delivered once the container runs.
    input
        .send(Bytes::from_static(b"hello\n"))
        .await
        .expect("send stdin");
    let wait = engine
        .wait_container(&created.id, WaitCondition::NextExit)
        .await
        .expect("wait");
    engine.start_container(&created.id).await.expect("start");
    input
        .send(Bytes::from_static(b"world\n"))
        .await
        .expect("send stdin");
    drop(input);
    let mut out = Output::default();
    while let Some((stream, chunk)) = attachment.output.recv().await {
        push(&mut out, stream, &chunk);
    }
    assert_eq!(out.stdout, "hello\nworld\n");
    assert_eq!(wait.0.await.status_code, 0);
    engine
        .remove_container(&created.id, false, false)
        .await
        .expect("remove");
    assert_container_gone(&root, &created.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_conditions() {
    let root = TestRoot::new("vfs");
    let engine = root.engine_with_image().await;
    let unknown = engine
        .wait_container("nope", WaitCondition::NotRunning)
        .await;
    assert_eq!(unknown.err().map(|e| e.kind()), Some(ErrorKind::NotFound));

    let created = engine
        .create_container(None, spec(&["sh", "-c", "exit 7"]))
        .await
        .expect("create");
    // Not running yet: resolves at once with the current exit code.
    let now = engine
        .wait_container(&created.id, WaitCondition::NotRunning)
        .await
        .expect("wait");
    assert_eq!(now.0.await.status_code, 0);
    let removed = engine
        .wait_container(&created.id, WaitCondition::Removed)
        .await
        .expect("wait");
    let (_, code) = run(&engine, &created.id, WaitCondition::NextExit).await;
    assert_eq!(code, 7);
    let after = engine
        .wait_container(&created.id, WaitCondition::NotRunning)
        .await
        .expect("wait");
    assert_eq!(after.0.await.status_code, 7);
    engine
        .remove_container(&created.id, false, false)
        .await
        .expect("remove");
    assert_eq!(removed.0.await.status_code, 7);
    assert_container_gone(&root, &created.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_files_and_env() {
    let root = TestRoot::new("overlay2");
    let engine = root.engine_with_image().await;
    let mut s = spec(&["sh", "-c", "cat /etc/hostname; grep -c localhost /etc/hosts; echo $FOO; test -f /.dockerenv && echo env"]);
    s.hostname = Some("box".into());
    s.env = vec!["FOO=bar".into()];
    s.labels = labels(&[("team", "storage")]);
    s.host.auto_remove = true;
    let created = engine.create_container(None, s).await.expect("create");
    let (out, code) = run(&engine, &created.id, WaitCondition::Removed).await;
    assert_eq!(code, 0, "stderr: {}", out.stderr);
    assert_eq!(out.stdout, "box\n2\nbar\nenv\n");
    assert_container_gone(&root, &created.id);
}
