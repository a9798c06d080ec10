//! Creating, using, listing, measuring and removing layers.

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{layer_from_tar, read_in, with_tree};
use crate::conformance::tars::TestTar;
use crate::driver::CreateOpts;
use crate::error::DriverError;

/// create, exists, get, write, put, remove, !exists.
pub(super) fn lifecycle(fx: &DriverFixture) {
    let d = fx.driver();
    let id = fx.id("life");
    assert!(!d.exists(&id), "a layer exists before it is created");
    d.create(&id, None).expect("create");
    assert!(d.exists(&id));
    assert_eq!(d.parent(&id).expect("parent"), None);
    assert!(
        matches!(d.create(&id, None), Err(DriverError::AlreadyExists(_))),
        "double create accepted"
    );

    let mut tar = TestTar::new();
    tar.dir("etc")
        .file("etc/hello.txt", b"hello")
        .file("top.bin", b"abc");
    let size = d
        .apply_diff(&id, &mut tar.bytes().as_slice())
        .expect("apply_diff");
    assert_eq!(size, 8, "apply_diff returns the sum of regular file sizes");
    assert_eq!(
        read_in(fx, &id, "etc/hello.txt").as_deref(),
        Some(&b"hello"[..])
    );

    let rw = fx.id("life-rw");
    d.create_rw(&rw, Some(&id), &CreateOpts::default())
        .expect("create_rw");
    assert_eq!(d.parent(&rw).expect("parent"), Some(id.clone()));
    with_tree(fx, &rw, |root| {
        assert_eq!(
            std::fs::read(root.join("etc/hello.txt")).expect("parent file visible"),
            b"hello"
        );
        std::fs::write(root.join("written.txt"), b"by the container").expect("write into rw layer");
    });
    assert_eq!(
        read_in(fx, &rw, "written.txt").as_deref(),
        Some(&b"by the container"[..]),
        "write lost after put"
    );
    assert_eq!(
        read_in(fx, &id, "written.txt"),
        None,
        "write leaked into the parent"
    );

    d.remove(&rw).expect("remove rw");
    assert!(!d.exists(&rw));
    d.remove(&id).expect("remove");
    assert!(!d.exists(&id), "layer still exists after remove");
    assert!(
        matches!(d.get(&id), Err(DriverError::NotFound(_))),
        "get of a removed layer"
    );
    assert!(
        matches!(d.remove(&id), Err(DriverError::NotFound(_))),
        "second remove"
    );
}

/// `layers()` lists every layer created and forgets removed ones.
pub(super) fn layers_listed(fx: &DriverFixture) {
    let d = fx.driver();
    let a = fx.id("list-a");
    let b = fx.id("list-b");
    let c = fx.id("list-c-init");
    d.create(&a, None).expect("create a");
    d.create(&b, Some(&a)).expect("create b");
    d.create_rw(&c, Some(&b), &CreateOpts::default())
        .expect("create c");
    let listed = d.layers().expect("layers");
    for id in [&a, &b, &c] {
        assert!(listed.contains(id), "layers() misses {id}: {listed:?}");
    }
    assert_eq!(
        listed.len(),
        3,
        "layers() lists something else too: {listed:?}"
    );
    d.remove(&c).expect("remove c");
    let listed = d.layers().expect("layers");
    assert!(!listed.contains(&c), "removed layer still listed");
    assert!(listed.contains(&a) && listed.contains(&b));
}

/// Usage grows with what a layer holds.
pub(super) fn usage_grows(fx: &DriverFixture) {
    let d = fx.driver();
    let id = fx.id("usage");
    d.create(&id, None).expect("create");
    let before = d.usage(&id).expect("usage");
    let data: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut tar = TestTar::new();
    tar.file("big.bin", &data).file("small.txt", b"x");
    d.apply_diff(&id, &mut tar.bytes().as_slice())
        .expect("apply_diff");
    let after = d.usage(&id).expect("usage");
    assert!(
        after.size_bytes >= before.size_bytes + (1 << 20),
        "usage did not grow by the 1 MiB written: {before:?} -> {after:?}"
    );
    assert!(
        after.inodes >= before.inodes + 2,
        "inodes did not grow: {before:?} -> {after:?}"
    );
}

/// `metadata` answers for existing layers with paths that exist; unknown layers are NotFound.
pub(super) fn metadata_reported(fx: &DriverFixture) {
    let d = fx.driver();
    let mut tar = TestTar::new();
    tar.file("f", b"1");
    let base = layer_from_tar(fx, "meta-base", None, &tar);
    let mid = layer_from_tar(fx, "meta-mid", Some(&base), &tar);
    let rw = fx.id("meta-rw");
    d.create_rw(&rw, Some(&mid), &CreateOpts::default())
        .expect("create_rw");
    let path = d.get(&rw).expect("get");
    let meta = d.metadata(&rw).expect("metadata");
    assert!(!meta.is_empty(), "no metadata");
    for (key, value) in &meta {
        for part in value.split(':').filter(|p| p.starts_with('/')) {
            assert!(
                std::path::Path::new(part).exists(),
                "metadata {key} names {part}, which does not exist"
            );
        }
    }
    if fx.name() == "overlay2" {
        for key in ["LowerDir", "MergedDir", "UpperDir", "WorkDir"] {
            assert!(
                meta.contains_key(key),
                "overlay2 metadata lacks {key}: {meta:?}"
            );
        }
        let lowers: Vec<&str> = meta["LowerDir"].split(':').collect();
        assert_eq!(lowers.len(), 2, "two parents, two lower dirs: {lowers:?}");
        assert!(
            lowers[0].ends_with("/meta-mid/diff") && lowers[1].ends_with("/meta-base/diff"),
            "{lowers:?}"
        );
        assert_eq!(std::path::Path::new(&meta["MergedDir"]), path.as_path());
        assert!(
            !d.metadata(&base)
                .expect("metadata")
                .contains_key("LowerDir"),
            "a base layer has no LowerDir"
        );
    }
    d.put(&rw).expect("put");
    assert!(!d.status().is_empty(), "status says nothing");
    assert!(matches!(
        d.metadata(&fx.id("nope")),
        Err(DriverError::NotFound(_))
    ));
}
