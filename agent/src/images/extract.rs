//! Unpacking the *outer* archive of `docker load` (the docker-archive or OCI-layout tar, not the
//! layers inside it) into a private temporary directory.
//!
//! Only regular files and directories are written. Names must stay inside the directory: absolute
//! names and `..` are refused. Links are never created on disk: a symlink or hard link whose
//! target stays inside the archive is remembered as an alias of that target (old `docker save`
//! writes `<id>/layer.tar` as a symlink to an identical layer); one that points outside is
//! refused. Everything refused is an `InvalidArchive` naming the entry.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{is_disk_full, EngineError, Result};

/// How many aliases may be followed in a row before the archive is called a loop.
const MAX_ALIAS_HOPS: usize = 16;

/// An outer archive unpacked under `root`.
#[derive(Debug)]
pub struct ExtractedArchive {
    root: PathBuf,
    /// Regular files written, by normalized archive name (`blobs/sha256/ab..`).
    files: HashSet<String>,
    /// Link name -> normalized target name.
    aliases: HashMap<String, String>,
}

impl ExtractedArchive {
    /// Unpack the tar stream `input` into the (existing, empty) directory `root`.
    pub fn extract(input: impl Read, root: &Path) -> Result<ExtractedArchive> {
        let mut archive = tar::Archive::new(CountingReader {
            inner: input,
            count: 0,
        });
        let mut out = ExtractedArchive {
            root: root.to_path_buf(),
            files: HashSet::new(),
            aliases: HashMap::new(),
        };
        let mut entries_seen = 0usize;
        // Where the header after the last entry starts: the end-of-archive marker must be there.
        let mut next_header = 0u64;
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            entries_seen += 1;
            next_header = entry.raw_file_position() + entry.size().div_ceil(BLOCK) * BLOCK;
            out.add_entry(&mut entry)?;
        }
        if entries_seen == 0 {
            return Err(EngineError::InvalidArchive(
                "the archive is empty (no tar entries)".into(),
            ));
        }
        // The tar reader stops quietly when the stream ends exactly between two entries; only
        // the end-of-archive marker (a zero block, which it has then read) tells a complete
        // archive from one cut there.
        if archive.into_inner().count < next_header + BLOCK {
            return Err(EngineError::InvalidArchive(
                "the archive is truncated: it ends without the tar end-of-archive marker".into(),
            ));
        }
        Ok(out)
    }

    fn add_entry(&mut self, entry: &mut tar::Entry<'_, impl Read>) -> Result<()> {
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        }
        let name = normalize_name(&raw_name)?;
        if kind.is_dir() {
            if !name.is_empty() {
                self.make_dir(&name)?;
            }
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            self.write_file(&name, entry)?;
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let resolved = if kind.is_symlink() {
                resolve_symlink_target(&name, &target)
            } else {
                normalize_name(&target).ok()
            };
            match resolved {
                Some(target_name) if !target_name.is_empty() => {
                    self.aliases.insert(name, target_name);
                }
                _ => {
                    return Err(EngineError::InvalidArchive(format!(
                        "entry {raw_name:?} links to {target:?}, outside the archive"
                    )))
                }
            }
        } else {
            return Err(EngineError::InvalidArchive(format!(
                "entry {raw_name:?} has unsupported type {kind:?} (only files and directories are allowed)"
            )));
        }
        Ok(())
    }

    /// The directory the archive was unpacked into.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the archive holds a regular file (or an alias of one) by this name.
    pub fn has_file(&self, name: &str) -> bool {
        self.resolve(name).is_ok()
    }

    /// The on-disk path of the regular file the archive names `name`, following aliases.
    pub fn resolve(&self, name: &str) -> Result<PathBuf> {
        let mut current = normalize_name(name)?;
        for _ in 0..MAX_ALIAS_HOPS {
            if self.files.contains(&current) {
                return Ok(self.root.join(&current));
            }
            match self.aliases.get(&current) {
                Some(target) => current = target.clone(),
                None => {
                    return Err(EngineError::InvalidArchive(format!(
                        "the archive has no file {name:?}"
                    )))
                }
            }
        }
        Err(EngineError::InvalidArchive(format!(
            "{name:?} is a link loop in the archive"
        )))
    }

    /// Read a small file (JSON) whole, refusing anything over `limit` bytes.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.resolve(name)?;
        let file = fs::File::open(&path)
            .map_err(|e| EngineError::io(format!("opening {name} from the archive"), e))?;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| EngineError::io(format!("reading {name} from the archive"), e))?;
        if bytes.len() as u64 > limit {
            return Err(EngineError::InvalidArchive(format!(
                "{name} is larger than {limit} bytes"
            )));
        }
        Ok(bytes)
    }

    fn make_dir(&mut self, name: &str) -> Result<()> {
        let path = self.root.join(name);
        fs::create_dir_all(&path).map_err(|e| {
            if is_disk_full(&e) {
                return EngineError::io(format!("creating {}", path.display()), e);
            }
            EngineError::InvalidArchive(format!("directory entry {name:?} cannot be created: {e}"))
        })
    }

    fn write_file(&mut self, name: &str, content: &mut impl Read) -> Result<()> {
        if name.is_empty() {
            return Err(EngineError::InvalidArchive(
                "a file entry has an empty name".into(),
            ));
        }
        let path = self.root.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                if is_disk_full(&e) {
                    return EngineError::io(format!("creating {}", parent.display()), e);
                }
                EngineError::InvalidArchive(format!(
                    "entry {name:?}: its directory cannot be created: {e}"
                ))
            })?;
        }
        // No symlinks are ever created under root, so opening cannot be redirected elsewhere.
        let mut file = strata_drivers::fsutil::private::private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| {
                if is_disk_full(&e) {
                    return EngineError::io(format!("creating {}", path.display()), e);
                }
                EngineError::InvalidArchive(format!("entry {name:?} cannot be written: {e}"))
            })?;
        io::copy(content, &mut file).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof
                || e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::Other
            {
                EngineError::InvalidArchive(format!(
                    "the archive is truncated or corrupt in entry {name:?}: {e}"
                ))
            } else {
                EngineError::io(
                    format!("writing {name:?} of the archive to {}", path.display()),
                    e,
                )
            }
        })?;
        self.aliases.remove(name);
        self.files.insert(name.to_string());
        Ok(())
    }
}

/// The tar block size.
const BLOCK: u64 = 512;

/// Counts the bytes the tar reader consumed.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn corrupt(e: io::Error) -> EngineError {
    EngineError::InvalidArchive(format!("the archive is truncated or not a tar stream: {e}"))
}

/// `./a//b/` -> `a/b`; refuse absolute names and `..`.
pub fn normalize_name(raw: &str) -> Result<String> {
    let path = Path::new(raw);
    let mut parts: Vec<&str> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => {
                    return Err(EngineError::InvalidArchive(format!(
                        "entry {raw:?} has a name that is not UTF-8"
                    )))
                }
            },
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(EngineError::InvalidArchive(format!(
                    "entry {raw:?} contains '..'"
                )))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(EngineError::InvalidArchive(format!(
                    "entry {raw:?} has an absolute name"
                )))
            }
        }
    }
    Ok(parts.join("/"))
}

/// Resolve a symlink's target lexically against the link's directory; `None` when it leaves
/// the archive (absolute, or `..` above the top).
fn resolve_symlink_target(link_name: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link_name.split('/').collect();
    parts.pop(); // the link itself
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            // Write the raw name so hostile names are not rejected by the tar crate's checks.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_entry_type(*kind);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            if let Some(link) = link {
                let lb = link.as_bytes();
                header.as_old_mut().linkname[..lb.len()].copy_from_slice(lb);
            }
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn extracts_files_dirs_and_follows_inner_aliases() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tar_of(&[
            ("./a/", tar::EntryType::Directory, b"", None),
            ("a/layer.tar", tar::EntryType::Regular, b"hello", None),
            (
                "b/layer.tar",
                tar::EntryType::Symlink,
                b"",
                Some("../a/layer.tar"),
            ),
            ("c.tar", tar::EntryType::Link, b"", Some("a/layer.tar")),
        ]);
        let x = ExtractedArchive::extract(&data[..], tmp.path()).unwrap();
        assert_eq!(
            fs::read(x.resolve("b/layer.tar").unwrap()).unwrap(),
            b"hello"
        );
        assert_eq!(fs::read(x.resolve("./c.tar").unwrap()).unwrap(), b"hello");
        assert!(
            !tmp.path().join("b/layer.tar").exists(),
            "links are never created on disk"
        );
        assert!(x.resolve("missing").is_err());
    }

    #[test]
    fn refuses_escapes_and_odd_entries() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tar_of(&[("../evil", tar::EntryType::Regular, b"x", None)]),
                "'..'",
            ),
            (
                tar_of(&[("/etc/evil", tar::EntryType::Regular, b"x", None)]),
                "absolute",
            ),
            (
                tar_of(&[("l", tar::EntryType::Symlink, b"", Some("/etc/passwd"))]),
                "outside",
            ),
            (
                tar_of(&[("d/l", tar::EntryType::Symlink, b"", Some("../../x"))]),
                "outside",
            ),
            (
                tar_of(&[("h", tar::EntryType::Link, b"", Some("../x"))]),
                "outside",
            ),
            (
                tar_of(&[("fifo", tar::EntryType::Fifo, b"", None)]),
                "unsupported type",
            ),
        ];
        for (data, expected) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let err = ExtractedArchive::extract(&data[..], tmp.path()).unwrap_err();
            assert!(matches!(err, EngineError::InvalidArchive(_)), "{err}");
            assert!(
                err.to_string().contains(expected),
                "{err} should mention {expected}"
            );
        }
    }

    #[test]
    fn truncated_and_empty_streams_are_invalid_archives() {
        let data = tar_of(&[("big", tar::EntryType::Regular, &[7u8; 5000], None)]);
        // 512 + 5120: exactly after the entry's data, before the end-of-archive marker.
        for cut in [
            &data[..700],
            &data[..512 + 5120],
            &data[..0],
            &b"not a tar at all"[..],
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let err = ExtractedArchive::extract(cut, tmp.path()).unwrap_err();
            assert!(matches!(err, EngineError::InvalidArchive(_)), "{err}");
        }
    }
}
