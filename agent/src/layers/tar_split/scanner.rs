//! A push parser that follows a tar stream as it goes by and describes it as segments: every
//! byte is written raw except the content of regular files, which is written as a reference
//! (`File { path, size }`) to the file the unpacker creates.
//!
//! It reads the stream the way the `tar` crate (and so `strata_drivers::archive::apply_tar`)
//! does: PAX `x` records and GNU `L` names apply to the next member, PAX `size` overrides the
//! header's size, the path is the GNU long name, else the PAX `path`, else ustar prefix + name,
//! normalized as the unpacker normalizes it, and the archive ends at the first zero block.
//! A GNU sparse member is kept raw (header, extension headers, its data blocks): its data is
//! small and exact where the unpacked file, holes and all, is neither. Whatever it cannot
//! classify with certainty (unknown entry types, malformed numbers or PAX records, huge
//! extension headers) switches it to raw for the rest of the stream.
//!
//! A file's content can be taken from the tree only if nothing later in the same tar replaces
//! or deletes it; when something does, the scan records a conflict and its split is not kept.
//! Giving up after referring to some file's content is a conflict too: the entries it no longer
//! follows might replace that file.

use std::collections::HashSet;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use strata_drivers::archive::normalize_entry_path;
use strata_drivers::archive::whiteout::{classify, WhiteoutName};

use super::format::SplitWriter;

const BLOCK: usize = 512;
/// Extension headers (long names, PAX records) larger than this are kept raw, not parsed.
const EXTENSION_MAX: u64 = 1024 * 1024;
/// Offset of the "more sparse extension headers follow" byte in a GNU header...
const GNU_IS_EXTENDED: usize = 482;
/// ...and in a GNU sparse extension header (the tar crate reads exactly 1 as "yes").
const GNU_EXT_IS_EXTENDED: usize = 504;

/// What an extension header's data says about the next member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extension {
    GnuLongName,
    GnuLongLink,
    PaxLocal,
}

enum State {
    /// Gathering a 512-byte header.
    Header {
        block: Box<[u8; BLOCK]>,
        filled: usize,
    },
    /// A regular file's content: passed over, not recorded; then `pad` raw bytes.
    Content { remaining: u64, pad: u64 },
    /// Entry data kept raw (collected too when it is an extension header); then `pad`.
    Data {
        remaining: u64,
        pad: u64,
        extension: Option<(Extension, Vec<u8>)>,
    },
    /// GNU sparse extension headers (kept raw) before a sparse member's `size` data bytes.
    SparseExtension {
        block: Box<[u8; BLOCK]>,
        filled: usize,
        size: u64,
    },
    /// Padding after entry data, kept raw.
    Pad { remaining: u64 },
    /// Everything from here on is kept raw (after the end of the archive, or given up).
    Raw,
}

/// Extension data waiting for the member it describes.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

/// Follows one tar stream; see the module docs.
pub struct TarScanner {
    state: State,
    pending: Pending,
    /// Normalized paths whose content is referenced.
    files: HashSet<PathBuf>,
    /// Every ancestor directory of a referenced file.
    file_dirs: HashSet<PathBuf>,
    conflict: Option<String>,
    gave_up: Option<String>,
}

impl Default for TarScanner {
    fn default() -> Self {
        TarScanner::new()
    }
}

impl TarScanner {
    /// A scanner at the start of a tar stream.
    pub fn new() -> Self {
        TarScanner {
            state: header_state(),
            pending: Pending::default(),
            files: HashSet::new(),
            file_dirs: HashSet::new(),
            conflict: None,
            gave_up: None,
        }
    }

    /// Why a referenced file's content would not survive in the tree (a later entry of the
    /// same tar replaces or deletes it); such a split must not be kept.
    pub fn conflict(&self) -> Option<&str> {
        self.conflict.as_deref()
    }

    /// Why the scan switched to raw bytes before the end of the archive, if it did.
    pub fn gave_up(&self) -> Option<&str> {
        self.gave_up.as_deref()
    }

    /// Follow the next bytes of the stream, writing their segments to `out`.
    pub fn feed<W: Write>(&mut self, mut bytes: &[u8], out: &mut SplitWriter<W>) -> io::Result<()> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Raw => {
                    out.raw(bytes)?;
                    return Ok(());
                }
                State::Header { block, filled } => {
                    let take = (BLOCK - *filled).min(bytes.len());
                    block[*filled..*filled + take].copy_from_slice(&bytes[..take]);
                    *filled += take;
                    bytes = &bytes[take..];
                    if *filled == BLOCK {
                        let block = std::mem::replace(block, Box::new([0u8; BLOCK]));
                        self.state = self.on_header(&block, out)?;
                    }
                }
                State::Content { remaining, pad } => {
                    let take = take_len(*remaining, bytes.len());
                    *remaining -= take as u64;
                    bytes = &bytes[take..];
                    if *remaining == 0 {
                        self.state = pad_state(*pad);
                    }
                }
                State::Data {
                    remaining,
                    pad,
                    extension,
                } => {
                    let take = take_len(*remaining, bytes.len());
                    out.raw(&bytes[..take])?;
                    if let Some((_, data)) = extension {
                        data.extend_from_slice(&bytes[..take]);
                    }
                    *remaining -= take as u64;
                    bytes = &bytes[take..];
                    if *remaining == 0 {
                        let pad = *pad;
                        if let Some((kind, data)) = extension.take() {
                            self.on_extension(kind, data);
                        }
                        self.state = pad_state(pad);
                    }
                }
                State::SparseExtension {
                    block,
                    filled,
                    size,
                } => {
                    let take = (BLOCK - *filled).min(bytes.len());
                    block[*filled..*filled + take].copy_from_slice(&bytes[..take]);
                    *filled += take;
                    bytes = &bytes[take..];
                    if *filled == BLOCK {
                        out.raw(&block[..])?;
                        let size = *size;
                        self.state = if block[GNU_EXT_IS_EXTENDED] == 1 {
                            sparse_extension_state(size)
                        } else {
                            data_state(size, None)
                        };
                    }
                }
                State::Pad { remaining } => {
                    let take = take_len(*remaining, bytes.len());
                    out.raw(&bytes[..take])?;
                    *remaining -= take as u64;
                    bytes = &bytes[take..];
                    if *remaining == 0 {
                        self.state = header_state();
                    }
                }
            }
        }
        Ok(())
    }

    fn give_up<W: Write>(
        &mut self,
        block: &[u8; BLOCK],
        out: &mut SplitWriter<W>,
        why: String,
    ) -> io::Result<State> {
        out.raw(block)?;
        tracing::debug!(reason = %why, "tar-split: keeping the rest of the layer tar raw");
        if !self.files.is_empty() && self.conflict.is_none() {
            self.conflict = Some(format!(
                "the scan stopped following the tar ({why}) after referring to file contents"
            ));
        }
        self.gave_up = Some(why);
        Ok(State::Raw)
    }

    fn on_header<W: Write>(
        &mut self,
        block: &[u8; BLOCK],
        out: &mut SplitWriter<W>,
    ) -> io::Result<State> {
        if block.iter().all(|b| *b == 0) {
            // The tar crate stops at the first zero block: all that follows is trailing bytes.
            out.raw(block)?;
            return Ok(State::Raw);
        }
        let kind = block[156];
        let ustar = &block[257..263] == b"ustar\0" && &block[263..265] == b"00";
        let gnu = &block[257..263] == b"ustar " && &block[263..265] == b" \0";
        let Some(header_size) = numeric_field(&block[124..136]) else {
            return self.give_up(block, out, "unreadable size field".into());
        };
        let extension = match kind {
            b'L' if ustar || gnu => Some(Extension::GnuLongName),
            b'K' if ustar || gnu => Some(Extension::GnuLongLink),
            b'x' if ustar || gnu => Some(Extension::PaxLocal),
            _ => None,
        };
        if let Some(extension) = extension {
            if header_size > EXTENSION_MAX {
                return self.give_up(block, out, format!("{header_size}-byte extension header"));
            }
            out.raw(block)?;
            return Ok(data_state(header_size, Some((extension, Vec::new()))));
        }
        let known = matches!(
            kind,
            b'0' | b'\0'
                | b'1'
                | b'2'
                | b'3'
                | b'4'
                | b'5'
                | b'6'
                | b'7'
                | b'g'
                | b'L'
                | b'K'
                | b'x'
        ) || (kind == b'S' && gnu);
        if !known {
            return self.give_up(block, out, format!("entry type {:?}", kind as char));
        }

        // A member: it consumes whatever extension data came before it.
        let pending = std::mem::take(&mut self.pending);
        let pax = match pending.pax.as_deref().map(pax_records).transpose() {
            Ok(pax) => pax.unwrap_or_default(),
            Err(why) => return self.give_up(block, out, why),
        };
        let is_extension_kind = matches!(kind, b'g' | b'L' | b'K' | b'x');
        let size = match (is_extension_kind, pax.size) {
            (false, Some(size)) => size,
            _ => header_size,
        };
        let raw_path: Vec<u8> = match (pending.long_name, pax.path) {
            (Some(mut name), _) => {
                if name.last() == Some(&0) {
                    name.pop();
                }
                name
            }
            (None, Some(path)) => path,
            (None, None) => header_path(block, ustar),
        };

        let regular = matches!(kind, b'0' | b'\0' | b'7');
        let is_dir = kind == b'5' || (regular && raw_path.ends_with(b"/"));
        match content_path(&raw_path, regular && !is_dir && size > 0) {
            Target::Content(path) => {
                self.note_replaced(&path, false);
                self.note_file(path.clone());
                out.raw(block)?;
                out.file(path.as_os_str().as_bytes(), size)?;
                Ok(State::Content {
                    remaining: size,
                    pad: padding(size),
                })
            }
            Target::Entry(path) => {
                if kind != b'g' {
                    self.note_replaced(&path, is_dir);
                }
                out.raw(block)?;
                Ok(member_data_state(kind, block, size))
            }
            Target::Deletes(path) => {
                self.note_replaced(&path, false);
                out.raw(block)?;
                Ok(member_data_state(kind, block, size))
            }
            Target::Unknown => {
                out.raw(block)?;
                Ok(member_data_state(kind, block, size))
            }
        }
    }

    fn on_extension(&mut self, kind: Extension, data: Vec<u8>) {
        match kind {
            Extension::GnuLongName => self.pending.long_name = Some(data),
            Extension::PaxLocal => self.pending.pax = Some(data),
            Extension::GnuLongLink => {}
        }
    }

    fn note_file(&mut self, path: PathBuf) {
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if !self.file_dirs.insert(d.to_path_buf()) {
                break;
            }
            dir = d.parent();
        }
        self.files.insert(path);
    }

    /// An entry at `path` (or a whiteout deleting it) arrives: if it replaces a referenced file
    /// or a directory holding one, the tree no longer has that content.
    fn note_replaced(&mut self, path: &Path, is_dir: bool) {
        if self.conflict.is_some() {
            return;
        }
        if self.files.contains(path) || (!is_dir && self.file_dirs.contains(path)) {
            self.conflict = Some(format!(
                "{} is written more than once in the tar",
                path.display()
            ));
        }
    }
}

/// What a member's path means for the split.
enum Target {
    /// A regular file whose content can be read back from the tree at this path.
    Content(PathBuf),
    /// Another entry at this path.
    Entry(PathBuf),
    /// A whiteout deleting this path.
    Deletes(PathBuf),
    /// A path the unpacker refuses or treats specially (the layer root, `..`).
    Unknown,
}

fn content_path(raw: &[u8], content: bool) -> Target {
    let Ok(rel) = normalize_entry_path(raw) else {
        return Target::Unknown;
    };
    let Some(name) = rel.file_name() else {
        return Target::Unknown;
    };
    match classify(name) {
        WhiteoutName::Plain if content => Target::Content(rel),
        WhiteoutName::Plain => Target::Entry(rel),
        WhiteoutName::Delete(target) => {
            let parent = rel.parent().unwrap_or(Path::new(""));
            Target::Deletes(parent.join(target))
        }
        WhiteoutName::Opaque | WhiteoutName::Meta => Target::Unknown,
    }
}

fn header_state() -> State {
    State::Header {
        block: Box::new([0u8; BLOCK]),
        filled: 0,
    }
}

fn data_state(size: u64, extension: Option<(Extension, Vec<u8>)>) -> State {
    if size == 0 {
        if extension.is_some() {
            // An empty extension header still describes the next member (as nothing).
            return State::Data {
                remaining: 0,
                pad: 0,
                extension,
            };
        }
        return header_state();
    }
    State::Data {
        remaining: size,
        pad: padding(size),
        extension,
    }
}

/// What follows a (non-content) member's header: its data, kept raw, after the extension
/// headers of a GNU sparse member that has them.
fn member_data_state(kind: u8, block: &[u8; BLOCK], size: u64) -> State {
    if kind == b'S' && block[GNU_IS_EXTENDED] == 1 {
        sparse_extension_state(size)
    } else {
        data_state(size, None)
    }
}

fn sparse_extension_state(size: u64) -> State {
    State::SparseExtension {
        block: Box::new([0u8; BLOCK]),
        filled: 0,
        size,
    }
}

fn pad_state(pad: u64) -> State {
    if pad == 0 {
        header_state()
    } else {
        State::Pad { remaining: pad }
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// A numeric header field: octal text, or base-256 when the high bit of its first byte is set
/// (only the last 8 bytes count), as the tar crate reads it.
fn numeric_field(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut value: u64 = 0;
        for byte in &field[field.len() - 8..] {
            value = (value << 8) | u64::from(*byte);
        }
        return Some(value);
    }
    let text = std::str::from_utf8(until_nul(field)).ok()?;
    u64::from_str_radix(text.trim(), 8).ok()
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|b| *b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// The member name from the header itself: ustar prefix + `/` + name, or the name alone.
fn header_path(block: &[u8; BLOCK], ustar: bool) -> Vec<u8> {
    let name = until_nul(&block[0..100]);
    let prefix = if ustar {
        until_nul(&block[345..500])
    } else {
        &[][..]
    };
    let mut path = Vec::with_capacity(prefix.len() + 1 + name.len());
    if !prefix.is_empty() {
        path.extend_from_slice(prefix);
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// The PAX records the split needs.
#[derive(Default)]
struct PaxRecords {
    path: Option<Vec<u8>>,
    size: Option<u64>,
}

/// Parse PAX records as the tar crate does (one `LEN key=value` per `\n`-separated line, up to
/// the first empty line); a record the crate would read differently makes the scan give up.
fn pax_records(data: &[u8]) -> Result<PaxRecords, String> {
    let mut out = PaxRecords::default();
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            break;
        }
        let space = line
            .iter()
            .position(|b| *b == b' ')
            .ok_or("PAX record without a length")?;
        let reported: usize = std::str::from_utf8(&line[..space])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or("PAX record with a bad length")?;
        if line.len() + 1 != reported {
            return Err("PAX record whose length does not match".into());
        }
        let record = &line[space + 1..];
        let equals = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or("PAX record without '='")?;
        let (key, value) = (&record[..equals], &record[equals + 1..]);
        match key {
            b"path" if out.path.is_none() => out.path = Some(value.to_vec()),
            b"size" if out.size.is_none() => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or("PAX size that is not a number")?;
                out.size = Some(size);
            }
            _ => {}
        }
    }
    Ok(out)
}
