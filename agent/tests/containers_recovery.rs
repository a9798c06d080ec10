//! Containers outlive the engine: drop the engine while a container runs, reopen it on the same
//! root, and the container is still running, watched again, and its exit is recorded.

mod containers_support;

use containers_support::*;
use strata_agent::model::{ContainerStatus, WaitCondition};
use strata_agent::runtime::shim_client;

async fn survives_reopen(driver: &str) {
    let root = TestRoot::new(driver);
    let engine = root.engine_with_image().await;
    let created = engine
        .create_container(Some("long".into()), spec(&["sleep", "1000"]))
        .await
        .expect("create");
    engine.start_container(&created.id).await.expect("start");
    let pid = engine
        .inspect_container(&created.id)
        .await
        .expect("inspect")
        .state
        .pid;
    assert!(pid > 0);
    drop(engine);

    let engine = root.open().await;
    let details = engine
        .inspect_container("long")
        .await
        .expect("inspect after reopen");
    assert_eq!(
        details.state.status,
        ContainerStatus::Running,
        "still running after reopen"
    );
    assert_eq!(details.state.pid, pid);
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok(),
        "the container's process is alive"
    );
    if driver == "overlay2" {
        let merged = std::path::PathBuf::from(&details.graph_driver.data["MergedDir"]);
        assert!(
            root.mounts().contains(&merged),
            "the rw layer stays mounted across the reopen"
        );
    }

    let wait = engine
        .wait_container("long", WaitCondition::NextExit)
        .await
        .expect("wait");
    engine
        .kill_container("long", Some("KILL"))
        .await
        .expect("kill");
    assert_eq!(wait.0.await.status_code, 137);
    let details = engine.inspect_container("long").await.expect("inspect");
    assert_eq!(details.state.status, ContainerStatus::Exited);
    assert_eq!(details.state.exit_code, 137);
    assert!(
        root.mounts()
            .iter()
            .all(|m| !m.to_string_lossy().contains(&created.id)),
        "rw layer released"
    );

    // The exit is stored, not only in memory.
    drop(engine);
    let engine = root.open().await;
    let details = engine.inspect_container("long").await.expect("inspect");
    assert_eq!(details.state.exit_code, 137);
    engine
        .remove_container("long", false, false)
        .await
        .expect("remove");
    assert_container_gone(&root, &created.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfs_running_container_survives_engine_reopen() {
    survives_reopen("vfs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlay2_running_container_survives_engine_reopen() {
    survives_reopen("overlay2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_while_away_is_recorded_and_auto_remove_happens() {
    let root = TestRoot::new("overlay2");
    let engine = root.engine_with_image().await;
    let kept = engine
        .create_container(Some("kept".into()), spec(&["sleep", "1000"]))
        .await
        .expect("create");
    let mut s = spec(&["sleep", "1000"]);
    s.host.auto_remove = true;
    let gone = engine
        .create_container(Some("gone".into()), s)
        .await
        .expect("create");
    engine.start_container(&kept.id).await.expect("start");
    engine.start_container(&gone.id).await.expect("start");
    let mut pids = Vec::new();
    for id in [&kept.id, &gone.id] {
        pids.push(
            engine
                .inspect_container(id)
                .await
                .expect("inspect")
                .state
                .pid,
        );
    }
    drop(engine);
    // Both end while no agent watches.
    for pid in &pids {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill container process");
    }
    for id in [&kept.id, &gone.id] {
        let shim_dir = root.exec_root().join("containers").join(id).join("shim");
        // Let each shim record the exit before the next engine looks.
        for _ in 0..200 {
            if shim_client::read_exit_file(&shim_dir).is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let engine = root.open().await;
    let details = engine.inspect_container("kept").await.expect("inspect");
    assert_eq!(details.state.status, ContainerStatus::Exited);
    assert_eq!(details.state.exit_code, 137);
    assert!(
        engine.inspect_container("gone").await.is_err(),
        "auto-remove container removed at reopen"
    );
    assert_container_gone(&root, &gone.id);
    engine
        .remove_container("kept", false, false)
        .await
        .expect("remove");
    assert_container_gone(&root, &kept.id);
}
