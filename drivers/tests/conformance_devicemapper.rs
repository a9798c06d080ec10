//! The driver conformance suite on devicemapper, plus devicemapper-only cases (crash repair,
//! status and inspect keys, loop pool teardown).
//!
//! Device-mapper is not in this host's kernel, so these tests run inside a guest kernel:
//!
//! ```text
//! bash tests/vm/run.sh
//! ```
//!
//! builds this test binary on the host, boots Debian's kernel with virtme-ng (qemu, TCG) and runs
//! it there with `STRATA_TEST_DM_ROOT` naming a scratch directory. Every case gets its own
//! loop-backed thin pool (sparse files in its fixture directory), taken down when the case ends.
//! Run directly on a host without device-mapper, every case fails saying so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_drivers::conformance::DriverFixture;
use strata_drivers::devicemapper::{DevMapperDriver, Fault};
use strata_drivers::{open_driver, CreateOpts, DriverError, DriverOptions, GraphDriver, LayerId};

const ROOT_VAR: &str = "STRATA_TEST_DM_ROOT";
const HOWTO: &str = "device-mapper is not in this host's kernel: run these tests through \
                     `bash tests/vm/run.sh`, which boots a guest kernel with dm-thin-pool";

/// The scratch directory the tests work in, checked to be usable for device-mapper.
fn dm_root() -> PathBuf {
    let root = std::env::var_os(ROOT_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{ROOT_VAR} is not set; {HOWTO}"));
    assert!(
        root.is_dir(),
        "{ROOT_VAR}={} is not a directory; {HOWTO}",
        root.display()
    );
    assert!(
        Path::new("/dev/mapper/control").exists(),
        "/dev/mapper/control is missing; {HOWTO}"
    );
    root
}

/// Small pools and base device: the guest keeps the sparse files in memory.
fn test_opts() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("dm.loopdatasize".to_string(), "4G".to_string()),
        ("dm.loopmetadatasize".to_string(), "128M".to_string()),
        ("dm.basesize".to_string(), "256M".to_string()),
        ("dm.min_free_space".to_string(), "0%".to_string()),
    ])
}

fn dm_fixture() -> DriverFixture {
    DriverFixture::in_dir("devicemapper", &dm_root(), test_opts())
}

strata_drivers::conformance_suite!(devicemapper, dm_fixture);

/// Run a tool, returning stdout (panics with stderr on failure: test code).
fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .env("DM_DISABLE_UDEV", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {name} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of active dm devices (`dmsetup ls`).
fn dm_names() -> Vec<String> {
    let out = tool("dmsetup", &["ls"]);
    out.lines()
        .filter(|l| !l.starts_with("No devices found"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn id(s: &str) -> LayerId {
    LayerId::new(s).expect("valid id")
}

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = strata_drivers::conformance::tars::TestTar::new();
    for (name, content) in files {
        t.file(name, content);
    }
    t.bytes()
}

/// A home of its own under the scratch root, removed on drop.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("strata-dm-only-")
            .tempdir_in(dm_root())
            .expect("temp dir in the scratch root");
        Home { dir }
    }

    fn opts(&self) -> DriverOptions {
        DriverOptions {
            home: self.dir.path().join("home"),
            storage_opt: test_opts(),
        }
    }

    fn open(&self) -> DevMapperDriver {
        let opts = self.opts();
        std::fs::create_dir_all(&opts.home).expect("home");
        DevMapperDriver::open(&opts).unwrap_or_else(|e| panic!("opening devicemapper: {e}"))
    }

    /// dm names of this home's devices (they all start with the pool's prefix).
    fn our_devices(&self, prefix: &str) -> Vec<String> {
        dm_names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect()
    }

    fn data_file(&self) -> PathBuf {
        self.dir.path().join("home/devicemapper/data")
    }
}

/// The dm-name prefix of a driver, from its status (`Pool Name` is `<prefix>--pool`).
fn prefix_of(d: &dyn GraphDriver) -> String {
    let status: BTreeMap<String, String> = d.status().into_iter().collect();
    let pool = status.get("Pool Name").expect("Pool Name in status");
    pool.strip_suffix("--pool")
        .unwrap_or_else(|| panic!("pool name {pool} does not end in --pool"))
        .to_string()
}

mod devicemapper_only {
    use super::*;

    /// The driver "dies" (its process is gone: no drop, no cleanup) after the pool made a
    /// snapshot and before the record says so. The next open deletes that thin device and its
    /// record, `layers()` no longer lists it, `dmsetup ls` shows only the pool, and the freed
    /// thin id is given to the next layer.
    #[test]
    fn crash_between_snapshot_and_record_is_repaired_at_open() {
        let home = Home::new();
        let d = home.open();
        d.create(&id("base"), None).expect("create base");
        d.apply_diff(&id("base"), &mut tar_with(&[("f", b"base")]).as_slice())
            .expect("apply");
        // An active origin: the snapshot is taken with it suspended.
        let p = d.get(&id("base")).expect("get base");
        assert_eq!(std::fs::read(p.join("f")).expect("read"), b"base");
        let prefix = prefix_of(&d);

        d.inject_fault(Fault::AfterSnapshotBeforeRecord);
        let err = d
            .create(&id("child"), Some(&id("base")))
            .expect_err("the injected fault did not stop create");
        assert!(err.to_string().contains("injected fault"), "{err}");
        let record_path = home.dir.path().join("home/devices/child.json");
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&record_path).expect("record of the crashed create"),
        )
        .expect("json");
        assert_eq!(record["state"], "creating", "{record}");
        let crashed_id = record["device_id"].as_u64().expect("device_id");
        assert!(
            !d.exists(&id("child")),
            "a half-made layer counts as existing"
        );
        assert!(
            d.layers().expect("layers").contains(&id("child")),
            "layers() hides the half-made layer from the agent"
        );
        // The process is killed: nothing of it runs any more, its mount stays.
        std::mem::forget(d);

        let again = open_driver("devicemapper", &home.opts()).expect("reopen after the crash");
        assert_eq!(again.layers().expect("layers"), vec![id("base")]);
        assert!(
            !record_path.exists(),
            "the record of the crashed create is still there"
        );
        again.reconcile_mounts(&[]).expect("reconcile");
        assert_eq!(
            home.our_devices(&prefix),
            vec![format!("{prefix}--pool")],
            "dmsetup ls shows devices besides the pool"
        );
        // The pool gives the crashed id out again: the repair deleted that thin device.
        again
            .create(&id("child"), Some(&id("base")))
            .expect("create child after repair");
        let meta = again.metadata(&id("child")).expect("metadata");
        assert_eq!(meta["DeviceId"], crashed_id.to_string(), "{meta:?}");
        let p = again.get(&id("child")).expect("get child");
        assert_eq!(std::fs::read(p.join("f")).expect("read"), b"base");
        again.put(&id("child")).expect("put");
        again.remove(&id("child")).expect("remove");
        again.remove(&id("base")).expect("remove");
        drop(again);
        assert_eq!(
            home.our_devices(&prefix),
            Vec::<String>::new(),
            "devices left"
        );
        assert_eq!(
            tool("losetup", &["-j", &home.data_file().to_string_lossy()]).trim(),
            "",
            "loop device left"
        );
    }

    /// A removal interrupted after its record said `deleting` is finished at open.
    #[test]
    fn interrupted_remove_is_finished_at_open() {
        let home = Home::new();
        let d = home.open();
        d.create(&id("doomed"), None).expect("create");
        let path = home.dir.path().join("home/devices/doomed.json");
        let text = std::fs::read_to_string(&path).expect("record");
        std::fs::write(&path, text.replace("\"ready\"", "\"deleting\"")).expect("rewrite");
        drop(d);
        let again = home.open();
        assert_eq!(again.layers().expect("layers"), Vec::<LayerId>::new());
        assert!(!path.exists());
    }

    /// Inspect and info carry Docker's devicemapper keys.
    #[test]
    fn status_and_metadata_use_dockers_keys() {
        let home = Home::new();
        let d = home.open();
        d.create(&id("l"), None).expect("create");
        let meta = d.metadata(&id("l")).expect("metadata");
        assert_eq!(
            meta.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["DeviceId", "DeviceName", "DeviceSize"]
        );
        assert_eq!(meta["DeviceSize"], (256u64 << 20).to_string());
        let status: BTreeMap<String, String> = d.status().into_iter().collect();
        for key in [
            "Pool Name",
            "Pool Blocksize",
            "Base Device Size",
            "Backing Filesystem",
            "Data file",
            "Metadata file",
            "Data Space Used",
            "Data Space Total",
            "Data Space Available",
            "Metadata Space Used",
            "Metadata Space Total",
            "Metadata Space Available",
            "Thin Pool Minimum Free Space",
            "Udev Sync Supported",
            "Deferred Removal Enabled",
            "Library Version",
        ] {
            assert!(status.contains_key(key), "status lacks {key}: {status:?}");
        }
        assert_eq!(status["Backing Filesystem"], "ext4");
        assert_eq!(status["Base Device Size"], "268.4MB");
        assert_eq!(status["Data Space Total"], "4.295GB");
        assert!(status["Data file"].starts_with("/dev/loop"), "{status:?}");
        d.remove(&id("l")).expect("remove");
    }

    /// `size=` below the base size is refused; a larger one grows the layer's filesystem.
    #[test]
    fn size_option_grows_a_container_layer() {
        let home = Home::new();
        let d = home.open();
        d.create(&id("img"), None).expect("create");
        let mut opts = CreateOpts::default();
        opts.storage_opt.insert("size".into(), "1M".into());
        let err = d
            .create_rw(&id("small"), Some(&id("img")), &opts)
            .expect_err("size below the base accepted");
        assert!(matches!(err, DriverError::InvalidOption { .. }), "{err}");
        assert!(!d.layers().expect("layers").contains(&id("small")));
        opts.storage_opt.insert("size".into(), "512M".into());
        d.create_rw(&id("big"), Some(&id("img")), &opts)
            .expect("create_rw size=512M");
        assert_eq!(
            d.metadata(&id("big")).expect("meta")["DeviceSize"],
            (512u64 << 20).to_string()
        );
        let p = d.get(&id("big")).expect("get");
        let st = nix::sys::statvfs::statvfs(&p).expect("statvfs");
        let total = st.blocks() * st.fragment_size();
        assert!(total > 300 << 20, "filesystem not grown: {total} bytes");
        d.put(&id("big")).expect("put");
    }

    /// A loop pool goes (device and loop devices) when its driver is dropped with nothing active.
    #[test]
    fn loop_pool_is_taken_down_with_the_driver() {
        let home = Home::new();
        let d = home.open();
        let prefix = prefix_of(&d);
        assert_eq!(home.our_devices(&prefix), vec![format!("{prefix}--pool")]);
        drop(d);
        assert_eq!(home.our_devices(&prefix), Vec::<String>::new());
        assert_eq!(
            tool("losetup", &["-j", &home.data_file().to_string_lossy()]).trim(),
            ""
        );
    }
}
