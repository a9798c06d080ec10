//! Hostile and broken archives are refused with the matching error and write nothing outside
//! the layer.

use crate::conformance::fixture::DriverFixture;
use crate::conformance::helpers::assert_nothing_escaped;
use crate::conformance::tars::{EntryOpts, Kind, TestTar};
use crate::error::{ArchiveError, DriverError};

const MARKER: &str = "strata-escape-marker";

fn apply_fresh(fx: &DriverFixture, name: &str, tar: &[u8]) -> DriverError {
    let id = fx.id(name);
    fx.driver().create(&id, None).expect("create");
    let err = match fx.driver().apply_diff(&id, &mut &tar[..]) {
        Ok(n) => panic!("{name}: hostile archive accepted ({n} bytes)"),
        Err(e) => e,
    };
    fx.driver()
        .remove(&id)
        .unwrap_or_else(|e| panic!("{name}: removing the refused layer: {e}"));
    err
}

/// `../x` and `a/../../x`.
pub(super) fn hostile_path_escape(fx: &DriverFixture) {
    for (i, name) in [
        format!("../{MARKER}"),
        format!("a/../../{MARKER}"),
        format!("./../../../{MARKER}"),
    ]
    .iter()
    .enumerate()
    {
        let mut t = TestTar::new();
        t.file("fine", b"ok").file(name, b"pwned");
        let err = apply_fresh(fx, &format!("dotdot-{i}"), &t.bytes());
        assert!(
            matches!(err, DriverError::Archive(ArchiveError::PathEscape { .. })),
            "{name}: {err}"
        );
        assert_nothing_escaped(fx, MARKER);
    }
}

/// Symlinks whose relative target climbs out of the root.
pub(super) fn hostile_symlink_escape(fx: &DriverFixture) {
    for (i, (name, target)) in [
        ("evil", "../../.."),
        ("a/evil", "../../canary"),
        ("b/c/evil", "../x/../../../etc"),
    ]
    .iter()
    .enumerate()
    {
        let mut t = TestTar::new();
        t.symlink(name, target)
            .file(&format!("{name}/{MARKER}"), b"pwned");
        let err = apply_fresh(fx, &format!("symesc-{i}"), &t.bytes());
        assert!(
            matches!(
                err,
                DriverError::Archive(ArchiveError::SymlinkEscape { .. })
            ),
            "{name}: {err}"
        );
        assert_nothing_escaped(fx, MARKER);
    }
}

/// An entry written through a symlink (`link -> <outside dir>`, then `link/FILE`), also when the
/// symlink stays inside the root.
pub(super) fn hostile_through_symlink(fx: &DriverFixture) {
    let outside = fx.canary().to_string_lossy().into_owned();
    let cases = [
        ("/etc", format!("link/{MARKER}")),
        (outside.as_str(), format!("link/{MARKER}")),
        (outside.as_str(), "link/canary.txt".to_string()),
        (".", format!("link/{MARKER}")),
    ];
    for (i, (target, entry)) in cases.iter().enumerate() {
        let mut t = TestTar::new();
        t.symlink("link", target).file(entry, b"pwned");
        let err = apply_fresh(fx, &format!("through-{i}"), &t.bytes());
        assert!(
            matches!(
                err,
                DriverError::Archive(ArchiveError::ThroughSymlink { .. })
            ),
            "{entry}: {err}"
        );
        assert_nothing_escaped(fx, MARKER);
    }
    // A directory entry and a whiteout through a symlink are refused the same way.
    let mut t = TestTar::new();
    t.symlink("link", &outside).dir(&format!("link/{MARKER}"));
    let err = apply_fresh(fx, "through-dir", &t.bytes());
    assert!(
        matches!(
            err,
            DriverError::Archive(ArchiveError::ThroughSymlink { .. })
        ),
        "{err}"
    );
    let mut t = TestTar::new();
    t.symlink("link", &outside).whiteout("link/canary.txt");
    let err = apply_fresh(fx, "through-wh", &t.bytes());
    assert!(
        matches!(
            err,
            DriverError::Archive(ArchiveError::ThroughSymlink { .. })
        ),
        "{err}"
    );
    assert_nothing_escaped(fx, MARKER);
}

/// Hard links out of the root, to missing files, or through a symlink.
pub(super) fn hostile_hardlink(fx: &DriverFixture) {
    let outside = fx.canary().to_string_lossy().into_owned();
    let mut t = TestTar::new();
    t.hardlink(MARKER, "../../etc/passwd");
    let err = apply_fresh(fx, "hl-escape", &t.bytes());
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::BadHardlink { .. })),
        "{err}"
    );
    let mut t = TestTar::new();
    t.hardlink(MARKER, "not/there");
    let err = apply_fresh(fx, "hl-missing", &t.bytes());
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::BadHardlink { .. })),
        "{err}"
    );
    let mut t = TestTar::new();
    t.symlink("ln", &outside).hardlink(MARKER, "ln/canary.txt");
    let err = apply_fresh(fx, "hl-through", &t.bytes());
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::BadHardlink { .. })),
        "{err}"
    );
    let mut t = TestTar::new();
    t.entry("abs", Kind::Hardlink("/etc/passwd"), &EntryOpts::default());
    let err = apply_fresh(fx, "hl-abs", &t.bytes());
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::BadHardlink { .. })),
        "{err}"
    );
    assert_nothing_escaped(fx, MARKER);
}

/// Truncated or corrupt streams are errors, never a silent early end.
pub(super) fn truncated_tar(fx: &DriverFixture) {
    let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let mut t = TestTar::new();
    t.file("big", &big).file("small", b"tail");
    let full = t.bytes();
    let without_trailer = full.len() - 1024;
    let cuts = [100, 700, 3000, without_trailer - 1024, without_trailer];
    for (i, cut) in cuts.iter().enumerate() {
        let err = apply_fresh(fx, &format!("trunc-{i}"), &full[..*cut]);
        assert!(
            matches!(err, DriverError::Archive(ArchiveError::Corrupt(_))),
            "cut at {cut}: {err}"
        );
    }
    let mut bad = full.clone();
    bad[10] ^= 0x55; // inside the name of the first (PAX) header
    let err = apply_fresh(fx, "checksum", &bad);
    assert!(
        matches!(err, DriverError::Archive(ArchiveError::Corrupt(_))),
        "bad checksum: {err}"
    );
    // And the complete stream applies.
    let id = fx.id("complete");
    fx.driver().create(&id, None).expect("create");
    let size = fx
        .driver()
        .apply_diff(&id, &mut full.as_slice())
        .expect("complete stream");
    assert_eq!(size, 10_004);
}
