//! `docker images`, `image inspect`, `tag`, `history` and `rmi` with Docker's semantics, and the
//! ways images can be named (reference, full id, bare hex, id prefix).

#[macro_use]
mod images_support;

use images_support::TestEngine;
use strata_agent::error::ErrorKind;
use strata_agent::model::ImageDeleteItem;
use strata_agent::EngineError;
use strata_test_support::image_builder::{BuiltImage, TestImage};

for_each_driver!(
    inspect_and_lookup_forms,
    tag_then_list,
    history_rows,
    rmi_semantics_for_tags_and_ids,
    rmi_refuses_images_used_by_containers,
    ambiguous_id_prefix_is_refused,
    rmi_of_the_last_tag_takes_the_repositorys_digest_references,
);

async fn load_multi(t: &TestEngine) -> BuiltImage {
    let path = t.archive_path("m.tar");
    let built = TestImage::busybox("strata-test/m:1")
        .random_layers(2, 4096)
        .build_docker_archive(&path)
        .unwrap();
    t.load(&path).await.expect("load");
    built
}

async fn inspect_and_lookup_forms(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let built = load_multi(&t).await;
    let hex = &built.id["sha256:".len()..];
    for name in [
        "strata-test/m:1",
        "docker.io/strata-test/m:1",
        built.id.as_str(),
        hex,
        &hex[..12],
        &hex[..3],
        &format!("sha256:{}", &hex[..8]),
        &format!("strata-test/m@{}", built.id),
    ] {
        let details = t
            .engine
            .inspect_image(name)
            .await
            .unwrap_or_else(|e| panic!("inspect {name}: {e}"));
        assert_eq!(details.id, built.id, "{name}");
    }
    let details = t.engine.inspect_image("strata-test/m:1").await.unwrap();
    assert_eq!(details.repo_tags, vec!["strata-test/m:1".to_string()]);
    assert_eq!(
        details.layers, built.diff_ids,
        "RootFS layers are the diff ids"
    );
    assert_eq!(details.graph_driver.name, driver);
    assert!(
        !details.graph_driver.data.is_empty(),
        "GraphDriver.Data filled by the driver"
    );
    for path in details
        .graph_driver
        .data
        .values()
        .flat_map(|v| v.split(':'))
    {
        if !path.ends_with("/merged") && !path.ends_with("/work") {
            assert!(
                std::path::Path::new(path).exists(),
                "GraphDriver path {path} does not exist"
            );
        }
    }
    assert_eq!(details.config.cmd, Some(vec!["sh".to_string()]));
    assert!(details.config.env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(details.os, "linux");
    assert_eq!(
        details.architecture,
        strata_test_support::image_builder::host_arch()
    );
    assert_eq!(details.created, "2024-01-02T03:04:05Z");
    assert!(details.size > 0);

    for missing in ["strata-test/m:2", "nothing", "0000000000"] {
        let err = t.engine.inspect_image(missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{missing}: {err}");
    }
    let err = t.engine.inspect_image("nothing").await.unwrap_err();
    assert_eq!(err.to_string(), "No such image: nothing:latest");
    let err = t.engine.inspect_image("Bad/Name").await.unwrap_err();
    assert!(matches!(err, EngineError::InvalidReference { .. }), "{err}");
}

async fn tag_then_list(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let built = load_multi(&t).await;
    t.engine
        .tag_image("strata-test/m:1", "localhost:5000/mirror/m", Some("v2"))
        .await
        .unwrap();
    t.engine.tag_image(&built.id, "other", None).await.unwrap();
    let images = t.engine.list_images().await.unwrap();
    assert_eq!(images.len(), 1);
    let mut tags = images[0].repo_tags.clone();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            "localhost:5000/mirror/m:v2",
            "other:latest",
            "strata-test/m:1"
        ]
    );
    assert_eq!(images[0].created, 1704164645);
    assert_eq!(t.engine.inspect_image("other").await.unwrap().id, built.id);
    assert!(t.db_refs().contains(&(
        "docker.io/library/other:latest".to_string(),
        built.id.clone()
    )));

    let err = t
        .engine
        .tag_image("strata-test/m:1", "Bad", None)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidReference { .. }), "{err}");
    let err = t
        .engine
        .tag_image("strata-test/m:1", "x", Some("-bad"))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidReference { .. }), "{err}");
    let err = t.engine.tag_image("nope:1", "x", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let digest_ref = format!("x@{}", built.id);
    let err = t
        .engine
        .tag_image("strata-test/m:1", &digest_ref, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

async fn history_rows(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let built = load_multi(&t).await;
    let rows = t.engine.image_history("strata-test/m:1").await.unwrap();
    // busybox base, two random layers, CMD: newest first.
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].id, built.id);
    assert_eq!(rows[0].tags, vec!["strata-test/m:1".to_string()]);
    assert!(rows[0].empty_layer);
    assert_eq!(rows[0].size, 0);
    assert!(rows[0].created_by.contains("CMD"));
    for row in &rows[1..] {
        assert_eq!(row.id, "<missing>");
        assert!(!row.empty_layer);
        assert!(
            row.size > 0,
            "non-empty layer rows carry their size: {row:?}"
        );
    }
    assert!(rows[1].size >= 4096 && rows[2].size >= 4096);
    assert!(
        rows[3].size > rows[1].size,
        "the busybox layer is the biggest"
    );
    assert!(rows[3].created_by.contains("busybox"));
    assert_eq!(rows[3].created, 1704164645);
}

async fn rmi_semantics_for_tags_and_ids(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let built = load_multi(&t).await;
    t.engine
        .tag_image("strata-test/m:1", "second", Some("x"))
        .await
        .unwrap();

    // An id with tags in two repositories: conflict unless forced.
    let err = t
        .engine
        .remove_image(&built.id[7..19], false, false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            &built.id[7..19]
        )
    );

    // A name untags only.
    let removed = t
        .engine
        .remove_image("second:x", false, false)
        .await
        .unwrap();
    assert_eq!(removed, vec![ImageDeleteItem::Untagged("second:x".into())]);
    assert_eq!(t.db_images().len(), 1);
    assert_eq!(t.driver_layers().len(), 3);

    // Forced removal by id: every tag, the image, its layers.
    t.engine
        .tag_image("strata-test/m:1", "third", None)
        .await
        .unwrap();
    let removed = t.engine.remove_image(&built.id, true, false).await.unwrap();
    // Untagged in the order of the normalized names (docker.io/library/third < docker.io/strata-test).
    let mut expected = vec![
        ImageDeleteItem::Untagged("third:latest".into()),
        ImageDeleteItem::Untagged("strata-test/m:1".into()),
        ImageDeleteItem::Deleted(built.id.clone()),
    ];
    expected.extend(
        built
            .chain_ids
            .iter()
            .rev()
            .map(|c| ImageDeleteItem::Deleted(c.clone())),
    );
    assert_eq!(removed, expected);
    assert!(t.db_images().is_empty() && t.db_layers().is_empty() && t.db_refs().is_empty());
    assert!(t.driver_layers().is_empty());

    let err = t
        .engine
        .remove_image("strata-test/m:1", false, false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // One tag, removed by id: untag and delete without force.
    let built = load_multi(&t).await;
    let removed = t
        .engine
        .remove_image(&built.id[7..], false, false)
        .await
        .unwrap();
    assert_eq!(
        removed[0],
        ImageDeleteItem::Untagged("strata-test/m:1".into())
    );
    assert_eq!(removed[1], ImageDeleteItem::Deleted(built.id.clone()));
    assert!(t.driver_layers().is_empty());
}

/// A pulled image is known by its tag and by `repo@sha256:...` (the manifest digest). As with
/// dockerd, `rmi repo:tag` also removes the digest references of that repository once no other
/// tag of it is left, and then the image; a tag in another repository keeps the image.
async fn rmi_of_the_last_tag_takes_the_repositorys_digest_references(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let digest_ref = format!("strata-test/m@sha256:{}", "ab".repeat(32));
    let add_digest_ref = |id: &str| {
        t.db_execute(&format!(
            "INSERT INTO refs (name, image_id) VALUES ('docker.io/{digest_ref}', '{id}')"
        ))
    };

    let built = load_multi(&t).await;
    add_digest_ref(&built.id);
    let removed = t
        .engine
        .remove_image("strata-test/m:1", false, false)
        .await
        .unwrap();
    assert_eq!(
        removed[..3],
        [
            ImageDeleteItem::Untagged("strata-test/m:1".into()),
            ImageDeleteItem::Untagged(digest_ref.clone()),
            ImageDeleteItem::Deleted(built.id.clone()),
        ]
    );
    assert!(t.db_images().is_empty() && t.db_refs().is_empty());
    assert!(t.driver_layers().is_empty());

    // Another repository's tag keeps the image; this repository's digest still goes.
    let built = load_multi(&t).await;
    add_digest_ref(&built.id);
    t.engine
        .tag_image("strata-test/m:1", "other", Some("x"))
        .await
        .unwrap();
    let removed = t
        .engine
        .remove_image("strata-test/m:1", false, false)
        .await
        .unwrap();
    assert_eq!(
        removed,
        vec![
            ImageDeleteItem::Untagged("strata-test/m:1".into()),
            ImageDeleteItem::Untagged(digest_ref.clone()),
        ]
    );
    assert_eq!(t.db_images().len(), 1);
    assert_eq!(t.db_refs().len(), 1);

    // A second tag of the same repository keeps the digest reference.
    t.engine
        .tag_image("other:x", "strata-test/m", Some("2"))
        .await
        .unwrap();
    add_digest_ref(&built.id);
    t.engine
        .tag_image("other:x", "strata-test/m", Some("3"))
        .await
        .unwrap();
    let removed = t
        .engine
        .remove_image("strata-test/m:2", false, false)
        .await
        .unwrap();
    assert_eq!(
        removed,
        vec![ImageDeleteItem::Untagged("strata-test/m:2".into())]
    );
    assert_eq!(t.db_refs().len(), 3, "other:x, m:3 and the digest remain");
}

/// Simulate what the container engine records for a container of `image_id`.
fn add_container(t: &TestEngine, id: &str, image_id: &str, status: &str) {
    t.db_execute(&format!(
        "INSERT INTO containers (id, name, image_id, spec, config, state, rw_layer, init_layer, created_at)
         VALUES ('{id}', 'c-{id}', '{image_id}', '{{}}', '{{}}', '{{\"status\":\"{status}\"}}', 'rw', 'init', '2024-01-01T00:00:00Z')"
    ));
}

async fn rmi_refuses_images_used_by_containers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let built = load_multi(&t).await;
    let container = "c0ffee".repeat(10) + "abcd";
    add_container(&t, &container, &built.id, "exited");

    let err = t
        .engine
        .remove_image("strata-test/m:1", false, false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"strata-test/m:1\" (must force) - container {} is using its referenced image {}",
            &container[..12],
            &built.id[7..19]
        )
    );
    let err = t
        .engine
        .remove_image(&built.id, false, false)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &built.id[7..19],
            &container[..12]
        )
    );
    let summary = &t.engine.list_images().await.unwrap()[0];
    assert_eq!(summary.containers, 1);

    // Forced: the tag goes, the image stays for its container.
    let removed = t
        .engine
        .remove_image("strata-test/m:1", true, false)
        .await
        .unwrap();
    assert_eq!(
        removed,
        vec![ImageDeleteItem::Untagged("strata-test/m:1".into())]
    );
    assert_eq!(t.db_images().len(), 1);
    assert_eq!(t.driver_layers().len(), 3);
    let removed = t.engine.remove_image(&built.id, true, false).await.unwrap();
    assert!(
        removed.is_empty(),
        "nothing to untag and the image is kept: {removed:?}"
    );
    assert_eq!(t.db_images().len(), 1);

    // A running container cannot be forced past.
    t.db_execute(&format!(
        "UPDATE containers SET state = '{{\"status\":\"running\"}}' WHERE id = '{container}'"
    ));
    let err = t
        .engine
        .remove_image(&built.id, true, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(cannot be forced) - image is being used by running container"),
        "{err}"
    );

    // Once the container is gone the image can be removed.
    t.db_execute(&format!("DELETE FROM containers WHERE id = '{container}'"));
    let removed = t
        .engine
        .remove_image(&built.id[7..19], false, false)
        .await
        .unwrap();
    assert_eq!(removed[0], ImageDeleteItem::Deleted(built.id.clone()));
    assert!(t.driver_layers().is_empty());
}

async fn ambiguous_id_prefix_is_refused(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    // Seventeen images without layers: two of their ids must share a first hex digit.
    let mut ids = Vec::new();
    for i in 0..17 {
        let path = t.archive_path("e.tar");
        let built = TestImage::scratch("e:1")
            .untagged()
            .label("n", &i.to_string())
            .build_docker_archive(&path)
            .unwrap();
        t.load(&path).await.unwrap();
        ids.push(built.id);
    }
    let first = |id: &String| id.as_bytes()[7];
    let shared = ids
        .iter()
        .find(|a| ids.iter().filter(|b| first(b) == first(a)).count() > 1)
        .unwrap();
    let prefix = &shared[7..8];
    let err = t.engine.inspect_image(prefix).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        format!("multiple IDs found with provided prefix: {prefix}")
    );
    for id in &ids {
        assert_eq!(&t.engine.inspect_image(&id[7..19]).await.unwrap().id, id);
    }
}
