//! The "First light" scenario, shared by the end-to-end tests of every graph driver: on a fresh
//! `strata serve`, driven by the stock docker CLI: version/info, `docker load` of a multi-layer
//! image, images, inspect, history, `run --rm` with separated streams and the container's exit
//! code, create/start/wait, `ps -a`, inspect's GraphDriver paths, and after `rm` + `rmi`
//! nothing left on disk, in the metadata or in the mount table.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::daemon::StrataDaemon;
use crate::docker_cli::OutputExt;
use crate::image_builder::{Compression, TestImage};

/// The image the scenario loads.
const IMAGE: &str = "strata-test/multi:1";

/// `docker <args>` printing a JSON list (inspect): its first element.
pub fn inspect_json(d: &StrataDaemon, args: &[&str]) -> Result<Value> {
    let text = d.docker_ok(args)?;
    let list: Value =
        serde_json::from_str(&text).with_context(|| format!("inspect printed {text:?}"))?;
    list.get(0)
        .cloned()
        .with_context(|| format!("inspect printed an empty list: {text}"))
}

/// Every path named in a GraphDriver.Data map (LowerDir may list several, `:`-separated).
pub fn graph_driver_paths(graph_driver: &Value) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if let Some(data) = graph_driver["Data"].as_object() {
        for (key, value) in data {
            if let Some(text) = value.as_str() {
                if key.ends_with("Dir") {
                    for part in text.split(':').filter(|p| !p.is_empty()) {
                        out.push((key.clone(), PathBuf::from(part)));
                    }
                }
            }
        }
    }
    out
}

/// Run the first-light scenario on `d` (started on a fresh root, nothing loaded), then stop it
/// and check it exits 0.
pub fn first_light(d: &mut StrataDaemon) -> Result<()> {
    let driver = d.driver().to_string();
    let driver = driver.as_str();
    let work = tempfile::tempdir()?;

    // The CLI sees Strata and its driver.
    let version = d.docker_ok(["version"])?;
    ensure!(
        version.contains("Server: Strata"),
        "docker version shows Strata:\n{version}"
    );
    let info_driver = d.docker_ok(["info", "--format", "{{.Driver}}"])?;
    ensure!(
        info_driver.trim() == driver,
        "docker info Driver is {info_driver:?}, expected {driver}"
    );
    let root = d.docker_ok(["info", "--format", "{{.DockerRootDir}}"])?;
    ensure!(
        Path::new(root.trim()) == d.data_root(),
        "DockerRootDir {root:?}"
    );

    let baseline = d.snapshot()?;

    // docker load of a multi-layer image.
    let archive = work.path().join("multi.tar");
    let built = TestImage::busybox(IMAGE)
        .random_layers(3, 64 * 1024)
        .compression(Compression::Gzip)
        .build_docker_archive(&archive)?;
    let loaded = d.docker_ok(["load", "-i", archive.to_str().context("utf-8 path")?])?;
    ensure!(
        loaded.contains(&format!("Loaded image: {IMAGE}")),
        "docker load said:\n{loaded}"
    );

    let images = d.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])?;
    let short_id = &built.id["sha256:".len().."sha256:".len() + 12];
    ensure!(
        images.lines().any(|l| l == format!("{IMAGE} {short_id}")),
        "docker images lists {IMAGE} {short_id}:\n{images}"
    );

    let image = inspect_json(d, &["image", "inspect", IMAGE])?;
    ensure!(
        image["Id"] == built.id.as_str(),
        "image id {} vs built {}",
        image["Id"],
        built.id
    );
    let layers: Vec<String> = serde_json::from_value(image["RootFS"]["Layers"].clone())?;
    ensure!(
        layers == built.diff_ids,
        "RootFS.Layers {layers:?} vs built {:?}",
        built.diff_ids
    );
    ensure!(
        layers.len() == 4,
        "busybox base + 3 random layers, got {}",
        layers.len()
    );
    ensure!(
        image["GraphDriver"]["Name"] == driver,
        "image GraphDriver {}",
        image["GraphDriver"]
    );

    let history = d.docker_ok(["history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE])?;
    ensure!(
        history.lines().count() >= 4,
        "docker history shows every layer:\n{history}"
    );

    // run --rm: streams separated, exit code passed through.
    let out = d.docker([
        "run",
        "--rm",
        IMAGE,
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    ensure!(
        out.code() == 3,
        "docker run exit code: {}\n{}",
        out.code(),
        out.describe()
    );
    ensure!(
        out.stdout_text() == "out\n",
        "stdout exactly out\\n: {}",
        out.describe()
    );
    ensure!(
        out.stderr_text() == "err\n",
        "stderr exactly err\\n: {}",
        out.describe()
    );
    let all = d.docker_ok(["ps", "-a", "-q"])?;
    ensure!(
        all.trim().is_empty(),
        "--rm removed the container, ps -a shows {all:?}"
    );

    // stdin flows through the hijacked connection (-i), and a tty gets raw output (-t).
    let out = d.docker_with_stdin(["run", "--rm", "-i", IMAGE, "cat"], b"piped\n");
    ensure!(
        out.code() == 0 && out.stdout_text() == "piped\n",
        "run -i: {}",
        out.describe()
    );
    let out = d.docker(["run", "--rm", "-t", IMAGE, "sh", "-c", "echo tty; exit 5"]);
    ensure!(out.code() == 5, "run -t exit code: {}", out.describe());
    ensure!(
        out.stdout_text() == "tty\r\n",
        "run -t output is raw tty output: {}",
        out.describe()
    );

    // A missing image is pulled; the registry it names (loopback, a port nothing listens on: tests
    // never send traffic off this machine) cannot be reached, and the user is told so.
    let missing = d.docker(["run", "--rm", "127.0.0.1:1/strata-test/missing:1", "true"]);
    ensure!(
        missing.code() != 0,
        "run of a missing image must fail: {}",
        missing.describe()
    );
    ensure!(
        missing.stderr_text().contains("Unable to find image")
            && missing.stderr_text().contains("127.0.0.1:1"),
        "missing image message: {}",
        missing.describe()
    );

    // create + start + wait.
    let id = d.docker_ok([
        "create",
        "--name",
        "first-light",
        IMAGE,
        "sh",
        "-c",
        "echo hi; exit 7",
    ])?;
    let id = id.trim().to_string();
    ensure!(id.len() == 64, "docker create prints the id: {id:?}");
    let created = inspect_json(d, &["inspect", "first-light"])?;
    ensure!(
        created["State"]["Status"] == "created",
        "state after create: {}",
        created["State"]
    );
    d.docker_ok(["start", "first-light"])?;
    let code = d.docker_ok(["wait", "first-light"])?;
    ensure!(
        code.trim() == "7",
        "docker wait prints the exit code: {code:?}"
    );

    let ps = d.docker_ok([
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Names}} {{.Status}}",
    ])?;
    let line = ps
        .lines()
        .find(|l| l.starts_with(&id))
        .with_context(|| format!("ps -a lists {id}:\n{ps}"))?;
    ensure!(
        line.contains("first-light") && line.contains("Exited (7)"),
        "ps -a line: {line}"
    );

    let container = inspect_json(d, &["inspect", "first-light"])?;
    ensure!(container["Id"] == id.as_str(), "inspect Id");
    ensure!(
        container["Name"] == "/first-light",
        "inspect Name {}",
        container["Name"]
    );
    ensure!(
        container["State"]["ExitCode"] == 7,
        "inspect State {}",
        container["State"]
    );
    ensure!(
        container["State"]["Status"] == "exited",
        "inspect State {}",
        container["State"]
    );
    ensure!(
        container["Image"] == built.id.as_str(),
        "inspect Image {}",
        container["Image"]
    );
    let graph_driver = &container["GraphDriver"];
    ensure!(
        graph_driver["Name"] == driver,
        "container GraphDriver {graph_driver}"
    );
    if driver == "overlay2" {
        for key in ["LowerDir", "MergedDir", "UpperDir", "WorkDir"] {
            ensure!(
                graph_driver["Data"][key].is_string(),
                "GraphDriver.Data.{key} missing: {graph_driver}"
            );
        }
    }
    let paths = graph_driver_paths(graph_driver);
    for (key, path) in &paths {
        ensure!(
            path.exists(),
            "GraphDriver.Data.{key} {} exists while the container exists",
            path.display()
        );
    }

    // rm + rmi: nothing of the container or the image remains.
    d.docker_ok(["rm", "first-light"])?;
    for (key, path) in paths.iter().filter(|(k, _)| k != "LowerDir") {
        ensure!(
            !path.exists(),
            "GraphDriver.Data.{key} {} is gone after docker rm",
            path.display()
        );
    }
    let gone = d.docker(["inspect", "first-light"]);
    ensure!(
        gone.code() != 0 && gone.stderr_text().contains("No such"),
        "inspect after rm: {}",
        gone.describe()
    );

    let rmi = d.docker_ok(["rmi", IMAGE])?;
    ensure!(
        rmi.contains(&format!("Untagged: {IMAGE}")),
        "docker rmi output:\n{rmi}"
    );
    ensure!(
        rmi.contains(&format!("Deleted: {}", built.id)),
        "docker rmi output:\n{rmi}"
    );

    let after = d.snapshot()?;
    after.assert_same_as(&baseline, "after docker rm and docker rmi")?;
    ensure!(
        after.images == 0 && after.layers == 0 && after.containers == 0,
        "metadata empty: {after:?}"
    );
    ensure!(
        after.mounts.is_empty(),
        "nothing mounted under the test root: {:?}",
        after.mounts
    );

    let status = d.stop()?;
    ensure!(status.success(), "strata exits 0 on SIGTERM, got {status}");
    Ok(())
}
