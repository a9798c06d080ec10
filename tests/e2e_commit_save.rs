//! Images from containers and back, through the docker CLI on overlay2: `docker commit` (with
//! `--change`, `-m`, `-a`) of a container that wrote a file and deleted one of its image's;
//! `docker history` shows the new row; `docker export` | tar lists the tree; `docker import`
//! (plain file, and gzip on stdin with `--change`) gives runnable images; `docker save` writes a
//! docker-archive whose layer blobs hash to the image's RootFS diff ids, that skopeo accepts and
//! that a second daemon loads and runs. An image loaded from another tool's archive is saved
//! too (from its layers' tar-split records; `e2e_save_loaded` checks those archives in depth).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::{which, OutputExt};
use strata_test_support::image_builder::TestImage;

const BASE: &str = "strata-test/commit-base:1";
const DRIVER: &str = "overlay2";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}

fn inspect_json(d: &StrataDaemon, args: &[&str]) -> Result<Value> {
    let text = d.docker_ok(args)?;
    let list: Value =
        serde_json::from_str(&text).with_context(|| format!("inspect printed {text:?}"))?;
    list.get(0)
        .cloned()
        .with_context(|| format!("inspect printed an empty list: {text}"))
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

/// Names listed by `tar -tf`, without a leading `./` or trailing `/`.
fn tar_names(archive: &Path) -> Result<Vec<String>> {
    let listing = host_tool("tar", &["-tf", path_str(archive)?])?;
    Ok(String::from_utf8_lossy(&listing)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect())
}

fn tar_member(archive: &Path, member: &str) -> Result<Vec<u8>> {
    host_tool("tar", &["-xOf", path_str(archive)?, member])
}

fn sha256_hex(bytes: &[u8]) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running sha256sum (coreutils)")?;
    child
        .stdin
        .take()
        .context("sha256sum stdin")?
        .write_all(bytes)?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

#[test]
fn commit_export_import_save_round_trip() -> Result<()> {
    let work = tempfile::tempdir()?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let base_archive = work.path().join("base.tar");
    TestImage::busybox(BASE).build_docker_archive(&base_archive)?;
    d.docker_ok(["load", "-i", path_str(&base_archive)?])?;

    // A container that writes a file and deletes one its image has.
    d.docker_ok([
        "run",
        "--name",
        "src",
        BASE,
        "sh",
        "-c",
        "echo committed-file > /x && rm /etc/group",
    ])?;

    // docker commit with --change, -m, -a.
    let committed = "strata-test/committed:1";
    let out = d.docker_ok([
        "commit",
        "--change",
        r#"CMD ["cat","/x"]"#,
        "--change",
        "ENV COMMITTED=yes",
        "-m",
        "my commit message",
        "-a",
        "Tess Ter <tess@example.com>",
        "src",
        committed,
    ])?;
    let new_id = out.trim().to_string();
    ensure!(
        new_id.starts_with("sha256:") && new_id.len() == 71,
        "docker commit prints the new image id, got {out:?}"
    );

    // The new image runs its new CMD and sees the container's changes.
    let printed = d.docker_ok(["run", "--rm", committed])?;
    ensure!(
        printed == "committed-file\n",
        "the committed image's CMD prints the file, got {printed:?}"
    );
    let env = d.docker_ok(["run", "--rm", committed, "env"])?;
    ensure!(
        env.lines().any(|l| l == "COMMITTED=yes"),
        "ENV change applied:\n{env}"
    );
    let gone = d.docker(["run", "--rm", committed, "cat", "/etc/group"]);
    ensure!(
        gone.code() == 1 && gone.stderr_text().contains("No such file"),
        "/etc/group deleted in the container stays deleted in the image: {}",
        gone.describe()
    );
    let hostname = d.docker_ok(["run", "--rm", committed, "cat", "/etc/hostname"])?;
    let src_id = d.docker_ok(["inspect", "--format", "{{.Id}}", "src"])?;
    ensure!(
        !src_id.trim().starts_with(hostname.trim()) || hostname.trim().is_empty(),
        "the -init layer's /etc/hostname of the source container is not committed"
    );

    // Inspect and history: the new row carries the command, comment and author.
    let image = inspect_json(&d, &["image", "inspect", committed])?;
    ensure!(image["Id"] == new_id.as_str(), "image id {}", image["Id"]);
    ensure!(
        image["Comment"] == "my commit message" && image["Author"] == "Tess Ter <tess@example.com>",
        "image comment/author: {} / {}",
        image["Comment"],
        image["Author"]
    );
    let layers = image["RootFS"]["Layers"]
        .as_array()
        .context("RootFS.Layers")?
        .len();
    ensure!(layers == 2, "base layer + committed layer, got {layers}");
    let history = d.docker_ok([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        committed,
    ])?;
    let top = history.lines().next().unwrap_or_default();
    ensure!(
        top == "sh -c echo committed-file > /x && rm /etc/group|my commit message",
        "the newest history row is the commit:\n{history}"
    );
    ensure!(
        history.lines().count() == 3,
        "the base image's rows (ADD, and CMD without a layer) below the commit's:\n{history}"
    );

    // docker export | tar -t lists the file, not the deleted one.
    let exported = work.path().join("export.tar");
    d.docker_ok(["export", "-o", path_str(&exported)?, "src"])?;
    let names = tar_names(&exported)?;
    for wanted in ["x", "bin/busybox", "etc/passwd", ".dockerenv"] {
        ensure!(
            names.iter().any(|n| n == wanted),
            "export lists {wanted}: {names:?}"
        );
    }
    ensure!(
        !names.iter().any(|n| n == "etc/group" || n.contains(".wh.")),
        "export has neither the deleted file nor whiteouts: {names:?}"
    );

    // docker import of that tar, then run.
    let imported = "strata-test/imported:1";
    let out = d.docker_ok(["import", path_str(&exported)?, imported])?;
    ensure!(
        out.trim().starts_with("sha256:"),
        "docker import prints the image id, got {out:?}"
    );
    let printed = d.docker_ok(["run", "--rm", imported, "cat", "/x"])?;
    ensure!(
        printed == "committed-file\n",
        "imported image runs: {printed:?}"
    );
    let history = d.docker_ok(["history", "--format", "{{.Comment}}", imported])?;
    ensure!(
        history.trim() == "Imported from -",
        "import history row: {history:?}"
    );

    // Compressed input on stdin, with --change and -m.
    let gz = host_tool("gzip", &["-c", path_str(&exported)?])?;
    let out = d.docker_with_stdin(
        [
            "import",
            "--change",
            r#"ENTRYPOINT ["cat"]"#,
            "--change",
            r#"CMD ["/x"]"#,
            "-m",
            "from stdin",
            "-",
            "strata-test/imported:2",
        ],
        &gz,
    );
    out.ok("docker import - (gzip)")?;
    let printed = d.docker_ok(["run", "--rm", "strata-test/imported:2"])?;
    ensure!(
        printed == "committed-file\n",
        "gzip import with ENTRYPOINT/CMD changes: {printed:?}"
    );

    // docker save: layer digests equal the RootFS diff ids, skopeo accepts the archive.
    let saved = work.path().join("saved.tar");
    d.docker_ok(["save", "-o", path_str(&saved)?, imported])?;
    let manifest: Value = serde_json::from_slice(&tar_member(&saved, "manifest.json")?)?;
    let entry = &manifest[0];
    ensure!(
        entry["RepoTags"] == serde_json::json!([imported]),
        "manifest RepoTags: {manifest}"
    );
    let diff_ids: Vec<String> = serde_json::from_value(
        inspect_json(&d, &["image", "inspect", imported])?["RootFS"]["Layers"].clone(),
    )?;
    let layer_names: Vec<String> = serde_json::from_value(entry["Layers"].clone())?;
    ensure!(
        layer_names.len() == diff_ids.len(),
        "{layer_names:?} vs {diff_ids:?}"
    );
    for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
        let blob = tar_member(&saved, name)?;
        let actual = format!("sha256:{}", sha256_hex(&blob)?);
        ensure!(
            &actual == diff_id && name.ends_with(&diff_id["sha256:".len()..]),
            "saved layer {name} hashes to {actual}, the image's diff id is {diff_id}"
        );
    }
    let names = tar_names(&saved)?;
    for wanted in ["oci-layout", "index.json", "repositories", "manifest.json"] {
        ensure!(
            names.iter().any(|n| n == wanted),
            "save lists {wanted}: {names:?}"
        );
    }
    let skopeo = host_tool(
        "skopeo",
        &["inspect", &format!("docker-archive:{}", path_str(&saved)?)],
    )?;
    let skopeo: Value = serde_json::from_slice(&skopeo)?;
    ensure!(
        skopeo["Layers"].as_array().map(Vec::len) == Some(diff_ids.len()),
        "skopeo reads the archive: {skopeo}"
    );

    // Load into a second daemon and run.
    let d2 = StrataDaemon::start(strata_bin(), DRIVER)?;
    let loaded = d2.docker_ok(["load", "-i", path_str(&saved)?])?;
    ensure!(
        loaded.contains(&format!("Loaded image: {imported}")),
        "second daemon loads the archive:\n{loaded}"
    );
    let printed = d2.docker_ok(["run", "--rm", imported, "cat", "/x"])?;
    ensure!(
        printed == "committed-file\n",
        "second daemon runs it: {printed:?}"
    );
    let id1 = d.docker_ok(["image", "inspect", "--format", "{{.Id}}", imported])?;
    let id2 = d2.docker_ok(["image", "inspect", "--format", "{{.Id}}", imported])?;
    ensure!(id1 == id2, "same image id on both daemons: {id1} vs {id2}");

    // An image whose layer tars came from another tool is saved from its tar-split records.
    let base_saved = work.path().join("base-saved.tar");
    d.docker(["save", "-o", path_str(&base_saved)?, BASE])
        .ok("saving an image loaded from another tool's archive")?;

    // A running container is committed (frozen while read) and keeps running afterwards.
    d.docker_ok([
        "run",
        "-d",
        "--name",
        "live",
        BASE,
        "sh",
        "-c",
        "echo live-file > /y && exec sleep 300",
    ])?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let live_tar = work.path().join("live.tar");
    loop {
        d.docker_ok(["export", "-o", path_str(&live_tar)?, "live"])?;
        if tar_names(&live_tar)?.iter().any(|n| n == "y") {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the running container did not write /y within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d.docker_ok(["commit", "live", "strata-test/live:1"])?;
    let status = d.docker_ok(["inspect", "--format", "{{.State.Status}}", "live"])?;
    ensure!(
        status.trim() == "running",
        "the container runs on after commit, state {status:?}"
    );
    let printed = d.docker_ok(["run", "--rm", "strata-test/live:1", "cat", "/y"])?;
    ensure!(
        printed == "live-file\n",
        "commit of a running container: {printed:?}"
    );
    d.docker_ok(["rm", "-f", "live"])?;

    // Failure paths answer as Docker does.
    let missing = d.docker(["commit", "no-such-container"]);
    ensure!(
        missing.code() != 0
            && missing
                .stderr_text()
                .contains("No such container: no-such-container"),
        "{}",
        missing.describe()
    );
    let bad = d.docker(["commit", "--change", "RUN rm -rf /", "src"]);
    ensure!(
        bad.code() != 0
            && bad
                .stderr_text()
                .contains("RUN is not a valid change command"),
        "{}",
        bad.describe()
    );
    let url = d.docker(["import", "http://127.0.0.1:9/rootfs.tar"]);
    ensure!(
        url.code() != 0 && url.stderr_text().contains("does not download"),
        "{}",
        url.describe()
    );
    let no_image = d.docker([
        "save",
        "-o",
        path_str(&work.path().join("none.tar"))?,
        "nope:1",
    ]);
    ensure!(
        no_image.code() != 0 && no_image.stderr_text().contains("No such image"),
        "{}",
        no_image.describe()
    );
    Ok(())
}
