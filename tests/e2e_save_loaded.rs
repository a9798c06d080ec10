//! `docker save` of images loaded from archives another tool wrote (the test busybox image with
//! several gzip and plain layers, whiteouts and opaque directories), on overlay2 and on vfs (a
//! full-tree driver): the layers are rebuilt from the tar-split records taken when they were
//! loaded, so the saved blobs hash to the image's RootFS diff ids, skopeo accepts the archive,
//! and a second daemon loads it (same image id) and runs it. Without its record such a layer is
//! refused clearly. Split files go with their layers (`docker rmi`) and crash leftovers go at
//! start.
//! Layers made by `docker import` (of a GNU-format tar written by GNU tar) and `docker commit`
//! get records too and save to blobs that hash to their diff ids.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::{DaemonOptions, StrataDaemon};
use strata_test_support::docker_cli::{which, OutputExt};
use strata_test_support::image_builder::{Compression, TestImage};

const TAG: &str = "strata-test/save-loaded:1";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}

/// Run a host tool and return its stdout; fails naming the tool when it is missing.
fn host_tool(tool: &str, args: &[&str]) -> Result<Vec<u8>> {
    if which(tool).is_none() {
        bail!("{tool} is missing on this host: this test needs it (apt-get install {tool})");
    }
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {tool}"))?;
    ensure!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        out.describe()
    );
    Ok(out.stdout)
}

fn tar_member(archive: &Path, member: &str) -> Result<Vec<u8>> {
    host_tool("tar", &["-xOf", path_str(archive)?, member])
}

fn sha256_of_member(archive: &Path, member: &str) -> Result<String> {
    let script = format!("tar -xOf '{}' '{}' | sha256sum", path_str(archive)?, member);
    let out = host_tool("sh", &["-c", &script])?;
    let text = String::from_utf8_lossy(&out);
    Ok(format!(
        "sha256:{}",
        text.split_whitespace().next().unwrap_or_default()
    ))
}

fn split_dirs(d: &StrataDaemon) -> Result<Vec<String>> {
    let dir = d.data_root().join("layers");
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<std::io::Result<_>>()?;
    names.sort();
    Ok(names)
}

fn save_loaded_image(driver: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let mut d = StrataDaemon::start(strata_bin(), driver)?;
    let archive = work.path().join("loaded.tar");
    let built = TestImage::busybox(TAG)
        .random_layers(3, 5000)
        .compression(Compression::Gzip)
        .layer_compression(2, Compression::None)
        .cmd(&[
            "sh",
            "-c",
            "cat /data/common.txt >/dev/null && echo saved-and-loaded",
        ])
        .build_docker_archive(&archive)?;
    ensure!(built.diff_ids.len() == 4, "a multi-layer image: {built:?}");
    d.docker_ok(["load", "-i", path_str(&archive)?])?;

    // Each loaded layer has its tar-split record.
    for chain in &built.chain_ids {
        let hex = chain.trim_start_matches("sha256:");
        let split = d.data_root().join("layers").join(hex).join("tar-split");
        ensure!(
            split.is_file(),
            "layer {chain} has a tar-split file at {}; layers dir holds {:?}",
            split.display(),
            split_dirs(&d)?
        );
    }

    // docker save: each layer blob hashes to its diff id.
    let saved = work.path().join("saved.tar");
    let out = d.docker(["save", "-o", path_str(&saved)?, TAG]);
    out.ok("docker save of a loaded image")?;
    let manifest: Value = serde_json::from_slice(&tar_member(&saved, "manifest.json")?)?;
    let layer_names: Vec<String> = serde_json::from_value(manifest[0]["Layers"].clone())?;
    let inspected: Value = serde_json::from_str(&d.docker_ok(["image", "inspect", TAG])?)?;
    let diff_ids: Vec<String> = serde_json::from_value(inspected[0]["RootFS"]["Layers"].clone())?;
    ensure!(
        diff_ids == built.diff_ids,
        "RootFS diff ids {diff_ids:?} vs built {:?}",
        built.diff_ids
    );
    ensure!(
        layer_names.len() == diff_ids.len(),
        "{layer_names:?} vs {diff_ids:?}"
    );
    for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
        let actual = sha256_of_member(&saved, name)?;
        ensure!(
            &actual == diff_id,
            "saved layer {name} hashes to {actual}, the image's diff id is {diff_id}"
        );
    }

    // skopeo reads it as a docker-archive.
    let skopeo = host_tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{}", path_str(&saved)?)],
    )?;
    let skopeo: Value = serde_json::from_slice(&skopeo)?;
    ensure!(
        skopeo["Layers"].as_array().map(Vec::len) == Some(diff_ids.len()),
        "skopeo reads the archive: {skopeo}"
    );

    // A second daemon loads it as the same image and runs it.
    let d2 = StrataDaemon::start(strata_bin(), driver)?;
    let loaded = d2.docker_ok(["load", "-i", path_str(&saved)?])?;
    ensure!(
        loaded.contains(&format!("Loaded image: {TAG}")),
        "second daemon loads the archive:\n{loaded}"
    );
    let id1 = d.docker_ok(["image", "inspect", "--format", "{{.Id}}", TAG])?;
    let id2 = d2.docker_ok(["image", "inspect", "--format", "{{.Id}}", TAG])?;
    ensure!(id1 == id2, "same image id on both daemons: {id1} vs {id2}");
    let printed = d2.docker_ok(["run", "--rm", TAG])?;
    ensure!(
        printed == "saved-and-loaded\n",
        "second daemon runs the image: {printed:?}"
    );

    // Saving what the second daemon loaded from our save gives the same layers again.
    let resaved = work.path().join("resaved.tar");
    d2.docker_ok(["save", "-o", path_str(&resaved)?, TAG])?;
    for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
        let actual = sha256_of_member(&resaved, name)?;
        ensure!(
            &actual == diff_id,
            "re-saved layer {name}: {actual} vs {diff_id}"
        );
    }

    // Without its record, a layer another tool wrote is not reproduced: refused clearly.
    let top = built.chain_ids.last().context("no layers")?;
    let top_split = d
        .data_root()
        .join("layers")
        .join(top.trim_start_matches("sha256:"))
        .join("tar-split");
    std::fs::remove_file(&top_split)?;
    let refused = d.docker(["save", "-o", path_str(&work.path().join("no.tar"))?, TAG]);
    ensure!(
        refused.code() != 0 && refused.stderr_text().contains("does not reproduce"),
        "saving a layer without its tar-split record fails clearly: {}",
        refused.describe()
    );

    // Split files go with their layers.
    d.docker_ok(["rmi", TAG])?;
    let left = split_dirs(&d)?;
    ensure!(left.is_empty(), "rmi removes the tar-split files: {left:?}");

    // Crash leftovers (a temporary split, a split of a layer nothing records) go at start.
    d.stop()?;
    let layers_dir = d.data_root().join("layers");
    std::fs::create_dir_all(layers_dir.join("a".repeat(64)))?;
    std::fs::write(layers_dir.join("a".repeat(64)).join("tar-split"), b"stale")?;
    std::fs::write(
        layers_dir.join(".tmp-tar-split-0123456789abcdef"),
        b"partial",
    )?;
    d.restart(&DaemonOptions::default())?;
    let left = split_dirs(&d)?;
    ensure!(
        left.is_empty(),
        "start removes orphaned tar-split data: {left:?}"
    );
    Ok(())
}

#[test]
fn save_of_a_loaded_image_on_overlay2() -> Result<()> {
    save_loaded_image("overlay2")
}

#[test]
fn save_of_a_loaded_image_on_vfs() -> Result<()> {
    save_loaded_image("vfs")
}

/// A rootfs tar written by GNU tar (GNU format: long names as `././@LongLink`, hard links,
/// symlinks, an empty file, a file of exactly 1024 bytes).
fn gnu_tar_rootfs(work: &Path) -> Result<std::path::PathBuf> {
    let root = work.join("rootfs");
    let deep = root.join("deep").join("x".repeat(90)).join("y".repeat(90));
    std::fs::create_dir_all(&deep)?;
    std::fs::write(deep.join("long-named-file"), b"from gnu tar\n")?;
    std::fs::write(root.join("empty"), b"")?;
    std::fs::write(root.join("kib"), vec![b'k'; 1024])?;
    std::fs::write(root.join("target"), b"linked\n")?;
    std::fs::hard_link(root.join("target"), root.join("hard"))?;
    std::os::unix::fs::symlink("target", root.join("sym"))?;
    let tar = work.join("gnu.tar");
    host_tool(
        "tar",
        &[
            "--format=gnu",
            "-C",
            path_str(&root)?,
            "-cf",
            path_str(&tar)?,
            ".",
        ],
    )?;
    Ok(tar)
}

fn chain_hex(d: &StrataDaemon, image: &str) -> Result<Vec<String>> {
    let inspected: Value = serde_json::from_str(&d.docker_ok(["image", "inspect", image])?)?;
    let diff_ids: Vec<String> = serde_json::from_value(inspected[0]["RootFS"]["Layers"].clone())?;
    Ok(strata_test_support::image_builder::chain_ids(&diff_ids)
        .into_iter()
        .map(|c| c.trim_start_matches("sha256:").to_string())
        .collect())
}

/// Layers made by `docker import` (of a GNU tar) and `docker commit` get tar-split records too,
/// and their saved blobs hash to their diff ids.
fn save_of_import_and_commit(driver: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), driver)?;
    let imported = "strata-test/gnu-import:1";
    let tar = gnu_tar_rootfs(work.path())?;
    d.docker_ok(["import", path_str(&tar)?, imported])?;

    let base_archive = work.path().join("base.tar");
    TestImage::busybox(TAG).build_docker_archive(&base_archive)?;
    d.docker_ok(["load", "-i", path_str(&base_archive)?])?;
    d.docker_ok([
        "run",
        "--name",
        "src",
        TAG,
        "sh",
        "-c",
        "echo committed > /c && rm /etc/group",
    ])?;
    let committed = "strata-test/committed-split:1";
    d.docker_ok(["commit", "src", committed])?;

    for image in [imported, committed] {
        let top = chain_hex(&d, image)?
            .pop()
            .context("image without layers")?;
        let split = d.data_root().join("layers").join(&top).join("tar-split");
        ensure!(
            split.is_file(),
            "the top layer of {image} has a tar-split file at {}",
            split.display()
        );
        let saved = work.path().join("saved.tar");
        d.docker(["save", "-o", path_str(&saved)?, image])
            .ok(&format!("docker save {image}"))?;
        let manifest: Value = serde_json::from_slice(&tar_member(&saved, "manifest.json")?)?;
        let layer_names: Vec<String> = serde_json::from_value(manifest[0]["Layers"].clone())?;
        let inspected: Value = serde_json::from_str(&d.docker_ok(["image", "inspect", image])?)?;
        let diff_ids: Vec<String> =
            serde_json::from_value(inspected[0]["RootFS"]["Layers"].clone())?;
        ensure!(layer_names.len() == diff_ids.len(), "{layer_names:?}");
        for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
            let actual = sha256_of_member(&saved, name)?;
            ensure!(
                &actual == diff_id,
                "{image}: saved layer {name} hashes to {actual}, diff id {diff_id}"
            );
        }
    }
    // The imported layer is GNU tar's own tar, byte for byte.
    let import_diff = chain_hex(&d, imported)?;
    let original = host_tool("sha256sum", &[path_str(&tar)?])?;
    ensure!(
        String::from_utf8_lossy(&original).starts_with(&import_diff[0]),
        "the imported layer's diff id is GNU tar's file digest"
    );
    Ok(())
}

#[test]
fn save_of_import_and_commit_on_overlay2() -> Result<()> {
    save_of_import_and_commit("overlay2")
}

#[test]
fn save_of_import_and_commit_on_vfs() -> Result<()> {
    save_of_import_and_commit("vfs")
}
