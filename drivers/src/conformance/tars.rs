//! Building layer tars for tests, including hostile ones: names go into headers byte for byte
//! (no normalization), metadata and xattrs through PAX records.

use crate::archive::{format_pax_time, pax_record};
use crate::fsutil::meta::FileTime;

/// Metadata of one test entry.
#[derive(Clone, Debug)]
pub struct EntryOpts {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: FileTime,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Default for EntryOpts {
    fn default() -> Self {
        EntryOpts {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: FileTime {
                secs: 1_600_000_000,
                nanos: 0,
            },
            xattrs: Vec::new(),
        }
    }
}

impl EntryOpts {
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, secs: i64, nanos: u32) -> Self {
        self.mtime = FileTime { secs, nanos };
        self
    }
    pub fn xattr(mut self, name: &str, value: &[u8]) -> Self {
        self.xattrs.push((name.to_string(), value.to_vec()));
        self
    }
}

/// A layer tar under construction.
pub struct TestTar {
    out: Vec<u8>,
}

impl Default for TestTar {
    fn default() -> Self {
        Self::new()
    }
}

/// The kind of a test entry.
#[derive(Clone, Copy, Debug)]
pub enum Kind<'a> {
    File(&'a [u8]),
    Dir,
    Symlink(&'a str),
    Hardlink(&'a str),
    Char(u32, u32),
    Fifo,
}

impl TestTar {
    pub fn new() -> Self {
        TestTar { out: Vec::new() }
    }

    /// Append an entry named exactly `name`.
    pub fn entry(&mut self, name: &str, kind: Kind<'_>, opts: &EntryOpts) -> &mut Self {
        let mut pax = Vec::new();
        pax.extend_from_slice(&pax_record(
            b"mtime",
            format_pax_time(opts.mtime).as_bytes(),
        ));
        for (k, v) in &opts.xattrs {
            pax.extend_from_slice(&pax_record(format!("SCHILY.xattr.{k}").as_bytes(), v));
        }
        let mut ph = tar::Header::new_ustar();
        raw_name(&mut ph, b"PaxHeaders/x");
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_size(pax.len() as u64);
        ph.set_mode(0o644);
        ph.set_mtime(0);
        ph.set_cksum();
        self.block(&ph, &pax);

        let mut h = tar::Header::new_ustar();
        raw_name(&mut h, name.as_bytes());
        h.set_mode(opts.mode);
        h.set_uid(opts.uid);
        h.set_gid(opts.gid);
        h.set_mtime(opts.mtime.secs.max(0) as u64);
        h.set_size(0);
        let mut data: &[u8] = &[];
        match kind {
            Kind::File(content) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(content.len() as u64);
                data = content;
            }
            Kind::Dir => h.set_entry_type(tar::EntryType::Directory),
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                raw_link(&mut h, target.as_bytes());
            }
            Kind::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                raw_link(&mut h, target.as_bytes());
            }
            Kind::Char(major, minor) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(major).expect("device major");
                h.set_device_minor(minor).expect("device minor");
            }
            Kind::Fifo => h.set_entry_type(tar::EntryType::Fifo),
        }
        h.set_cksum();
        self.block(&h, data);
        self
    }

    /// A regular file with default metadata.
    pub fn file(&mut self, name: &str, content: &[u8]) -> &mut Self {
        self.entry(name, Kind::File(content), &EntryOpts::default())
    }

    /// A directory (0755).
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, Kind::Dir, &EntryOpts::default().mode(0o755))
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(
            name,
            Kind::Symlink(target),
            &EntryOpts::default().mode(0o777),
        )
    }

    /// A hard link to `target` (a name earlier in the tar).
    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, Kind::Hardlink(target), &EntryOpts::default())
    }

    /// The whiteout of `path` (`DIR/.wh.NAME`).
    pub fn whiteout(&mut self, path: &str) -> &mut Self {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), b"")
    }

    /// The opaque marker of `dir` (`DIR/.wh..wh..opq`).
    pub fn opaque(&mut self, dir: &str) -> &mut Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    /// The finished tar (with its end-of-archive marker).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.out.clone();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn block(&mut self, h: &tar::Header, data: &[u8]) {
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }
}

fn raw_name(h: &mut tar::Header, name: &[u8]) {
    assert!(name.len() < 100, "test entry names must be short");
    let field = &mut h.as_old_mut().name;
    *field = [0; 100];
    field[..name.len()].copy_from_slice(name);
}

fn raw_link(h: &mut tar::Header, target: &[u8]) {
    assert!(target.len() < 100, "test link targets must be short");
    let field = &mut h.as_old_mut().linkname;
    *field = [0; 100];
    field[..target.len()].copy_from_slice(target);
}

/// The entry names of a tar stream, in order (PAX headers folded into their entries).
pub fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("reading tar")
        .map(|e| {
            let e = e.expect("reading tar entry");
            String::from_utf8_lossy(&e.path_bytes()).into_owned()
        })
        .collect()
}
