//! The benchmark scripts against dockerd and podman (`bench/side-by-side.sh`,
//! `bench/pull-vs-dockerd.sh`) on a host where those engines are missing, as on CI: they must
//! say what is missing and how to install it, never skip silently, measure what they can, and
//! leave no daemon or directory behind. The engines are hidden by running the scripts with a
//! PATH of links to every program on the real PATH except `dockerd` and `podman`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use strata_test_support::docker_cli::{require_root, OutputExt};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
/// How long one script may run here (it measures one tiny image once).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(name)
}

/// A directory of links to every executable on PATH except `hidden` (first match wins, as
/// PATH lookup does).
fn path_without(dir: &Path, hidden: &[&str]) -> Result<PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let mut seen: HashSet<std::ffi::OsString> = HashSet::new();
    let path = std::env::var_os("PATH").context("PATH is not set")?;
    for entry_dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&entry_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if hidden.iter().any(|h| name == *h) || !seen.insert(name.clone()) {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), bin.join(&name))
                .with_context(|| format!("linking {}", entry.path().display()))?;
        }
    }
    Ok(bin)
}

/// Run `bash SCRIPT ARGS` with `path` as PATH and `env`, killed after SCRIPT_TIMEOUT.
fn run_script(name: &str, args: &[&str], path: &Path, env: &[(&str, &Path)]) -> Result<Output> {
    let mut child = Command::new("/bin/bash")
        .arg(script(name))
        .args(args)
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting bash {name}"))?;
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            // SIGTERM first: the script's trap stops what it started.
            let _ = Command::new("/bin/kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            std::thread::sleep(Duration::from_secs(35));
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!(
                "{name} {args:?} did not finish within {SCRIPT_TIMEOUT:?}:\n{}",
                out.stderr_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child.wait_with_output()?)
}

#[test]
fn side_by_side_measures_strata_and_names_the_missing_engines() -> Result<()> {
    require_root()?;
    let dir = tempfile::Builder::new()
        .prefix("bench-scripts-")
        .tempdir()?;
    let bin = path_without(dir.path(), &["dockerd", "podman"])?;
    let root = dir.path().join("roots");
    let json = dir.path().join("side-by-side.json");
    let out = run_script(
        "side-by-side.sh",
        &[
            "--drivers",
            "vfs",
            "--runs",
            "1",
            "--layers",
            "1",
            "--layer-size",
            "4K",
            "--strata",
            STRATA,
            "--json",
            json.to_str().context("temporary path is not UTF-8")?,
        ],
        &bin,
        &[("SIDE_BY_SIDE_ROOT", &root)],
    )?;
    let (stdout, stderr) = (out.stdout_text(), out.stderr_text());
    ensure!(
        out.code() == 3,
        "exit status {} (expected 3: engines missing)\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.code()
    );
    for line in [
        "not measured: dockerd on vfs: not installed (apt-get install docker.io)",
        "not measured: podman on vfs: not installed (apt-get install podman)",
    ] {
        ensure!(stdout.contains(line), "stdout lacks {line:?}:\n{stdout}");
    }
    ensure!(
        stderr.contains("dockerd is missing on this host")
            && stderr.contains("podman is missing on this host"),
        "stderr does not name the missing engines:\n{stderr}"
    );
    // Strata's row has numbers, the others' are dashes.
    let run_row = stdout
        .lines()
        .find(|l| l.starts_with("vfs") && l.contains(" run "))
        .with_context(|| format!("no 'vfs run' row:\n{stdout}"))?;
    let cells: Vec<&str> = run_row.split_whitespace().collect();
    ensure!(
        cells.len() == 7 && cells[2].parse::<f64>().is_ok() && cells[3..].iter().all(|c| *c == "-"),
        "row {run_row:?}: expected a Strata median and dashes"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let results = report["results"].as_array().context("no results")?;
    ensure!(
        results.len() == 3 && results.iter().all(|r| r["engine"] == "strata"),
        "results: {report}"
    );
    ensure!(
        report["not_measured"].as_array().map(Vec::len) == Some(2),
        "not_measured: {report}"
    );
    // Nothing left: the roots' parent it made is gone, and no daemon runs on it.
    ensure!(!root.exists(), "{} was left behind", root.display());
    let leftovers = Command::new("pgrep")
        .args(["-f", &root.display().to_string()])
        .output()?;
    ensure!(
        leftovers.stdout.is_empty(),
        "processes left running: {}",
        leftovers.stdout_text()
    );
    Ok(())
}

#[test]
fn pull_vs_dockerd_fails_naming_dockerd_and_its_package() -> Result<()> {
    require_root()?;
    let dir = tempfile::Builder::new()
        .prefix("bench-scripts-")
        .tempdir()?;
    let bin = path_without(dir.path(), &["dockerd"])?;
    let root = dir.path().join("roots");
    let out = run_script(
        "pull-vs-dockerd.sh",
        &["--runs", "1", "--strata", STRATA],
        &bin,
        &[("PULL_BENCH_ROOT", &root)],
    )?;
    let stderr = out.stderr_text();
    ensure!(out.code() == 1, "exit status {}:\n{stderr}", out.code());
    ensure!(
        stderr.contains("dockerd is missing on this host")
            && stderr.contains("apt-get install docker.io"),
        "stderr does not name dockerd and its package:\n{stderr}"
    );
    ensure!(
        !root.exists(),
        "{} was made although nothing ran",
        root.display()
    );
    Ok(())
}

#[test]
fn the_scripts_refuse_bad_arguments_before_starting_anything() -> Result<()> {
    let path = std::env::var_os("PATH").context("PATH is not set")?;
    for name in ["side-by-side.sh", "pull-vs-dockerd.sh"] {
        for (args, says) in [
            (
                &["--runs", "0"][..],
                "--runs 0: expected a whole number > 0",
            ),
            (
                &["--layer-size", "big"][..],
                "size big: expected a size such as 1M",
            ),
            (&["--frobnicate"][..], "unknown argument --frobnicate"),
        ] {
            let out = run_script(name, args, Path::new(&path), &[])?;
            ensure!(
                out.code() != 0 && out.stderr_text().contains(says),
                "{name} {args:?}: exit {} and stderr {:?}, expected a failure saying {says:?}",
                out.code(),
                out.stderr_text()
            );
        }
        let help = run_script(name, &["--help"], Path::new(&path), &[])?;
        ensure!(
            help.code() == 0 && help.stdout_text().contains("Usage: sudo bash bench/"),
            "{name} --help: {}",
            help.stdout_text()
        );
    }
    Ok(())
}
