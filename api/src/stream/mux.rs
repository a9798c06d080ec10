//! Docker's stdio stream framing. Without a tty, attach/logs/exec output is multiplexed: each
//! frame is an 8-byte header `[stream, 0, 0, 0, len as big-endian u32]` then `len` bytes of payload
//! (stream 0 stdin, 1 stdout, 2 stderr). With a tty the bytes go out raw.

use bytes::{BufMut, Bytes, BytesMut};
use strata_agent::model::StdStream;

/// Size of a multiplexing frame header.
pub const HEADER_LEN: usize = 8;

/// How output is put on the wire for one attached client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// tty: raw bytes, one stream.
    Raw,
    /// no tty: 8-byte headers before each chunk.
    Multiplexed,
}

impl Framing {
    /// The framing Docker uses for a container with or without a tty.
    pub fn for_tty(tty: bool) -> Framing {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    /// The `Content-Type` Docker announces for this framing.
    pub fn content_type(self) -> &'static str {
        match self {
            Framing::Raw => "application/vnd.docker.raw-stream",
            Framing::Multiplexed => "application/vnd.docker.multiplexed-stream",
        }
    }

    /// Encode one chunk of output.
    pub fn encode(self, stream: StdStream, payload: &[u8]) -> Bytes {
        match self {
            Framing::Raw => Bytes::copy_from_slice(payload),
            Framing::Multiplexed => encode_frames(stream, payload),
        }
    }
}

/// The header of a frame carrying `len` bytes of `stream`.
pub fn frame_header(stream: StdStream, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Encode `payload` as one frame (or several, should it exceed a u32 length). An empty payload
/// gives no frame: a zero-length frame means nothing to clients.
pub fn encode_frames(stream: StdStream, payload: &[u8]) -> Bytes {
    let max = u32::MAX as usize;
    let frames = payload.len().div_ceil(max);
    let mut out = BytesMut::with_capacity(payload.len() + frames * HEADER_LEN);
    for chunk in payload.chunks(max) {
        // chunks(max) never yields more than u32::MAX bytes.
        let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
        out.put_slice(&frame_header(stream, len));
        out.put_slice(chunk);
    }
    out.freeze()
}

/// Split a multiplexed byte stream back into `(stream id, payload)` frames. Returns the frames
/// and how many bytes were consumed (a trailing partial frame is left). For tests and tools.
pub fn decode_frames(buf: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let mut frames = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= HEADER_LEN {
        let header = &buf[pos..pos + HEADER_LEN];
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if buf.len() - pos - HEADER_LEN < len {
            break;
        }
        let start = pos + HEADER_LEN;
        frames.push((header[0], buf[start..start + len].to_vec()));
        pos = start + len;
    }
    (frames, pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_frame_has_docker_header() {
        let frame = encode_frames(StdStream::Stdout, b"out\n");
        assert_eq!(
            &frame[..],
            &[1, 0, 0, 0, 0, 0, 0, 4, b'o', b'u', b't', b'\n']
        );
    }

    #[test]
    fn stderr_frame_and_big_length_are_big_endian() {
        let payload = vec![7u8; 0x0001_0203];
        let frame = encode_frames(StdStream::Stderr, &payload);
        assert_eq!(&frame[..8], &[2, 0, 0, 0, 0x00, 0x01, 0x02, 0x03]);
        assert_eq!(frame.len(), 8 + payload.len());
    }

    #[test]
    fn empty_payload_gives_no_frame() {
        assert!(encode_frames(StdStream::Stdout, b"").is_empty());
    }

    #[test]
    fn raw_framing_passes_bytes_through() {
        assert_eq!(&Framing::Raw.encode(StdStream::Stderr, b"abc")[..], b"abc");
        assert_eq!(
            Framing::for_tty(true).content_type(),
            "application/vnd.docker.raw-stream"
        );
        assert_eq!(
            Framing::for_tty(false).content_type(),
            "application/vnd.docker.multiplexed-stream"
        );
    }

    #[test]
    fn decode_round_trips_and_keeps_partial_tail() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode_frames(StdStream::Stdout, b"out\n"));
        wire.extend_from_slice(&encode_frames(StdStream::Stderr, b"err\n"));
        let partial = encode_frames(StdStream::Stdout, b"tail");
        wire.extend_from_slice(&partial[..6]);
        let (frames, used) = decode_frames(&wire);
        assert_eq!(frames, vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]);
        assert_eq!(used, wire.len() - 6);
    }
}
