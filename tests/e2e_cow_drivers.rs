//! The copy-on-write drivers end to end, through the stock docker CLI:
//! - "First light" (the scenario shared with `e2e_first_light.rs`) with `--storage-driver btrfs`
//!   (data root on the test btrfs) and `--storage-driver zfs` (`zfs.fsname=` a dataset of the
//!   test's own), `docker info` showing each driver's status, and afterwards no subvolume or
//!   dataset left by Strata.
//! - Crash repair: the agent killed (fault point) after a layer, or a container's layers, exist
//!   in the driver and before they are recorded; the next start removes the orphans, and a fresh
//!   load and run work. For btrfs, zfs and overlay2.
//!
//! The backing stores come from `deploy/storage/btrfs.sh up` (`STRATA_TEST_BTRFS_ROOT`) and
//! `deploy/storage/zfs.sh up` (`STRATA_TEST_ZFS_FSNAME`, `STRATA_TEST_ZFS_ROOT`); without them
//! the tests fail saying so.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use strata_test_support::daemon::{DaemonOptions, StrataDaemon, FAULT_ENV};
use strata_test_support::docker_cli::OutputExt;
use strata_test_support::first_light::first_light;
use strata_test_support::image_builder::TestImage;
use strata_test_support::stores::{btrfs_mount, run_tool, ZfsDataset};

/// The image the crash-repair tests load.
const IMAGE: &str = "strata-test/crash:1";
/// How long a daemon armed with a fault point may take to die once the request reached it.
const DEATH_TIMEOUT: Duration = Duration::from_secs(60);
/// SIGKILL's number on Linux.
const SIGKILL: i32 = 9;

fn strata_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

/// Where a driver under test keeps its layers, and how to list them from the outside.
enum Store {
    /// The test btrfs; the daemon's root is made inside it.
    Btrfs { mount: PathBuf },
    /// A dataset made for this test under the test pool's parent dataset.
    Zfs(ZfsDataset),
    /// overlay2 on the system's temporary directory.
    Overlay2,
}

impl Store {
    fn btrfs() -> Result<Store> {
        Ok(Store::Btrfs {
            mount: btrfs_mount()?,
        })
    }

    fn zfs() -> Result<Store> {
        Ok(Store::Zfs(ZfsDataset::for_test()?))
    }

    fn driver(&self) -> &'static str {
        match self {
            Store::Btrfs { .. } => "btrfs",
            Store::Zfs(_) => "zfs",
            Store::Overlay2 => "overlay2",
        }
    }

    /// Root placement and storage options for a daemon on this store.
    fn options(&self) -> DaemonOptions {
        match self {
            Store::Btrfs { mount } => DaemonOptions::default().root_parent(mount),
            Store::Zfs(dataset) => dataset.daemon_options(),
            Store::Overlay2 => DaemonOptions::default(),
        }
    }

    /// The driver layers present on the backing store for daemon `d`, read with the store's
    /// own tools (not through Strata): subvolumes, datasets or layer directories.
    fn layers(&self, d: &StrataDaemon) -> Result<BTreeSet<String>> {
        match self {
            Store::Btrfs { mount } => btrfs_subvolumes_under(mount, d.data_root()),
            Store::Zfs(dataset) => Ok(dataset
                .children()?
                .into_iter()
                .filter(|name| !name.contains('@'))
                .collect()),
            Store::Overlay2 => {
                let home = d.driver_home();
                let mut out = BTreeSet::new();
                for entry in std::fs::read_dir(&home)
                    .with_context(|| format!("listing {}", home.display()))?
                {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name != "l" && entry.file_type()?.is_dir() {
                        out.insert(name);
                    }
                }
                Ok(out)
            }
        }
    }

    /// What the backing store's own listing shows, for messages.
    fn listing(&self) -> String {
        match self {
            Store::Btrfs { mount } => {
                run_tool("btrfs", &["subvolume", "list", &mount.to_string_lossy()])
                    .unwrap_or_else(|e| format!("{e:#}"))
            }
            Store::Zfs(dataset) => run_tool("zfs", &["list", "-t", "all", "-r", &dataset.name])
                .unwrap_or_else(|e| format!("{e:#}")),
            Store::Overlay2 => String::from("(overlay2: see the driver home)"),
        }
    }

    /// Fail unless the store holds nothing of `d` (no subvolume under its root, no dataset or
    /// snapshot under the test's dataset, no layer directory).
    fn assert_nothing_left(&self, d: &StrataDaemon, when: &str) -> Result<()> {
        let left = match self {
            Store::Zfs(dataset) => dataset.children()?,
            _ => self.layers(d)?,
        };
        ensure!(
            left.is_empty(),
            "{when}: {} layers left on the backing store: {left:?}\n{}",
            self.driver(),
            self.listing()
        );
        Ok(())
    }
}

/// Names (last path component) of the btrfs subvolumes under `dir`, from `btrfs subvolume list`
/// of the filesystem mounted at `mount`.
fn btrfs_subvolumes_under(mount: &Path, dir: &Path) -> Result<BTreeSet<String>> {
    let text = run_tool("btrfs", &["subvolume", "list", &mount.to_string_lossy()])?;
    let prefix = dir
        .strip_prefix(mount)
        .with_context(|| format!("{} is not under {}", dir.display(), mount.display()))?
        .to_path_buf();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some((_, path)) = line.split_once(" path ") else {
            continue;
        };
        let path = Path::new(path.trim_start_matches("<FS_TREE>/"));
        if path.starts_with(&prefix) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(name);
        }
    }
    Ok(out)
}

/// `docker info`'s DriverStatus as pairs.
fn driver_status(d: &StrataDaemon) -> Result<Vec<(String, String)>> {
    let text = d.docker_ok(["info", "--format", "{{json .DriverStatus}}"])?;
    let pairs: Vec<(String, String)> = serde_json::from_str(text.trim())
        .with_context(|| format!("DriverStatus is not a list of pairs: {text}"))?;
    Ok(pairs)
}

fn status_value<'a>(pairs: &'a [(String, String)], key: &str) -> Result<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .with_context(|| format!("docker info DriverStatus has no {key:?}: {pairs:?}"))
}

/// `docker info` names the driver and shows its status: backing filesystem or pool, space.
fn check_info(d: &StrataDaemon, store: &Store) -> Result<()> {
    let text = d.docker_ok(["info"])?;
    ensure!(
        text.contains(&format!("Storage Driver: {}", store.driver())),
        "docker info names the storage driver:\n{text}"
    );
    let pairs = driver_status(d)?;
    // Keys only: space figures may move between the two calls (other tests share the store).
    for (key, _) in &pairs {
        ensure!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{key}: "))),
            "docker info prints the status line {key}:\n{text}"
        );
    }
    match store {
        Store::Btrfs { .. } => {
            ensure!(
                status_value(&pairs, "Backing Filesystem")? == "btrfs",
                "backing filesystem: {pairs:?}"
            );
            for key in ["Space Used", "Space Available"] {
                let value = status_value(&pairs, key)?;
                ensure!(
                    value.ends_with('B') && value.starts_with(|c: char| c.is_ascii_digit()),
                    "{key} is a size: {value:?}"
                );
            }
        }
        Store::Zfs(dataset) => {
            let pool = dataset.name.split('/').next().unwrap_or_default();
            ensure!(status_value(&pairs, "Zpool")? == pool, "Zpool: {pairs:?}");
            ensure!(
                status_value(&pairs, "Zpool Health")? == "ONLINE",
                "pool health: {pairs:?}"
            );
            ensure!(
                status_value(&pairs, "Parent Dataset")? == dataset.name,
                "parent dataset: {pairs:?}"
            );
            for key in ["Space Used By Parent", "Space Available"] {
                let value = status_value(&pairs, key)?;
                ensure!(
                    value.parse::<u64>().is_ok(),
                    "{key} is a byte count: {value:?}"
                );
            }
            ensure!(
                status_value(&pairs, "Space Available")?.parse::<u64>()? > 0,
                "the pool has space: {pairs:?}"
            );
            // The test store's zfs-fuse runs with --enable-xattr (deploy/storage/zfs.sh).
            ensure!(
                status_value(&pairs, "Supports Xattrs")? == "true",
                "the pool stores xattrs: {pairs:?}"
            );
        }
        Store::Overlay2 => {}
    }
    Ok(())
}

/// First light on `store`, with `docker info`'s status checked, then nothing left on it.
fn first_light_on(store: Store) -> Result<()> {
    let mut d = StrataDaemon::start_with(strata_bin(), store.driver(), &store.options())?;
    check_info(&d, &store)?;
    first_light(&mut d)?;
    store.assert_nothing_left(&d, "after first light (rm, rmi, stop)")?;
    Ok(())
}

#[test]
fn first_light_btrfs() -> Result<()> {
    first_light_on(Store::btrfs()?)
}

#[test]
fn first_light_zfs() -> Result<()> {
    first_light_on(Store::zfs()?)
}

/// Start armed with `point`, run `docker args` (which reaches it), check the agent died of
/// SIGKILL and left orphans (on the store, not in the metadata); returns the orphans.
fn crash_at(
    d: &mut StrataDaemon,
    store: &Store,
    point: &str,
    args: &[&str],
) -> Result<BTreeSet<String>> {
    d.restart(&store.options().env(FAULT_ENV, point))?;
    let before = store.layers(d)?;
    let out = d.docker(args);
    ensure!(
        out.code() != 0,
        "docker {} must fail when the agent dies at {point}: {}",
        args.join(" "),
        out.describe()
    );
    let status = d.wait_exit(DEATH_TIMEOUT)?;
    ensure!(
        status.signal() == Some(SIGKILL),
        "the agent died of SIGKILL at {point}, got {status}; log tail:\n{}",
        d.log_tail(30)
    );
    let after = store.layers(d)?;
    let recorded = d.recorded_layers()?;
    let orphans: BTreeSet<String> = after
        .difference(&before)
        .filter(|id| !recorded.contains(*id))
        .cloned()
        .collect();
    ensure!(
        !orphans.is_empty(),
        "killed at {point}: a layer exists on the {} store and not in the metadata \
         (before {before:?}, after {after:?}, recorded {recorded:?})\n{}",
        store.driver(),
        store.listing()
    );
    Ok(orphans)
}

/// Restart without faults and check the orphans are gone and the store matches the metadata.
fn restart_repairs(d: &mut StrataDaemon, store: &Store, orphans: &BTreeSet<String>) -> Result<()> {
    d.restart(&store.options())?;
    let present = store.layers(d)?;
    let still: Vec<&String> = orphans.intersection(&present).collect();
    ensure!(
        still.is_empty(),
        "the restart removed the orphans; still there: {still:?}\n{}\nlog tail:\n{}",
        store.listing(),
        d.log_tail(30)
    );
    if let Store::Zfs(dataset) = store {
        // A snapshot is only there for the clone named after it.
        for name in dataset.children()? {
            if let Some((_, clone)) = name.split_once('@') {
                ensure!(
                    present.contains(clone),
                    "snapshot {name} outlived its clone after repair\n{}",
                    store.listing()
                );
            }
        }
    }
    let recorded = d.recorded_layers()?;
    ensure!(
        present == recorded,
        "after repair the {} store holds exactly what the metadata records: store {present:?}, \
         metadata {recorded:?}",
        store.driver()
    );
    Ok(())
}

/// `docker run --rm` of the crash image prints what it was told to.
fn run_works(d: &StrataDaemon) -> Result<()> {
    let out = d.docker(["run", "--rm", IMAGE, "echo", "repaired"]);
    ensure!(
        out.code() == 0 && out.stdout_text() == "repaired\n",
        "docker run --rm after repair: {}",
        out.describe()
    );
    Ok(())
}

/// Kill the agent between creating and recording a layer (docker load), then between creating
/// a container's layers and recording it (docker create); each time the next start removes
/// what was left and the daemon works.
fn crash_repair(store: Store) -> Result<()> {
    let work = tempfile::tempdir()?;
    let archive = work.path().join("crash.tar");
    TestImage::busybox(IMAGE)
        .random_layers(2, 16 * 1024)
        .build_docker_archive(&archive)?;
    let archive = archive.to_str().context("utf-8 path")?.to_string();

    let mut d = StrataDaemon::start_with(strata_bin(), store.driver(), &store.options())?;
    let status = d.stop()?;
    ensure!(status.success(), "strata exits 0 on SIGTERM, got {status}");

    // 1. docker load dies after the first layer is unpacked in the driver.
    let orphans = crash_at(&mut d, &store, "layer-created", &["load", "-i", &archive])?;
    for table in ["layers", "images", "containers"] {
        ensure!(
            d.db_count(table)? == 0,
            "no {table} recorded by the killed load"
        );
    }
    restart_repairs(&mut d, &store, &orphans)?;
    for table in ["layers", "images", "containers"] {
        ensure!(d.db_count(table)? == 0, "nothing in {table} after repair");
    }
    store.assert_nothing_left(&d, "after repairing the killed load")?;
    let loaded = d.docker_ok(["load", "-i", &archive])?;
    ensure!(
        loaded.contains(&format!("Loaded image: {IMAGE}")),
        "docker load after repair said:\n{loaded}"
    );
    run_works(&d)?;
    d.stop()?;

    // 2. docker create dies after the container's init and rw layers exist.
    let image_layers = store.layers(&d)?;
    let orphans = crash_at(
        &mut d,
        &store,
        "container-layers-created",
        &["create", "--name", "crashed", IMAGE, "true"],
    )?;
    ensure!(
        orphans.len() == 2,
        "the killed create left its init and rw layers: {orphans:?}"
    );
    ensure!(
        d.db_count("containers")? == 0,
        "no container recorded by the killed create"
    );
    restart_repairs(&mut d, &store, &orphans)?;
    ensure!(
        store.layers(&d)? == image_layers,
        "after repair only the image's layers remain"
    );
    let gone = d.docker(["inspect", "crashed"]);
    ensure!(
        gone.code() != 0 && gone.stderr_text().contains("No such"),
        "the killed create left no container: {}",
        gone.describe()
    );
    let ps = d.docker_ok(["ps", "-a", "-q"])?;
    ensure!(ps.trim().is_empty(), "ps -a after repair: {ps:?}");
    let created = d.docker_ok(["create", "--name", "crashed", IMAGE, "true"])?;
    ensure!(
        created.trim().len() == 64,
        "the name is free again: {created:?}"
    );
    d.docker_ok(["rm", "crashed"])?;
    run_works(&d)?;

    // Clean up through the CLI: nothing left anywhere.
    d.docker_ok(["rmi", IMAGE])?;
    for table in ["layers", "images", "containers"] {
        ensure!(d.db_count(table)? == 0, "nothing in {table} after rmi");
    }
    let status = d.stop()?;
    ensure!(status.success(), "strata exits 0 on SIGTERM, got {status}");
    store.assert_nothing_left(&d, "after rmi")?;
    Ok(())
}

#[test]
fn crash_repair_btrfs() -> Result<()> {
    crash_repair(Store::btrfs()?)
}

#[test]
fn crash_repair_zfs() -> Result<()> {
    crash_repair(Store::zfs()?)
}

#[test]
fn crash_repair_overlay2() -> Result<()> {
    crash_repair(Store::Overlay2)
}
