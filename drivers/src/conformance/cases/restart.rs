//! A restarted agent: a second driver instance on the same home sees the same layers and
//! brings mounts in line with what is still in use.

use std::path::PathBuf;

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{layer_from_tar, mounts_below};
use crate::conformance::tars::TestTar;
use crate::driver::CreateOpts;
use crate::error::DriverError;
use crate::mountinfo;

/// Layers, parents and content survive reopening; `reconcile_mounts` adopts the layers still in
/// use (one use each) and unmounts the rest.
pub(super) fn reconcile_after_restart(fx: &DriverFixture) {
    let d = fx.driver();
    let mut t = TestTar::new();
    t.file("bottom", b"base");
    let base = layer_from_tar(fx, "rs-base", None, &t);
    let mut t = TestTar::new();
    t.file("image", b"image");
    let image = layer_from_tar(fx, "rs-image", Some(&base), &t);
    let running = fx.id("rs-running");
    d.create_rw(&running, Some(&image), &CreateOpts::default())
        .expect("create_rw");
    let stopped = fx.id("rs-stopped");
    d.create_rw(&stopped, Some(&image), &CreateOpts::default())
        .expect("create_rw");
    let p_running = d.get(&running).expect("get running");
    std::fs::write(p_running.join("live"), b"written while running").expect("write");
    let p_stopped = d.get(&stopped).expect("get stopped");
    let p_image = d.get(&image).expect("get image");

    // The agent process is gone; a new one opens the same home.
    let again = fx.reopen();
    let mut listed = again.layers().expect("layers");
    listed.sort();
    let mut expected = vec![
        base.clone(),
        image.clone(),
        running.clone(),
        stopped.clone(),
    ];
    expected.sort();
    assert_eq!(listed, expected, "layers after reopening");
    assert_eq!(again.parent(&running).expect("parent"), Some(image.clone()));
    assert_eq!(again.parent(&image).expect("parent"), Some(base.clone()));

    again
        .reconcile_mounts(std::slice::from_ref(&running))
        .expect("reconcile_mounts");
    assert_eq!(
        std::fs::read(p_running.join("live")).expect("the running layer stays available"),
        b"written while running"
    );
    assert_eq!(
        std::fs::read(p_running.join("bottom")).expect("read"),
        b"base"
    );
    assert!(
        matches!(again.remove(&running), Err(DriverError::Busy(_))),
        "the adopted use does not count"
    );
    for p in [&p_stopped, &p_image] {
        assert!(
            !mountinfo::is_mount_point(p).expect("mountinfo"),
            "{} still mounted though no one uses it",
            p.display()
        );
    }
    again.put(&running).expect("put the adopted use");
    assert_eq!(
        mounts_below(fx.root()),
        Vec::<PathBuf>::new(),
        "mounts left after the adopted use ended"
    );
    again.remove(&running).expect("remove once released");
    again.remove(&stopped).expect("remove");
    assert!(!again.exists(&running) && !d.exists(&running));
}
