//! GNU sparse files unpack sparse, and a layer past its size limit is refused before the file
//! that crosses it is written.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;

use strata_test_support::image_builder::{layer_tar, LayerEntry};

use super::*;
use crate::driver::ApplyLimits;
use crate::error::{ArchiveError, DriverError};

/// 4 KiB of recognisable, non-zero data.
fn tail() -> Vec<u8> {
    (0..4096u32).map(|i| (i % 251) as u8 + 1).collect()
}

fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    let mut file = File::open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn a_gnu_sparse_file_stays_sparse() {
    let size: u64 = 4 << 30;
    let tar = layer_tar(&[
        LayerEntry::dir("d"),
        LayerEntry::sparse("d/big", size, tail()),
        LayerEntry::file("after", b"next entry".to_vec()),
    ])
    .unwrap();
    assert!(tar.len() < 64 * 1024, "the tar carries only the data");
    for mode in [WhiteoutMode::Delete, WhiteoutMode::Overlay] {
        let dest = tempfile::tempdir().unwrap();
        let total = apply_tar(dest.path(), tar.as_slice(), mode, &ApplyLimits::UNLIMITED).unwrap();
        assert_eq!(total, size + 10, "apparent sizes are counted");
        let big = dest.path().join("d/big");
        let md = std::fs::metadata(&big).unwrap();
        assert_eq!(md.len(), size);
        assert_eq!(md.mode() & 0o7777, 0o644);
        assert!(
            md.blocks() * 512 < 1 << 20,
            "{} bytes allocated for a 4 KiB-data sparse file",
            md.blocks() * 512
        );
        assert_eq!(read_at(&big, size - 4096, 4096), tail());
        assert_eq!(read_at(&big, size / 2, 4096), vec![0u8; 4096]);
        assert_eq!(
            std::fs::read(dest.path().join("after")).unwrap(),
            b"next entry"
        );
    }
}

#[test]
fn a_sparse_file_that_is_all_hole_takes_no_data_blocks() {
    let tar = layer_tar(&[LayerEntry::sparse("hole", 1 << 30, Vec::new())]).unwrap();
    let dest = tempfile::tempdir().unwrap();
    apply_tar(
        dest.path(),
        tar.as_slice(),
        WhiteoutMode::Delete,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    let md = std::fs::metadata(dest.path().join("hole")).unwrap();
    assert_eq!(md.len(), 1 << 30);
    assert_eq!(md.blocks(), 0);
}

fn refused_as_too_large(err: DriverError, path: &str, limit: u64) {
    match err {
        DriverError::Archive(ArchiveError::TooLarge { path: p, limit: l }) => {
            assert_eq!((p.as_str(), l), (path, limit))
        }
        other => panic!("expected TooLarge for {path}, got {other}"),
    }
}

#[test]
fn a_layer_past_its_limit_is_refused_before_the_crossing_file_is_written() {
    let limits = ApplyLimits { max_size: 1000 };
    let tar = layer_tar(&[
        LayerEntry::file("a", vec![1u8; 600]),
        LayerEntry::file("b", vec![2u8; 600]),
    ])
    .unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = apply_tar(dest.path(), tar.as_slice(), WhiteoutMode::Delete, &limits).unwrap_err();
    refused_as_too_large(err, "b", 1000);
    assert!(!dest.path().join("b").exists());

    // Exactly at the limit is fine.
    let tar = layer_tar(&[
        LayerEntry::file("a", vec![1u8; 400]),
        LayerEntry::file("b", vec![2u8; 600]),
    ])
    .unwrap();
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        apply_tar(dest.path(), tar.as_slice(), WhiteoutMode::Delete, &limits).unwrap(),
        1000
    );
}

#[test]
fn a_sparse_file_counts_its_full_size_against_the_limit() {
    let limits = ApplyLimits { max_size: 1 << 30 };
    let tar = layer_tar(&[LayerEntry::sparse("huge", 1 << 40, tail())]).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = apply_tar(dest.path(), tar.as_slice(), WhiteoutMode::Overlay, &limits).unwrap_err();
    refused_as_too_large(err, "huge", 1 << 30);
    assert!(!dest.path().join("huge").exists());
}
