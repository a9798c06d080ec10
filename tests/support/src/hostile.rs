//! Hostile test images and archives for the bad-input tests: each one must be refused with a
//! message naming the problem, and leave nothing behind.

use std::fs::OpenOptions;
use std::path::Path;

use anyhow::{Context, Result};

use crate::image_builder::{BuiltImage, LayerEntry, TestImage};

/// A layer with an entry named `../evil` (escapes the layer root).
pub fn path_escape(tag: &str) -> TestImage {
    TestImage::busybox(tag).layer(
        "hostile: ../evil",
        vec![
            LayerEntry::dir("data"),
            LayerEntry::file("../evil", b"escaped".to_vec()),
        ],
    )
}

/// A layer with a symlink `link -> /etc` followed by `link/passwd` (a write through the link).
pub fn write_through_symlink(tag: &str) -> TestImage {
    TestImage::busybox(tag).layer(
        "hostile: link -> /etc, then link/passwd",
        vec![
            LayerEntry::symlink("link", "/etc"),
            LayerEntry::file("link/passwd", b"root::0:0:pwned:/:/bin/sh\n".to_vec()),
        ],
    )
}

/// A layer with a symlink that climbs out of the root (`escape -> ../../../../../../etc`) and a
/// file written through it.
pub fn escaping_symlink(tag: &str) -> TestImage {
    TestImage::busybox(tag).layer(
        "hostile: escape -> ../../../../../../etc",
        vec![
            LayerEntry::symlink("escape", "../../../../../../etc"),
            LayerEntry::file("escape/strata-evil", b"escaped".to_vec()),
        ],
    )
}

/// The config names a wrong diffID for the top layer.
pub fn diff_id_mismatch(tag: &str) -> TestImage {
    TestImage::busybox(tag)
        .random_layers(2, 16 * 1024)
        .corrupt_diff_id(2)
}

/// Build `image` as a docker-archive, then cut the file to 60% of its length (mid-blob).
pub fn truncated_docker_archive(image: &TestImage, path: &Path) -> Result<BuiltImage> {
    let built = image.build_docker_archive(path)?;
    let len = std::fs::metadata(path)?.len();
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.set_len(len * 6 / 10)?;
    Ok(built)
}

/// Build `image` as a docker-archive, then cut it exactly where its last entry
/// (`manifest.json`) begins: every remaining entry is whole, but the archive has no end marker.
pub fn truncated_at_entry_boundary(image: &TestImage, path: &Path) -> Result<BuiltImage> {
    let built = image.build_docker_archive(path)?;
    let mut archive = tar::Archive::new(std::fs::File::open(path)?);
    let mut last_header = None;
    for entry in archive.entries()? {
        last_header = Some(entry?.raw_header_position());
    }
    let cut = last_header.context("the archive has no entries")?;
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(cut)?;
    Ok(built)
}

/// An outer archive (not a layer) with an entry named `../evil` beside a manifest.
pub fn outer_path_escape(path: &Path) -> Result<()> {
    raw_tar(
        path,
        &[
            ("../evil", tar::EntryType::Regular, b"x", None),
            ("manifest.json", tar::EntryType::Regular, b"[]", None),
        ],
    )
}

/// An outer archive whose `manifest.json` is a symlink to `/etc/passwd`.
pub fn outer_symlink_escape(path: &Path) -> Result<()> {
    raw_tar(
        path,
        &[(
            "manifest.json",
            tar::EntryType::Symlink,
            b"",
            Some("/etc/passwd"),
        )],
    )
}

/// Write a tar with raw (unchecked) names and link targets.
fn raw_tar(path: &Path, entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut builder = tar::Builder::new(file);
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data)?;
    }
    builder.into_inner()?;
    Ok(())
}
