//! Safe unpacking of an OCI layer tar into a directory.
//!
//! Every entry name is normalized and checked before anything is written: no `..`, no parent
//! component that is a symlink (checked with `lstat` on each component; dest is the driver's own
//! fresh layer, nobody else writes into it meanwhile), symlinks whose relative target climbs out
//! of the root and hard links that point out of it or at nothing are refused. Files are created
//! with `O_NOFOLLOW | O_EXCL` after whatever was at the path is removed.
//!
//! GNU sparse files stay sparse: their holes are seeked over (`set_len`), never written as
//! zeros. Every regular file's apparent size is added up and checked against
//! [`ApplyLimits::max_size`] before the file is written.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use super::entry_meta::EntryMeta;
use super::paths::{normalize_entry_path, symlink_escapes};
use super::stream::EofTracker;
use super::whiteout::{classify, WhiteoutName, OVERLAY_OPAQUE_XATTR};
use super::WhiteoutMode;
use crate::driver::ApplyLimits;
use crate::error::{ArchiveError, DriverError};
use crate::fsutil::meta::{self, FileKind, FileTime, NodeKind};
use crate::fsutil::xattr;

/// Unpack the layer tar read from `reader` into `dest`, converting whiteouts as `mode` says and
/// refusing to expand past `limits`. Returns the sum of the sizes of the regular files written
/// (what Docker reports as a layer's size). On error, `dest` may hold part of the layer (the
/// caller discards it) but nothing has been written outside `dest`.
pub fn apply_tar<R: Read>(
    dest: &Path,
    reader: R,
    mode: WhiteoutMode,
    limits: &ApplyLimits,
) -> Result<u64, DriverError> {
    let mut stream = EofTracker::new(reader);
    let mut unpacker = Unpacker::new(dest, mode, *limits);
    {
        let mut archive = tar::Archive::new(&mut stream);
        let entries = archive
            .entries()
            .map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
            unpacker.apply_entry(&mut entry)?;
        }
    }
    if stream.hit_eof() && stream.bytes_read() > 0 {
        return Err(ArchiveError::Corrupt(
            "the stream ended before the end-of-archive marker (truncated)".into(),
        )
        .into());
    }
    if stream.bytes_read() == 0 {
        debug!(dest = %dest.display(), "empty layer stream: nothing to unpack");
    }
    stream.drain().map_err(ArchiveError::Read)?;
    unpacker.finish()?;
    Ok(unpacker.total)
}

struct Unpacker<'a> {
    dest: &'a Path,
    mode: WhiteoutMode,
    /// Paths (relative to dest) this tar wrote, with all their ancestors.
    written: HashSet<PathBuf>,
    /// Directory mtimes, set once every entry is in (writing children changes them).
    dir_times: BTreeMap<PathBuf, FileTime>,
    total: u64,
    limits: ApplyLimits,
}

fn lossy(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

impl<'a> Unpacker<'a> {
    fn new(dest: &'a Path, mode: WhiteoutMode, limits: ApplyLimits) -> Self {
        Unpacker {
            dest,
            mode,
            written: HashSet::new(),
            dir_times: BTreeMap::new(),
            total: 0,
            limits,
        }
    }

    fn write_err(&self, shown: &str, abs: &Path, source: io::Error) -> ArchiveError {
        ArchiveError::Write {
            path: shown.to_string(),
            dest: abs.to_path_buf(),
            source,
        }
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), DriverError> {
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            // Global PAX records describe the archive, not a file of the layer.
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = lossy(&raw);
        let rel = normalize_entry_path(&raw)?;
        let meta = EntryMeta::read(entry, &shown)?;
        let is_dir = entry_type.is_dir() || (entry_type.is_file() && raw.ends_with(b"/"));

        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            // The layer root itself (`./`): only a directory entry makes sense there.
            if !is_dir {
                return Err(ArchiveError::UnsupportedEntry {
                    path: shown,
                    kind: "non-directory entry for the layer root".into(),
                }
                .into());
            }
            let dest = self.dest;
            self.apply_meta(&shown, dest, &meta, FileKind::Dir)?;
            return Ok(());
        };
        let parent_rel = rel.parent().map(Path::to_path_buf).unwrap_or_default();

        match classify(&name) {
            WhiteoutName::Meta => Ok(()),
            WhiteoutName::Opaque => self.opaque(&shown, &parent_rel, &meta),
            WhiteoutName::Delete(target) => {
                if target.is_empty() || target == "." || target == ".." {
                    return Err(ArchiveError::PathEscape { path: shown }.into());
                }
                let target_rel = parent_rel.join(target);
                self.whiteout(&shown, &target_rel, &meta)
            }
            WhiteoutName::Plain => {
                self.ensure_parents(&shown, &rel, true)?;
                let abs = self.dest.join(&rel);
                let kind = if is_dir {
                    self.make_dir(&shown, &abs)?;
                    FileKind::Dir
                } else if entry_type.is_file()
                    || entry_type == tar::EntryType::Continuous
                    || entry_type.is_gnu_sparse()
                {
                    self.count_size(&shown, meta.size)?;
                    if entry_type.is_gnu_sparse() {
                        self.make_sparse_file(&shown, &abs, entry, meta.size)?;
                    } else {
                        self.make_file(&shown, &abs, entry, meta.size)?;
                    }
                    FileKind::Regular
                } else if entry_type.is_symlink() {
                    self.make_symlink(&shown, &rel, &abs, entry)?;
                    FileKind::Symlink
                } else if entry_type.is_hard_link() {
                    self.make_hardlink(&shown, &abs, entry)?;
                    self.record_written(&rel);
                    // The link shares the inode (and so the metadata) of its target.
                    return Ok(());
                } else if entry_type.is_character_special()
                    || entry_type.is_block_special()
                    || entry_type.is_fifo()
                {
                    let (node, kind) = if entry_type.is_character_special() {
                        (NodeKind::Char, FileKind::Char)
                    } else if entry_type.is_block_special() {
                        (NodeKind::Block, FileKind::Block)
                    } else {
                        (NodeKind::Fifo, FileKind::Fifo)
                    };
                    self.replace(&shown, &abs, false)?;
                    meta::mknod(&abs, node, meta.mode, meta.major, meta.minor)
                        .map_err(|e| self.write_err(&shown, &abs, e))?;
                    kind
                } else {
                    return Err(ArchiveError::UnsupportedEntry {
                        path: shown,
                        kind: format!("{entry_type:?}"),
                    }
                    .into());
                };
                self.apply_meta(&shown, &abs, &meta, kind)?;
                self.record_written(&rel);
                Ok(())
            }
        }
    }

    /// Check every parent component of `rel` inside dest: a symlink is refused, a missing one
    /// is created (0755) when `create`, else `Ok(false)` says the parent does not exist.
    fn ensure_parents(
        &mut self,
        shown: &str,
        rel: &Path,
        create: bool,
    ) -> Result<bool, ArchiveError> {
        let Some(parent) = rel.parent() else {
            return Ok(true);
        };
        let mut cur = PathBuf::new();
        for comp in parent.components() {
            cur.push(comp);
            let abs = self.dest.join(&cur);
            match meta::lstat_opt(&abs).map_err(|e| self.write_err(shown, &abs, e))? {
                Some(md) if md.file_type().is_symlink() => {
                    return Err(ArchiveError::ThroughSymlink {
                        path: shown.to_string(),
                        via: cur.to_string_lossy().into_owned(),
                    })
                }
                Some(md) if md.is_dir() => {}
                Some(_) => {
                    return Err(self.write_err(
                        shown,
                        &abs,
                        io::Error::new(
                            io::ErrorKind::NotADirectory,
                            "a parent component is not a directory",
                        ),
                    ))
                }
                None if create => {
                    fs::create_dir(&abs).map_err(|e| self.write_err(shown, &abs, e))?;
                    meta::chmod(&abs, 0o755).map_err(|e| self.write_err(shown, &abs, e))?;
                    self.written.insert(cur.clone());
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Clear the way for a new entry at `abs`. A directory is kept when the new entry is a
    /// directory too (merge, as Docker does); anything else there is removed. Returns whether a
    /// directory was kept.
    fn replace(&self, shown: &str, abs: &Path, new_is_dir: bool) -> Result<bool, ArchiveError> {
        let err = |e| self.write_err(shown, abs, e);
        match meta::lstat_opt(abs).map_err(err)? {
            None => Ok(false),
            Some(md) if md.is_dir() && new_is_dir => Ok(true),
            Some(md) if md.is_dir() => fs::remove_dir_all(abs).map(|_| false).map_err(err),
            Some(_) => fs::remove_file(abs).map(|_| false).map_err(err),
        }
    }

    fn make_dir(&self, shown: &str, abs: &Path) -> Result<(), ArchiveError> {
        // A directory replacing an overlay whiteout (`.wh.d` then `d/` in one tar) is a new
        // directory: the parent's `d` must not show through, so it is opaque.
        let over_whiteout = self.mode == WhiteoutMode::Overlay
            && matches!(meta::lstat_opt(abs), Ok(Some(md))
                if FileKind::of(&md) == FileKind::Char && md.rdev() == 0);
        if !self.replace(shown, abs, true)? {
            fs::create_dir(abs).map_err(|e| self.write_err(shown, abs, e))?;
        }
        if over_whiteout {
            xattr::set(abs, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
                .map_err(|e| self.write_err(shown, abs, e))?;
        }
        Ok(())
    }

    fn make_file<R: Read>(
        &self,
        shown: &str,
        abs: &Path,
        entry: &mut tar::Entry<'_, R>,
        size: u64,
    ) -> Result<(), ArchiveError> {
        self.replace(shown, abs, false)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(abs)
            .map_err(|e| self.write_err(shown, abs, e))?;
        let mut buf = vec![0u8; 128 * 1024];
        let mut copied: u64 = 0;
        loop {
            let n = entry.read(&mut buf).map_err(|e| {
                ArchiveError::Corrupt(format!("reading the data of entry {shown:?}: {e}"))
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n])
                .map_err(|e| self.write_err(shown, abs, e))?;
            copied += n as u64;
        }
        if copied != size {
            return Err(ArchiveError::Corrupt(format!(
                "entry {shown:?} is truncated: {copied} of {size} bytes present"
            )));
        }
        Ok(())
    }

    /// Add a regular file's `size` to the layer's total, refusing it past the limit.
    fn count_size(&mut self, shown: &str, size: u64) -> Result<(), ArchiveError> {
        match self.total.checked_add(size) {
            Some(total) if total <= self.limits.max_size => {
                self.total = total;
                Ok(())
            }
            _ => Err(ArchiveError::TooLarge {
                path: shown.to_string(),
                limit: self.limits.max_size,
            }),
        }
    }

    /// A GNU sparse file: the tar crate's own unpacking writes the data blocks and seeks over
    /// the holes (`set_len` for a trailing one), so a file claiming gigabytes of zeros takes
    /// only its data on disk. Its `O_CREAT | O_EXCL` open does not follow a symlink, and
    /// `replace` has emptied the path; the metadata it sets is set again by `apply_meta`.
    fn make_sparse_file<R: Read>(
        &self,
        shown: &str,
        abs: &Path,
        entry: &mut tar::Entry<'_, R>,
        size: u64,
    ) -> Result<(), ArchiveError> {
        if entry.path_bytes().ends_with(b"/") {
            // The tar crate would make a directory of it.
            return Err(ArchiveError::UnsupportedEntry {
                path: shown.to_string(),
                kind: "GNU sparse file named as a directory".into(),
            });
        }
        self.replace(shown, abs, false)?;
        entry
            .unpack(abs)
            .map_err(|e| ArchiveError::Corrupt(format!("unpacking sparse entry {shown:?}: {e}")))?;
        let written = fs::symlink_metadata(abs)
            .map_err(|e| self.write_err(shown, abs, e))?
            .len();
        if written != size {
            return Err(ArchiveError::Corrupt(format!(
                "sparse entry {shown:?} unpacked to {written} of {size} bytes"
            )));
        }
        Ok(())
    }

    fn make_symlink<R: Read>(
        &self,
        shown: &str,
        rel: &Path,
        abs: &Path,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), ArchiveError> {
        let target = entry
            .link_name_bytes()
            .map(|t| t.into_owned())
            .ok_or_else(|| ArchiveError::Corrupt(format!("symlink {shown:?} has no target")))?;
        if symlink_escapes(rel, &target) {
            return Err(ArchiveError::SymlinkEscape {
                path: shown.to_string(),
                target: lossy(&target),
            });
        }
        self.replace(shown, abs, false)?;
        std::os::unix::fs::symlink(OsStr::from_bytes(&target), abs)
            .map_err(|e| self.write_err(shown, abs, e))
    }

    fn make_hardlink<R: Read>(
        &mut self,
        shown: &str,
        abs: &Path,
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), ArchiveError> {
        let raw = entry
            .link_name_bytes()
            .map(|t| t.into_owned())
            .ok_or_else(|| ArchiveError::Corrupt(format!("hard link {shown:?} has no target")))?;
        let bad = || ArchiveError::BadHardlink {
            path: shown.to_string(),
            target: lossy(&raw),
        };
        let target_rel = normalize_entry_path(&raw).map_err(|_| bad())?;
        if target_rel.as_os_str().is_empty() {
            return Err(bad());
        }
        // The target must be reachable without crossing a symlink, and be a non-directory.
        let mut cur = PathBuf::new();
        for comp in target_rel.parent().into_iter().flat_map(Path::components) {
            cur.push(comp);
            match meta::lstat_opt(&self.dest.join(&cur)) {
                Ok(Some(md)) if md.is_dir() => {}
                _ => return Err(bad()),
            }
        }
        let target_abs = self.dest.join(&target_rel);
        match meta::lstat_opt(&target_abs) {
            Ok(Some(md)) if !md.is_dir() => {}
            _ => return Err(bad()),
        }
        if target_abs == abs {
            return Ok(());
        }
        self.replace(shown, abs, false)?;
        fs::hard_link(&target_abs, abs).map_err(|e| self.write_err(shown, abs, e))
    }

    /// Owner, mode, xattrs, then times (directories: times deferred to the end).
    fn apply_meta(
        &mut self,
        shown: &str,
        abs: &Path,
        meta: &EntryMeta,
        kind: FileKind,
    ) -> Result<(), ArchiveError> {
        let err = |e| self.write_err(shown, abs, e);
        meta::lchown(abs, meta.uid, meta.gid).map_err(err)?;
        if kind != FileKind::Symlink {
            // After chown, which clears setuid/setgid.
            meta::chmod(abs, meta.mode).map_err(err)?;
        }
        for (name, value) in &meta.xattrs {
            if xattr::is_overlay_private(name) {
                warn!(entry = %shown, xattr = ?name, "overlayfs-private xattr in a layer tar ignored");
                continue;
            }
            if let Err(e) = xattr::set(abs, name, value) {
                if xattr::is_unsupported(&e) || e.raw_os_error() == Some(libc::EPERM) {
                    warn!(entry = %shown, xattr = ?name, error = %e, "xattr not applied");
                } else {
                    return Err(err(e));
                }
            }
        }
        if kind == FileKind::Dir {
            self.dir_times.insert(abs.to_path_buf(), meta.mtime);
        } else {
            meta::set_times(abs, meta.mtime, meta.mtime).map_err(err)?;
        }
        Ok(())
    }

    fn record_written(&mut self, rel: &Path) {
        let mut cur = Some(rel);
        while let Some(p) = cur {
            if p.as_os_str().is_empty() || !self.written.insert(p.to_path_buf()) {
                break;
            }
            cur = p.parent();
        }
    }

    /// `.wh.NAME`: delete NAME (Delete) or put a 0/0 character device there (Overlay).
    fn whiteout(
        &mut self,
        shown: &str,
        target_rel: &Path,
        meta: &EntryMeta,
    ) -> Result<(), DriverError> {
        let abs = self.dest.join(target_rel);
        match self.mode {
            WhiteoutMode::Delete => {
                if self.ensure_parents(shown, target_rel, false)? {
                    meta::remove_any(&abs).map_err(|e| self.write_err(shown, &abs, e))?;
                }
            }
            WhiteoutMode::Overlay => {
                self.ensure_parents(shown, target_rel, true)?;
                self.replace(shown, &abs, false)?;
                meta::mknod(&abs, NodeKind::Char, 0, 0, 0)
                    .map_err(|e| self.write_err(shown, &abs, e))?;
                meta::lchown(&abs, meta.uid, meta.gid)
                    .map_err(|e| self.write_err(shown, &abs, e))?;
                self.record_written(target_rel);
            }
        }
        Ok(())
    }

    /// `DIR/.wh..wh..opq`: DIR hides everything below it in lower layers.
    fn opaque(
        &mut self,
        shown: &str,
        dir_rel: &Path,
        _meta: &EntryMeta,
    ) -> Result<(), DriverError> {
        let abs = self.dest.join(dir_rel);
        if !dir_rel.as_os_str().is_empty() {
            // Check the directory's own path like a parent component of the marker.
            self.ensure_parents(shown, &dir_rel.join("x"), true)?;
        }
        self.record_written(dir_rel);
        match self.mode {
            WhiteoutMode::Delete => self
                .clear_unwritten(dir_rel)
                .map_err(|e| self.write_err(shown, &abs, e).into()),
            WhiteoutMode::Overlay => xattr::set(&abs, OsStr::new(OVERLAY_OPAQUE_XATTR), b"y")
                .map_err(|e| self.write_err(shown, &abs, e).into()),
        }
    }

    /// Remove everything under `dir_rel` that this tar has not written.
    fn clear_unwritten(&self, dir_rel: &Path) -> io::Result<()> {
        for entry in fs::read_dir(self.dest.join(dir_rel))? {
            let entry = entry?;
            let child_rel = dir_rel.join(entry.file_name());
            let child_abs = entry.path();
            if !self.written.contains(&child_rel) {
                meta::remove_any(&child_abs)?;
            } else if entry.file_type()?.is_dir() {
                self.clear_unwritten(&child_rel)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ArchiveError> {
        for (abs, mtime) in &self.dir_times {
            // Replaced by a non-directory later in the same tar: that entry set its own times.
            if !matches!(meta::lstat_opt(abs), Ok(Some(md)) if md.is_dir()) {
                continue;
            }
            match meta::set_times(abs, *mtime, *mtime) {
                Ok(()) => {}
                // Deleted later in the same tar (a whiteout or a replacing entry).
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ArchiveError::Write {
                        path: abs.to_string_lossy().into_owned(),
                        dest: abs.clone(),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }
}
