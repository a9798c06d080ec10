//! Whiteout conversion both ways, naive changes and stream edge cases of the archive code.

use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::*;
use crate::driver::ApplyLimits;
use crate::error::{ArchiveError, DriverError};
use crate::fsutil::meta::{self, NodeKind};
use crate::fsutil::xattr;

/// A tar with plain regular files (whiteout markers included) and directories.
fn tar_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, name, *d).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, name, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn names(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn oci_whiteouts_become_overlay_whiteouts() {
    let dest = tempfile::tempdir().unwrap();
    let tar = tar_of(&[
        (".wh.gone", Some(b"")),
        ("d/", None),
        ("d/.wh..wh..opq", Some(b"")),
        ("d/new", Some(b"new")),
        ("e/.wh.deep", Some(b"")),
    ]);
    let size = apply_tar(
        dest.path(),
        tar.as_slice(),
        WhiteoutMode::Overlay,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    assert_eq!(size, 3, "whiteout markers are not counted as content");
    let gone = std::fs::symlink_metadata(dest.path().join("gone")).unwrap();
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    let opaque = xattr::get(&dest.path().join("d"), OsStr::new("trusted.overlay.opaque")).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(
        listing(dest.path()),
        vec!["d", "e", "gone"],
        "no .wh. file was written"
    );
    assert_eq!(listing(&dest.path().join("d")), vec!["new"]);
    assert_eq!(listing(&dest.path().join("e")), vec!["deep"]);
}

#[test]
fn overlay_whiteouts_become_oci_whiteouts() {
    let upper = tempfile::tempdir().unwrap();
    let u = upper.path();
    meta::mknod(&u.join("gone"), NodeKind::Char, 0, 0, 0).unwrap();
    std::fs::create_dir(u.join("d")).unwrap();
    xattr::set(&u.join("d"), OsStr::new("trusted.overlay.opaque"), b"y").unwrap();
    std::fs::write(u.join("d/new"), b"new").unwrap();
    meta::mknod(&u.join("null"), NodeKind::Char, 0o666, 1, 3).unwrap();
    let mut out = Vec::new();
    write_overlay_diff(u, &mut out).unwrap();
    assert_eq!(
        names(&out),
        vec![".wh.gone", "d", "d/.wh..wh..opq", "d/new", "null"]
    );
    // No overlay-private xattr travels in the tar.
    let mut archive = tar::Archive::new(out.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if let Some(pax) = entry.pax_extensions().unwrap() {
            for rec in pax {
                assert!(
                    !rec.unwrap().key().unwrap().contains("trusted.overlay"),
                    "overlay xattr leaked"
                );
            }
        }
    }
}

#[test]
fn oci_whiteouts_delete_in_full_trees() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    std::fs::write(d.join("gone"), b"x").unwrap();
    std::fs::create_dir_all(d.join("dir/sub")).unwrap();
    std::fs::write(d.join("dir/old"), b"x").unwrap();
    std::fs::write(d.join("dir/sub/older"), b"x").unwrap();
    std::fs::create_dir_all(d.join("gonedir/x")).unwrap();
    let tar = tar_of(&[
        (".wh.gone", Some(b"")),
        (".wh.gonedir", Some(b"")),
        ("dir/sub/kept-new", Some(b"n")),
        ("dir/.wh..wh..opq", Some(b"")),
        ("dir/after", Some(b"a")),
        (".wh.never-existed", Some(b"")),
        ("missing/.wh.x", Some(b"")),
    ]);
    apply_tar(
        d,
        tar.as_slice(),
        WhiteoutMode::Delete,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    assert_eq!(listing(d), vec!["dir"]);
    assert_eq!(
        listing(&d.join("dir")),
        vec!["after", "sub"],
        "opaque dir keeps only this tar's entries"
    );
    assert_eq!(listing(&d.join("dir/sub")), vec!["kept-new"]);
}

#[test]
fn naive_changes_against_a_parent() {
    let parent = tempfile::tempdir().unwrap();
    let layer = tempfile::tempdir().unwrap();
    let (p, l) = (parent.path(), layer.path());
    for root in [p, l] {
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/same"), b"same").unwrap();
        let t = meta::FileTime {
            secs: 1_000,
            nanos: 1,
        };
        meta::set_times(&root.join("etc/same"), t, t).unwrap();
    }
    std::fs::write(p.join("etc/deleted"), b"d").unwrap();
    std::fs::create_dir_all(p.join("olddir/inner")).unwrap();
    std::fs::write(l.join("etc/added"), b"a").unwrap();
    let found = changes(Some(p), l).unwrap();
    let as_pairs: Vec<(String, ChangeKind)> = found
        .iter()
        .map(|c| (c.path.to_string_lossy().into_owned(), c.kind))
        .collect();
    assert_eq!(
        as_pairs,
        vec![
            ("etc".to_string(), ChangeKind::Modified),
            ("etc/added".to_string(), ChangeKind::Added),
            ("etc/deleted".to_string(), ChangeKind::Deleted),
            ("olddir".to_string(), ChangeKind::Deleted),
        ]
    );
    let mut out = Vec::new();
    write_naive_diff(Some(p), l, &mut out).unwrap();
    assert_eq!(
        names(&out),
        vec![".wh.olddir", "etc", "etc/.wh.deleted", "etc/added"]
    );
}

#[test]
fn long_names_and_link_targets_survive() {
    let src = tempfile::tempdir().unwrap();
    let long_dir = "d".repeat(120);
    let long_file = format!("{long_dir}/{}", "f".repeat(130));
    std::fs::create_dir(src.path().join(&long_dir)).unwrap();
    std::fs::write(src.path().join(&long_file), b"deep").unwrap();
    let target = format!("./{}", "t".repeat(150));
    std::os::unix::fs::symlink(&target, src.path().join("ln")).unwrap();
    let mut out = Vec::new();
    write_naive_diff(None, src.path(), &mut out).unwrap();
    let dest = tempfile::tempdir().unwrap();
    apply_tar(
        dest.path(),
        out.as_slice(),
        WhiteoutMode::Delete,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(dest.path().join(&long_file)).unwrap(),
        b"deep"
    );
    assert_eq!(
        std::fs::read_link(dest.path().join("ln")).unwrap(),
        Path::new(&target)
    );
}

#[test]
fn stream_edges() {
    let dest = tempfile::tempdir().unwrap();
    // Empty input: an empty layer.
    assert_eq!(
        apply_tar(
            dest.path(),
            &b""[..],
            WhiteoutMode::Delete,
            &ApplyLimits::UNLIMITED
        )
        .unwrap(),
        0
    );
    // A complete tar followed by padding is fine.
    let mut padded = tar_of(&[("a", Some(b"1"))]);
    padded.extend_from_slice(&[0u8; 4096]);
    assert_eq!(
        apply_tar(
            dest.path(),
            padded.as_slice(),
            WhiteoutMode::Delete,
            &ApplyLimits::UNLIMITED
        )
        .unwrap(),
        1
    );
    // Cut at a block boundary without the end-of-archive marker: truncated.
    let full = tar_of(&[("b", Some(b"22"))]);
    let err = apply_tar(
        dest.path(),
        &full[..1024],
        WhiteoutMode::Delete,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap_err();
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::Corrupt(_))),
        "{err}"
    );
}

#[test]
fn dir_recreated_over_a_whiteout_is_opaque() {
    let dest = tempfile::tempdir().unwrap();
    let tar = tar_of(&[(".wh.d", Some(b"")), ("d/", None), ("d/x", Some(b"x"))]);
    apply_tar(
        dest.path(),
        tar.as_slice(),
        WhiteoutMode::Overlay,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    let opaque = xattr::get(&dest.path().join("d"), OsStr::new("trusted.overlay.opaque")).unwrap();
    assert_eq!(
        opaque.as_deref(),
        Some(&b"y"[..]),
        "the parent's d would show through"
    );
    assert_eq!(listing(&dest.path().join("d")), vec!["x"]);
}
