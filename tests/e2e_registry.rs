//! Registries, end to end through the docker CLI: Debian's `docker-registry` on 127.0.0.1 gets
//! an 8-layer test image from skopeo; Strata pulls it (`docker pull`, by tag and by digest, and
//! implicitly through `docker run`), its diff ids, id and RepoDigests match what was pushed;
//! `docker push` through Strata gives a stable manifest; a registry that serves one corrupted
//! blob fails the pull with a digest error and leaves no layer behind, and the retry fetches
//! only what was missing; a registry with htpasswd basic auth works after `docker login`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use strata_test_support::daemon::StrataDaemon;
use strata_test_support::docker_cli::{which, OutputExt};
use strata_test_support::image_builder::{BuiltImage, Compression, TestImage};
use strata_test_support::registry::TestRegistry;

const DRIVER: &str = "overlay2";
const REPO: &str = "strata-test/multi";

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// Run skopeo; fails naming it when missing.
fn skopeo(args: &[&str]) -> Result<String> {
    if which("skopeo").is_none() {
        bail!("skopeo is missing on this host: this test needs it (apt-get install skopeo)");
    }
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running skopeo")?;
    ensure!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        out.describe()
    );
    Ok(out.stdout_text())
}

/// Build the 8-layer test image (busybox + 7 random layers) as a docker-archive and copy it
/// into `registry` as `REPO:1` (optionally with credentials). Returns the image and the
/// manifest digest the registry holds.
fn seed_registry(
    registry: &TestRegistry,
    creds: Option<&str>,
) -> Result<(BuiltImage, String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let archive = dir.path().join("multi.tar");
    let built = TestImage::busybox(&format!("{REPO}:1"))
        .random_layers(7, 512 * 1024)
        .seed(7)
        .build_docker_archive(&archive)?;
    ensure!(
        built.diff_ids.len() == 8,
        "the test image should have 8 layers"
    );
    let target = format!("docker://{}/{REPO}:1", registry.addr());
    let source = format!("docker-archive:{}", archive.display());
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--dest-creds", creds]);
    }
    args.extend([source.as_str(), target.as_str()]);
    skopeo(&args)?;
    let mut inspect = vec!["inspect", "--tls-verify=false"];
    if let Some(creds) = creds {
        inspect.extend(["--creds", creds]);
    }
    inspect.push(target.as_str());
    let info: Value = serde_json::from_str(&skopeo(&inspect)?)?;
    let digest = info["Digest"]
        .as_str()
        .context("skopeo inspect printed no Digest")?
        .to_string();
    Ok((built, digest, dir))
}

fn inspect_image(d: &StrataDaemon, name: &str) -> Result<Value> {
    let text = d.docker_ok(["image", "inspect", name])?;
    let list: Value = serde_json::from_str(&text)?;
    list.get(0)
        .cloned()
        .context("image inspect printed an empty list")
}

fn layers_of(image: &Value) -> Vec<String> {
    image["RootFS"]["Layers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_run_and_push_through_a_local_registry() -> Result<()> {
    let registry = TestRegistry::start()?;
    let (built, digest, _dir) = seed_registry(&registry, None)?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let name = format!("{}/{REPO}:1", registry.addr());
    let repo = format!("{}/{REPO}", registry.addr());

    // docker pull: Docker's progress lines, then the image with the pushed layers and digest.
    let out = d.docker_ok(["pull", &name])?;
    ensure!(
        out.contains("1: Pulling from strata-test/multi"),
        "pull output: {out}"
    );
    ensure!(
        out.matches("Pull complete").count() == 8,
        "8 layers pulled: {out}"
    );
    ensure!(
        out.contains(&format!("Digest: {digest}")),
        "pull output: {out}"
    );
    ensure!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "pull output: {out}"
    );
    let image = inspect_image(&d, &name)?;
    ensure!(
        image["Id"] == built.id.as_str(),
        "image id {} != {}",
        image["Id"],
        built.id
    );
    ensure!(
        layers_of(&image) == built.diff_ids,
        "diff ids differ: {image}"
    );
    let repo_digest = format!("{repo}@{digest}");
    ensure!(
        strings(&image["RepoDigests"]).contains(&repo_digest),
        "RepoDigests {} lacks {repo_digest}",
        image["RepoDigests"]
    );
    let images = d.docker_ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    ensure!(images.lines().any(|l| l == name), "docker images: {images}");

    // A second pull changes nothing.
    let again = d.docker_ok(["pull", &name])?;
    ensure!(
        again.contains(&format!("Status: Image is up to date for {name}")),
        "{again}"
    );
    ensure!(
        !again.contains("Pull complete"),
        "nothing to fetch: {again}"
    );

    // Run it.
    let text = d.docker_ok(["run", "--rm", &name, "cat", "/data/common.txt"])?;
    ensure!(text.starts_with("written by layer"), "run printed {text:?}");

    // docker run of a missing image pulls it (the CLI does, on the create 404).
    d.docker_ok(["rmi", &name])?;
    let run = d.docker(["run", "--rm", &name, "echo", "pulled by run"]);
    ensure!(
        run.status.success(),
        "run of a missing image: {}",
        run.describe()
    );
    ensure!(
        run.stdout_text().contains("pulled by run"),
        "{}",
        run.describe()
    );
    ensure!(
        run.stderr_text().contains("Unable to find image"),
        "{}",
        run.describe()
    );

    // Pull by digest.
    d.docker_ok(["rmi", &name])?;
    let by_digest = format!("{repo}@{digest}");
    let out = d.docker_ok(["pull", &by_digest])?;
    ensure!(out.contains(&format!("Digest: {digest}")), "{out}");
    let image = inspect_image(&d, &by_digest)?;
    ensure!(
        layers_of(&image) == built.diff_ids,
        "diff ids by digest: {image}"
    );

    // docker push through Strata: a new repository, then the same push again is stable.
    let pushed = format!("{}/strata-test/pushed:2", registry.addr());
    d.docker_ok(["tag", &by_digest, &pushed])?;
    let out = d.docker_ok(["push", &pushed])?;
    ensure!(out.contains("The push refers to repository"), "{out}");
    let pushed_digest = out
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("push printed no digest: {out}"))?
        .to_string();
    let out = d.docker_ok(["push", &pushed])?;
    ensure!(
        out.contains(&format!("digest: {pushed_digest}")),
        "second push: {out}"
    );
    ensure!(
        out.matches("Layer already exists").count() == 8,
        "second push: {out}"
    );

    // What Strata pushed pulls back into a fresh daemon with the same layers.
    let fresh = StrataDaemon::start(strata_bin(), DRIVER)?;
    let out = fresh.docker_ok(["pull", &pushed])?;
    ensure!(out.contains(&format!("Digest: {pushed_digest}")), "{out}");
    let image = inspect_image(&fresh, &pushed)?;
    ensure!(image["Id"] == built.id.as_str(), "pushed image id: {image}");
    ensure!(
        layers_of(&image) == built.diff_ids,
        "pushed diff ids: {image}"
    );
    let text = fresh.docker_ok(["run", "--rm", &pushed, "ls", "/bin/busybox"])?;
    ensure!(text.trim() == "/bin/busybox", "run printed {text:?}");

    // Unknown images are a 404 with Docker's wording.
    let missing = d.docker([
        "pull",
        &format!("{}/strata-test/nothing:here", registry.addr()),
    ]);
    ensure!(
        !missing.status.success(),
        "pulling a missing image succeeded"
    );
    ensure!(
        missing.stderr_text().contains("not found"),
        "{}",
        missing.describe()
    );
    Ok(())
}

/// A registry in front of `upstream` that flips one byte of one blob while `corrupt` is set,
/// and counts the blob GETs it serves.
struct CorruptingProxy {
    addr: String,
    corrupt: Arc<AtomicBool>,
    blob_gets: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CorruptingProxy {
    fn start(upstream: String, blob: String) -> Result<CorruptingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let corrupt = Arc::new(AtomicBool::new(true));
        let blob_gets = Arc::new(Mutex::new(BTreeMap::new()));
        let (flag, counts) = (corrupt.clone(), blob_gets.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, blob, flag, counts) =
                    (upstream.clone(), blob.clone(), flag.clone(), counts.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &upstream, &blob, &flag, &counts);
                });
            }
        });
        Ok(CorruptingProxy {
            addr,
            corrupt,
            blob_gets,
        })
    }
}

/// Forward one request (HTTP/1.0, so each connection carries one) and pass the answer back.
fn serve_one(
    mut client: TcpStream,
    upstream: &str,
    blob: &str,
    corrupt: &AtomicBool,
    counts: &Mutex<BTreeMap<String, usize>>,
) -> Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("GET"), parts.next().unwrap_or("/"));
    let accept: Vec<&str> = lines
        .filter(|l| l.to_ascii_lowercase().starts_with("accept:"))
        .collect();
    if method == "GET" && path.contains("/blobs/") {
        let digest = path.rsplit('/').next().unwrap_or_default().to_string();
        *counts.lock().unwrap().entry(digest).or_default() += 1;
    }
    let mut server = TcpStream::connect(upstream)?;
    let mut forwarded = format!("{method} {path} HTTP/1.0\r\nHost: {upstream}\r\n");
    for line in accept {
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("\r\n");
    server.write_all(forwarded.as_bytes())?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    if corrupt.load(Ordering::SeqCst) && method == "GET" && path.ends_with(blob) {
        if let Some(body) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let last = answer.len() - 1;
            if last > body + 4 {
                answer[last] ^= 0xff;
            }
        }
    }
    client.write_all(&answer)?;
    Ok(())
}

#[test]
fn a_corrupted_blob_fails_the_pull_and_leaves_no_layer() -> Result<()> {
    let registry = TestRegistry::start()?;
    let (built, _digest, _dir) = seed_registry(&registry, None)?;
    // The registry's blobs are skopeo's compressed forms: find the top layer's blob digest
    // from the manifest.
    let manifest: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/{REPO}:1", registry.addr()),
    ])?)?;
    let blobs: Vec<String> = manifest["layers"]
        .as_array()
        .context("manifest has no layers")?
        .iter()
        .filter_map(|l| l["digest"].as_str().map(str::to_string))
        .collect();
    ensure!(
        blobs.len() == built.diff_ids.len(),
        "manifest layers: {manifest}"
    );
    let bad = blobs.last().context("no layers")?.clone();
    let proxy = CorruptingProxy::start(registry.addr().to_string(), bad.clone())?;

    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let name = format!("{}/{REPO}:1", proxy.addr);
    let out = d.docker(["pull", &name]);
    ensure!(
        !out.status.success(),
        "a corrupted pull succeeded: {}",
        out.describe()
    );
    ensure!(
        out.stderr_text().contains("digest"),
        "the error should name the digest failure: {}",
        out.describe()
    );
    ensure!(
        d.db_count("layers")? == 0,
        "layers left after a failed pull"
    );
    ensure!(
        d.db_count("images")? == 0,
        "image recorded after a failed pull"
    );
    let driver_layers = std::fs::read_dir(d.driver_home())
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name() != "l" && e.path().is_dir())
                .count()
        })
        .unwrap_or(0);
    ensure!(
        driver_layers == 0,
        "{driver_layers} driver layers left after a failed pull"
    );
    let tmp = d.data_root().join("tmp/pull-blobs");
    let partial: Vec<_> = std::fs::read_dir(&tmp)
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.contains(".partial"))
                .collect()
        })
        .unwrap_or_default();
    ensure!(partial.is_empty(), "partial downloads left: {partial:?}");

    // The retry fetches the bad blob again, and only what the failed attempt had not
    // verified: with three downloads at a time, at most two others were in flight.
    let first: BTreeMap<String, usize> = proxy.blob_gets.lock().unwrap().clone();
    proxy.corrupt.store(false, Ordering::SeqCst);
    let out = d.docker_ok(["pull", &name])?;
    ensure!(out.contains("Status: Downloaded newer image"), "{out}");
    let second: BTreeMap<String, usize> = proxy.blob_gets.lock().unwrap().clone();
    let refetched: Vec<&String> = blobs
        .iter()
        .filter(|b| **b != bad && second.get(*b) > first.get(*b) && first.contains_key(*b))
        .collect();
    ensure!(
        refetched.len() <= 2,
        "the retry fetched verified blobs again: {refetched:?} (first {first:?}, then {second:?})"
    );
    ensure!(
        second.get(&bad) > first.get(&bad),
        "the bad blob was not fetched again"
    );
    let image = inspect_image(&d, &name)?;
    ensure!(
        layers_of(&image) == built.diff_ids,
        "diff ids after retry: {image}"
    );
    Ok(())
}

#[test]
fn basic_auth_registry_works_after_docker_login() -> Result<()> {
    let (user, password) = ("strata", "s3cret-pw");
    let registry = TestRegistry::start_with_basic_auth(user, password)?;
    let creds = format!("{user}:{password}");
    let (built, digest, _dir) = seed_registry(&registry, Some(&creds))?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let name = format!("{}/{REPO}:1", registry.addr());

    let denied = d.docker(["pull", &name]);
    ensure!(
        !denied.status.success(),
        "anonymous pull succeeded: {}",
        denied.describe()
    );

    let wrong = d.docker_with_stdin(
        ["login", registry.addr(), "-u", user, "--password-stdin"],
        b"wrong\n",
    );
    ensure!(
        !wrong.status.success(),
        "login with a wrong password: {}",
        wrong.describe()
    );

    let login = d.docker_with_stdin(
        ["login", registry.addr(), "-u", user, "--password-stdin"],
        format!("{password}\n").as_bytes(),
    );
    ensure!(login.status.success(), "login: {}", login.describe());
    ensure!(
        login.stdout_text().contains("Login Succeeded"),
        "{}",
        login.describe()
    );

    let out = d.docker_ok(["pull", &name])?;
    ensure!(out.contains(&format!("Digest: {digest}")), "{out}");
    let image = inspect_image(&d, &name)?;
    ensure!(layers_of(&image) == built.diff_ids, "diff ids: {image}");

    let pushed = format!("{}/strata-test/auth-push:1", registry.addr());
    d.docker_ok(["tag", &name, &pushed])?;
    let out = d.docker_ok(["push", &pushed])?;
    ensure!(out.contains("digest: sha256:"), "{out}");
    Ok(())
}

/// PUT a manifest (or index) into `registry`'s `REPO` under `tag` with curl.
fn put_manifest(registry: &TestRegistry, tag: &str, media_type: &str, body: &[u8]) -> Result<()> {
    if which("curl").is_none() {
        bail!("curl is missing on this host: this test needs it (apt-get install curl)");
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("manifest.json");
    std::fs::write(&file, body)?;
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!(
            "http://{}/v2/{REPO}/manifests/{tag}",
            registry.addr()
        ))
        .stdin(Stdio::null())
        .output()
        .context("running curl")?;
    ensure!(
        out.status.success(),
        "PUT manifest {tag}: {}",
        out.describe()
    );
    Ok(())
}

#[test]
fn zstd_oci_layers_and_an_index_resolve_to_linux_amd64() -> Result<()> {
    let registry = TestRegistry::start()?;
    let (built, gzip_digest, dir) = seed_registry(&registry, None)?;
    // The same image again as an OCI layout with zstd layers, copied as is.
    let layout = dir.path().join("multi-oci.tar");
    let zstd_built = TestImage::busybox(&format!("{REPO}:1"))
        .random_layers(7, 512 * 1024)
        .seed(7)
        .compression(Compression::Zstd)
        .build_oci_layout(&layout)?;
    ensure!(
        zstd_built.diff_ids == built.diff_ids,
        "same seed, same layers"
    );
    let zstd_target = format!("docker://{}/{REPO}:zstd", registry.addr());
    let archive = format!("oci-archive:{}", layout.display());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "oci",
        &archive,
        &zstd_target,
    ])?;
    let raw: Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &zstd_target,
    ])?)?;
    let zstd_layers = raw["layers"]
        .as_array()
        .context("no layers")?
        .iter()
        .filter(|l| {
            l["mediaType"]
                .as_str()
                .is_some_and(|m| m.ends_with("+zstd"))
        })
        .count();
    ensure!(zstd_layers == 8, "skopeo did not write zstd layers: {raw}");
    let zstd_digest =
        serde_json::from_str::<Value>(&skopeo(&["inspect", "--tls-verify=false", &zstd_target])?)?
            ["Digest"]
            .as_str()
            .context("no digest")?
            .to_string();

    // An index whose linux/amd64 entry is the zstd manifest; the arm64 entry (listed first)
    // is the gzip one and must not be taken.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
             "digest": gzip_digest, "size": 1,
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": zstd_digest,
             "size": serde_json::to_vec(&raw)?.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    });
    let index_bytes = serde_json::to_vec(&index)?;
    put_manifest(
        &registry,
        "multiarch",
        "application/vnd.oci.image.index.v1+json",
        &index_bytes,
    )?;
    let index_digest = format!("sha256:{}", hex_sha256(&index_bytes));

    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    let name = format!("{}/{REPO}:multiarch", registry.addr());
    let out = d.docker_ok(["pull", &name])?;
    ensure!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    ensure!(out.matches("Pull complete").count() == 8, "{out}");
    let image = inspect_image(&d, &name)?;
    ensure!(layers_of(&image) == built.diff_ids, "diff ids: {image}");
    let repo_digest = format!("{}/{REPO}@{index_digest}", registry.addr());
    ensure!(
        strings(&image["RepoDigests"]).contains(&repo_digest),
        "RepoDigests {} lacks {repo_digest}",
        image["RepoDigests"]
    );
    let text = d.docker_ok(["run", "--rm", &name, "cat", "/data/common.txt"])?;
    ensure!(text.starts_with("written by layer"), "run printed {text:?}");

    // The gzip form of the same layers is not fetched: every layer already exists.
    let out = d.docker_ok(["pull", &format!("{}/{REPO}:1", registry.addr())])?;
    ensure!(out.matches("Already exists").count() == 8, "{out}");
    ensure!(!out.contains("Pull complete"), "{out}");
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    strata_test_support::image_builder::sha256_digest(bytes)
        .trim_start_matches("sha256:")
        .to_string()
}

#[test]
fn a_loaded_image_pushes_and_pulls_back_identical() -> Result<()> {
    let registry = TestRegistry::start()?;
    let dir = tempfile::tempdir()?;
    let archive = dir.path().join("local.tar");
    let name = format!("{}/strata-test/local:3", registry.addr());
    let built = TestImage::busybox(&name)
        .random_layers(3, 256 * 1024)
        .seed(11)
        .compression(Compression::Gzip)
        .build_docker_archive(&archive)?;
    let d = StrataDaemon::start(strata_bin(), DRIVER)?;
    d.docker_ok(["load", "-i", path_str(&archive)?])?;

    let out = d.docker_ok(["push", &name])?;
    ensure!(
        out.matches("Pushed").count() == 4,
        "every layer uploaded: {out}"
    );
    let digest = out
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("push printed no digest: {out}"))?
        .to_string();
    let image = inspect_image(&d, &name)?;
    let repo_digest = format!("{}/strata-test/local@{digest}", registry.addr());
    ensure!(
        strings(&image["RepoDigests"]).contains(&repo_digest),
        "RepoDigests after push: {}",
        image["RepoDigests"]
    );

    let fresh = StrataDaemon::start(strata_bin(), DRIVER)?;
    let out = fresh.docker_ok(["pull", &name])?;
    ensure!(out.contains(&format!("Digest: {digest}")), "{out}");
    let image = inspect_image(&fresh, &name)?;
    ensure!(
        image["Id"] == built.id.as_str(),
        "image id after the round trip: {image}"
    );
    ensure!(
        layers_of(&image) == built.diff_ids,
        "diff ids after the round trip: {image}"
    );
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("temporary path is not UTF-8")
}
