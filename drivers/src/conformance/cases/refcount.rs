//! `get`/`put` are counted: the tree stays available until the last user lets go.

use std::path::PathBuf;

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::{layer_from_tar, mounts_below};
use crate::conformance::tars::TestTar;
use crate::mountinfo;

fn chain(fx: &DriverFixture) -> crate::LayerId {
    let mut t = TestTar::new();
    t.file("bottom", b"from the parent");
    let base = layer_from_tar(fx, "rc-base", None, &t);
    let mut t = TestTar::new();
    t.file("top", b"from the child");
    layer_from_tar(fx, "rc-child", Some(&base), &t)
}

/// Two gets, one put: still readable. Second put: nothing left mounted.
pub(super) fn refcounting(fx: &DriverFixture) {
    let d = fx.driver();
    let id = chain(fx);
    let p1 = d.get(&id).expect("first get");
    let p2 = d.get(&id).expect("second get");
    assert_eq!(p1, p2, "two gets of one layer give one path");
    d.put(&id).expect("first put");
    assert_eq!(
        std::fs::read(p1.join("bottom")).expect("readable after one of two puts"),
        b"from the parent"
    );
    assert_eq!(
        std::fs::read(p1.join("top")).expect("readable after one of two puts"),
        b"from the child"
    );
    d.put(&id).expect("second put");
    assert!(
        !mountinfo::is_mount_point(&p1).expect("mountinfo"),
        "{} still mounted after the last put",
        p1.display()
    );
    assert_eq!(
        mounts_below(fx.root()),
        Vec::<PathBuf>::new(),
        "mounts left after the last put"
    );
}

/// Several threads using one layer at once each see the whole tree; nothing stays mounted.
pub(super) fn concurrent_users(fx: &DriverFixture) {
    let id = chain(fx);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    let p = fx.driver().get(&id).expect("get");
                    assert_eq!(
                        std::fs::read(p.join("bottom")).expect("read while held"),
                        b"from the parent"
                    );
                    fx.driver().put(&id).expect("put");
                }
            });
        }
    });
    assert_eq!(
        mounts_below(fx.root()),
        Vec::<PathBuf>::new(),
        "mounts left after every user let go"
    );
}
