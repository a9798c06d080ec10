//! The tar-split file: a gzip'd sequence of length-prefixed records describing one layer tar.
//!
//! ```text
//! magic  "STRATA-TAR-SPLIT\x01"
//! 0x01 Raw   u32-le length, bytes            (headers, padding, end blocks, trailing bytes)
//! 0x02 File  u64-le size, u32-le length, path (a regular file's content, read from the tree)
//! 0xff End   u64-le total length of the tar stream
//! ```
//!
//! The `End` record makes a truncated file detectable: a reader that meets end of input before
//! it refuses the file instead of producing a short tar.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::error::TarSplitError;

const MAGIC: &[u8] = b"STRATA-TAR-SPLIT\x01";
const TAG_RAW: u8 = 0x01;
const TAG_FILE: u8 = 0x02;
const TAG_END: u8 = 0xff;
/// Raw bytes are gathered up to this much before a record is written.
const RAW_RECORD_MAX: usize = 64 * 1024;
/// A path longer than this in a split file is corruption, not a name.
const PATH_MAX: u32 = 64 * 1024;

/// One piece of a layer tar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Bytes kept as they were.
    Raw(Vec<u8>),
    /// `size` bytes of content of the regular file at `path` (relative to the layer root).
    File { path: PathBuf, size: u64 },
}

/// Writes segments to a split file, gathering consecutive raw bytes into one record.
pub struct SplitWriter<W: Write> {
    out: GzEncoder<W>,
    raw: Vec<u8>,
    total: u64,
}

impl<W: Write> SplitWriter<W> {
    /// Start a split file on `out`.
    pub fn new(out: W) -> io::Result<Self> {
        let mut out = GzEncoder::new(out, flate2::Compression::fast());
        out.write_all(MAGIC)?;
        Ok(SplitWriter {
            out,
            raw: Vec::with_capacity(RAW_RECORD_MAX),
            total: 0,
        })
    }

    /// Append bytes kept verbatim.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.total += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = RAW_RECORD_MAX - self.raw.len();
            let take = room.min(rest.len());
            self.raw.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.raw.len() == RAW_RECORD_MAX {
                self.flush_raw()?;
            }
        }
        Ok(())
    }

    /// Append a regular file's content by reference.
    pub fn file(&mut self, path: &[u8], size: u64) -> io::Result<()> {
        self.flush_raw()?;
        let len = u32::try_from(path.len())
            .ok()
            .filter(|l| *l <= PATH_MAX)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path too long"))?;
        self.out.write_all(&[TAG_FILE])?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(path)?;
        self.total += size;
        Ok(())
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        // RAW_RECORD_MAX fits in u32.
        let len = self.raw.len() as u32;
        self.out.write_all(&[TAG_RAW])?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.raw)?;
        self.raw.clear();
        Ok(())
    }

    /// Write the end record and return the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_raw()?;
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.total.to_le_bytes())?;
        self.out.finish()
    }
}

/// Reads the segments of a split file back, in order.
pub struct SplitReader<R: Read> {
    input: GzDecoder<R>,
    /// Bytes of tar described so far.
    described: u64,
    done: bool,
}

impl<R: Read> SplitReader<R> {
    /// Open a split file; its magic is checked here.
    pub fn new(input: R) -> Result<Self, TarSplitError> {
        let mut input = GzDecoder::new(input);
        let mut magic = [0u8; MAGIC.len()];
        input
            .read_exact(&mut magic)
            .map_err(|e| TarSplitError::corrupt(format!("reading the header: {e}")))?;
        if magic != MAGIC {
            return Err(TarSplitError::corrupt("not a Strata tar-split file"));
        }
        Ok(SplitReader {
            input,
            described: 0,
            done: false,
        })
    }

    /// The next segment, `None` after the end record (whose total is checked).
    pub fn next_segment(&mut self) -> Result<Option<Segment>, TarSplitError> {
        if self.done {
            return Ok(None);
        }
        let mut tag = [0u8; 1];
        self.read("a record tag", &mut tag)?;
        match tag[0] {
            TAG_RAW => {
                let len = u32::from_le_bytes(self.array("a raw length")?) as usize;
                if len > RAW_RECORD_MAX {
                    return Err(TarSplitError::corrupt(format!("raw record of {len} bytes")));
                }
                let mut bytes = vec![0u8; len];
                self.read("raw bytes", &mut bytes)?;
                self.described += len as u64;
                Ok(Some(Segment::Raw(bytes)))
            }
            TAG_FILE => {
                let size = u64::from_le_bytes(self.array("a file size")?);
                let len = u32::from_le_bytes(self.array("a path length")?);
                if len > PATH_MAX {
                    return Err(TarSplitError::corrupt(format!("path of {len} bytes")));
                }
                let mut path = vec![0u8; len as usize];
                self.read("a path", &mut path)?;
                self.described += size;
                Ok(Some(Segment::File {
                    path: PathBuf::from(std::ffi::OsString::from_vec(path)),
                    size,
                }))
            }
            TAG_END => {
                let total = u64::from_le_bytes(self.array("the total length")?);
                if total != self.described {
                    return Err(TarSplitError::corrupt(format!(
                        "records describe {} bytes but the end record says {total}",
                        self.described
                    )));
                }
                self.done = true;
                Ok(None)
            }
            other => Err(TarSplitError::corrupt(format!(
                "unknown record tag {other:#04x}"
            ))),
        }
    }

    fn read(&mut self, what: &str, buf: &mut [u8]) -> Result<(), TarSplitError> {
        self.input
            .read_exact(buf)
            .map_err(|e| TarSplitError::corrupt(format!("reading {what}: {e}")))
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], TarSplitError> {
        let mut buf = [0u8; N];
        self.read(what, &mut buf)?;
        Ok(buf)
    }
}
