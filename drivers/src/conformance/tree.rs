//! Comparing two directory trees the way a container sees them: type, mode, owner, size,
//! content, symlink target, xattrs (`user.*`, `security.*`), mtime (non-directories) and which
//! paths share an inode (hard-link groups).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fsutil::meta::{FileKind, FileTime};
use crate::fsutil::xattr;

/// What a path looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: FileKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size and content of regular files.
    pub content: Option<Vec<u8>>,
    pub link_target: Option<PathBuf>,
    pub rdev: Option<u64>,
    /// `user.*` and `security.*` xattrs.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// Modification time of non-directories.
    pub mtime: Option<FileTime>,
    /// Every path (of the same tree) sharing this path's inode, itself included; regular files.
    pub link_group: BTreeSet<PathBuf>,
}

/// Every path below `root` (relative) with what it looks like.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut nodes = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), BTreeSet<PathBuf>> = HashMap::new();
    let mut keys: BTreeMap<PathBuf, (u64, u64)> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        {
            let entry = entry.expect("dir entry");
            let child = rel.join(entry.file_name());
            let abs = entry.path();
            let md = fs::symlink_metadata(&abs)
                .unwrap_or_else(|e| panic!("lstat {}: {e}", abs.display()));
            let kind = FileKind::of(&md);
            let xattrs = xattr::all(&abs)
                .unwrap_or_else(|e| panic!("xattrs of {}: {e}", abs.display()))
                .into_iter()
                .filter(|(k, _)| {
                    k.as_bytes().starts_with(b"user.") || k.as_bytes().starts_with(b"security.")
                })
                .map(|(k, v)| (k.to_string_lossy().into_owned(), v))
                .collect();
            let node = Node {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                content: (kind == FileKind::Regular).then(|| {
                    fs::read(&abs).unwrap_or_else(|e| panic!("reading {}: {e}", abs.display()))
                }),
                link_target: (kind == FileKind::Symlink)
                    .then(|| fs::read_link(&abs).expect("readlink")),
                rdev: matches!(kind, FileKind::Char | FileKind::Block).then(|| md.rdev()),
                xattrs,
                mtime: (kind != FileKind::Dir).then(|| FileTime::mtime_of(&md)),
                link_group: BTreeSet::new(),
            };
            if kind == FileKind::Regular {
                let key = (md.dev(), md.ino());
                inodes.entry(key).or_default().insert(child.clone());
                keys.insert(child.clone(), key);
            }
            if kind == FileKind::Dir {
                stack.push(child.clone());
            }
            nodes.insert(child, node);
        }
    }
    for (path, key) in keys {
        if let Some(node) = nodes.get_mut(&path) {
            node.link_group = inodes[&key].clone();
        }
    }
    nodes
}

/// Differences between the trees at `a` and `b`, one line each (empty when they match).
pub fn tree_differences(a: &Path, b: &Path) -> Vec<String> {
    let sa = snapshot(a);
    let sb = snapshot(b);
    let mut out = Vec::new();
    for (path, na) in &sa {
        match sb.get(path) {
            None => out.push(format!("{}: only in {}", path.display(), a.display())),
            Some(nb) if na != nb => out.push(format!("{}: {:?} != {:?}", path.display(), na, nb)),
            Some(_) => {}
        }
    }
    for path in sb.keys() {
        if !sa.contains_key(path) {
            out.push(format!("{}: only in {}", path.display(), b.display()));
        }
    }
    out
}

/// Panic with every difference when the trees at `a` and `b` differ.
pub fn assert_same_tree(a: &Path, b: &Path) {
    let diffs = tree_differences(a, b);
    assert!(
        diffs.is_empty(),
        "trees {} and {} differ:\n{}",
        a.display(),
        b.display(),
        diffs.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::meta;

    fn make(root: &Path, linked: bool) {
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/a"), b"a").unwrap();
        if linked {
            std::fs::hard_link(root.join("d/a"), root.join("d/b")).unwrap();
        } else {
            std::fs::write(root.join("d/b"), b"a").unwrap();
        }
        let t = FileTime { secs: 5, nanos: 6 };
        for f in ["d/a", "d/b"] {
            meta::set_times(&root.join(f), t, t).unwrap();
        }
    }

    #[test]
    fn compare_sees_what_matters() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        make(a.path(), true);
        make(b.path(), true);
        assert!(tree_differences(a.path(), b.path()).is_empty());

        xattr::set(&b.path().join("d/a"), std::ffi::OsStr::new("user.x"), b"1").unwrap();
        assert_eq!(
            tree_differences(a.path(), b.path()).len(),
            2,
            "xattr on a hard-linked file"
        );

        let c = tempfile::tempdir().unwrap();
        make(c.path(), false);
        assert!(
            !tree_differences(a.path(), c.path()).is_empty(),
            "hard-link groups compared"
        );

        let t = FileTime { secs: 5, nanos: 7 };
        meta::set_times(&c.path().join("d/a"), t, t).unwrap();
        let d = tree_differences(b.path(), c.path());
        assert!(
            d.iter().any(|l| l.starts_with("d/a")),
            "mtime compared: {d:?}"
        );
    }
}
