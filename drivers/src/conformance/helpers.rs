//! Steps the cases share: make a layer from a tar, look into a layer, diff-and-reapply.

use std::path::{Path, PathBuf};

use super::fixture::{DriverFixture, CANARY_CONTENT, CANARY_FILE};
use super::tars::{tar_names, TestTar};
use super::tree::assert_same_tree;
use crate::layer_id::LayerId;
use crate::mountinfo;

/// Create image layer `name` on `parent` and fill it from `tar`.
pub fn layer_from_tar(
    fx: &DriverFixture,
    name: &str,
    parent: Option<&LayerId>,
    tar: &TestTar,
) -> LayerId {
    let id = fx.id(name);
    fx.driver()
        .create(&id, parent)
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    fx.driver()
        .apply_diff(&id, &mut tar.bytes().as_slice())
        .unwrap_or_else(|e| panic!("apply_diff into {name}: {e}"));
    id
}

/// Run `f` on the layer's merged tree (between a `get` and its `put`).
pub fn with_tree<T>(fx: &DriverFixture, id: &LayerId, f: impl FnOnce(&Path) -> T) -> T {
    let path = fx
        .driver()
        .get(id)
        .unwrap_or_else(|e| panic!("get {id}: {e}"));
    let out = f(&path);
    fx.driver()
        .put(id)
        .unwrap_or_else(|e| panic!("put {id}: {e}"));
    out
}

/// Content of `rel` in the layer's merged tree, `None` when absent.
pub fn read_in(fx: &DriverFixture, id: &LayerId, rel: &str) -> Option<Vec<u8>> {
    with_tree(fx, id, |root| std::fs::read(root.join(rel)).ok())
}

/// Whether `rel` exists (lstat) in the layer's merged tree.
pub fn exists_in(fx: &DriverFixture, id: &LayerId, rel: &str) -> bool {
    with_tree(fx, id, |root| {
        std::fs::symlink_metadata(root.join(rel)).is_ok()
    })
}

/// The diff of `id` as bytes.
pub fn diff_bytes(fx: &DriverFixture, id: &LayerId) -> Vec<u8> {
    let mut out = Vec::new();
    let n = fx
        .driver()
        .diff(id, &mut out)
        .unwrap_or_else(|e| panic!("diff {id}: {e}"));
    assert_eq!(
        n as usize,
        out.len(),
        "diff of {id} reports the bytes it wrote"
    );
    out
}

/// Diff `id`, apply the diff into a fresh layer `copy_name` on the same parent and check both
/// merged trees are the same. Returns the diff's entry names.
pub fn assert_roundtrip(fx: &DriverFixture, id: &LayerId, copy_name: &str) -> Vec<String> {
    let diff = diff_bytes(fx, id);
    let parent = fx.driver().parent(id).expect("parent");
    let copy = fx.id(copy_name);
    fx.driver()
        .create(&copy, parent.as_ref())
        .expect("create copy");
    fx.driver()
        .apply_diff(&copy, &mut diff.as_slice())
        .unwrap_or_else(|e| panic!("applying the diff of {id} into {copy_name}: {e}"));
    with_tree(fx, id, |a| with_tree(fx, &copy, |b| assert_same_tree(a, b)));
    tar_names(&diff)
}

/// Mount points at or below `dir`.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    mountinfo::mounts_under(dir)
        .expect("reading mountinfo")
        .into_iter()
        .map(|m| m.mount_point)
        .collect()
}

/// Check that hostile input left nothing outside the layer: the canary directory holds just its
/// file, untouched, the fixture directory holds just `home` and `canary`, and no file named
/// `marker` exists anywhere in the fixture, in the temp dir, `/etc` or `/`.
pub fn assert_nothing_escaped(fx: &DriverFixture, marker: &str) {
    let mut canary: Vec<_> = std::fs::read_dir(fx.canary())
        .expect("canary dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    canary.sort();
    assert_eq!(
        canary,
        vec![std::ffi::OsString::from(CANARY_FILE)],
        "canary directory changed"
    );
    assert_eq!(
        std::fs::read(fx.canary().join(CANARY_FILE)).expect("canary file"),
        CANARY_CONTENT
    );
    let mut top: Vec<_> = std::fs::read_dir(fx.root())
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    top.sort();
    assert_eq!(
        top,
        vec![
            std::ffi::OsString::from("canary"),
            std::ffi::OsString::from("home")
        ]
    );
    for dir in [
        std::env::temp_dir(),
        PathBuf::from("/etc"),
        PathBuf::from("/"),
    ] {
        assert!(
            !dir.join(marker).exists(),
            "{marker} appeared in {}",
            dir.display()
        );
    }
    let mut stack = vec![fx.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("listing") {
            let entry = entry.expect("entry");
            assert_ne!(
                entry.file_name(),
                marker,
                "{marker} was written at {}",
                entry.path().display()
            );
            if entry.file_type().expect("type").is_dir() {
                stack.push(entry.path());
            }
        }
    }
}
