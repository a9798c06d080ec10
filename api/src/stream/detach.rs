//! Detach keys: the key sequence (`ctrl-p,ctrl-q` by default) that ends an attachment to a tty
//! container without touching the container, as dockerd's `detachKeys` parameter.

/// Docker's default detach sequence, `ctrl-p,ctrl-q`.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Names of the control keys in code order: `ctrl-@` is 0, `ctrl-a` is 1, ... `ctrl-_` is 31.
const CONTROL_NAMES: [&str; 32] = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// Parse Docker's detach key syntax: comma-separated keys, each a single character, a
/// `ctrl-<key>` name or `DEL`. The error names the key that is not understood.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
        } else if key == "DEL" {
            codes.push(127);
        } else if let Some(code) = CONTROL_NAMES.iter().position(|name| *name == key) {
            // `position` is below 32, so it fits a byte.
            codes.push(code as u8);
        } else {
            return Err(format!("Unknown character: '{key}'"));
        }
    }
    Ok(codes)
}

/// What [`DetachScanner::feed`] found in one chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// Pass these bytes on (possibly empty while a partial sequence is held back).
    Pass(Vec<u8>),
    /// The detach sequence was typed: pass the bytes before it on, then detach.
    Detach(Vec<u8>),
}

/// Finds the detach sequence in a stream of input chunks, wherever the chunks are cut. Bytes
/// that might begin the sequence are held back until the next byte decides; when it does not
/// continue the sequence they are passed on unchanged.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    /// How many bytes of `keys` the held-back input matches.
    matched: usize,
}

impl DetachScanner {
    /// A scanner for `keys`; an empty sequence never detaches.
    pub fn new(keys: Vec<u8>) -> Self {
        DetachScanner { keys, matched: 0 }
    }

    /// Scan the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> Scanned {
        if self.keys.is_empty() {
            return Scanned::Pass(chunk.to_vec());
        }
        let mut out = Vec::with_capacity(chunk.len() + self.matched);
        for &byte in chunk {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Scanned::Detach(out);
                }
                continue;
            }
            // The held-back bytes were not the sequence after all: pass them on, then see
            // whether this byte starts a new attempt.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if byte == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Scanned::Detach(out);
                }
            } else {
                out.push(byte);
            }
        }
        Scanned::Pass(out)
    }

    /// Input ended: what is still held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let held = self.keys[..self.matched].to_vec();
        self.matched = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_key_names() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            DEFAULT_DETACH_KEYS
        );
        assert_eq!(
            parse_detach_keys("a,ctrl-@,DEL").unwrap(),
            vec![b'a', 0, 127]
        );
        assert_eq!(parse_detach_keys("ctrl-\\,ctrl-_").unwrap(), vec![28, 31]);
        assert_eq!(
            parse_detach_keys("ctrl-p,bogus").unwrap_err(),
            "Unknown character: 'bogus'"
        );
        assert!(parse_detach_keys("").is_err());
    }

    #[test]
    fn detaches_on_the_sequence_and_passes_what_came_before() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(
            s.feed(b"ls\r\x10\x11more"),
            Scanned::Detach(b"ls\r".to_vec())
        );
    }

    #[test]
    fn sequence_split_across_chunks() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(s.feed(b"a\x10"), Scanned::Pass(b"a".to_vec()));
        assert_eq!(s.feed(b"\x11"), Scanned::Detach(Vec::new()));
    }

    #[test]
    fn a_partial_sequence_is_passed_on_unchanged() {
        let mut s = DetachScanner::new(DEFAULT_DETACH_KEYS.to_vec());
        assert_eq!(s.feed(b"\x10"), Scanned::Pass(Vec::new()));
        assert_eq!(s.feed(b"x"), Scanned::Pass(b"\x10x".to_vec()));
        assert_eq!(s.feed(b"\x10\x10\x11"), Scanned::Detach(b"\x10".to_vec()));
        assert_eq!(s.feed(b"\x10"), Scanned::Pass(Vec::new()));
        assert_eq!(s.finish(), b"\x10".to_vec());
    }

    #[test]
    fn empty_sequence_never_detaches() {
        let mut s = DetachScanner::new(Vec::new());
        assert_eq!(s.feed(b"\x10\x11"), Scanned::Pass(b"\x10\x11".to_vec()));
    }
}
