//! Bad input: each hostile archive is refused with a message naming the problem, and leaves no
//! layer in the database, no driver layer on disk, no temporary file, no image or tag, and
//! nothing written outside the data root.

#[macro_use]
mod images_support;

use std::collections::BTreeSet;
use std::path::Path;

use images_support::TestEngine;
use strata_agent::error::ErrorKind;
use strata_agent::EngineError;
use strata_test_support::hostile;
use strata_test_support::image_builder::{Compression, DockerLayout, TestImage};

for_each_driver!(
    truncated_archive,
    archive_cut_between_entries,
    diff_id_mismatch,
    blob_digest_mismatch_docker_archive,
    blob_digest_mismatch_oci_layout,
    layer_entry_with_dot_dot,
    layer_write_through_symlink,
    layer_symlink_escaping_the_root,
    outer_archive_with_dot_dot,
    outer_archive_with_escaping_symlink,
    not_an_archive_and_missing_files,
    failure_keeps_a_base_other_images_use,
);

/// What must not change across a failed load.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    layers: BTreeSet<(String, String)>,
    driver: BTreeSet<String>,
    images: BTreeSet<String>,
    refs: BTreeSet<(String, String)>,
}

fn snapshot(t: &TestEngine) -> Snapshot {
    Snapshot {
        layers: t.db_layers(),
        driver: t.driver_entries(),
        images: t.db_images(),
        refs: t.db_refs(),
    }
}

/// Load `path`, expect an invalid-argument error whose message contains every `needle`, and
/// check nothing was left behind.
async fn refused(t: &TestEngine, path: &Path, needles: &[&str]) -> EngineError {
    let before = snapshot(t);
    let err = t
        .load(path)
        .await
        .expect_err("a hostile archive must be refused");
    let message = err.to_string();
    eprintln!("{}: refused: {message}", path.display());
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{message}");
    for needle in needles {
        assert!(
            message.contains(needle),
            "error {message:?} should mention {needle:?}"
        );
    }
    assert_eq!(snapshot(t), before, "a failed load left traces ({message})");
    assert!(
        t.tmp_entries().is_empty(),
        "temporary files left: {:?}",
        t.tmp_entries()
    );
    err
}

fn sha256_file(path: &str) -> String {
    strata_test_support::image_builder::sha256_digest(&std::fs::read(path).expect("read"))
}

async fn truncated_archive(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("cut.tar");
    let image = TestImage::busybox("strata-test/cut:1").random_layers(2, 256 * 1024);
    hostile::truncated_docker_archive(&image, &path).unwrap();
    let err = refused(&t, &path, &["truncated"]).await;
    assert!(matches!(err, EngineError::InvalidArchive(_)), "{err:?}");
}

async fn archive_cut_between_entries(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("cut-boundary.tar");
    let image = TestImage::busybox("strata-test/cut:2").random_layers(1, 1024);
    hostile::truncated_at_entry_boundary(&image, &path).unwrap();
    let err = refused(&t, &path, &["truncated", "end-of-archive"]).await;
    assert!(matches!(err, EngineError::InvalidArchive(_)), "{err:?}");
}

async fn diff_id_mismatch(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("diffid.tar");
    let built = hostile::diff_id_mismatch("strata-test/diffid:1")
        .build_docker_archive(&path)
        .unwrap();
    let wrong = built.config["rootfs"]["diff_ids"][2]
        .as_str()
        .unwrap()
        .to_string();
    let err = refused(&t, &path, &["diff id", &wrong, &built.diff_ids[2]]).await;
    assert!(matches!(err, EngineError::DigestMismatch { .. }), "{err:?}");
}

async fn blob_digest_mismatch_docker_archive(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("blob.tar");
    let built = TestImage::busybox("strata-test/blob:1")
        .random_layers(1, 2048)
        .compression(Compression::Gzip)
        .layout(DockerLayout::Blobs)
        .corrupt_blob_digest(1)
        .build_docker_archive(&path)
        .unwrap();
    let err = refused(&t, &path, &["blob", &built.blob_digests[1]]).await;
    assert!(matches!(err, EngineError::DigestMismatch { .. }), "{err:?}");
}

async fn blob_digest_mismatch_oci_layout(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("blob-oci.tar");
    let built = TestImage::busybox("strata-test/blob:2")
        .random_layers(2, 2048)
        .compression(Compression::Zstd)
        .corrupt_blob_digest(2)
        .build_oci_layout(&path)
        .unwrap();
    let err = refused(&t, &path, &["blob", &built.blob_digests[2]]).await;
    assert!(matches!(err, EngineError::DigestMismatch { .. }), "{err:?}");
}

async fn layer_entry_with_dot_dot(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("dotdot.tar");
    hostile::path_escape("strata-test/dotdot:1")
        .build_docker_archive(&path)
        .unwrap();
    refused(&t, &path, &["../evil"]).await;
    let data = t.data_root();
    for place in [
        data.join("evil"),
        data.join(driver).join("evil"),
        data.join("vfs/dir/evil"),
        t.dir.path().join("evil"),
    ] {
        assert!(!place.exists(), "{} was written", place.display());
    }
}

async fn layer_write_through_symlink(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let passwd_before = sha256_file("/etc/passwd");
    let path = t.archive_path("through.tar");
    hostile::write_through_symlink("strata-test/through:1")
        .build_oci_layout(&path)
        .unwrap();
    refused(&t, &path, &["link"]).await;
    assert_eq!(
        sha256_file("/etc/passwd"),
        passwd_before,
        "/etc/passwd was modified"
    );
}

async fn layer_symlink_escaping_the_root(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("escape.tar");
    hostile::escaping_symlink("strata-test/escape:1")
        .build_docker_archive(&path)
        .unwrap();
    refused(&t, &path, &["escape"]).await;
    assert!(
        !Path::new("/etc/strata-evil").exists(),
        "/etc/strata-evil was written"
    );
}

async fn outer_archive_with_dot_dot(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("outer-dotdot.tar");
    hostile::outer_path_escape(&path).unwrap();
    refused(&t, &path, &["../evil", ".."]).await;
    assert!(!t.data_root().join("evil").exists());
}

async fn outer_archive_with_escaping_symlink(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("outer-link.tar");
    hostile::outer_symlink_escape(&path).unwrap();
    refused(&t, &path, &["manifest.json", "/etc/passwd", "outside"]).await;
}

async fn not_an_archive_and_missing_files(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let path = t.archive_path("junk.tar");
    std::fs::write(&path, b"this is not a tar archive, not even close").unwrap();
    refused(&t, &path, &["archive"]).await;

    // A tar with neither manifest.json nor index.json.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "hello.txt", &b"hello"[..])
        .unwrap();
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    refused(&t, &path, &["manifest.json", "index.json"]).await;

    // A manifest naming files the archive lacks.
    let mut builder = tar::Builder::new(Vec::new());
    let manifest = br#"[{"Config":"abc.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "manifest.json", &manifest[..])
        .unwrap();
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    refused(&t, &path, &["abc.json"]).await;
}

async fn failure_keeps_a_base_other_images_use(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let good = t.archive_path("good.tar");
    TestImage::busybox("strata-test/good:1")
        .random_layers(1, 1024)
        .build_docker_archive(&good)
        .unwrap();
    t.load(&good).await.expect("load good image");
    let bad = t.archive_path("bad.tar");
    // Shares the busybox base, then fails on its second random layer.
    hostile::diff_id_mismatch("strata-test/bad:1")
        .build_docker_archive(&bad)
        .unwrap();
    refused(&t, &bad, &["diff id"]).await;
    let details = t.engine.inspect_image("strata-test/good:1").await.unwrap();
    assert_eq!(details.layers.len(), 2);
    assert!(images_support::image_file(&details.graph_driver.data, "bin/busybox").is_some());
}
