//! The driver conformance suite on zfs.
//!
//! Needs the backing store made by `deploy/storage/zfs.sh up` (a zfs-fuse or OpenZFS pool on a
//! sparse file) and the two variables that script prints:
//!
//! ```text
//! eval "$(sudo bash deploy/storage/zfs.sh up)"
//! cargo test -p strata-drivers --test conformance_zfs
//! ```
//!
//! `STRATA_TEST_ZFS_FSNAME` is the parent dataset, `STRATA_TEST_ZFS_ROOT` the directory it is
//! mounted on. Every case gets its own dataset `<FSNAME>/conf-<pid>-<n>` (so `layers()` sees only
//! that case's layers) and a fixture directory under the root; the dataset is destroyed with
//! everything in it when the case ends, so `zfs list -t all` shows only the test root afterwards.
//! Datasets of earlier runs that died before their teardown are destroyed by the next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use strata_drivers::conformance::DriverFixture;

const FSNAME_VAR: &str = "STRATA_TEST_ZFS_FSNAME";
const ROOT_VAR: &str = "STRATA_TEST_ZFS_ROOT";
const HOWTO: &str = "run `eval \"$(sudo bash deploy/storage/zfs.sh up)\"` first";
/// Per-case datasets are named `<FSNAME>/conf-<pid>-<n>`.
const CASE_PREFIX: &str = "conf-";

static NEXT_CASE: AtomicUsize = AtomicUsize::new(0);

/// Run `zfs ARGS`, returning stdout or a message with stderr.
fn zfs(args: &[&str]) -> Result<String, String> {
    let out = Command::new("zfs").args(args).output().map_err(|e| {
        format!("cannot run `zfs` ({e}); the zfs tests need zfs-fuse or zfsutils-linux; {HOWTO}")
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "zfs {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The backing store named by the environment, checked: the parent dataset exists and is
/// mounted on the root directory.
fn store() -> (String, PathBuf) {
    let fsname = std::env::var(FSNAME_VAR).unwrap_or_else(|_| {
        panic!("the zfs conformance suite needs {FSNAME_VAR} and {ROOT_VAR}: {HOWTO}")
    });
    let root = PathBuf::from(std::env::var_os(ROOT_VAR).unwrap_or_else(|| {
        panic!("the zfs conformance suite needs {ROOT_VAR} and {FSNAME_VAR}: {HOWTO}")
    }));
    let props = zfs(&["get", "-H", "-o", "value", "mountpoint,mounted", &fsname])
        .unwrap_or_else(|e| panic!("the zfs test store {fsname} is not there ({e}); {HOWTO}"));
    let mut lines = props.lines();
    let (mountpoint, mounted) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    assert!(
        mounted == "yes" && Path::new(mountpoint) == root,
        "{fsname} should be mounted on {} (it is mounted={mounted} at {mountpoint}); {HOWTO}",
        root.display()
    );
    (fsname, root)
}

/// Whether a process with this pid is alive.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Unmount every mounted dataset at or below `dataset` (deepest first) and destroy them all.
fn destroy_tree(dataset: &str) -> Result<(), String> {
    let listing = zfs(&[
        "list",
        "-H",
        "-r",
        "-t",
        "filesystem",
        "-o",
        "name,mounted",
        dataset,
    ])?;
    let mut mounted: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, m)| *m == "yes")
        .map(|(n, _)| n)
        .collect();
    mounted.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in mounted {
        zfs(&["unmount", name])?;
    }
    zfs(&["destroy", "-r", dataset]).map(|_| ())
}

/// Destroy per-case datasets left by test processes that are gone.
fn sweep_dead_runs(fsname: &str) {
    let Ok(listing) = zfs(&["list", "-H", "-r", "-t", "filesystem", "-o", "name", fsname]) else {
        return;
    };
    for name in listing.lines() {
        let Some(rest) = name.strip_prefix(fsname).and_then(|r| r.strip_prefix('/')) else {
            continue;
        };
        let Some(tail) = rest.strip_prefix(CASE_PREFIX) else {
            continue;
        };
        if rest.contains('/') {
            continue;
        }
        let pid = tail.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !alive(pid) {
                if let Err(e) = destroy_tree(name) {
                    eprintln!("removing {name}, left by an earlier test run: {e}");
                }
            }
        }
    }
}

/// One case's own parent dataset; destroyed (with every layer in it) when dropped.
struct CaseDataset {
    name: String,
}

impl CaseDataset {
    fn create(fsname: &str) -> CaseDataset {
        let n = NEXT_CASE.fetch_add(1, Ordering::SeqCst);
        let name = format!("{fsname}/{CASE_PREFIX}{}-{n}", std::process::id());
        zfs(&["create", "-o", "mountpoint=none", &name])
            .unwrap_or_else(|e| panic!("cannot create the case dataset {name}: {e}"));
        CaseDataset { name }
    }
}

impl Drop for CaseDataset {
    fn drop(&mut self) {
        if let Err(e) = destroy_tree(&self.name) {
            eprintln!("destroying the case dataset {}: {e}", self.name);
        }
    }
}

/// The fixture factory the suite runs each case with. The suite keeps the factory in a local
/// declared before the fixture (`let make = ...; let fixture = make();`), so the fixture (whose
/// drop unmounts everything the driver mounted) goes first and the factory, which owns the
/// case's dataset, last. The factory is `Fn`, called by reference, so it is not consumed early.
fn zfs_fixture() -> impl Fn() -> DriverFixture {
    let (fsname, root) = store();
    sweep_dead_runs(&fsname);
    let case = CaseDataset::create(&fsname);
    move || {
        let opts = BTreeMap::from([("zfs.fsname".to_string(), case.name.clone())]);
        DriverFixture::in_dir("zfs", &root, opts)
    }
}

strata_drivers::conformance_suite!(zfs, super::zfs_fixture());
