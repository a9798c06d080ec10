//! `docker load` of docker-archives (both layouts) and OCI layouts, with plain, gzip and zstd
//! layers, against a real engine with vfs and overlay2.

#[macro_use]
mod images_support;

use images_support::{image_file, TestEngine};
use strata_test_support::image_builder::{
    build_docker_archive_of, Compression, DockerLayout, OciNaming, TestImage,
};

for_each_driver!(
    docker_archive_blobs_layout_with_gzip_layers,
    docker_archive_legacy_layout_with_mixed_compression,
    oci_layout_with_zstd_layers,
    oci_nested_index_picks_the_host_platform,
    oci_names_from_annotations,
    untagged_docker_archive_reports_the_id,
    loading_twice_changes_nothing,
    multi_image_legacy_archive_with_linked_layers,
    a_tag_moves_to_the_newly_loaded_image,
    image_without_layers,
);

/// Check the loaded tree is the layered result: last writer wins, whiteouts delete, busybox there.
async fn assert_layered_tree(t: &TestEngine, name: &str, random_layers: usize) {
    let details = t.engine.inspect_image(name).await.expect("inspect");
    let data = &details.graph_driver.data;
    let read = |rel: &str| image_file(data, rel).map(|p| std::fs::read_to_string(p).expect("read"));
    assert!(
        image_file(data, "bin/busybox").is_some(),
        "bin/busybox missing in {data:?}"
    );
    assert_eq!(
        read("etc/group").as_deref(),
        Some("root:x:0:\nnobody:x:65534:\n")
    );
    let top = random_layers - 1;
    assert_eq!(
        read("data/common.txt"),
        Some(format!("written by layer {top}\n"))
    );
    assert!(image_file(data, &format!("data/scratch-{top}")).is_some());
    if top >= 1 {
        assert!(
            image_file(data, &format!("data/scratch-{}", top - 1)).is_none(),
            "data/scratch-{} should be deleted by a whiteout",
            top - 1
        );
    }
    if t.driver == "vfs" && top >= 2 {
        // vfs holds the merged tree: the opaque directory lost what the layers below had.
        assert!(
            image_file(data, "data/dir-0/file").is_none(),
            "opaque dir still shows data/dir-0/file"
        );
        assert!(image_file(data, "data/dir-0/after-opaque").is_some());
    }
}

async fn docker_archive_blobs_layout_with_gzip_layers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("multi.tar");
    let built = TestImage::busybox("strata-test/multi:1")
        .random_layers(3, 64 * 1024)
        .compression(Compression::Gzip)
        .layout(DockerLayout::Blobs)
        .build_docker_archive(&path)
        .unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec!["Loaded image: strata-test/multi:1".to_string()]
    );

    let images = t.engine.list_images().await.unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].id, built.id);
    assert_eq!(images[0].repo_tags, vec!["strata-test/multi:1".to_string()]);
    assert!(
        images[0].size >= 3 * 64 * 1024,
        "size {} too small",
        images[0].size
    );

    let chains: Vec<String> = t.db_layers().into_iter().map(|(c, _)| c).collect();
    let mut expected = built.chain_ids.clone();
    expected.sort();
    assert_eq!(chains, expected, "layers are keyed by ChainID");
    assert_eq!(t.driver_layers().len(), 4);
    let cache_ids: std::collections::BTreeSet<String> =
        t.db_layers().into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        cache_ids,
        t.driver_layers(),
        "every driver layer is recorded and vice versa"
    );
    assert_layered_tree(&t, "strata-test/multi:1", 3).await;
    assert!(
        t.tmp_entries().is_empty(),
        "temporary files left: {:?}",
        t.tmp_entries()
    );
}

async fn docker_archive_legacy_layout_with_mixed_compression(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("legacy.tar");
    let built = TestImage::busybox("strata-test/legacy:2")
        .random_layers(3, 32 * 1024)
        .layout(DockerLayout::Legacy)
        .layer_compression(1, Compression::Zstd)
        .layer_compression(2, Compression::Gzip)
        .build_docker_archive(&path)
        .unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec!["Loaded image: strata-test/legacy:2".to_string()]
    );
    let details = t
        .engine
        .inspect_image("strata-test/legacy:2")
        .await
        .unwrap();
    assert_eq!(details.id, built.id);
    assert_eq!(details.layers, built.diff_ids);
    assert_layered_tree(&t, "strata-test/legacy:2", 3).await;
}

async fn oci_layout_with_zstd_layers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("oci.tar");
    let built = TestImage::busybox("strata-test/oci:1")
        .random_layers(2, 48 * 1024)
        .compression(Compression::Zstd)
        .build_oci_layout(&path)
        .unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec!["Loaded image: strata-test/oci:1".to_string()]
    );
    let details = t
        .engine
        .inspect_image("docker.io/strata-test/oci:1")
        .await
        .unwrap();
    assert_eq!(details.id, built.id);
    assert_eq!(details.layers, built.diff_ids);
    assert_layered_tree(&t, "strata-test/oci:1", 2).await;
}

async fn oci_nested_index_picks_the_host_platform(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("nested.tar");
    let built = TestImage::busybox("strata-test/nested:1")
        .random_layers(1, 1024)
        .compression(Compression::Gzip)
        .nested_index()
        .build_oci_layout(&path)
        .unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec!["Loaded image: strata-test/nested:1".to_string()]
    );
    let details = t
        .engine
        .inspect_image("strata-test/nested:1")
        .await
        .unwrap();
    assert_eq!(
        details.id, built.id,
        "the host platform's config was chosen"
    );
    assert_eq!(
        details.architecture,
        strata_test_support::image_builder::host_arch()
    );
    assert_eq!(
        t.engine.list_images().await.unwrap().len(),
        1,
        "only one platform is loaded"
    );
}

async fn oci_names_from_annotations(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let cases = [
        (OciNaming::RefNameFull, "strata-test/ref:2", true),
        (OciNaming::BareTag, "strata-test/bare:3", false),
        (OciNaming::Unnamed, "strata-test/none:4", false),
    ];
    for (naming, tag, named) in cases {
        let path = t.archive_path("named.tar");
        let built = TestImage::scratch(tag)
            .random_layers(1, 512)
            .oci_naming(naming)
            .build_oci_layout(&path)
            .unwrap();
        let report = t.load(&path).await.expect("load");
        let expected = if named {
            format!("Loaded image: {tag}")
        } else {
            format!("Loaded image ID: {}", built.id)
        };
        assert_eq!(report.messages, vec![expected], "{naming:?}");
    }
    let tags: Vec<String> = t
        .engine
        .list_images()
        .await
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    assert_eq!(tags, vec!["strata-test/ref:2".to_string()]);
}

async fn untagged_docker_archive_reports_the_id(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("untagged.tar");
    let built = TestImage::scratch("x:1")
        .untagged()
        .random_layers(1, 256)
        .build_docker_archive(&path)
        .unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec![format!("Loaded image ID: {}", built.id)]
    );
    let images = t.engine.list_images().await.unwrap();
    assert_eq!(images.len(), 1);
    assert!(images[0].repo_tags.is_empty());
    // An untagged image is still found by id prefix.
    let short = &built.id["sha256:".len()..][..12];
    assert_eq!(t.engine.inspect_image(short).await.unwrap().id, built.id);
}

async fn loading_twice_changes_nothing(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("twice.tar");
    TestImage::busybox("strata-test/twice:1")
        .random_layers(2, 4096)
        .build_docker_archive(&path)
        .unwrap();
    let first = t.load(&path).await.expect("first load");
    let (layers, entries) = (t.db_layers(), t.driver_entries());
    let second = t.load(&path).await.expect("second load");
    assert_eq!(first, second);
    assert_eq!(t.db_layers(), layers);
    assert_eq!(t.driver_entries(), entries);
    assert_eq!(t.engine.list_images().await.unwrap().len(), 1);
}

async fn multi_image_legacy_archive_with_linked_layers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("two.tar");
    let a = TestImage::busybox("strata-test/a:1").random_layers(1, 2048);
    let b = TestImage::busybox("strata-test/b:1").random_layers(2, 2048);
    // Same base, so the legacy layout writes b's base layer.tar as a symlink to a's.
    let built = build_docker_archive_of(&[&a, &b], DockerLayout::Legacy, &path).unwrap();
    let report = t.load(&path).await.expect("load");
    assert_eq!(
        report.messages,
        vec![
            "Loaded image: strata-test/a:1".to_string(),
            "Loaded image: strata-test/b:1".to_string()
        ]
    );
    assert_eq!(built[0].chain_ids[0], built[1].chain_ids[0]);
    assert_eq!(
        t.driver_layers().len(),
        1 + 1 + 2,
        "the shared base is stored once"
    );
}

async fn a_tag_moves_to_the_newly_loaded_image(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("v.tar");
    let old = TestImage::scratch("strata-test/moving:1")
        .random_layers(1, 100)
        .label("v", "1");
    let old = old.build_docker_archive(&path).unwrap();
    t.load(&path).await.unwrap();
    let new = TestImage::scratch("strata-test/moving:1")
        .random_layers(1, 100)
        .label("v", "2");
    let new = new.build_docker_archive(&path).unwrap();
    let report = t.load(&path).await.unwrap();
    assert_eq!(
        report.messages,
        vec![
            format!(
                "The image strata-test/moving:1 already exists, renaming the old one with ID {} to empty string",
                old.id
            ),
            "Loaded image: strata-test/moving:1".to_string(),
        ]
    );
    let images = t.engine.list_images().await.unwrap();
    assert_eq!(images.len(), 2, "the old image stays, untagged");
    let old_summary = images.iter().find(|i| i.id == old.id).unwrap();
    assert!(old_summary.repo_tags.is_empty());
    assert_eq!(
        t.engine
            .inspect_image("strata-test/moving:1")
            .await
            .unwrap()
            .id,
        new.id
    );
    assert_eq!(
        t.driver_layers().len(),
        1,
        "both images share the one identical layer"
    );
}

async fn image_without_layers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("empty.tar");
    let built = TestImage::scratch("strata-test/empty:1")
        .build_docker_archive(&path)
        .unwrap();
    t.load(&path).await.expect("load");
    let details = t.engine.inspect_image("strata-test/empty:1").await.unwrap();
    assert_eq!(details.id, built.id);
    assert!(details.layers.is_empty());
    assert_eq!(details.size, 0);
    let removed = t
        .engine
        .remove_image("strata-test/empty:1", false, false)
        .await
        .unwrap();
    assert_eq!(removed.len(), 2, "untagged + deleted: {removed:?}");
    assert!(t.db_images().is_empty());
}
