//! Parent chains: children see their parents' content, parents never see their children's.

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{exists_in, layer_from_tar, read_in, with_tree};
use crate::conformance::tars::TestTar;
use crate::driver::CreateOpts;
use crate::error::DriverError;

/// Three levels plus a read-write layer on top.
pub(super) fn parent_chain(fx: &DriverFixture) {
    let d = fx.driver();
    let mut t1 = TestTar::new();
    t1.file("a", b"one")
        .dir("shared")
        .file("shared/from1", b"1");
    let l1 = layer_from_tar(fx, "chain-1", None, &t1);
    let mut t2 = TestTar::new();
    t2.file("a", b"two")
        .file("b", b"bee")
        .file("shared/from2", b"2");
    let l2 = layer_from_tar(fx, "chain-2", Some(&l1), &t2);
    let mut t3 = TestTar::new();
    t3.file("c", b"sea");
    let l3 = layer_from_tar(fx, "chain-3", Some(&l2), &t3);
    assert_eq!(d.parent(&l3).expect("parent"), Some(l2.clone()));
    assert_eq!(d.parent(&l2).expect("parent"), Some(l1.clone()));

    assert_eq!(read_in(fx, &l3, "a").as_deref(), Some(&b"two"[..]));
    assert_eq!(read_in(fx, &l3, "b").as_deref(), Some(&b"bee"[..]));
    assert_eq!(read_in(fx, &l3, "c").as_deref(), Some(&b"sea"[..]));
    assert_eq!(read_in(fx, &l3, "shared/from1").as_deref(), Some(&b"1"[..]));
    assert_eq!(read_in(fx, &l3, "shared/from2").as_deref(), Some(&b"2"[..]));
    assert_eq!(
        read_in(fx, &l1, "a").as_deref(),
        Some(&b"one"[..]),
        "child change visible in parent"
    );
    assert!(!exists_in(fx, &l1, "b") && !exists_in(fx, &l1, "shared/from2"));
    assert!(!exists_in(fx, &l2, "c"));

    let rw = fx.id("chain-rw");
    d.create_rw(&rw, Some(&l3), &CreateOpts::default())
        .expect("create_rw");
    with_tree(fx, &rw, |root| {
        std::fs::write(root.join("a"), b"container").expect("overwrite");
        std::fs::remove_file(root.join("b")).expect("delete");
        std::fs::write(root.join("shared/from-rw"), b"rw").expect("add");
    });
    assert_eq!(read_in(fx, &rw, "a").as_deref(), Some(&b"container"[..]));
    assert!(!exists_in(fx, &rw, "b"));
    assert_eq!(
        read_in(fx, &l3, "a").as_deref(),
        Some(&b"two"[..]),
        "rw change visible in its parent"
    );
    assert!(exists_in(fx, &l3, "b"), "rw deletion visible in its parent");
    assert!(!exists_in(fx, &l3, "shared/from-rw"));
    assert!(matches!(
        d.create(&fx.id("orphan"), Some(&fx.id("missing"))),
        Err(DriverError::NotFound(_))
    ));
}

/// 128 stacked layers: the top one mounts and reads the bottom layer's file.
pub(super) fn stack_128(fx: &DriverFixture) {
    let mut parent = None;
    for i in 0..128 {
        let mut t = TestTar::new();
        t.file(
            &format!("layer-{i:03}"),
            format!("content of layer {i}").as_bytes(),
        );
        let id = layer_from_tar(fx, &format!("stack-{i:03}"), parent.as_ref(), &t);
        parent = Some(id);
    }
    let top = parent.expect("top layer");
    with_tree(fx, &top, |root| {
        assert_eq!(
            std::fs::read(root.join("layer-000")).expect("bottom layer's file"),
            b"content of layer 0"
        );
        assert_eq!(
            std::fs::read(root.join("layer-127")).expect("top layer's file"),
            b"content of layer 127"
        );
        let count = std::fs::read_dir(root).expect("list").count();
        assert_eq!(count, 128, "every layer's file is visible");
    });
}

/// A layer with children is not removed; one in use is not removed.
pub(super) fn remove_refused(fx: &DriverFixture) {
    let d = fx.driver();
    let mut t = TestTar::new();
    t.file("f", b"x");
    let a = layer_from_tar(fx, "rm-a", None, &t);
    let b = layer_from_tar(fx, "rm-b", Some(&a), &t);
    assert!(
        matches!(d.remove(&a), Err(DriverError::HasChildren { .. })),
        "removed a layer with a child"
    );
    assert!(d.exists(&a));
    assert_eq!(
        read_in(fx, &b, "f").as_deref(),
        Some(&b"x"[..]),
        "child broken by refused remove"
    );
    d.get(&b).expect("get");
    assert!(
        matches!(d.remove(&b), Err(DriverError::Busy(_))),
        "removed a layer in use"
    );
    d.put(&b).expect("put");
    d.remove(&b).expect("remove child");
    d.remove(&a).expect("remove parent once childless");
    assert!(!d.exists(&a) && !d.exists(&b));
}
