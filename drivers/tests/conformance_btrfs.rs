//! The driver conformance suite on btrfs, and what only the btrfs driver does (read-only image
//! layers, nested subvolumes, `size=` through qgroups, refusing a home off btrfs).
//!
//! Needs a btrfs filesystem named by `STRATA_TEST_BTRFS_ROOT`: run
//! `eval "$(sudo bash deploy/storage/btrfs.sh up)"` first. Without it every test fails and
//! says so.

// The width of `f_type` differs across targets: the casts are needed on some.
#![allow(clippy::unnecessary_cast)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use strata_drivers::conformance::DriverFixture;
use strata_drivers::{open_driver, CreateOpts, DriverError, DriverOptions, LayerId};

const ROOT_VAR: &str = "STRATA_TEST_BTRFS_ROOT";
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;

/// The btrfs directory the tests work in, or a panic saying how to make one.
fn btrfs_root() -> PathBuf {
    let hint = "run `eval \"$(sudo bash deploy/storage/btrfs.sh up)\"` to make the test btrfs";
    let root = std::env::var_os(ROOT_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{ROOT_VAR} is not set: {hint}"));
    let st = nix::sys::statfs::statfs(&root)
        .unwrap_or_else(|e| panic!("{ROOT_VAR}={} is not there ({e}): {hint}", root.display()));
    assert_eq!(
        st.filesystem_type().0 as i64,
        BTRFS_SUPER_MAGIC,
        "{ROOT_VAR}={} is not on btrfs: {hint}",
        root.display()
    );
    root
}

fn btrfs_fixture() -> DriverFixture {
    DriverFixture::in_dir("btrfs", &btrfs_root(), BTreeMap::new())
}

strata_drivers::conformance_suite!(btrfs, btrfs_fixture);

/// Run the `btrfs` tool (btrfs-progs) for a check the driver itself does not offer.
fn btrfs_cli(args: &[&str]) -> String {
    let out = Command::new("btrfs")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running btrfs {args:?} (is btrfs-progs installed?): {e}"));
    assert!(
        out.status.success(),
        "btrfs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// Subvolumes of the test filesystem whose path contains `needle`.
fn subvolumes_matching(needle: &str) -> Vec<String> {
    let root = btrfs_root();
    btrfs_cli(&["subvolume", "list", path_str(&root)])
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Wait until the kernel has dropped every deleted subvolume of the test filesystem.
fn wait_for_cleaner() {
    let root = btrfs_root();
    btrfs_cli(&["filesystem", "sync", path_str(&root)]);
    btrfs_cli(&["subvolume", "sync", path_str(&root)]);
    btrfs_cli(&["filesystem", "sync", path_str(&root)]);
}

fn subvol_id(path: &Path) -> u64 {
    btrfs_cli(&["inspect-internal", "rootid", path_str(path)])
        .trim()
        .parse()
        .expect("numeric subvolume id")
}

/// Qgroup `0/<id>` as listed by `btrfs qgroup show`, if it exists.
fn qgroup_line(id: u64) -> Option<String> {
    let root = btrfs_root();
    let wanted = format!("0/{id}");
    btrfs_cli(&["qgroup", "show", "-r", "--raw", path_str(&root)])
        .lines()
        .find(|l| l.split_whitespace().next() == Some(wanted.as_str()))
        .map(str::to_string)
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

mod btrfs_only {
    use super::*;

    /// A home off btrfs is refused with the reason.
    #[test]
    fn refuses_a_home_off_btrfs() {
        let shm = Path::new("/dev/shm");
        let st = nix::sys::statfs::statfs(shm).expect("/dev/shm is needed as a non-btrfs place");
        assert_ne!(
            st.filesystem_type().0 as i64,
            BTRFS_SUPER_MAGIC,
            "/dev/shm is btrfs here"
        );
        let dir = tempfile::tempdir_in(shm).expect("temp dir in /dev/shm");
        let home = dir.path().join("btrfs");
        let err = match open_driver("btrfs", &DriverOptions::new(&home)) {
            Ok(_) => panic!("the btrfs driver opened on tmpfs"),
            Err(e) => e,
        };
        assert!(
            matches!(
                err,
                DriverError::Unsupported {
                    driver: "btrfs",
                    ..
                }
            ),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("{} is on tmpfs, not btrfs", home.display())),
            "{text}"
        );
    }

    /// Image layers are read-only subvolumes once filled; snapshots of them and container
    /// layers are writable; each layer is its own subvolume.
    #[test]
    fn image_layers_are_read_only_subvolumes() {
        let fx = btrfs_fixture();
        let d = fx.driver();
        d.create(&id("img"), None).expect("create");
        d.apply_diff(&id("img"), &mut tar_with(&[("f", b"image")]).as_slice())
            .expect("apply");
        d.create(&id("img2"), Some(&id("img")))
            .expect("create child");
        d.create_rw(&id("ctr"), Some(&id("img2")), &CreateOpts::default())
            .expect("create_rw");

        let img = d.get(&id("img")).expect("get");
        assert_eq!(
            std::fs::metadata(&img).expect("stat").ino(),
            256,
            "not a subvolume root"
        );
        let err = std::fs::write(img.join("new"), b"x").expect_err("wrote into an image layer");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        d.put(&id("img")).expect("put");

        let child = d.get(&id("img2")).expect("get");
        assert_ne!(
            subvol_id(&img),
            subvol_id(&child),
            "child shares its parent's subvolume"
        );
        d.put(&id("img2")).expect("put");

        let ctr = d.get(&id("ctr")).expect("get");
        std::fs::write(ctr.join("f"), b"container").expect("write into the container layer");
        assert_eq!(std::fs::read(img.join("f")).expect("read"), b"image");
        d.put(&id("ctr")).expect("put");

        // A second apply_diff into a filled image layer still works and leaves it read-only.
        d.apply_diff(&id("img2"), &mut tar_with(&[("g", b"more")]).as_slice())
            .expect("apply again");
        let err = std::fs::write(child.join("h"), b"x").expect_err("wrote into an image layer");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        assert_eq!(
            d.metadata(&id("ctr"))
                .expect("metadata")
                .get("Dir")
                .map(PathBuf::from),
            Some(ctr.clone())
        );
        for l in ["ctr", "img2", "img"] {
            d.remove(&id(l)).expect("remove");
        }
        let home = fx.home().to_string_lossy().into_owned();
        assert_eq!(
            subvolumes_matching(&home),
            Vec::<String>::new(),
            "subvolumes left"
        );
    }

    /// Subvolumes a container made inside its layer (nested, in subdirectories, in a
    /// read-only one) do not block removing the layer.
    #[test]
    fn nested_subvolumes_do_not_block_removal() {
        let fx = btrfs_fixture();
        let d = fx.driver();
        d.create(&id("base"), None).expect("create");
        d.apply_diff(&id("base"), &mut tar_with(&[("f", b"1")]).as_slice())
            .expect("apply");
        d.create_rw(&id("ctr"), Some(&id("base")), &CreateOpts::default())
            .expect("create_rw");
        let root = d.get(&id("ctr")).expect("get");
        std::fs::create_dir_all(root.join("var/lib/inner")).expect("mkdir");
        for sub in [
            "nested",
            "nested/deeper",
            "var/lib/inner/sv",
            "var/lib/inner/sv/ro",
        ] {
            btrfs_cli(&["subvolume", "create", path_str(&root.join(sub))]);
        }
        std::fs::write(root.join("nested/deeper/data"), b"data").expect("write");
        btrfs_cli(&[
            "property",
            "set",
            path_str(&root.join("var/lib/inner/sv/ro")),
            "ro",
            "true",
        ]);
        // A symlink where a nested subvolume's directory used to be must not redirect removal.
        std::os::unix::fs::symlink(fx.canary(), root.join("decoy")).expect("symlink");
        d.put(&id("ctr")).expect("put");

        d.remove(&id("ctr"))
            .expect("remove a layer holding subvolumes");
        assert!(!d.exists(&id("ctr")));
        assert!(!root.exists(), "{} still there", root.display());
        assert!(fx.canary().join("canary.txt").exists(), "canary removed");
        d.remove(&id("base")).expect("remove base");
        let home = fx.home().to_string_lossy().into_owned();
        assert_eq!(
            subvolumes_matching(&home),
            Vec::<String>::new(),
            "subvolumes left"
        );
    }

    /// `size=` limits a container layer through its qgroup; the qgroup goes with the layer;
    /// bad options are refused before anything is made.
    #[test]
    fn size_limit_is_enforced_and_removed_with_the_layer() {
        let fx = btrfs_fixture();
        let d = fx.driver();
        d.create(&id("base"), None).expect("create");
        d.apply_diff(&id("base"), &mut tar_with(&[("f", b"1")]).as_slice())
            .expect("apply");

        let mut opts = CreateOpts::default();
        opts.storage_opt.insert("size".into(), "lots".into());
        let err = d
            .create_rw(&id("bad"), Some(&id("base")), &opts)
            .expect_err("size=lots accepted");
        assert!(matches!(err, DriverError::InvalidOption { .. }), "{err}");
        let mut opts = CreateOpts::default();
        opts.storage_opt.insert("inodes".into(), "5".into());
        let err = d
            .create_rw(&id("bad"), Some(&id("base")), &opts)
            .expect_err("inodes= accepted");
        assert!(matches!(err, DriverError::InvalidOption { .. }), "{err}");
        assert!(!d.exists(&id("bad")) && !d.layers().expect("layers").contains(&id("bad")));

        let mut opts = CreateOpts::default();
        opts.storage_opt.insert("size".into(), "8M".into());
        d.create_rw(&id("small"), Some(&id("base")), &opts)
            .expect("create_rw size=8M");
        let root = d.get(&id("small")).expect("get");
        let sid = subvol_id(&root);
        let line = qgroup_line(sid).unwrap_or_else(|| panic!("no qgroup 0/{sid}"));
        assert!(
            line.contains(&(8u64 << 20).to_string()),
            "limit not set: {line}"
        );
        std::fs::write(root.join("fits"), vec![1u8; 1 << 20]).expect("1 MiB under an 8 MiB limit");
        let big = vec![2u8; 16 << 20];
        let err = (|| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(root.join("too-big"))?;
            f.write_all(&big)?;
            f.sync_all()
        })()
        .expect_err("16 MiB written under an 8 MiB limit");
        assert_eq!(err.raw_os_error(), Some(libc::EDQUOT), "{err}");
        d.put(&id("small")).expect("put");

        d.remove(&id("small")).expect("remove");
        d.remove(&id("base")).expect("remove");
        // Space and qgroups of deleted subvolumes go when the kernel's cleaner drops them.
        wait_for_cleaner();
        assert_eq!(qgroup_line(sid), None, "qgroup 0/{sid} left behind");
    }

    /// Leftovers of a crash (a subvolume without record, a record without subvolume) are
    /// listed by `layers()`, not reported as existing, and removed by `remove`.
    #[test]
    fn crash_leftovers_are_listed_and_removable() {
        let fx = btrfs_fixture();
        let d = fx.driver();
        let half = fx.home().join("subvolumes").join("half-made");
        btrfs_cli(&["subvolume", "create", path_str(&half)]);
        d.create(&id("recorded"), None).expect("create");
        btrfs_cli(&[
            "subvolume",
            "delete",
            path_str(&fx.home().join("subvolumes/recorded")),
        ]);

        let listed = d.layers().expect("layers");
        assert_eq!(listed, vec![id("half-made"), id("recorded")]);
        assert!(!d.exists(&id("half-made")) && !d.exists(&id("recorded")));
        assert!(matches!(
            d.get(&id("half-made")),
            Err(DriverError::NotFound(_))
        ));
        assert!(matches!(
            d.create(&id("half-made"), None),
            Err(DriverError::AlreadyExists(_))
        ));
        d.remove(&id("half-made"))
            .expect("remove a subvolume without record");
        d.remove(&id("recorded"))
            .expect("remove a record without subvolume");
        assert_eq!(d.layers().expect("layers"), Vec::<LayerId>::new());
        assert!(!half.exists());
    }

    /// A second driver on the same home (a restarted agent) sees the same layers and parents.
    #[test]
    fn layers_survive_reopening() {
        let fx = btrfs_fixture();
        let d = fx.driver();
        d.create(&id("a"), None).expect("create");
        d.apply_diff(&id("a"), &mut tar_with(&[("f", b"kept")]).as_slice())
            .expect("apply");
        d.create_rw(&id("b"), Some(&id("a")), &CreateOpts::default())
            .expect("create_rw");
        let again = open_driver("btrfs", &DriverOptions::new(fx.home())).expect("reopen");
        assert_eq!(again.layers().expect("layers"), vec![id("a"), id("b")]);
        assert_eq!(again.parent(&id("b")).expect("parent"), Some(id("a")));
        let p = again.get(&id("b")).expect("get");
        assert_eq!(std::fs::read(p.join("f")).expect("read"), b"kept");
        again.reconcile_mounts(&[id("b")]).expect("reconcile");
        assert!(
            matches!(again.remove(&id("b")), Err(DriverError::Busy(_))),
            "adopted use ignored"
        );
        again.cleanup().expect("cleanup");
        again.remove(&id("b")).expect("remove");
        again.remove(&id("a")).expect("remove");
    }

    /// `docker info` material: backing filesystem and space.
    #[test]
    fn status_names_btrfs_and_space() {
        let fx = btrfs_fixture();
        let status: BTreeMap<String, String> = fx.driver().status().into_iter().collect();
        assert_eq!(
            status.get("Backing Filesystem").map(String::as_str),
            Some("btrfs"),
            "{status:?}"
        );
        for key in [
            "Space Used",
            "Space Available",
            "Space Total",
            "Quotas",
            "Filesystem UUID",
        ] {
            assert!(status.contains_key(key), "status lacks {key}: {status:?}");
        }
    }
}
