//! End-to-end tests of `strata bench`: the real binary measures real drivers in short mode
//! (`--quick`), and what it leaves behind is checked the way a user (or CI) would: the exit
//! status, the tables on stdout, the JSON report against `bench/schema.json` and its
//! invariants, every SVG plot, and that no layer, mount or scratch directory is left over.
//!
//! vfs and overlay2 work on any Linux host (as root). btrfs and zfs need their backing stores:
//! `eval "$(bash deploy/storage/btrfs.sh up)"` and `eval "$(bash deploy/storage/zfs.sh up)"`
//! set the variables their tests read; without them those tests fail saying so.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use strata_bench::validate::{check_svg, validate_report};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");

/// Fail (not skip) when not root: overlay2, btrfs and zfs need mounts.
fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .unwrap_or("?");
    assert_eq!(
        uid, "0",
        "strata bench tests need root (the drivers mount filesystems); effective uid is {uid}"
    );
}

/// A required environment variable, or a failure naming the script that sets it.
fn require_env(var: &str, script: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs the backing store made by \
             `eval \"$(sudo bash {script} up)\"` (run it, then run the tests in that shell)"
        ),
    }
}

/// What one `strata bench` invocation left.
struct BenchRun {
    output: Output,
    pid: u32,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    json: PathBuf,
    plots: PathBuf,
}

impl BenchRun {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn assert_success(&self) {
        assert!(
            self.output.status.success(),
            "strata bench failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status,
            self.stdout(),
            self.stderr()
        );
    }

    fn report(&self) -> Value {
        let text = std::fs::read_to_string(&self.json)
            .unwrap_or_else(|e| panic!("reading the JSON report {}: {e}", self.json.display()));
        serde_json::from_str(&text).expect("the JSON report parses")
    }
}

/// Run `strata bench --quick --drivers DRIVERS --json F --plot D --no-progress` with a private
/// `--root` and any `extra` flags; the run's environment is this test's (so the storage
/// variables reach it).
fn quick_run(drivers: &str, extra: &[&str]) -> BenchRun {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("root");
    let json = tmp.path().join("out/report.json");
    let plots = tmp.path().join("plots");
    std::fs::create_dir_all(json.parent().unwrap()).unwrap();
    let child = Command::new(STRATA)
        .args(["bench", "--quick", "--drivers", drivers, "--no-progress"])
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&plots)
        .arg("--root")
        .arg(&root)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting strata bench");
    let pid = child.id();
    let output = child.wait_with_output().expect("waiting for strata bench");
    BenchRun {
        output,
        pid,
        _tmp: tmp,
        root,
        json,
        plots,
    }
}

/// The checks every successful quick run must pass, for the drivers `expected`.
fn check_quick_run(run: &BenchRun, expected: &[&str]) {
    run.assert_success();
    let report = run.report();

    // The schema.
    let errors = validate_report(&report);
    assert!(
        errors.is_empty(),
        "the report does not follow bench/schema.json:\n{}",
        errors.join("\n")
    );

    // Every requested driver measured, in every requested shape.
    let drivers: Vec<&str> = report["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(drivers, expected, "measured drivers");
    assert_eq!(
        report["config"]["drivers_requested"],
        serde_json::json!(expected)
    );
    let runs = report["config"]["runs"].as_u64().unwrap();
    assert_eq!(runs, 3, "--quick means 3 runs");
    let figure_ids: Vec<&str> = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(figure_ids.contains(&"instantiate"), "{figure_ids:?}");
    let results = report["results"].as_array().unwrap();
    for driver in expected {
        for layers in report["config"]["layers"].as_array().unwrap() {
            for size in report["config"]["layer_sizes_bytes"].as_array().unwrap() {
                let found = results.iter().find(|r| {
                    r["driver"] == *driver
                        && r["layers"] == *layers
                        && r["layer_size_bytes"] == *size
                });
                let result = found.unwrap_or_else(|| {
                    panic!("no result for {driver}, {layers} layers of {size} bytes")
                });
                for id in &figure_ids {
                    check_summary(driver, layers, id, &result["figures"][id], runs);
                }
                assert!(result["image_bytes"].as_u64().unwrap() >= layers.as_u64().unwrap());
            }
        }
    }

    // The tables: one per figure, a column per driver.
    let stdout = run.stdout();
    for f in report["figures"].as_array().unwrap() {
        let title = f["title"].as_str().unwrap();
        assert!(
            stdout.contains(title),
            "no table for {title:?} in:\n{stdout}"
        );
    }
    for driver in expected {
        assert!(
            stdout.contains(driver),
            "driver {driver} missing from the tables:\n{stdout}"
        );
    }

    // One well-formed SVG per figure.
    for id in &figure_ids {
        let svg = run.plots.join(format!("{id}.svg"));
        assert!(svg.is_file(), "{} was not written", svg.display());
        check_svg(&svg).unwrap_or_else(|e| panic!("{e}"));
    }

    assert_nothing_left(run, expected);
}

/// min <= median <= p95, one sample per run, and a positive median where zero would be a
/// measurement bug.
fn check_summary(driver: &str, layers: &Value, id: &str, s: &Value, runs: u64) {
    let what = format!("{driver}, {layers} layers, {id}: {s}");
    let num = |k: &str| {
        s[k].as_f64()
            .unwrap_or_else(|| panic!("{what}: {k} is not a number"))
    };
    assert_eq!(s["runs"].as_u64(), Some(runs), "{what}");
    assert_eq!(
        s["samples"].as_array().map(Vec::len),
        Some(runs as usize),
        "{what}"
    );
    assert!(
        num("min") <= num("median") && num("median") <= num("p95"),
        "{what}: want min <= median <= p95"
    );
    assert!(num("p95") <= num("max"), "{what}: want p95 <= max");
    // Times and throughput must be positive. The disk figures need not be: instances_usage is
    // what the instances' layers hold on their own, and a copy-on-write snapshot (btrfs, zfs)
    // holds nothing until written to; disk_added is a statvfs difference of the whole backing
    // filesystem, which other writers to it (the root filesystem under vfs/overlay2) move too.
    match id {
        "disk_added" => {}
        "instances_usage" => assert!(num("min") >= 0.0, "{what}: want min >= 0"),
        _ => assert!(num("median") > 0.0, "{what}: want median > 0"),
    }
}

/// No scratch home, mount or zfs dataset of the run is left.
fn assert_nothing_left(run: &BenchRun, drivers: &[&str]) {
    if run.root.exists() {
        let left: Vec<_> = std::fs::read_dir(&run.root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "strata bench left {left:?} in its --root");
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let marker = format!("strata-bench-{}-", run.pid);
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&marker)).collect();
    assert!(left.is_empty(), "mounts of the run are left: {left:#?}");
    for driver in drivers {
        let base = match *driver {
            "btrfs" => std::env::var("STRATA_TEST_BTRFS_ROOT")
                .ok()
                .map(PathBuf::from),
            "zfs" => std::env::var("STRATA_TEST_ZFS_ROOT")
                .ok()
                .map(PathBuf::from),
            _ => Some(run.root.clone()),
        };
        if let Some(base) = base {
            let home = base.join(format!("{marker}{driver}"));
            assert!(
                !home.exists(),
                "the {driver} scratch home {} is left",
                home.display()
            );
        }
    }
    if drivers.contains(&"zfs") {
        let fsname = std::env::var("STRATA_TEST_ZFS_FSNAME").unwrap();
        let out = Command::new("zfs")
            .args(["list", "-H", "-o", "name", "-t", "all", "-r", &fsname])
            .output()
            .expect("running zfs list");
        let list = String::from_utf8_lossy(&out.stdout);
        let ours = format!("sb{}-", run.pid);
        let left: Vec<&str> = list.lines().filter(|l| l.contains(&ours)).collect();
        assert!(
            left.is_empty(),
            "zfs datasets of the run are left: {left:?}"
        );
    }
}

#[test]
fn quick_run_on_vfs_and_overlay2_writes_valid_json_tables_and_plots() {
    require_root();
    let run = quick_run("vfs,overlay2", &[]);
    check_quick_run(&run, &["vfs", "overlay2"]);
}

#[test]
fn quick_run_on_btrfs() {
    require_root();
    require_env("STRATA_TEST_BTRFS_ROOT", "deploy/storage/btrfs.sh");
    let run = quick_run("btrfs", &[]);
    check_quick_run(&run, &["btrfs"]);
}

#[test]
fn quick_run_on_zfs() {
    require_root();
    require_env("STRATA_TEST_ZFS_FSNAME", "deploy/storage/zfs.sh");
    require_env("STRATA_TEST_ZFS_ROOT", "deploy/storage/zfs.sh");
    let run = quick_run("zfs", &[]);
    check_quick_run(&run, &["zfs"]);
}

#[test]
fn a_requested_driver_that_cannot_open_is_an_error_naming_why() {
    require_root();
    let not_btrfs = tempfile::tempdir().expect("temp dir");
    let run = quick_run(
        "vfs,btrfs",
        &["--btrfs-root", not_btrfs.path().to_str().unwrap()],
    );
    assert!(
        !run.output.status.success(),
        "strata bench should fail:\n{}",
        run.stdout()
    );
    let stderr = run.stderr();
    assert!(
        stderr.contains("btrfs") && stderr.contains("not btrfs"),
        "the error should name the driver and why it cannot open:\n{stderr}"
    );
    assert!(
        !run.json.exists(),
        "no report is written when the run fails"
    );
    assert_nothing_left(&run, &["vfs"]);
    let left: Vec<_> = std::fs::read_dir(not_btrfs.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "the refused btrfs home is left behind: {left:?}"
    );
}

#[test]
fn bad_flags_are_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("root");
    for (flag, value, expect) in [
        ("--drivers", "vfs,aufs", "unknown driver"),
        ("--layers", "0", "greater than zero"),
        ("--layer-size", "1X", "unknown unit"),
    ] {
        let out = Command::new(STRATA)
            .args(["bench", "--no-progress", flag, value])
            .arg("--root")
            .arg(&root)
            .output()
            .expect("running strata bench");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag} {value} should be refused");
        assert!(
            stderr.contains(flag) && stderr.contains(expect),
            "{flag} {value}: {stderr}"
        );
        assert!(
            !root.exists(),
            "{flag} {value}: the root was created for nothing"
        );
    }
}
