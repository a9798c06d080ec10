//! The wire format between a shim and its clients, over the shim's unix socket.
//!
//! Every message is a frame: 1 byte kind, 4 bytes big-endian payload length, payload.
//! Shim to client: `Hello` first (JSON [`Hello`]), then `Stdout`/`Stderr` chunks as the
//! container writes them, then `Exit` (JSON exit record) last. Client to shim: `Stdin` data,
//! `CloseStdin`, `Resize` (rows and columns, u16 big-endian each).

use serde::{Deserialize, Serialize};

/// Frame header size: kind + length.
pub(crate) const HEADER_LEN: usize = 5;
/// Largest payload either side accepts; bigger frames are a protocol error.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FrameKind {
    Hello = 0,
    Stdout = 1,
    Stderr = 2,
    Exit = 3,
    Stdin = 4,
    CloseStdin = 5,
    Resize = 6,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        Some(match b {
            0 => FrameKind::Hello,
            1 => FrameKind::Stdout,
            2 => FrameKind::Stderr,
            3 => FrameKind::Exit,
            4 => FrameKind::Stdin,
            5 => FrameKind::CloseStdin,
            6 => FrameKind::Resize,
            _ => return None,
        })
    }
}

/// A broken frame stream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtocolError {
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame of {0} bytes exceeds the {MAX_PAYLOAD} byte limit")]
    TooLarge(usize),
}

/// The first frame a client gets: what this shim holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Hello {
    /// The container's stdin is open and takes `Stdin` frames.
    pub stdin: bool,
    pub tty: bool,
    pub container_pid: i32,
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub kind: FrameKind,
    pub payload: Vec<u8>,
}

/// Append one frame to `out`.
pub(crate) fn encode_into(out: &mut Vec<u8>, kind: FrameKind, payload: &[u8]) {
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One frame as bytes.
pub(crate) fn encode(kind: FrameKind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_into(&mut out, kind, payload);
    out
}

/// Kind and payload length from a header.
pub(crate) fn parse_header(header: [u8; HEADER_LEN]) -> Result<(FrameKind, usize), ProtocolError> {
    let kind = FrameKind::from_byte(header[0]).ok_or(ProtocolError::UnknownKind(header[0]))?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(ProtocolError::TooLarge(len));
    }
    Ok((kind, len))
}

/// Resize payload.
pub(crate) fn encode_resize(rows: u16, cols: u16) -> [u8; 4] {
    let [r0, r1] = rows.to_be_bytes();
    let [c0, c1] = cols.to_be_bytes();
    [r0, r1, c0, c1]
}

/// Rows and columns from a resize payload.
pub(crate) fn decode_resize(payload: &[u8]) -> Option<(u16, u16)> {
    match payload {
        [r0, r1, c0, c1] => Some((
            u16::from_be_bytes([*r0, *r1]),
            u16::from_be_bytes([*c0, *c1]),
        )),
        _ => None,
    }
}

/// Incremental decoder for a byte stream read in arbitrary pieces.
#[derive(Default)]
pub(crate) struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if one has fully arrived.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[..HEADER_LEN]);
        let (kind, len) = parse_header(header)?;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(Frame { kind, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_being_split_anywhere() {
        let mut wire = encode(FrameKind::Stdout, b"hello");
        encode_into(&mut wire, FrameKind::Resize, &encode_resize(24, 80));
        encode_into(&mut wire, FrameKind::CloseStdin, b"");
        for split in 0..wire.len() {
            let mut d = FrameDecoder::default();
            let mut frames = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    frames.push(f);
                }
            }
            assert_eq!(frames.len(), 3);
            assert_eq!(
                frames[0],
                Frame {
                    kind: FrameKind::Stdout,
                    payload: b"hello".to_vec()
                }
            );
            assert_eq!(decode_resize(&frames[1].payload), Some((24, 80)));
            assert_eq!(frames[2].kind, FrameKind::CloseStdin);
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        assert!(matches!(
            parse_header([9, 0, 0, 0, 0]),
            Err(ProtocolError::UnknownKind(9))
        ));
        assert!(matches!(
            parse_header([1, 0xff, 0, 0, 0]),
            Err(ProtocolError::TooLarge(_))
        ));
    }
}
