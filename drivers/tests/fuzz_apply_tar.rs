//! Property tests (fuzzing) of layer unpacking: arbitrary bytes, and tars built from arbitrary
//! hostile-ish entries (`..`, absolute names, symlinks in and out of the root, hard links,
//! whiteouts, opaque markers, GNU sparse files), unpacked over a tree that already holds a
//! symlink out of the root. Whatever the input: no panic, the result is `Ok` or a typed
//! `ArchiveError`, and nothing outside the target directory changes.
//!
//! `cargo test` runs proptest's default 256 cases per property (seconds); run longer with
//! `PROPTEST_CASES=100000 cargo test -p strata-drivers --test fuzz_apply_tar`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata_drivers::archive::{apply_tar, WhiteoutMode};
use strata_drivers::{ApplyLimits, DriverError};
use strata_test_support::image_builder::{layer_tar, LayerEntry};

/// The bound used for every case: small enough that big sparse claims cross it.
const LIMITS: ApplyLimits = ApplyLimits { max_size: 1 << 20 };

/// A sandbox: `root` (the layer, pre-filled like a parent layer) next to `outside`, which must
/// never change.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"keep").unwrap();
        // A parent layer's symlinks out of the root: nothing may be written through them.
        std::os::unix::fs::symlink("../outside", root.join("up")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        Sandbox { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    /// Everything outside the layer: the sandbox's own entries and `outside`'s files.
    fn outside_state(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut state = BTreeMap::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            state.insert(entry.unwrap().path(), Vec::new());
        }
        collect(&self.outside(), &mut state);
        state
    }
}

fn collect(dir: &Path, state: &mut BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let md = std::fs::symlink_metadata(&path).unwrap();
        if md.is_dir() {
            state.insert(path.clone(), b"dir".to_vec());
            collect(&path, state);
        } else if md.file_type().is_symlink() {
            state.insert(
                path.clone(),
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            );
        } else {
            state.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
}

/// Unpack `tar` into a fresh sandbox and check the properties.
fn check(tar: &[u8], mode: WhiteoutMode) -> Result<(), TestCaseError> {
    let sandbox = Sandbox::new();
    let before = sandbox.outside_state();
    let result = apply_tar(&sandbox.root(), tar, mode, &LIMITS);
    if let Err(err) = &result {
        prop_assert!(
            matches!(err, DriverError::Archive(_)),
            "not a typed archive error: {err:?}"
        );
    }
    prop_assert_eq!(
        sandbox.outside_state(),
        before,
        "something outside the layer changed"
    );
    Ok(())
}

fn name_part() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        Just("up".to_string()),
        Just("abs".to_string()),
        Just("etc".to_string()),
        Just(".wh.a".to_string()),
        Just(".wh.up".to_string()),
        Just(".wh..wh..opq".to_string()),
        Just(".wh..wh.meta".to_string()),
        Just(".wh.".to_string()),
        "[a-z.]{1,6}",
    ]
}

/// Entry names: 1-3 parts, sometimes absolute, sometimes with a trailing slash.
fn entry_name() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(name_part(), 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(parts, absolute, trailing)| {
            let mut name = parts.join("/");
            if absolute {
                name.insert(0, '/');
            }
            if trailing {
                name.push('/');
            }
            name
        })
}

fn link_target(outside: String) -> impl Strategy<Value = String> {
    prop_oneof![
        entry_name(),
        Just("../outside".to_string()),
        Just("../../outside/keep".to_string()),
        Just(format!("{outside}/keep")),
        Just(outside),
        Just("/etc/passwd".to_string()),
        Just("".to_string()),
    ]
}

fn entry(outside: String) -> impl Strategy<Value = LayerEntry> {
    prop_oneof![
        entry_name().prop_map(|p| LayerEntry::dir(&p)),
        (entry_name(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(p, data)| LayerEntry::file(&p, data)),
        (entry_name(), link_target(outside.clone()))
            .prop_map(|(path, target)| LayerEntry::Symlink { path, target }),
        (entry_name(), link_target(outside))
            .prop_map(|(path, target)| LayerEntry::Hardlink { path, target }),
        (
            entry_name(),
            0u64..(4 << 20),
            prop::collection::vec(any::<u8>(), 0..600)
        )
            .prop_map(|(p, size, tail)| {
                let size = size.max(tail.len() as u64);
                LayerEntry::sparse(&p, size, tail)
            }),
    ]
}

fn mode() -> impl Strategy<Value = WhiteoutMode> {
    prop_oneof![Just(WhiteoutMode::Delete), Just(WhiteoutMode::Overlay)]
}

/// Where the sandbox's `outside` will be is not known before the case runs; absolute link
/// targets into it use this placeholder, replaced per case.
const OUTSIDE: &str = "/@OUTSIDE@";

fn resolve(entries: &[LayerEntry], outside: &Path) -> Vec<LayerEntry> {
    let fix = |t: &str| t.replace(OUTSIDE, &outside.to_string_lossy());
    entries
        .iter()
        .map(|e| match e {
            LayerEntry::Symlink { path, target } => LayerEntry::Symlink {
                path: path.clone(),
                target: fix(target),
            },
            LayerEntry::Hardlink { path, target } => LayerEntry::Hardlink {
                path: path.clone(),
                target: fix(target),
            },
            other => other.clone(),
        })
        .collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_or_escape(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        mode in mode(),
    ) {
        check(&bytes, mode)?;
    }

    #[test]
    fn a_valid_tar_with_arbitrary_damage_never_panics_or_escapes(
        entries in prop::collection::vec(entry(OUTSIDE.to_string()), 1..6),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
        mode in mode(),
    ) {
        // Absolute targets into `outside` are resolved against a fixed path here: damage is
        // about parsing, not about where links point.
        let entries = resolve(&entries, Path::new("/nonexistent-outside"));
        let Ok(mut tar) = layer_tar(&entries) else { return Ok(()) };
        for (at, byte) in flips {
            let i = at.index(tar.len());
            tar[i] = byte;
        }
        if cut_it {
            tar.truncate(cut.index(tar.len() + 1));
        }
        check(&tar, mode)?;
    }

    #[test]
    fn hostile_entries_never_escape(
        entries in prop::collection::vec(entry(OUTSIDE.to_string()), 1..8),
        mode in mode(),
    ) {
        let sandbox = Sandbox::new();
        let entries = resolve(&entries, &sandbox.outside());
        // Names longer than a ustar name field are not what this explores.
        let Ok(tar) = layer_tar(&entries) else { return Ok(()) };
        let before = sandbox.outside_state();
        let result = apply_tar(&sandbox.root(), tar.as_slice(), mode, &LIMITS);
        if let Err(err) = &result {
            prop_assert!(matches!(err, DriverError::Archive(_)), "not a typed archive error: {err:?}");
        }
        prop_assert_eq!(sandbox.outside_state(), before, "something outside the layer changed");
    }
}
