//! Crash repair at start: a driver layer nothing records (a crash between `driver.create` and the
//! database commit), a recorded layer no image needs (a crash between recording a layer and
//! recording its image) and a load's temporary directory are all removed by `Engine::open`;
//! what is complete survives restarts untouched.

#[macro_use]
mod images_support;

use std::collections::BTreeSet;

use images_support::{image_file, open_engine, TestEngine};
use strata_drivers::{open_driver, DriverOptions, LayerId};
use strata_test_support::image_builder::{layer_tar, LayerEntry, TestImage};

for_each_driver!(
    orphans_left_by_a_crash_are_removed_at_start,
    images_survive_a_restart
);

fn random_id() -> LayerId {
    let bytes: [u8; 32] = rand::random();
    LayerId::new(hex::encode(bytes)).unwrap()
}

async fn orphans_left_by_a_crash_are_removed_at_start(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("a.tar");
    let built = TestImage::busybox("strata-test/a:1")
        .random_layers(2, 4096)
        .build_docker_archive(&path)
        .unwrap();
    t.load(&path).await.expect("load");
    let kept_layers = t.db_layers();
    let kept_driver: BTreeSet<String> = t.driver_layers();
    let top_cache = kept_layers
        .iter()
        .find(|(chain, _)| chain == &built.chain_ids[2])
        .map(|(_, cache)| LayerId::new(cache.clone()).unwrap())
        .unwrap();

    // Stop the engine, then play the part of an agent that crashed at various instants.
    t.engine.shutdown().await.unwrap();
    let TestEngine {
        engine,
        dir,
        driver: name,
    } = t;
    drop(engine);
    let data = dir.path().join("data");
    let tar = layer_tar(&[LayerEntry::file("half-written", b"partial".to_vec())]).unwrap();
    {
        let graph = open_driver(name, &DriverOptions::new(data.join(name))).expect("open driver");
        // 1. A load that had created and was unpacking a layer on top of the image.
        let on_top = random_id();
        graph.create(&on_top, Some(&top_cache)).unwrap();
        graph.apply_diff(&on_top, &mut &tar[..]).unwrap();
        // 2. A chain of two unrecorded layers (removed child first).
        let (base, child) = (random_id(), random_id());
        graph.create(&base, None).unwrap();
        graph.create(&child, Some(&base)).unwrap();
        // 3. A layer recorded in the database, but the image needing it never was.
        let recorded = random_id();
        graph.create(&recorded, None).unwrap();
        graph.apply_diff(&recorded, &mut &tar[..]).unwrap();
        let conn = rusqlite::Connection::open(data.join("strata.db")).unwrap();
        let chain = strata_test_support::image_builder::sha256_digest(&tar);
        conn.execute(
            "INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created_at)
             VALUES (?1, ?1, NULL, ?2, 7, '2024-01-01T00:00:00Z')",
            rusqlite::params![chain, recorded.as_str()],
        )
        .unwrap();
        assert_eq!(
            images_support::driver_layer_ids(&data, name).len(),
            kept_driver.len() + 4
        );
    }
    // 4. A load's temporary directory.
    std::fs::create_dir_all(data.join("tmp/load-0123456789abcdef/blobs")).unwrap();
    std::fs::write(data.join("tmp/load-0123456789abcdef/blobs/x"), b"leftover").unwrap();

    let engine = open_engine(dir.path(), name).await;
    let t = TestEngine {
        engine,
        dir,
        driver: name,
    };
    assert_eq!(
        t.driver_layers(),
        kept_driver,
        "orphaned driver layers are removed"
    );
    assert_eq!(
        t.db_layers(),
        kept_layers,
        "the unreferenced layer record is forgotten"
    );
    assert!(
        t.tmp_entries().is_empty(),
        "tmp is wiped: {:?}",
        t.tmp_entries()
    );
    let details = t
        .engine
        .inspect_image("strata-test/a:1")
        .await
        .expect("image intact");
    assert!(image_file(&details.graph_driver.data, "bin/busybox").is_some());
    assert_eq!(details.layers, built.diff_ids);
}

async fn images_survive_a_restart(driver: &'static str) {
    let mut t = TestEngine::start(driver).await;
    let path = t.archive_path("r.tar");
    let built = TestImage::busybox("strata-test/r:1")
        .random_layers(1, 4096)
        .build_oci_layout(&path)
        .unwrap();
    t.load(&path).await.expect("load");
    let (layers, entries, listed) = (
        t.db_layers(),
        t.driver_entries(),
        t.engine.list_images().await.unwrap(),
    );
    t.restart().await;
    assert_eq!(t.db_layers(), layers);
    assert_eq!(t.driver_entries(), entries);
    assert_eq!(t.engine.list_images().await.unwrap(), listed);
    assert_eq!(
        t.engine.inspect_image("strata-test/r:1").await.unwrap().id,
        built.id
    );
}
