//! Writing layer diffs as PAX tar streams: owner, mode, nanosecond mtime, xattrs
//! (`SCHILY.xattr.*`, overlayfs's own skipped), hard links as Link entries (detected by device
//! and inode), symlinks, device nodes; entries sorted by path so a diff is deterministic.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::entry_meta::format_pax_time;
use super::whiteout::{whiteout_name, OPAQUE_MARKER};
use crate::error::DriverError;
use crate::fsutil::meta::{self, FileKind, FileTime};
use crate::fsutil::xattr;

/// Largest number an ustar octal numeric field of 8 bytes holds.
const USTAR_MAX_ID: u64 = 0o7_777_777;
/// Largest size the 12-byte ustar size field holds.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// One thing a diff tar holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffItem {
    /// A file of the layer: `rel` is its path in the tar, `source` where it is on disk.
    Entry { rel: PathBuf, source: PathBuf },
    /// `rel` was deleted: written as `PARENT/.wh.NAME`.
    Whiteout { rel: PathBuf },
    /// Directory `rel` hides everything below it: written as `rel/.wh..wh..opq`.
    Opaque { rel: PathBuf },
}

impl DiffItem {
    /// The entry name this item gets in the tar.
    pub fn tar_path(&self) -> PathBuf {
        match self {
            DiffItem::Entry { rel, .. } => rel.clone(),
            DiffItem::Whiteout { rel } => {
                let name = rel.file_name().map(whiteout_name).unwrap_or_default();
                rel.parent().unwrap_or(Path::new("")).join(name)
            }
            DiffItem::Opaque { rel } => rel.join(OPAQUE_MARKER),
        }
    }
}

/// Sort `items` by tar path and write them as one layer tar to `out`. Returns bytes written.
pub fn write_diff(mut items: Vec<DiffItem>, out: &mut dyn Write) -> Result<u64, DriverError> {
    let mut keyed: Vec<(PathBuf, DiffItem)> = items.drain(..).map(|i| (i.tar_path(), i)).collect();
    keyed.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let mut writer = LayerTarWriter::new(out);
    for (tar_path, item) in keyed {
        match item {
            DiffItem::Entry { rel, source } => writer.append_path(&rel, &source)?,
            DiffItem::Whiteout { .. } | DiffItem::Opaque { .. } => {
                writer.append_marker(&tar_path)?
            }
        }
    }
    writer.finish()
}

struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes layer tar entries from files on disk, in the order given.
pub struct LayerTarWriter<W: Write> {
    builder: tar::Builder<Counting<W>>,
    /// First tar path written for each (device, inode) with more than one link.
    links: HashMap<(u64, u64), PathBuf>,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> DriverError {
    move |e| DriverError::io(context, e)
}

impl<W: Write> LayerTarWriter<W> {
    /// Start a tar stream on `out`.
    pub fn new(out: W) -> Self {
        LayerTarWriter {
            builder: tar::Builder::new(Counting {
                inner: out,
                count: 0,
            }),
            links: HashMap::new(),
        }
    }

    /// Append the file at `source` under the name `rel`.
    pub fn append_path(&mut self, rel: &Path, source: &Path) -> Result<(), DriverError> {
        let md = fs::symlink_metadata(source)
            .map_err(io_err(format!("reading {} for the diff", source.display())))?;
        let kind = FileKind::of(&md);
        if kind == FileKind::Socket {
            // Sockets are not content; Docker leaves them out of layers too.
            return Ok(());
        }
        let mut header = tar::Header::new_ustar();
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        set_name(&mut header, rel, &mut pax);
        header.set_mode(md.mode() & 0o7777);
        set_ids(&mut header, md.uid() as u64, md.gid() as u64, &mut pax);
        let mtime = FileTime::mtime_of(&md);
        header.set_mtime(mtime.secs.max(0) as u64);
        pax.push((b"mtime".to_vec(), format_pax_time(mtime).into_bytes()));
        let xattrs = xattr::all(source).map_err(io_err(format!(
            "reading xattrs of {} for the diff",
            source.display()
        )))?;
        for (name, value) in xattrs {
            if xattr::is_overlay_private(&name) {
                continue;
            }
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name.as_bytes());
            pax.push((key, value));
        }

        let mut data: Option<File> = None;
        header.set_size(0);
        match kind {
            FileKind::Regular => {
                let key = (md.dev(), md.ino());
                if md.nlink() > 1 {
                    if let Some(first) = self.links.get(&key) {
                        header.set_entry_type(tar::EntryType::Link);
                        set_link(&mut header, first.as_os_str().as_bytes(), &mut pax);
                    } else {
                        self.links.insert(key, rel.to_path_buf());
                    }
                }
                if header.entry_type() != tar::EntryType::Link {
                    header.set_entry_type(tar::EntryType::Regular);
                    let size = md.len();
                    if size > USTAR_MAX_SIZE {
                        pax.push((b"size".to_vec(), size.to_string().into_bytes()));
                    } else {
                        header.set_size(size);
                    }
                    data =
                        Some(File::open(source).map_err(io_err(format!(
                            "opening {} for the diff",
                            source.display()
                        )))?);
                }
            }
            FileKind::Dir => header.set_entry_type(tar::EntryType::Directory),
            FileKind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                let target = fs::read_link(source)
                    .map_err(io_err(format!("reading symlink {}", source.display())))?;
                set_link(&mut header, target.as_os_str().as_bytes(), &mut pax);
            }
            FileKind::Char | FileKind::Block | FileKind::Fifo => {
                header.set_entry_type(match kind {
                    FileKind::Char => tar::EntryType::Char,
                    FileKind::Block => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let (major, minor) = meta::dev_major_minor(md.rdev());
                let ctx = format!("device numbers of {}", source.display());
                header
                    .set_device_major(major)
                    .map_err(io_err(ctx.clone()))?;
                header.set_device_minor(minor).map_err(io_err(ctx))?;
            }
            // Left out above already; nothing to write.
            FileKind::Socket => return Ok(()),
        }
        let context = format!("writing {} to the diff", rel.display());
        self.append_pax(rel, &pax)
            .map_err(io_err(context.clone()))?;
        header.set_cksum();
        match data {
            Some(file) => {
                // A file that changes size while we read it must not break the stream: send
                // exactly the size in the header, padding with zeros if it shrank.
                let size = md.len();
                let reader = file.take(size).chain(io::repeat(0)).take(size);
                self.builder
                    .append(&header, reader)
                    .map_err(io_err(context))
            }
            None => self
                .builder
                .append(&header, io::empty())
                .map_err(io_err(context)),
        }
    }

    /// Append an empty whiteout marker file (`.wh.NAME` or `.wh..wh..opq`) named `tar_path`.
    pub fn append_marker(&mut self, tar_path: &Path) -> Result<(), DriverError> {
        let mut header = tar::Header::new_ustar();
        let mut pax = Vec::new();
        set_name(&mut header, tar_path, &mut pax);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(0);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let context = format!("writing {} to the diff", tar_path.display());
        self.append_pax(tar_path, &pax)
            .map_err(io_err(context.clone()))?;
        header.set_cksum();
        self.builder
            .append(&header, io::empty())
            .map_err(io_err(context))
    }

    /// Write the end-of-archive marker and return the number of bytes of the whole stream.
    pub fn finish(self) -> Result<u64, DriverError> {
        let counting = self
            .builder
            .into_inner()
            .map_err(io_err("finishing the diff".into()))?;
        let mut counting = counting;
        counting
            .flush()
            .map_err(io_err("flushing the diff".into()))?;
        Ok(counting.count)
    }

    fn append_pax(&mut self, rel: &Path, records: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut data = Vec::new();
        for (key, value) in records {
            data.extend_from_slice(&pax_record(key, value));
        }
        let mut header = tar::Header::new_ustar();
        let mut name = b"PaxHeaders.0/".to_vec();
        name.extend_from_slice(rel.file_name().map(|n| n.as_bytes()).unwrap_or(b"root"));
        name.truncate(99);
        header.as_old_mut().name = [0; 100];
        header.as_old_mut().name[..name.len()].copy_from_slice(&name);
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        self.builder.append(&header, data.as_slice())
    }
}

/// One PAX record: `LEN KEY=VALUE\n`, where LEN counts the whole record including itself.
pub(crate) fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + base.to_string().len();
    if len.to_string().len() + base != len {
        len = base + len.to_string().len();
    }
    let mut rec = format!("{len} ").into_bytes();
    rec.extend_from_slice(key);
    rec.push(b'=');
    rec.extend_from_slice(value);
    rec.push(b'\n');
    rec
}

fn set_name(header: &mut tar::Header, rel: &Path, pax: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    if header.set_path(rel).is_err() {
        let bytes = rel.as_os_str().as_bytes();
        pax.push((b"path".to_vec(), bytes.to_vec()));
        let keep = &bytes[..bytes.len().min(99)];
        header.as_old_mut().name = [0; 100];
        header.as_old_mut().name[..keep.len()].copy_from_slice(keep);
    }
}

fn set_link(header: &mut tar::Header, target: &[u8], pax: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    if target.len() >= 100 || header.set_link_name_literal(target).is_err() {
        pax.push((b"linkpath".to_vec(), target.to_vec()));
        let keep = &target[..target.len().min(99)];
        header.as_old_mut().linkname = [0; 100];
        header.as_old_mut().linkname[..keep.len()].copy_from_slice(keep);
    }
}

fn set_ids(header: &mut tar::Header, uid: u64, gid: u64, pax: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    if uid > USTAR_MAX_ID {
        pax.push((b"uid".to_vec(), uid.to_string().into_bytes()));
        header.set_uid(0);
    } else {
        header.set_uid(uid);
    }
    if gid > USTAR_MAX_ID {
        pax.push((b"gid".to_vec(), gid.to_string().into_bytes()));
        header.set_gid(0);
    } else {
        header.set_gid(gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        assert_eq!(pax_record(b"mtime", b"1.5"), b"13 mtime=1.5\n".to_vec());
        let long = vec![b'x'; 95];
        let rec = pax_record(b"path", &long);
        let len: usize = std::str::from_utf8(&rec[..rec.iter().position(|b| *b == b' ').unwrap()])
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, rec.len());
    }

    #[test]
    fn markers_are_named_like_oci() {
        let w = DiffItem::Whiteout {
            rel: PathBuf::from("a/b"),
        };
        assert_eq!(w.tar_path(), PathBuf::from("a/.wh.b"));
        let top = DiffItem::Whiteout {
            rel: PathBuf::from("x"),
        };
        assert_eq!(top.tar_path(), PathBuf::from(".wh.x"));
        let o = DiffItem::Opaque {
            rel: PathBuf::from("d"),
        };
        assert_eq!(o.tar_path(), PathBuf::from("d/.wh..wh..opq"));
    }
}
