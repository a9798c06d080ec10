//! Layers are shared between images by ChainID and released when the last image needing them
//! goes; afterwards nothing of them remains in the driver or the database.

#[macro_use]
mod images_support;

use images_support::TestEngine;
use strata_agent::model::ImageDeleteItem;
use strata_test_support::image_builder::{Compression, TestImage};

for_each_driver!(
    two_images_share_their_base_and_rmi_releases_layers,
    concurrent_loads_of_images_sharing_a_base,
);

async fn two_images_share_their_base_and_rmi_releases_layers(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let empty_driver = t.driver_entries();
    let a_path = t.archive_path("a.tar");
    let b_path = t.archive_path("b.tar");
    let a = TestImage::busybox("strata-test/a:1")
        .random_layers(2, 8192)
        .compression(Compression::Gzip)
        .build_docker_archive(&a_path)
        .unwrap();
    // Same base, compressed differently: the base is recognised by its diffID, not its blob.
    let b = TestImage::busybox("strata-test/b:1")
        .random_layers(2, 8192)
        .compression(Compression::Zstd)
        .build_oci_layout(&b_path)
        .unwrap();
    assert_eq!(a.chain_ids[0], b.chain_ids[0]);
    assert_ne!(a.blob_digests[0], b.blob_digests[0]);

    t.load(&a_path).await.expect("load a");
    t.load(&b_path).await.expect("load b");
    assert_eq!(
        t.driver_layers().len(),
        1 + 2 + 2,
        "the base is stored once"
    );
    assert_eq!(t.db_layers().len(), 5);

    let removed = t
        .engine
        .remove_image("strata-test/a:1", false, false)
        .await
        .unwrap();
    let mut expected = vec![
        ImageDeleteItem::Untagged("strata-test/a:1".into()),
        ImageDeleteItem::Deleted(a.id.clone()),
    ];
    // a's own layers go, top first; the shared base stays.
    expected.push(ImageDeleteItem::Deleted(a.chain_ids[2].clone()));
    expected.push(ImageDeleteItem::Deleted(a.chain_ids[1].clone()));
    assert_eq!(removed, expected);
    assert_eq!(t.driver_layers().len(), 3);
    let chains: Vec<String> = t.db_layers().into_iter().map(|(c, _)| c).collect();
    let mut b_chains = b.chain_ids.clone();
    b_chains.sort();
    assert_eq!(chains, b_chains);

    // b still works after a's removal.
    let details = t.engine.inspect_image("strata-test/b:1").await.unwrap();
    assert_eq!(details.layers, b.diff_ids);

    let removed = t
        .engine
        .remove_image("strata-test/b:1", false, false)
        .await
        .unwrap();
    assert_eq!(
        removed.len(),
        2 + 3,
        "untag, delete image, three layers: {removed:?}"
    );
    assert!(t.db_layers().is_empty());
    assert!(t.db_images().is_empty());
    assert!(t.db_refs().is_empty());
    assert_eq!(
        t.driver_entries(),
        empty_driver,
        "the driver directory is back to empty"
    );
}

async fn concurrent_loads_of_images_sharing_a_base(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let paths: Vec<_> = (0..4)
        .map(|i| t.archive_path(&format!("c{i}.tar")))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        TestImage::busybox(&format!("strata-test/c{i}:1"))
            .random_layers(1, 64 * 1024)
            .compression(Compression::Gzip)
            .build_docker_archive(path)
            .unwrap();
    }
    // All four race to create the same base layer.
    let loads = paths.iter().map(|p| t.load(p));
    for result in futures::future::join_all(loads).await {
        result.expect("concurrent load");
    }
    assert_eq!(t.engine.list_images().await.unwrap().len(), 4);
    assert_eq!(t.driver_layers().len(), 1 + 4, "one base for all four");
    assert_eq!(t.db_layers().len(), 5);

    // Removing them all at once leaves nothing.
    let removals = (0..4).map(|i| {
        let engine = t.engine.clone();
        async move {
            engine
                .remove_image(&format!("strata-test/c{i}:1"), false, false)
                .await
        }
    });
    for result in futures::future::join_all(removals).await {
        result.expect("concurrent rmi");
    }
    assert!(t.db_layers().is_empty());
    assert!(t.driver_layers().is_empty());
}
