//! What files carry besides content: hard links, symlinks, xattrs, mode bits, owners, mtimes.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{assert_roundtrip, layer_from_tar, with_tree};
use crate::conformance::tars::{EntryOpts, Kind, TestTar};
use crate::fsutil::xattr;

/// `security.capability` granting cap_net_bind_service (VFS_CAP_REVISION_2, effective).
pub const CAP_NET_BIND_SERVICE: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

fn base(fx: &DriverFixture) -> crate::LayerId {
    let mut t = TestTar::new();
    t.dir("base").file("base/file", b"base");
    layer_from_tar(fx, "md-base", None, &t)
}

/// Hard links share one inode after apply, and after diff + apply.
pub(super) fn hard_links(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.dir("hl")
        .file("hl/a", b"linked")
        .hardlink("hl/b", "hl/a")
        .hardlink("hl/c", "./hl/a");
    let child = layer_from_tar(fx, "md-hl", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let a = std::fs::metadata(root.join("hl/a")).expect("a");
        let bm = std::fs::metadata(root.join("hl/b")).expect("b");
        let c = std::fs::metadata(root.join("hl/c")).expect("c");
        assert_eq!(a.ino(), bm.ino(), "hard link is a copy");
        assert_eq!(a.ino(), c.ino(), "hard link is a copy");
        assert_eq!(a.nlink(), 3);
    });
    assert_roundtrip(fx, &child, "md-hl-copy");
}

/// Relative, absolute and dangling symlinks keep their targets.
pub(super) fn symlinks(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.dir("s")
        .symlink("s/rel", "../base/file")
        .symlink("s/abs", "/base/file")
        .symlink("s/dangling", "../nowhere/at/all")
        .symlink("s/dir", "../base");
    let child = layer_from_tar(fx, "md-sym", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let target = |n: &str| std::fs::read_link(root.join(n)).expect("readlink");
        assert_eq!(target("s/rel"), std::path::Path::new("../base/file"));
        assert_eq!(target("s/abs"), std::path::Path::new("/base/file"));
        assert_eq!(
            target("s/dangling"),
            std::path::Path::new("../nowhere/at/all")
        );
        assert_eq!(
            std::fs::read(root.join("s/rel")).expect("through relative link"),
            b"base"
        );
        assert_eq!(
            std::fs::read(root.join("s/dir/file")).expect("through dir link"),
            b"base"
        );
    });
    assert_roundtrip(fx, &child, "md-sym-copy");
}

/// `user.*` xattrs on files and dirs, `security.capability`; overlay's own xattrs in a tar are
/// not honoured.
pub(super) fn xattrs(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.entry(
        "xd",
        Kind::Dir,
        &EntryOpts::default()
            .mode(0o755)
            .xattr("user.dir", b"on a dir"),
    );
    t.entry(
        "xd/f",
        Kind::File(b"data"),
        &EntryOpts::default()
            .xattr("user.test", b"hello")
            .xattr("user.empty", b""),
    );
    t.entry(
        "cap",
        Kind::File(b"#!binary"),
        &EntryOpts::default()
            .mode(0o755)
            .xattr("security.capability", &CAP_NET_BIND_SERVICE),
    );
    // A hostile tar trying to hide the parent's `base` directory through overlay's private xattr.
    t.entry(
        "base",
        Kind::Dir,
        &EntryOpts::default()
            .mode(0o755)
            .xattr("trusted.overlay.opaque", b"y"),
    );
    let child = layer_from_tar(fx, "md-xattr", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let get = |p: &str, n: &str| xattr::get(&root.join(p), OsStr::new(n)).expect("getxattr");
        assert_eq!(get("xd", "user.dir").as_deref(), Some(&b"on a dir"[..]));
        assert_eq!(get("xd/f", "user.test").as_deref(), Some(&b"hello"[..]));
        assert_eq!(get("xd/f", "user.empty").as_deref(), Some(&b""[..]));
        assert_eq!(
            get("cap", "security.capability").as_deref(),
            Some(&CAP_NET_BIND_SERVICE[..])
        );
        assert_eq!(
            std::fs::read(root.join("base/file")).expect("parent content hidden by a tar xattr"),
            b"base"
        );
    });
    let names = assert_roundtrip(fx, &child, "md-xattr-copy");
    assert!(
        names.iter().all(|n| !n.contains(".wh..wh..opq")),
        "diff invented an opaque dir: {names:?}"
    );
}

/// Mode bits including setuid, setgid and sticky.
pub(super) fn mode_bits(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.entry("suid", Kind::File(b"s"), &EntryOpts::default().mode(0o4755))
        .entry("sgid", Kind::File(b"g"), &EntryOpts::default().mode(0o2711))
        .entry(
            "private",
            Kind::File(b"p"),
            &EntryOpts::default().mode(0o600),
        )
        .entry("tmp", Kind::Dir, &EntryOpts::default().mode(0o1777))
        .entry("closed", Kind::Dir, &EntryOpts::default().mode(0o700))
        .entry(
            "closed/inner",
            Kind::File(b"i"),
            &EntryOpts::default().mode(0o400),
        )
        .entry("fifo", Kind::Fifo, &EntryOpts::default().mode(0o620))
        .entry("null", Kind::Char(1, 3), &EntryOpts::default().mode(0o666));
    let child = layer_from_tar(fx, "md-mode", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let mode = |p: &str| {
            std::fs::symlink_metadata(root.join(p))
                .expect("lstat")
                .mode()
                & 0o7777
        };
        assert_eq!(mode("suid"), 0o4755);
        assert_eq!(mode("sgid"), 0o2711);
        assert_eq!(mode("private"), 0o600);
        assert_eq!(mode("tmp"), 0o1777);
        assert_eq!(mode("closed"), 0o700);
        assert_eq!(mode("closed/inner"), 0o400);
        assert_eq!(mode("fifo"), 0o620);
        let null = std::fs::symlink_metadata(root.join("null")).expect("lstat");
        assert_eq!(null.rdev(), libc::makedev(1, 3), "device number");
    });
    assert_roundtrip(fx, &child, "md-mode-copy");
}

/// Owners other than root, on files, directories and symlinks.
pub(super) fn ownership(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.entry(
        "home",
        Kind::Dir,
        &EntryOpts::default().mode(0o755).owner(1234, 5678),
    )
    .entry(
        "home/f",
        Kind::File(b"mine"),
        &EntryOpts::default().owner(1000, 1001),
    )
    .entry(
        "home/link",
        Kind::Symlink("f"),
        &EntryOpts::default().mode(0o777).owner(42, 43),
    );
    let child = layer_from_tar(fx, "md-owner", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let ids = |p: &str| {
            let m = std::fs::symlink_metadata(root.join(p)).expect("lstat");
            (m.uid(), m.gid())
        };
        assert_eq!(ids("home"), (1234, 5678));
        assert_eq!(ids("home/f"), (1000, 1001));
        assert_eq!(ids("home/link"), (42, 43));
    });
    assert_roundtrip(fx, &child, "md-owner-copy");
}

/// Whether the driver's backing filesystem keeps sub-second modification times: written and read
/// back through a scratch read-write layer. zfs-fuse, for one, keeps whole seconds only.
fn keeps_nanoseconds(fx: &DriverFixture, parent: &crate::LayerId) -> bool {
    let probe = fx.id("md-mtime-probe");
    let driver = fx.driver();
    driver
        .create_rw(&probe, Some(parent), &crate::CreateOpts::default())
        .expect("create probe layer");
    let root = driver.get(&probe).expect("get probe layer");
    let file = root.join("mtime-probe");
    std::fs::write(&file, b"p").expect("write probe file");
    let when = nix::sys::time::TimeSpec::new(1_500_000_000, 123_456_789);
    nix::sys::stat::utimensat(
        None,
        &file,
        &when,
        &when,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .expect("set probe mtime");
    let kept = std::fs::symlink_metadata(&file)
        .expect("lstat probe")
        .mtime_nsec()
        == 123_456_789;
    driver.put(&probe).expect("put probe layer");
    driver.remove(&probe).expect("remove probe layer");
    kept
}

/// Modification times preserved: to the nanosecond where the backing filesystem keeps them (ext4,
/// xfs, btrfs, tmpfs), to the second everywhere (what Docker's own layer tars carry); directories'
/// too, set after their children.
pub(super) fn mtime_preserved(fx: &DriverFixture) {
    let b = base(fx);
    let ns = keeps_nanoseconds(fx, &b);
    eprintln!(
        "{}: backing filesystem keeps {} timestamps",
        fx.name(),
        if ns { "nanosecond" } else { "whole-second" }
    );
    // What a filesystem without sub-second times must show: the seconds, nanoseconds zero.
    let expect = |secs: i64, nsecs: i64| (secs, if ns { nsecs } else { 0 });
    let mut t = TestTar::new();
    t.entry(
        "old",
        Kind::Dir,
        &EntryOpts::default().mode(0o755).mtime(1_400_000_000, 5),
    )
    .entry(
        "old/file",
        Kind::File(b"f"),
        &EntryOpts::default().mtime(1_500_000_000, 123_456_789),
    )
    .entry(
        "old/link",
        Kind::Symlink("file"),
        &EntryOpts::default()
            .mode(0o777)
            .mtime(1_300_000_000, 999_999_999),
    );
    let child = layer_from_tar(fx, "md-mtime", Some(&b), &t);
    with_tree(fx, &child, |root| {
        let mt = |p: &str| {
            let m = std::fs::symlink_metadata(root.join(p)).expect("lstat");
            (m.mtime(), m.mtime_nsec())
        };
        assert_eq!(mt("old/file"), expect(1_500_000_000, 123_456_789));
        assert_eq!(mt("old/link"), expect(1_300_000_000, 999_999_999));
        assert_eq!(
            mt("old"),
            expect(1_400_000_000, 5),
            "directory mtime (set after its children)"
        );
    });
    assert_roundtrip(fx, &child, "md-mtime-copy");
}
