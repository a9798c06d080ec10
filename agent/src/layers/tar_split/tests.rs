//! Round trips: a tar is unpacked while its split is recorded, then rebuilt from the split and
//! the unpacked tree, and must come back byte for byte.

use std::io::Read;
use std::path::Path;

use strata_drivers::archive::{apply_tar, WhiteoutMode};
use strata_drivers::ApplyLimits;

use super::format::{Segment, SplitReader, SplitWriter};
use super::reassemble::reassemble;
use super::scanner::TarScanner;
use super::SplitStore;
use crate::layers::Digest;

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
    b.append_data(&mut h, path, data).unwrap();
}

fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
    let mut h = header(kind, 0, 0o777);
    b.append_link(&mut h, path, target).unwrap();
}

/// A layer tar with every kind of entry the brief names.
fn varied_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "etc/");
    file(&mut b, "etc/hostname", b"strata\n");
    file(&mut b, "etc/empty", b"");
    file(&mut b, "etc/block", &[7u8; 1024]); // a multiple of 512: no padding
    file(&mut b, "etc/odd", &[9u8; 513]);
    // GNU long name (the tar crate writes `././@LongLink` for names over 100 bytes).
    let long_gnu = format!("etc/{}", "g".repeat(150));
    file(&mut b, &long_gnu, b"gnu long name\n");
    // PAX long name.
    let long_pax = format!("etc/{}", "p".repeat(180));
    b.append_pax_extensions([("path", long_pax.as_bytes())])
        .unwrap();
    let mut h = header(tar::EntryType::Regular, 9, 0o644);
    h.set_path("etc/pax-short-name").unwrap();
    h.set_cksum();
    b.append(&h, &b"pax data\n"[..]).unwrap();
    // ustar prefix + name (a path over 100 bytes split by the header itself).
    let mut h = header(tar::EntryType::Regular, 6, 0o644);
    let prefixed = format!("{}/{}", "d".repeat(120), "n".repeat(60));
    h.set_path(&prefixed).unwrap();
    h.set_cksum();
    dir(&mut b, &format!("{}/", "d".repeat(120)));
    b.append(&h, &b"ustar\n"[..]).unwrap();
    link(&mut b, tar::EntryType::Link, "etc/hard", "etc/hostname");
    link(&mut b, tar::EntryType::Symlink, "etc/sym", "hostname");
    file(&mut b, "etc/.wh.gone", b"");
    file(&mut b, "./leading-dot", b"dot\n");
    b.finish().unwrap();
    let mut tar = b.into_inner().unwrap();
    tar.extend_from_slice(&[0u8; 2048]); // trailing zero blocks after the end marker
    tar.extend_from_slice(b"trailing junk");
    tar
}

/// Record the split of `tar` while unpacking it into `dest` (as register does).
fn record(tar: &[u8], dest: &Path) -> (Vec<u8>, TarScanner) {
    let (applied, split, scanner) = try_record(tar, dest);
    applied.unwrap();
    (split.unwrap(), scanner)
}

/// [`record`] for any input: what unpacking answered, the split (`None` when the stream could
/// not be followed to its end) and the scanner.
fn try_record(
    tar: &[u8],
    dest: &Path,
) -> (
    Result<u64, strata_drivers::DriverError>,
    Option<Vec<u8>>,
    TarScanner,
) {
    let mut scanner = TarScanner::new();
    let mut writer = SplitWriter::new(Vec::new()).unwrap();
    struct Tee<'a> {
        input: &'a [u8],
        scanner: &'a mut TarScanner,
        writer: &'a mut SplitWriter<Vec<u8>>,
    }
    impl Read for Tee<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // Odd read sizes, so headers straddle reads.
            let len = buf.len().min(77);
            let n = self.input.read(&mut buf[..len])?;
            self.scanner.feed(&buf[..n], self.writer)?;
            Ok(n)
        }
    }
    let mut tee = Tee {
        input: tar,
        scanner: &mut scanner,
        writer: &mut writer,
    };
    let applied = apply_tar(
        dest,
        &mut tee,
        WhiteoutMode::Delete,
        &ApplyLimits::UNLIMITED,
    );
    let drained = std::io::copy(&mut tee, &mut std::io::sink());
    let split = drained.ok().and_then(|_| writer.finish().ok());
    (applied, split, scanner)
}

fn rebuild(split: &[u8], root: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    reassemble(SplitReader::new(split).unwrap(), root, &mut out).unwrap();
    out
}

fn segments(split: &[u8]) -> Vec<Segment> {
    let mut reader = SplitReader::new(split).unwrap();
    let mut out = Vec::new();
    while let Some(s) = reader.next_segment().unwrap() {
        out.push(s);
    }
    out
}

#[test]
fn varied_tar_round_trips_byte_for_byte() {
    let tar = varied_tar();
    let tree = tempfile::tempdir().unwrap();
    let (split, scanner) = record(&tar, tree.path());
    assert_eq!(scanner.conflict(), None);
    assert_eq!(scanner.gave_up(), None);
    assert_eq!(rebuild(&split, tree.path()), tar);

    // File contents are references, not copies; whiteouts and empty files are not files.
    let files: Vec<(String, u64)> = segments(&split)
        .into_iter()
        .filter_map(|s| match s {
            Segment::File { path, size } => Some((path.display().to_string(), size)),
            Segment::Raw(_) => None,
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(names.contains(&"etc/hostname"));
    assert!(names.contains(&"etc/block"));
    assert!(names.contains(&"leading-dot"));
    assert!(names.contains(&format!("etc/{}", "g".repeat(150)).as_str()));
    assert!(names.contains(&format!("etc/{}", "p".repeat(180)).as_str()));
    assert!(names.contains(&format!("{}/{}", "d".repeat(120), "n".repeat(60)).as_str()));
    assert!(!names
        .iter()
        .any(|n| n.contains(".wh.") || n.ends_with("empty")));
    assert!(split.len() < tar.len(), "the split is smaller than the tar");
}

#[test]
fn changed_file_content_is_detected_by_the_rebuilt_digest() {
    let tar = varied_tar();
    let tree = tempfile::tempdir().unwrap();
    let (split, _) = record(&tar, tree.path());
    std::fs::write(tree.path().join("etc/hostname"), b"STRATA\n").unwrap();
    let rebuilt = rebuild(&split, tree.path());
    assert_eq!(rebuilt.len(), tar.len());
    assert_ne!(Digest::of_bytes(&rebuilt), Digest::of_bytes(&tar));
}

#[test]
fn a_file_written_twice_is_not_split() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "a", b"first");
    file(&mut b, "a", b"second");
    let tar = b.into_inner().unwrap();
    let tree = tempfile::tempdir().unwrap();
    let (_, scanner) = record(&tar, tree.path());
    assert!(scanner.conflict().unwrap().contains("more than once"));
}

#[test]
fn a_whiteout_of_an_earlier_file_is_a_conflict() {
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "d/");
    file(&mut b, "d/f", b"content");
    file(&mut b, ".wh.d", b"");
    let tar = b.into_inner().unwrap();
    let mut scanner = TarScanner::new();
    let mut writer = SplitWriter::new(Vec::new()).unwrap();
    scanner.feed(&tar, &mut writer).unwrap();
    assert!(scanner.conflict().is_some());
}

#[test]
fn gnu_sparse_members_are_kept_raw_and_followed() {
    // A sparse file with extension headers (more than 4 data blocks) between two files: the
    // scan keeps the sparse member raw and goes on referring to the files' contents.
    use strata_test_support::image_builder::{layer_tar, LayerEntry};
    let mut tar = layer_tar(&[LayerEntry::file("before", b"before\n".to_vec())]).unwrap();
    tar.truncate(tar.len() - 1024); // no end-of-archive marker yet
    let chunks: Vec<(u64, Vec<u8>)> = (0..30u64)
        .map(|i| (i * 8192, vec![i as u8 + 1; 512]))
        .collect();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_path("sparse").unwrap();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(30 * 512);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.set_real_size(29 * 8192 + 512);
    for (slot, (offset, data)) in gnu.sparse.iter_mut().zip(&chunks) {
        slot.set_offset(*offset);
        slot.set_length(data.len() as u64);
    }
    gnu.isextended[0] = 1;
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    // Extension headers: 21 blocks each, the last one says no more follow.
    for (i, group) in chunks[4..].chunks(21).enumerate() {
        let mut ext = tar::GnuExtSparseHeader::new();
        for (slot, (offset, data)) in ext.sparse.iter_mut().zip(group) {
            slot.set_offset(*offset);
            slot.set_length(data.len() as u64);
        }
        ext.isextended[0] = u8::from(4 + (i + 1) * 21 < chunks.len());
        raw.extend_from_slice(ext.as_bytes());
    }
    for (_, data) in &chunks {
        raw.extend_from_slice(data);
    }
    tar.extend_from_slice(&raw);
    let after = layer_tar(&[LayerEntry::file("after", b"after\n".to_vec())]).unwrap();
    tar.extend_from_slice(&after);

    let tree = tempfile::tempdir().unwrap();
    let (split, scanner) = record(&tar, tree.path());
    assert_eq!(scanner.gave_up(), None);
    assert_eq!(scanner.conflict(), None);
    let files: Vec<_> = segments(&split)
        .into_iter()
        .filter_map(|s| match s {
            Segment::File { path, .. } => Some(path),
            Segment::Raw(_) => None,
        })
        .collect();
    assert_eq!(files, vec![Path::new("before"), Path::new("after")]);
    assert_eq!(rebuild(&split, tree.path()), tar);
    let unpacked = std::fs::read(tree.path().join("sparse")).unwrap();
    assert_eq!(unpacked.len(), 29 * 8192 + 512);
    assert_eq!(&unpacked[29 * 8192..29 * 8192 + 512], &chunks[29].1[..]);
}

#[test]
fn a_sparse_member_replacing_a_referenced_file_is_a_conflict() {
    // Found by the fuzz test below: a file, then a sparse file at the same path. The split
    // must not refer to the first file's content, which the tree no longer has.
    use strata_test_support::image_builder::{layer_tar, LayerEntry};
    let tar = layer_tar(&[
        LayerEntry::file("/abs", vec![0u8; 513]),
        LayerEntry::sparse("/abs", 1, vec![1u8]),
    ])
    .unwrap();
    let tree = tempfile::tempdir().unwrap();
    let (_, scanner) = record(&tar, tree.path());
    assert!(scanner.conflict().is_some());
}

#[test]
fn giving_up_after_referring_to_a_file_is_a_conflict() {
    // An entry type the scan does not know: it keeps the rest raw, and since it no longer sees
    // what later entries replace, a split referring to earlier files is not kept.
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "before", b"before\n");
    let mut h = header(tar::EntryType::new(b'V'), 0, 0o644);
    b.append_data(&mut h, "label", std::io::empty()).unwrap();
    file(&mut b, "after", b"after\n");
    let tar = b.into_inner().unwrap();
    let mut scanner = TarScanner::new();
    let mut writer = SplitWriter::new(Vec::new()).unwrap();
    scanner.feed(&tar, &mut writer).unwrap();
    let split = writer.finish().unwrap();
    assert!(scanner.gave_up().unwrap().contains("'V'"));
    assert!(scanner.conflict().unwrap().contains("stopped following"));
    // The bytes are still all there.
    let tree = tempfile::tempdir().unwrap();
    std::fs::write(tree.path().join("before"), b"before\n").unwrap();
    assert_eq!(rebuild(&split, tree.path()), tar);
}

#[test]
fn an_empty_stream_round_trips() {
    let tree = tempfile::tempdir().unwrap();
    let (split, _) = record(b"", tree.path());
    assert_eq!(rebuild(&split, tree.path()), b"");
}

#[test]
fn a_truncated_split_file_is_refused() {
    let tar = varied_tar();
    let tree = tempfile::tempdir().unwrap();
    let (split, _) = record(&tar, tree.path());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&split[..])
        .read_to_end(&mut plain)
        .unwrap();
    plain.truncate(plain.len() - 9); // drop the end record
    let mut cut = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut cut, &plain).unwrap();
    let cut = cut.finish().unwrap();
    let mut out = Vec::new();
    let err = reassemble(SplitReader::new(&cut[..]).unwrap(), tree.path(), &mut out).unwrap_err();
    assert!(err.to_string().contains("corrupt tar-split"), "{err}");
}

#[test]
fn a_symlink_in_the_tree_is_not_followed() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "f", b"content");
    let tar = b.into_inner().unwrap();
    let tree = tempfile::tempdir().unwrap();
    let (split, _) = record(&tar, tree.path());
    std::fs::remove_file(tree.path().join("f")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", tree.path().join("f")).unwrap();
    let mut out = Vec::new();
    let err = reassemble(SplitReader::new(&split[..]).unwrap(), tree.path(), &mut out).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
}

#[test]
fn the_recorder_publishes_under_the_chain_id_and_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let store = SplitStore::new(root.path());
    let tar = varied_tar();
    let tree = tempfile::tempdir().unwrap();
    let mut recorder = store.recorder(&tar[..]);
    apply_tar(
        tree.path(),
        &mut recorder,
        WhiteoutMode::Overlay,
        &ApplyLimits::UNLIMITED,
    )
    .unwrap();
    std::io::copy(&mut recorder, &mut std::io::sink()).unwrap();
    let pending = recorder.finish().unwrap();
    let chain = Digest::of_bytes(b"chain");
    store.publish(pending, &chain);
    let path = store.path(&chain);
    assert!(path.ends_with(format!("layers/{}/tar-split", chain.hex())));
    let split = std::fs::read(&path).unwrap();
    assert_eq!(rebuild(&split, tree.path()), tar);

    // An abandoned recording leaves nothing; orphans and temp files go at start.
    let abandoned = store.recorder(&tar[..]);
    drop(abandoned);
    std::fs::write(root.path().join("layers/.tmp-tar-split-crash"), b"x").unwrap();
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&root.path().join("layers")),
        vec![".tmp-tar-split-crash".to_string(), chain.hex().to_string()]
    );
    store.remove_orphans(&Default::default()).unwrap();
    assert!(names(&root.path().join("layers")).is_empty());
}

#[test]
fn pax_size_and_base256_sizes_are_read_as_the_unpacker_reads_them() {
    let mut b = tar::Builder::new(Vec::new());
    // The header says 0 bytes, the PAX record says 600: the content is 600 bytes.
    b.append_pax_extensions([("size", &b"600"[..])]).unwrap();
    let mut h = header(tar::EntryType::Regular, 0, 0o644);
    h.set_path("pax-sized").unwrap();
    h.set_cksum();
    b.append(&h, std::io::empty()).unwrap();
    let mut tar = b.get_ref().clone(); // without the end blocks `into_inner` adds
    tar.extend_from_slice(&[b'p'; 600]);
    tar.extend_from_slice(&[0u8; 424]); // padding to 1024
                                        // A size in base-256 (binary) form.
    let mut h = header(tar::EntryType::Regular, 0, 0o644);
    h.set_path("binary-sized").unwrap();
    let field = &mut h.as_old_mut().size;
    *field = [0u8; 12];
    field[0] = 0x80;
    field[10] = 0x02; // 512 + 7
    field[11] = 0x07;
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(&[b'b'; 519]);
    tar.extend_from_slice(&[0u8; 505]);
    tar.extend_from_slice(&[0u8; 1024]);

    let tree = tempfile::tempdir().unwrap();
    let (split, scanner) = record(&tar, tree.path());
    assert_eq!(scanner.gave_up(), None);
    assert_eq!(
        std::fs::read(tree.path().join("pax-sized")).unwrap().len(),
        600
    );
    assert_eq!(
        std::fs::read(tree.path().join("binary-sized"))
            .unwrap()
            .len(),
        519
    );
    let files: Vec<Segment> = segments(&split)
        .into_iter()
        .filter(|s| matches!(s, Segment::File { .. }))
        .collect();
    assert_eq!(
        files,
        vec![
            Segment::File {
                path: "pax-sized".into(),
                size: 600
            },
            Segment::File {
                path: "binary-sized".into(),
                size: 519
            },
        ]
    );
    assert_eq!(rebuild(&split, tree.path()), tar);
}

mod fuzz {
    //! Property tests (fuzzing): whatever tar is unpacked, recording its split never panics,
    //! and when the unpacking succeeds and the split is kept, the tar rebuilt from it is the
    //! original byte for byte. Run longer with
    //! `PROPTEST_CASES=100000 cargo test -p strata-agent tar_split::tests::fuzz`.

    use proptest::prelude::*;
    use strata_test_support::image_builder::{layer_tar, LayerEntry};

    use super::{rebuild, try_record};

    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("d/a".to_string()),
            Just("d/b".to_string()),
            Just("./d/c".to_string()),
            Just("/abs".to_string()),
            Just(".wh.a".to_string()),
            Just("d/.wh.a".to_string()),
            Just("d/.wh..wh..opq".to_string()),
            Just("../up".to_string()),
            "[a-d]{1,3}(/[a-d]{1,3}){0,2}",
        ]
    }

    fn entry() -> impl Strategy<Value = LayerEntry> {
        prop_oneof![
            name().prop_map(|p| LayerEntry::dir(&p)),
            (name(), prop::collection::vec(any::<u8>(), 0..1100))
                .prop_map(|(p, data)| LayerEntry::file(&p, data)),
            (name(), name()).prop_map(|(path, target)| LayerEntry::Symlink { path, target }),
            (name(), name()).prop_map(|(path, target)| LayerEntry::Hardlink { path, target }),
            (name(), 0u64..4096, prop::collection::vec(1u8..=255, 0..600)).prop_map(
                |(p, size, tail)| {
                    let size = size.max(tail.len() as u64);
                    LayerEntry::sparse(&p, size, tail)
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn unpacked_tars_rebuild_byte_for_byte(
            entries in prop::collection::vec(entry(), 0..8),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            trailing in prop::collection::vec(any::<u8>(), 0..700),
        ) {
            let Ok(mut tar) = layer_tar(&entries) else { return Ok(()) };
            for (at, byte) in flips {
                let i = at.index(tar.len());
                tar[i] = byte;
            }
            tar.extend_from_slice(&trailing);
            let tree = tempfile::tempdir().unwrap();
            let (applied, split, scanner) = try_record(&tar, tree.path());
            if let (Ok(_), Some(split), None) = (applied, split, scanner.conflict()) {
                let rebuilt = rebuild(&split, tree.path());
                prop_assert!(rebuilt == tar, "rebuilt {} bytes, the tar had {}", rebuilt.len(), tar.len());
            }
        }
    }
}
