//! Deletions and replacements across layers, applied from OCI tars and reproduced by diffs.

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{
    assert_roundtrip, exists_in, layer_from_tar, read_in, with_tree,
};
use crate::conformance::tars::TestTar;

fn base(fx: &DriverFixture) -> crate::LayerId {
    let mut t = TestTar::new();
    t.dir("etc")
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .dir("var")
        .dir("var/cache")
        .file("var/cache/a", b"a")
        .dir("var/cache/sub")
        .file("var/cache/sub/b", b"b")
        .file("var/stays", b"stays")
        .dir("opq")
        .file("opq/old1", b"old")
        .dir("opq/sub")
        .file("opq/sub/old2", b"old")
        .dir("opq2")
        .file("opq2/old", b"old")
        .file("x", b"a file")
        .dir("y")
        .file("y/a", b"in a dir");
    layer_from_tar(fx, "wh-base", None, &t)
}

/// `.wh.NAME` removes a file from the child's view only.
pub(super) fn deleted_file(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.whiteout("etc/gone");
    let child = layer_from_tar(fx, "wh-file", Some(&b), &t);
    assert!(
        !exists_in(fx, &child, "etc/gone"),
        "whited-out file still visible"
    );
    assert!(exists_in(fx, &child, "etc/keep"));
    assert!(exists_in(fx, &b, "etc/gone"), "whiteout reached the parent");
    let names = assert_roundtrip(fx, &child, "wh-file-copy");
    assert!(
        names.iter().any(|n| n == "etc/.wh.gone"),
        "diff lacks the whiteout: {names:?}"
    );
}

/// `.wh.DIR` removes a whole directory.
pub(super) fn deleted_dir(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.whiteout("var/cache");
    let child = layer_from_tar(fx, "wh-dir", Some(&b), &t);
    assert!(
        !exists_in(fx, &child, "var/cache"),
        "whited-out dir still visible"
    );
    assert!(!exists_in(fx, &child, "var/cache/sub/b"));
    assert!(exists_in(fx, &child, "var/stays"));
    assert!(
        exists_in(fx, &b, "var/cache/sub/b"),
        "whiteout reached the parent"
    );
    let names = assert_roundtrip(fx, &child, "wh-dir-copy");
    assert!(
        names.iter().any(|n| n == "var/.wh.cache"),
        "diff lacks the whiteout: {names:?}"
    );
}

/// `.wh..wh..opq` hides everything the parent had in that directory, whether the marker comes
/// before or after the directory's new entries.
pub(super) fn opaque_dir(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.dir("opq").opaque("opq").file("opq/new", b"new");
    t.file("opq2/new-first", b"new").opaque("opq2");
    let child = layer_from_tar(fx, "wh-opq", Some(&b), &t);
    let list = |dir: &str| {
        with_tree(fx, &child, |root| {
            let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
                .expect("list")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        })
    };
    assert_eq!(list("opq"), vec!["new"], "opaque dir shows parent content");
    assert_eq!(
        list("opq2"),
        vec!["new-first"],
        "opaque marker after the new entry"
    );
    assert!(
        exists_in(fx, &b, "opq/sub/old2"),
        "opaque reached the parent"
    );
    let names = assert_roundtrip(fx, &child, "wh-opq-copy");
    let opaque_or_whiteouts = names.iter().any(|n| n == "opq/.wh..wh..opq")
        || (names.iter().any(|n| n == "opq/.wh.old1") && names.iter().any(|n| n == "opq/.wh.sub"));
    assert!(
        opaque_or_whiteouts,
        "diff does not hide the old content: {names:?}"
    );
}

/// A file of the parent replaced by a directory in the child.
pub(super) fn file_replaced_by_dir(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.dir("x").file("x/inner", b"inner");
    let child = layer_from_tar(fx, "wh-f2d", Some(&b), &t);
    assert_eq!(
        read_in(fx, &child, "x/inner").as_deref(),
        Some(&b"inner"[..])
    );
    assert_eq!(
        read_in(fx, &b, "x").as_deref(),
        Some(&b"a file"[..]),
        "parent's file changed"
    );
    assert_roundtrip(fx, &child, "wh-f2d-copy");
}

/// A directory of the parent replaced by a file in the child.
pub(super) fn dir_replaced_by_file(fx: &DriverFixture) {
    let b = base(fx);
    let mut t = TestTar::new();
    t.file("y", b"now a file");
    let child = layer_from_tar(fx, "wh-d2f", Some(&b), &t);
    assert_eq!(
        read_in(fx, &child, "y").as_deref(),
        Some(&b"now a file"[..])
    );
    assert_eq!(
        read_in(fx, &b, "y/a").as_deref(),
        Some(&b"in a dir"[..]),
        "parent's dir changed"
    );
    assert_roundtrip(fx, &child, "wh-d2f-copy");
}
