//! Archives written by other tools load too: skopeo (installed with Strata's dependencies)
//! converts a test image into an OCI archive (gzip or zstd layers) and a docker-archive.

#[macro_use]
mod images_support;

use std::path::Path;
use std::process::Command;

use images_support::TestEngine;
use strata_test_support::image_builder::TestImage;

for_each_driver!(archives_written_by_skopeo);

/// `skopeo copy ARGS...`; fails the test with what is missing when skopeo is absent.
fn skopeo_copy(args: &[&str]) {
    let output = Command::new("skopeo")
        .arg("copy")
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running skopeo (Debian package skopeo) failed: {e}"));
    assert!(
        output.status.success(),
        "skopeo copy {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn arg(kind: &str, path: &Path, name: &str) -> String {
    format!("{kind}:{}:{name}", path.display())
}

async fn archives_written_by_skopeo(driver: &'static str) {
    let t = TestEngine::start(driver).await;
    let source = t.archive_path("source.tar");
    let built = TestImage::busybox("strata-test/source:1")
        .random_layers(2, 16 * 1024)
        .build_docker_archive(&source)
        .unwrap();
    let src = format!("docker-archive:{}", source.display());

    let cases = [
        (
            "oci-gzip.tar",
            "oci-archive",
            "strata-test/sk-gzip:1",
            vec!["--dest-compress-format", "gzip"],
        ),
        (
            "oci-zstd.tar",
            "oci-archive",
            "strata-test/sk-zstd:1",
            vec!["--dest-compress-format", "zstd"],
        ),
        (
            "docker.tar",
            "docker-archive",
            "strata-test/sk-docker:1",
            vec![],
        ),
    ];
    for (file, kind, name, extra) in cases {
        let dest_path = t.archive_path(file);
        let dest = arg(kind, &dest_path, name);
        let mut args: Vec<&str> = extra.clone();
        if kind == "oci-archive" {
            args.push("--dest-compress");
        }
        args.push(&src);
        args.push(&dest);
        skopeo_copy(&args);
        let report = t
            .load(&dest_path)
            .await
            .unwrap_or_else(|e| panic!("loading skopeo's {file}: {e}"));
        // skopeo names OCI archives with a full `org.opencontainers.image.ref.name`.
        assert_eq!(
            report.messages,
            vec![format!("Loaded image: {name}")],
            "{file}"
        );
        let details = t.engine.inspect_image(name).await.unwrap();
        assert_eq!(
            details.layers, built.diff_ids,
            "{file}: same diff ids whatever the compression"
        );
    }
    assert_eq!(
        t.driver_layers().len(),
        3,
        "all copies share the same three layers"
    );
}
