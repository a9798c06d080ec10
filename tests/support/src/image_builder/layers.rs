//! The layers of test images: entries (files, dirs, symlinks, whiteouts) serialized as tar
//! streams with fixed metadata, and the busybox-static base layer.

use anyhow::{bail, Context, Result};

/// Where the static busybox comes from (Debian's busybox-static).
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked to busybox in the base layer.
pub const APPLETS: &[&str] = &[
    "sh",
    "echo",
    "ls",
    "cat",
    "sleep",
    "true",
    "false",
    "env",
    "id",
    "mkdir",
    "rm",
    "rmdir",
    "touch",
    "ps",
    "hostname",
    "wc",
    "head",
    "tail",
    "grep",
    "sed",
    "printf",
    "test",
    "pwd",
    "uname",
    "date",
    "dd",
    "stat",
    "kill",
    "seq",
    "sort",
    "du",
    "df",
    "cp",
    "mv",
    "ln",
    "chmod",
    "chown",
    "whoami",
    "mount",
    "umount",
    "readlink",
    "find",
    "xargs",
    "tr",
    "cut",
    "sha256sum",
    "md5sum",
    "mktemp",
    "nproc",
    "free",
    "top",
    "yes",
    "wget",
    "nc",
    "ip",
    "ifconfig",
    "ping",
    "awk",
    "tee",
    "basename",
    "dirname",
    "which",
    "sync",
    "vi",
    "hexdump",
    "od",
    "cmp",
    "diff",
    "tar",
    "gzip",
    "gunzip",
];

/// The mtime of every entry, so identical content gives identical layers (and diffIDs).
pub(super) const FIXED_MTIME: u64 = 1_700_000_000;

/// One entry of a hand-made layer.
#[derive(Clone, Debug)]
pub enum LayerEntry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    /// A hard link to an earlier entry of the same layer.
    Hardlink {
        path: String,
        target: String,
    },
    /// A character device node (images may carry them; unpacking as root makes them).
    CharDevice {
        path: String,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// A GNU sparse file (type `S`) of apparent size `size` that is a hole except for `tail`,
    /// its last bytes: the tar carries only `tail`.
    Sparse {
        path: String,
        size: u64,
        tail: Vec<u8>,
    },
}

impl LayerEntry {
    pub fn dir(path: &str) -> Self {
        LayerEntry::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Self {
        LayerEntry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o644,
        }
    }
    pub fn symlink(path: &str, target: &str) -> Self {
        LayerEntry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    /// A GNU sparse file claiming `size` bytes whose only data is `tail`, at its end.
    pub fn sparse(path: &str, size: u64, tail: impl Into<Vec<u8>>) -> Self {
        LayerEntry::Sparse {
            path: path.into(),
            size,
            tail: tail.into(),
        }
    }
    /// A whiteout: deletes `dir/name` of the layers below.
    pub fn whiteout(path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        LayerEntry::file(&wh, Vec::new())
    }
    /// Marks `dir` opaque: what the layers below had in it is hidden.
    pub fn opaque(dir: &str) -> Self {
        LayerEntry::file(&format!("{dir}/.wh..wh..opq"), Vec::new())
    }
}

/// A layer and how it was described.
#[derive(Clone, Debug)]
pub(super) struct LayerPlan {
    pub(super) entries: Vec<LayerEntry>,
    pub(super) created_by: String,
}

/// The busybox-static base layer.
pub(super) fn busybox_layer() -> Result<LayerPlan> {
    let busybox = std::fs::read(BUSYBOX).with_context(|| {
        format!("reading {BUSYBOX}: the test images need Debian's busybox-static (apt-get install busybox-static)")
    })?;
    let mut entries = vec![LayerEntry::dir("bin")];
    entries.push(LayerEntry::File {
        path: "bin/busybox".into(),
        data: busybox,
        mode: 0o755,
    });
    for applet in APPLETS {
        entries.push(LayerEntry::symlink(&format!("bin/{applet}"), "busybox"));
    }
    for dir in ["dev", "etc", "proc", "sys", "usr", "usr/bin", "var"] {
        entries.push(LayerEntry::dir(dir));
    }
    entries.push(LayerEntry::Dir {
        path: "root".into(),
        mode: 0o700,
    });
    entries.push(LayerEntry::Dir {
        path: "tmp".into(),
        mode: 0o1777,
    });
    entries.push(LayerEntry::file(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ));
    entries.push(LayerEntry::file(
        "etc/group",
        "root:x:0:\nnobody:x:65534:\n",
    ));
    Ok(LayerPlan {
        entries,
        created_by: "/bin/sh -c #(nop) ADD file:busybox-static in /".into(),
    })
}

/// Serialize layer entries as a tar stream with fixed metadata. Names and link targets are
/// written as given (even `..` or absolute ones), so hostile layers can be made too.
pub fn layer_tar(entries: &[LayerEntry]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        if let LayerEntry::Sparse { path, size, tail } = entry {
            let header = sparse_header(path, *size, tail.len() as u64)?;
            builder.append(&header, tail.as_slice())?;
            continue;
        }
        let mut header = tar::Header::new_ustar();
        header.set_mtime(FIXED_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        // As Go's archive/tar (Docker) writes them: zeros, not blanks.
        header.set_device_major(0)?;
        header.set_device_minor(0)?;
        let (path, data): (&str, &[u8]) = match entry {
            LayerEntry::Dir { path, mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                (path, &[])
            }
            LayerEntry::File { path, data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                (path, data)
            }
            LayerEntry::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                set_raw(&mut header.as_old_mut().linkname, target)?;
                (path, &[])
            }
            LayerEntry::Hardlink { path, target } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                set_raw(&mut header.as_old_mut().linkname, target)?;
                (path, &[])
            }
            LayerEntry::CharDevice {
                path,
                major,
                minor,
                mode,
            } => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(*mode);
                header.set_device_major(*major)?;
                header.set_device_minor(*minor)?;
                (path, &[])
            }
            LayerEntry::Sparse { .. } => unreachable!("sparse entries are written above"),
        };
        let name = if matches!(entry, LayerEntry::Dir { .. }) && !path.ends_with('/') {
            format!("{path}/")
        } else {
            path.to_string()
        };
        set_raw(&mut header.as_old_mut().name, &name)?;
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data)?;
    }
    Ok(builder.into_inner()?)
}

/// A GNU sparse header (as GNU tar writes one): a hole of `size - data_len` bytes, then
/// `data_len` bytes of data; the header's size field counts only the data.
fn sparse_header(path: &str, size: u64, data_len: u64) -> Result<tar::Header> {
    if data_len > size {
        bail!("sparse entry {path:?}: {data_len} bytes of data in a {size}-byte file");
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::GNUSparse);
    header.set_mode(0o644);
    header.set_mtime(FIXED_MTIME);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(data_len);
    set_raw(&mut header.as_old_mut().name, path)?;
    let gnu = header.as_gnu_mut().context("a GNU header has a GNU view")?;
    gnu.set_real_size(size);
    gnu.sparse[0].set_offset(size - data_len);
    gnu.sparse[0].set_length(data_len);
    header.set_cksum();
    Ok(header)
}

fn set_raw(slot: &mut [u8], text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    if bytes.len() > slot.len() {
        bail!("tar name {text:?} is longer than {} bytes", slot.len());
    }
    slot.fill(0);
    slot[..bytes.len()].copy_from_slice(bytes);
    Ok(())
}
