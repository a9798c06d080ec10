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
//! `STRATA_TEST_ZFS_FSNAME` is the parent dataset, `STRATA_TEST_ZFS_ROOT` a directory on the
//! host's filesystem for the fixtures' homes (not inside a zfs-fuse mount: see zfs.sh). Every case gets its own dataset `<FSNAME>/conf-<pid>-<n>` (so `layers()` sees only
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

/// The backing store named by the environment, checked: the parent dataset exists, and the root
/// (where the cases' homes go) is a directory.
fn store() -> (String, PathBuf) {
    let fsname = std::env::var(FSNAME_VAR).unwrap_or_else(|_| {
        panic!("the zfs conformance suite needs {FSNAME_VAR} and {ROOT_VAR}: {HOWTO}")
    });
    let root = PathBuf::from(std::env::var_os(ROOT_VAR).unwrap_or_else(|| {
        panic!("the zfs conformance suite needs {ROOT_VAR} and {FSNAME_VAR}: {HOWTO}")
    }));
    zfs(&["list", "-H", "-o", "name", &fsname])
        .unwrap_or_else(|e| panic!("the zfs test store {fsname} is not there ({e}); {HOWTO}"));
    assert!(
        root.is_dir(),
        "{ROOT_VAR}={} is not a directory; {HOWTO}",
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
            let msg = format!("destroying the case dataset {}: {e}", self.name);
            // Leftovers fail the case, unless it is failing already.
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
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

/// A case of the zfs-specific tests below: the fixture and its dataset (fields drop in order, so
/// the fixture unmounts before the dataset is destroyed).
struct ZfsCase {
    fixture: DriverFixture,
    dataset: CaseDataset,
}

impl ZfsCase {
    fn new() -> ZfsCase {
        let (fsname, root) = store();
        sweep_dead_runs(&fsname);
        let dataset = CaseDataset::create(&fsname);
        let opts = BTreeMap::from([("zfs.fsname".to_string(), dataset.name.clone())]);
        ZfsCase {
            fixture: DriverFixture::in_dir("zfs", &root, opts),
            dataset,
        }
    }

    /// Every dataset and snapshot below the case dataset, by name (the case dataset itself left
    /// out).
    fn zfs_contents(&self) -> Vec<String> {
        let listing = zfs(&[
            "list",
            "-H",
            "-r",
            "-t",
            "all",
            "-o",
            "name",
            &self.dataset.name,
        ])
        .expect("zfs list");
        listing
            .lines()
            .filter(|n| *n != self.dataset.name)
            .map(str::to_string)
            .collect()
    }
}

/// What only the zfs driver promises: inspect data, status, options, crash repair.
mod zfs_specific {
    use std::collections::BTreeMap;
    use std::path::Path;

    use strata_drivers::{open_driver, CreateOpts, DriverError, DriverOptions};

    use super::{zfs, ZfsCase};

    /// `docker inspect` shows `GraphDriver.Data` as the seed's Listing 4: Dataset and Mountpoint.
    #[test]
    fn inspect_data_is_dataset_and_mountpoint() {
        let case = ZfsCase::new();
        let d = case.fixture.driver();
        let id = case.fixture.id("inspect");
        d.create(&id, None).expect("create");
        let meta = d.metadata(&id).expect("metadata");
        let home = std::fs::canonicalize(case.fixture.home()).expect("home");
        let expected = BTreeMap::from([
            (
                "Dataset".to_string(),
                format!("{}/inspect", case.dataset.name),
            ),
            (
                "Mountpoint".to_string(),
                home.join("graph/inspect").display().to_string(),
            ),
        ]);
        assert_eq!(meta, expected);
        let path = d.get(&id).expect("get");
        assert_eq!(
            path.display().to_string(),
            meta["Mountpoint"],
            "get mounts where inspect says"
        );
        d.put(&id).expect("put");
        d.remove(&id).expect("remove");
    }

    /// `docker info` names the pool, its health, the parent dataset and its space, as moby does.
    #[test]
    fn status_names_pool_parent_and_space() {
        let case = ZfsCase::new();
        let status = case.fixture.driver().status();
        let keys: Vec<&str> = status.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "Zpool",
                "Zpool Health",
                "Parent Dataset",
                "Space Used By Parent",
                "Space Available",
                "Parent Quota",
                "Compression",
                "Supports Xattrs"
            ]
        );
        let value = |k: &str| {
            status
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let pool = case
            .dataset
            .name
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        assert_eq!(value("Zpool"), pool);
        assert_eq!(value("Zpool Health"), "ONLINE");
        assert_eq!(value("Parent Dataset"), case.dataset.name);
        assert!(
            value("Space Available").parse::<u64>().expect("bytes") > 0,
            "{status:?}"
        );
        assert!(
            value("Space Used By Parent").parse::<u64>().is_ok(),
            "{status:?}"
        );
        assert_eq!(value("Parent Quota"), "no");
        assert_eq!(value("Supports Xattrs"), "true", "{status:?}");
    }

    /// A pool that cannot store xattrs (here `xattr=off`, as zfs-fuse without --enable-xattr
    /// behaves) is refused at open with what to do; `zfs.allow_no_xattr=true` opens it and
    /// `docker info`'s status says what is lost. The probe leaves no dataset behind.
    #[test]
    fn pool_without_xattrs_is_refused_unless_allowed() {
        let case = ZfsCase::new();
        zfs(&["set", "xattr=off", &case.dataset.name]).expect("zfs set xattr=off");
        let home = case.fixture.root().join("noxattr-home");
        let mut opts = DriverOptions {
            home: home.clone(),
            storage_opt: BTreeMap::from([("zfs.fsname".to_string(), case.dataset.name.clone())]),
        };
        let err = open_driver("zfs", &opts)
            .err()
            .expect("opened a pool without xattr support");
        let msg = err.to_string();
        assert!(matches!(err, DriverError::Unsupported { .. }), "{msg}");
        assert!(
            msg.contains("cannot store extended attributes")
                && msg.contains("--enable-xattr")
                && msg.contains("zfs.allow_no_xattr=true"),
            "{msg}"
        );
        assert_eq!(
            case.zfs_contents(),
            Vec::<String>::new(),
            "probe left behind"
        );

        opts.storage_opt
            .insert("zfs.allow_no_xattr".to_string(), "true".to_string());
        let driver = open_driver("zfs", &opts).expect("open with zfs.allow_no_xattr=true");
        let status = driver.status();
        let xattrs = status
            .iter()
            .find(|(k, _)| k == "Supports Xattrs")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(
            xattrs.starts_with("false") && xattrs.contains("file capabilities"),
            "{status:?}"
        );
        assert_eq!(
            case.zfs_contents(),
            Vec::<String>::new(),
            "probe left behind"
        );
        drop(driver);
        std::fs::remove_dir_all(&home).expect("remove the other home");
    }

    /// Without `zfs.fsname`, or with a dataset that does not exist, the driver refuses to open
    /// and says what is wrong.
    #[test]
    fn missing_or_unknown_parent_dataset_is_refused_clearly() {
        let case = ZfsCase::new();
        let home = case.fixture.root().join("other-home");
        let err = open_driver("zfs", &DriverOptions::new(&home))
            .err()
            .expect("opened without zfs.fsname");
        assert!(
            matches!(err, DriverError::InvalidOption { .. })
                && err.to_string().contains("zfs.fsname"),
            "{err}"
        );
        let missing = format!("{}/not-there", case.dataset.name);
        let opts = DriverOptions {
            home: home.clone(),
            storage_opt: BTreeMap::from([("zfs.fsname".to_string(), missing.clone())]),
        };
        let err = open_driver("zfs", &opts)
            .err()
            .expect("opened on a missing dataset");
        assert!(
            err.to_string().contains(&missing) && err.to_string().contains("does not exist"),
            "{err}"
        );
        std::fs::remove_dir_all(&home).expect("remove the other home");
    }

    /// `--storage-opt size=` on a container layer becomes a ZFS quota; unknown options are refused.
    #[test]
    fn size_option_becomes_a_quota() {
        let case = ZfsCase::new();
        let d = case.fixture.driver();
        let base = case.fixture.id("q-base");
        d.create(&base, None).expect("create");
        let rw = case.fixture.id("q-rw");
        let mut opts = CreateOpts::default();
        opts.storage_opt.insert("size".into(), "64M".into());
        d.create_rw(&rw, Some(&base), &opts)
            .expect("create_rw with size");
        let quota = zfs(&[
            "get",
            "-Hp",
            "-o",
            "value",
            "quota",
            &format!("{}/q-rw", case.dataset.name),
        ])
        .expect("quota");
        assert_eq!(quota.trim(), (64u64 << 20).to_string());
        let mut bad = CreateOpts::default();
        bad.storage_opt.insert("colour".into(), "red".into());
        let err = d
            .create_rw(&case.fixture.id("q-bad"), Some(&base), &bad)
            .expect_err("unknown option accepted");
        assert!(matches!(err, DriverError::InvalidOption { .. }), "{err}");
        assert!(!d.exists(&case.fixture.id("q-bad")));
        d.remove(&rw).expect("remove rw");
        d.remove(&base).expect("remove base");
        assert_eq!(
            case.zfs_contents(),
            Vec::<String>::new(),
            "datasets or snapshots left behind"
        );
    }

    /// A crash between snapshot and clone leaves a snapshot of the parent: creating the child
    /// again works, and removing layers leaves no dataset or snapshot behind.
    #[test]
    fn interrupted_create_is_repaired() {
        let case = ZfsCase::new();
        let d = case.fixture.driver();
        let parent = case.fixture.id("ic-parent");
        let child = case.fixture.id("ic-child");
        d.create(&parent, None).expect("create parent");
        zfs(&[
            "snapshot",
            &format!("{}/ic-parent@ic-child", case.dataset.name),
        ])
        .expect("snapshot");
        zfs(&[
            "snapshot",
            &format!("{}/ic-parent@never-cloned", case.dataset.name),
        ])
        .expect("snapshot");
        d.create(&child, Some(&parent))
            .expect("create child over a leftover snapshot");
        assert_eq!(d.parent(&child).expect("parent"), Some(parent.clone()));
        assert_eq!(
            d.layers().expect("layers"),
            vec![child.clone(), parent.clone()]
        );
        d.remove(&child).expect("remove child");
        d.remove(&parent)
            .expect("remove parent with a leftover snapshot");
        assert_eq!(
            case.zfs_contents(),
            Vec::<String>::new(),
            "datasets or snapshots left behind"
        );
    }

    /// A restarted agent adopts the mounts of layers still in use and unmounts the rest; a
    /// dataset it has no record of is listed so it can be removed.
    #[test]
    fn restart_adopts_in_use_mounts_and_lists_orphans() {
        let case = ZfsCase::new();
        let d = case.fixture.driver();
        let kept = case.fixture.id("rs-kept");
        let dropped = case.fixture.id("rs-dropped");
        d.create(&kept, None).expect("create");
        d.create(&dropped, None).expect("create");
        let kept_path = d.get(&kept).expect("get");
        std::fs::write(kept_path.join("f"), b"running").expect("write");
        let dropped_path = d.get(&dropped).expect("get");

        // The agent dies holding both; the next one knows only `kept` is in use.
        let d2 = case.fixture.reopen();
        let mut listed = d2.layers().expect("layers");
        listed.sort();
        assert_eq!(listed, vec![dropped.clone(), kept.clone()]);
        d2.reconcile_mounts(std::slice::from_ref(&kept))
            .expect("reconcile");
        assert_eq!(
            std::fs::read(kept_path.join("f")).expect("still mounted"),
            b"running"
        );
        assert!(
            !Path::new(&dropped_path).exists(),
            "the unused layer is still mounted"
        );
        assert!(
            matches!(d2.remove(&kept), Err(DriverError::Busy(_))),
            "removed an adopted layer"
        );
        d2.put(&kept).expect("release the adopted use");
        assert!(
            !kept_path.exists(),
            "still mounted after the adopted use was released"
        );
        d2.remove(&dropped).expect("remove the orphan");
        d2.remove(&kept).expect("remove");
        assert_eq!(
            case.zfs_contents(),
            Vec::<String>::new(),
            "datasets or snapshots left behind"
        );
    }
}
