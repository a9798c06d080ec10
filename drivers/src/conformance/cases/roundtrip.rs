//! Changes made by a "container" in a read-write layer survive diff + apply.

use std::ffi::OsStr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use super::metadata::CAP_NET_BIND_SERVICE;
use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{assert_roundtrip, layer_from_tar, with_tree};
use crate::conformance::tars::{EntryOpts, Kind, TestTar};
use crate::driver::CreateOpts;
use crate::fsutil::meta::{self, FileTime, NodeKind};
use crate::fsutil::xattr;

/// Everything a container may do to its tree, then diff the rw layer and apply the diff into a
/// fresh layer on the same parent: both merged trees must be the same.
pub(super) fn diff_apply_roundtrip(fx: &DriverFixture) {
    let d = fx.driver();
    let mut t = TestTar::new();
    t.dir("etc")
        .file("etc/modify", b"old content")
        .file("etc/delete-me", b"bye")
        .file("etc/chmod-me", b"m")
        .dir("var")
        .dir("var/gone")
        .file("var/gone/a", b"a")
        .dir("var/gone/deep")
        .file("var/gone/deep/b", b"b")
        .dir("opq")
        .file("opq/old", b"old")
        .file("f2d", b"file becomes dir")
        .dir("d2f")
        .file("d2f/x", b"dir becomes file")
        .entry("owned", Kind::File(b"o"), &EntryOpts::default().owner(7, 8))
        .entry(
            "tagged",
            Kind::File(b"t"),
            &EntryOpts::default().xattr("user.keep", b"1"),
        );
    let base = layer_from_tar(fx, "rt-base", None, &t);
    let rw = fx.id("rt-rw");
    d.create_rw(&rw, Some(&base), &CreateOpts::default())
        .expect("create_rw");
    with_tree(fx, &rw, make_changes);
    let names = assert_roundtrip(fx, &rw, "rt-copy");
    assert!(
        names.iter().any(|n| n == "etc/.wh.delete-me"),
        "no whiteout for a deleted file: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "var/.wh.gone"),
        "no whiteout for a deleted dir: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("var/gone/")),
        "contents of a deleted dir in the diff: {names:?}"
    );
    assert!(!names.iter().any(|n| n == "etc/modify-not-there"));
}

fn make_changes(root: &Path) {
    let p = |rel: &str| root.join(rel);
    std::fs::write(p("etc/modify"), b"new content, longer").expect("modify");
    std::fs::remove_file(p("etc/delete-me")).expect("delete file");
    std::fs::remove_dir_all(p("var/gone")).expect("delete dir");
    std::fs::remove_dir_all(p("opq")).expect("remove dir for opaque");
    std::fs::create_dir(p("opq")).expect("recreate dir");
    std::fs::write(p("opq/new"), b"new").expect("new in recreated dir");
    std::fs::remove_file(p("f2d")).expect("remove file");
    std::fs::create_dir(p("f2d")).expect("dir in place of file");
    std::fs::write(p("f2d/inner"), b"inner").expect("file in new dir");
    std::fs::remove_dir_all(p("d2f")).expect("remove dir");
    std::fs::write(p("d2f"), b"file in place of dir").expect("file in place of dir");
    std::fs::create_dir(p("hl")).expect("mkdir");
    std::fs::write(p("hl/a"), b"linked").expect("write");
    std::fs::hard_link(p("hl/a"), p("hl/b")).expect("hard link");
    std::fs::create_dir(p("s")).expect("mkdir");
    symlink("../etc/modify", p("s/rel")).expect("symlink");
    symlink("/etc/modify", p("s/abs")).expect("symlink");
    symlink("../does/not/exist", p("s/dangling")).expect("symlink");
    std::fs::write(p("xattr-file"), b"x").expect("write");
    xattr::set(&p("xattr-file"), OsStr::new("user.added"), b"value").expect("setxattr");
    std::fs::write(p("capable"), b"#!").expect("write");
    xattr::set(
        &p("capable"),
        OsStr::new("security.capability"),
        &CAP_NET_BIND_SERVICE,
    )
    .expect("set capability");
    xattr::set(&p("tagged"), OsStr::new("user.more"), b"2").expect("setxattr on a parent file");
    std::fs::set_permissions(p("etc/chmod-me"), std::fs::Permissions::from_mode(0o4755))
        .expect("chmod");
    std::fs::create_dir(p("sticky")).expect("mkdir");
    std::fs::set_permissions(p("sticky"), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    meta::lchown(&p("owned"), 1000, 1001).expect("chown");
    std::fs::write(p("timed"), b"t").expect("write");
    let t = FileTime {
        secs: 1_234_567_890,
        nanos: 987_654_321,
    };
    meta::set_times(&p("timed"), t, t).expect("utimensat");
    meta::mknod(&p("fifo"), NodeKind::Fifo, 0o600, 0, 0).expect("mkfifo");
    meta::mknod(&p("null"), NodeKind::Char, 0o666, 1, 3).expect("mknod");
}
