//! A reader wrapper that remembers whether its source ran dry, so a tar stream cut off at a
//! block boundary (no end-of-archive marker) is told apart from a complete one.

use std::io::{self, Read};

pub(crate) struct EofTracker<R> {
    inner: R,
    bytes_read: u64,
    hit_eof: bool,
}

impl<R: Read> EofTracker<R> {
    pub(crate) fn new(inner: R) -> Self {
        EofTracker {
            inner,
            bytes_read: 0,
            hit_eof: false,
        }
    }

    /// Whether a read returned end-of-stream (a complete tar ends with a zero block before it).
    pub(crate) fn hit_eof(&self) -> bool {
        self.hit_eof
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Read and discard the rest (the end-of-archive padding), so a caller hashing the stream
    /// sees every byte of it.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }
}

impl<R: Read> Read for EofTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.bytes_read += n as u64;
        Ok(n)
    }
}
