//! What one layer may cost the data root (issue 13, item 7), through `docker load`: a GNU
//! sparse file stays sparse on disk, runs, and saves back byte for byte; a layer expanding past
//! `--max-layer-size` is refused with a message naming the layer and the limit, and leaves
//! nothing behind.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::image_builder::{sha256_digest, LayerEntry, TestImage};

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}

/// Bytes allocated on disk under `root` (st_blocks, each inode once), not following symlinks
/// or crossing into other filesystems (overlay mounts of running containers).
fn allocated_bytes(root: &Path) -> Result<u64> {
    fn walk(path: &Path, dev: u64, seen: &mut HashSet<(u64, u64)>, total: &mut u64) -> Result<()> {
        let md =
            std::fs::symlink_metadata(path).with_context(|| format!("stat {}", path.display()))?;
        if md.dev() != dev {
            return Ok(());
        }
        if seen.insert((md.dev(), md.ino())) {
            *total += md.blocks() * 512;
        }
        if md.is_dir() {
            for entry in std::fs::read_dir(path)? {
                walk(&entry?.path(), dev, seen, total)?;
            }
        }
        Ok(())
    }
    let dev = std::fs::metadata(root)?.dev();
    let mut total = 0;
    walk(root, dev, &mut HashSet::new(), &mut total)?;
    Ok(total)
}

/// 4 KiB of recognisable, non-zero data: the only data of the sparse file.
fn tail() -> Vec<u8> {
    (0..4096u32).map(|i| (i % 251) as u8 + 1).collect()
}

const SPARSE_SIZE: u64 = 4 << 30;

#[test]
fn a_sparse_file_loads_sparse_runs_and_saves_byte_exact() -> Result<()> {
    const TAG: &str = "strata-test/sparse:1";
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), "overlay2")?;
    let archive = work.path().join("sparse.tar");
    let built = TestImage::busybox(TAG)
        .layer(
            "a 4 GiB sparse file with 4 KiB of data",
            vec![LayerEntry::sparse("big", SPARSE_SIZE, tail())],
        )
        .build_docker_archive(&archive)?;
    let archive_len = std::fs::metadata(&archive)?.len();
    ensure!(
        archive_len < 16 << 20,
        "the archive is small: {archive_len} bytes"
    );

    let before = allocated_bytes(d.data_root())?;
    d.docker_ok(["load", "-i", path_str(&archive)?])?;
    let after = allocated_bytes(d.data_root())?;
    let grown = after.saturating_sub(before);
    eprintln!("data root grew by {grown} bytes for a {SPARSE_SIZE}-byte sparse file ({archive_len}-byte archive)");
    ensure!(
        grown < 64 << 20,
        "the data root grew by {grown} bytes: the sparse file was written dense"
    );

    let out = d.docker([
        "run",
        "--rm",
        TAG,
        "sh",
        "-c",
        "ls -ln /big | awk '{print $5}'; tail -c 4096 /big | sha256sum; head -c 4096 /big | sha256sum",
    ]);
    let tail_sum = sha256_digest(&tail());
    let zeros_sum = sha256_digest(&[0u8; 4096]);
    let expected = format!(
        "{SPARSE_SIZE}\n{}  -\n{}  -\n",
        tail_sum.trim_start_matches("sha256:"),
        zeros_sum.trim_start_matches("sha256:")
    );
    ensure!(
        out.code() == 0 && out.stdout_text() == expected,
        "size and content inside a container (expected {expected:?}): {}",
        out.describe()
    );

    // docker save rebuilds the layer as it came (still sparse in the tar): same diffID.
    let saved = work.path().join("saved.tar");
    d.docker_ok(["save", "-o", path_str(&saved)?, TAG])?;
    let saved_len = std::fs::metadata(&saved)?.len();
    ensure!(
        saved_len < 16 << 20,
        "the saved archive is {saved_len} bytes"
    );
    let listing = Command::new("tar")
        .arg("-xOf")
        .arg(&saved)
        .arg("manifest.json")
        .output()?;
    let manifest: Value = serde_json::from_slice(&listing.stdout)
        .with_context(|| format!("manifest.json of the saved archive: {}", listing.describe()))?;
    let layers: Vec<String> = serde_json::from_value(manifest[0]["Layers"].clone())?;
    ensure!(layers.len() == built.diff_ids.len(), "{layers:?}");
    for (name, diff_id) in layers.iter().zip(&built.diff_ids) {
        let member = Command::new("tar")
            .arg("-xOf")
            .arg(&saved)
            .arg(name)
            .output()?;
        ensure!(
            member.status.success(),
            "extracting {name}: {}",
            member.describe()
        );
        let actual = sha256_digest(&member.stdout);
        ensure!(
            &actual == diff_id,
            "saved layer {name} hashes to {actual}, loaded as {diff_id}"
        );
    }
    Ok(())
}

#[test]
fn a_layer_past_max_layer_size_is_refused_and_leaves_nothing() -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start_with_args(strata_bin(), "overlay2", &["--max-layer-size", "8M"])?;

    // Under the limit: loads.
    let small = work.path().join("small.tar");
    TestImage::busybox("strata-test/small:1")
        .random_layers(1, 1 << 20)
        .build_docker_archive(&small)?;
    d.docker_ok(["load", "-i", path_str(&small)?])?;

    let cases: Vec<(&str, TestImage)> = vec![
        (
            "12 MiB of data",
            TestImage::busybox("strata-test/big:1").random_layers(1, 12 << 20),
        ),
        (
            "a 1 TiB sparse file",
            TestImage::busybox("strata-test/bigsparse:1").layer(
                "a 1 TiB sparse file",
                vec![LayerEntry::sparse("huge", 1 << 40, tail())],
            ),
        ),
    ];
    for (what, image) in cases {
        let archive = work.path().join("over.tar");
        image.build_docker_archive(&archive)?;
        let images_before = d.docker_ok(["images", "-q", "--no-trunc"])?;
        let before = d.snapshot()?;
        let out = d.docker(["load", "-i", path_str(&archive)?]);
        eprintln!("{what}: exit {}: {}", out.code(), out.stderr_text().trim());
        let stderr = out.stderr_text();
        ensure!(
            out.code() != 0 && stderr.contains("Error response from daemon"),
            "{what}: docker load must fail with an API error: {}",
            out.describe()
        );
        ensure!(
            stderr.contains("layer 2 of 2")
                && stderr.contains("8388608 bytes")
                && stderr.contains("--max-layer-size"),
            "{what}: the message names the layer and the limit: {}",
            out.describe()
        );
        let after = d.snapshot()?;
        let diff = after.diff_from(&before);
        ensure!(
            diff.is_empty(),
            "{what}: the refused load left a trace:\n{diff}"
        );
        ensure!(
            d.docker_ok(["images", "-q", "--no-trunc"])? == images_before,
            "{what}: docker images changed"
        );
    }
    Ok(())
}
