//! One connected client of the shim: a non-blocking unix stream with an outgoing buffer of
//! encoded frames and an incoming frame decoder.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use super::diag::diag;
use crate::runtime::shim_protocol::{encode_into, Frame, FrameDecoder, FrameKind};

/// A client connection.
pub(crate) struct Client {
    pub stream: UnixStream,
    out: Vec<u8>,
    out_pos: usize,
    decoder: FrameDecoder,
    /// Set once the connection failed or the client hung up; the client is then dropped.
    pub closed: bool,
}

impl Client {
    pub(crate) fn new(stream: UnixStream) -> std::io::Result<Client> {
        stream.set_nonblocking(true)?;
        Ok(Client {
            stream,
            out: Vec::new(),
            out_pos: 0,
            decoder: FrameDecoder::default(),
            closed: false,
        })
    }

    /// Queue a frame for this client.
    pub(crate) fn queue(&mut self, kind: FrameKind, payload: &[u8]) {
        if self.closed {
            return;
        }
        if self.out_pos > 0 && (self.out_pos == self.out.len() || self.out_pos > 64 * 1024) {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        encode_into(&mut self.out, kind, payload);
    }

    /// Bytes queued but not yet written.
    pub(crate) fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Write what the socket takes now; whether anything was written.
    pub(crate) fn flush(&mut self) -> bool {
        let mut progress = false;
        while !self.closed && self.pending() > 0 {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.out_pos += n;
                    progress = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
        if self.pending() == 0 {
            self.out.clear();
            self.out_pos = 0;
        }
        progress
    }

    /// Read what has arrived and return the complete frames in it.
    pub(crate) fn read_frames(&mut self) -> Vec<Frame> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    break;
                }
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        let mut frames = Vec::new();
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    diag!("dropping a client: {e}");
                    self.closed = true;
                    break;
                }
            }
        }
        frames
    }
}
