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
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use strata_drivers::conformance::DriverFixture;
use strata_drivers::devicemapper::fault::{FAULT_ENV, SNAPSHOT_CREATED};
use strata_drivers::devicemapper::DevMapperDriver;
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

/// Small pools and base device: the guest keeps the sparse files in memory, and a small
/// filesystem is quicker to make (the guest is emulated).
fn test_opts() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("dm.loopdatasize".to_string(), "4G".to_string()),
        ("dm.loopmetadatasize".to_string(), "128M".to_string()),
        ("dm.basesize".to_string(), "64M".to_string()),
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

/// Takes down, when the test fails, what a dead driver process left on `home`: its mounts, its
/// dm devices (prefix `prefix`) and the loop devices of its pool files; so a failure is reported
/// once, not again as leftovers by the guest script. Never panics (it runs while unwinding).
struct TakeDownOnFailure {
    home: PathBuf,
    prefix: String,
}

impl Drop for TakeDownOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let quiet = |cmd: &str, args: &[&str]| {
            let _ = Command::new(cmd)
                .args(args)
                .env("DM_DISABLE_UDEV", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let home = self.home.to_string_lossy().into_owned();
        for line in mounts.lines() {
            if let Some(point) = line.split(' ').nth(4) {
                if point.starts_with(&home) {
                    quiet("umount", &["-l", point]);
                }
            }
        }
        let names = Command::new("dmsetup")
            .arg("ls")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ours: Vec<&str> = names
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&self.prefix))
            .collect();
        // Thin devices before the pool they live in.
        for name in ours.iter().filter(|n| !n.ends_with("--pool")) {
            quiet("dmsetup", &["--noudevsync", "remove", name]);
        }
        for name in ours.iter().filter(|n| n.ends_with("--pool")) {
            quiet("dmsetup", &["--noudevsync", "remove", name]);
        }
        for file in ["data", "metadata"] {
            let path = self.home.join("devicemapper").join(file);
            let out = Command::new("losetup")
                .args(["-j", &path.to_string_lossy()])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for dev in out.lines().filter_map(|l| l.split(':').next()) {
                quiet("losetup", &["-d", dev]);
            }
        }
    }
}

/// The dm-name prefix the driver uses for `home` (`strata-<major>:<minor>-<inode>`).
fn prefix_of_home(home: &Path) -> String {
    let md = std::fs::metadata(home).expect("stat home");
    let dev = md.dev();
    format!(
        "strata-{}:{}-{}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev),
        md.ino()
    )
}

mod devicemapper_only {
    use super::*;

    /// Name of the crash test as the test harness knows it (the child process runs only it).
    const CRASH_TEST: &str =
        "devicemapper_only::crash_between_snapshot_and_record_is_repaired_at_open";
    /// Set in the child process: the driver home it works in.
    const CRASH_HOME_VAR: &str = "STRATA_TEST_DM_CRASH_HOME";
    /// How long the child may take to reach the fault point (the guest is emulated: slow).
    const CHILD_DEADLINE: Duration = Duration::from_secs(300);

    /// The child's part: a layer with a file, mounted (so the snapshot is taken with its origin
    /// suspended), then a child layer whose creation is killed by the fault point right after
    /// `create_snap`. Never returns normally.
    fn crash_child(home: &Path) {
        let opts = DriverOptions {
            home: home.to_path_buf(),
            storage_opt: test_opts(),
        };
        let d = DevMapperDriver::open(&opts).unwrap_or_else(|e| panic!("opening: {e}"));
        d.create(&id("base"), None).expect("create base");
        d.apply_diff(&id("base"), &mut tar_with(&[("f", b"base")]).as_slice())
            .expect("apply");
        let p = d.get(&id("base")).expect("get base");
        assert_eq!(std::fs::read(p.join("f")).expect("read"), b"base");
        eprintln!("crash child: creating the snapshot; the fault point kills this process");
        let outcome = d.create(&id("child"), Some(&id("base")));
        panic!("the fault point {SNAPSHOT_CREATED} did not kill the process (create: {outcome:?})");
    }

    /// Wait for `child` at most `deadline`; killed and reported when it takes longer.
    fn wait_or_kill(child: &mut Child, deadline: Duration, log: &Path) -> ExitStatus {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the crash child") {
                return status;
            }
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the crash child did not reach the fault point within {deadline:?}; its \
                     output:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The agent's process is killed (SIGKILL, from the fault point compiled with feature
    /// `fault-injection`) after the pool made a thin snapshot and before the record says so.
    /// The crash leaves that thin device in the pool (the id is taken) with a `creating` record,
    /// and the parent layer mounted. The next start (open + reconcile, as the agent does)
    /// deletes the device and its record: `layers()` lists only the parent, `dmsetup ls` shows
    /// only the pool, and the next layer gets the crashed thin id (the pool really freed it).
    #[test]
    fn crash_between_snapshot_and_record_is_repaired_at_open() {
        if let Some(home) = std::env::var_os(CRASH_HOME_VAR) {
            return crash_child(Path::new(&home));
        }
        let home = Home::new();
        let opts = home.opts();
        std::fs::create_dir_all(&opts.home).expect("home");
        let log_path = home.dir.path().join("crash-child.log");
        let log = std::fs::File::create(&log_path).expect("child log");
        let exe = std::env::current_exe().expect("path of the test binary");
        let mut child = Command::new(exe)
            .args([CRASH_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_HOME_VAR, &opts.home)
            .env(FAULT_ENV, format!("{SNAPSHOT_CREATED}:child"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting the crash child (this test binary)");
        let status = wait_or_kill(&mut child, CHILD_DEADLINE, &log_path);
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "the crash child was not killed at the fault point ({status}); its output:\n{output}"
        );

        // What the dead process left: a `creating` record, and the thin id taken in the pool.
        let record_path = opts.home.join("devices/child.json");
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&record_path).expect("record of the crashed create"),
        )
        .expect("json");
        assert_eq!(record["state"], "creating", "{record}");
        let crashed_id = record["device_id"].as_u64().expect("device_id");
        let prefix = prefix_of_home(&opts.home);
        let _take_down = TakeDownOnFailure {
            home: std::fs::canonicalize(&opts.home).expect("home"),
            prefix: prefix.clone(),
        };
        let pool = format!("{prefix}--pool");
        let taken = Command::new("dmsetup")
            .args(["message", &pool, "0", &format!("create_thin {crashed_id}")])
            .env("DM_DISABLE_UDEV", "1")
            .output()
            .expect("dmsetup message");
        assert!(
            !taken.status.success()
                && String::from_utf8_lossy(&taken.stderr).contains("File exists"),
            "thin id {crashed_id} was not taken in the pool after the crash: {}",
            String::from_utf8_lossy(&taken.stderr)
        );
        assert!(
            home.our_devices(&prefix).len() > 1,
            "the crash left no active layer device besides the pool: {:?}",
            dm_names()
        );

        // The next start: open, then reconcile with nothing in use (as the agent does).
        let again = open_driver("devicemapper", &opts).expect("reopen after the crash");
        assert_eq!(again.layers().expect("layers"), vec![id("base")]);
        assert!(
            !record_path.exists(),
            "the record of the crashed create is still there"
        );
        again.reconcile_mounts(&[]).expect("reconcile");
        assert_eq!(
            home.our_devices(&prefix),
            vec![pool.clone()],
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
        assert_eq!(meta["DeviceSize"], (64u64 << 20).to_string());
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
        assert_eq!(status["Base Device Size"], "67.11MB");
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
        opts.storage_opt.insert("size".into(), "128M".into());
        d.create_rw(&id("big"), Some(&id("img")), &opts)
            .expect("create_rw size=128M");
        assert_eq!(
            d.metadata(&id("big")).expect("meta")["DeviceSize"],
            (128u64 << 20).to_string()
        );
        let p = d.get(&id("big")).expect("get");
        let st = nix::sys::statvfs::statvfs(&p).expect("statvfs");
        let total = st.blocks() * st.fragment_size();
        assert!(total > 100 << 20, "filesystem not grown: {total} bytes");
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
