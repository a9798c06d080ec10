//! Layer blobs arrive gzip- or zstd-compressed or plain; the compression is recognised by its
//! magic bytes, not by what a manifest claims.

use std::io::{self, BufRead, BufReader, Read};

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognise the compression from the first bytes of a blob.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wrap `input` in the decompressor its first bytes call for. Gzip streams may have several
/// members and zstd streams several frames: everything up to end of input is decoded.
pub fn decompressing_reader<'a, R: Read + 'a>(
    input: R,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let head = fill_at_least(&mut buffered, 4)?;
    let compression = Compression::detect(&head);
    let reader: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    };
    Ok((compression, reader))
}

/// Peek at up to `want` bytes without consuming them (fewer only at end of input).
fn fill_at_least<R: Read>(reader: &mut BufReader<R>, want: usize) -> io::Result<Vec<u8>> {
    // A BufReader refills only when empty, so one fill_buf gives what the first read returned;
    // that is at least `want` bytes for any real file or pipe unless the input is that short.
    let buf = reader.fill_buf()?;
    Ok(buf[..buf.len().min(want)].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(blob: Vec<u8>, expected: Compression, plain: &[u8]) {
        let (found, mut reader) = decompressing_reader(&blob[..]).unwrap();
        assert_eq!(found, expected);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn detects_and_decodes_each_compression() {
        let plain = b"some layer bytes ".repeat(5000);
        roundtrip(plain.clone(), Compression::None, &plain);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        roundtrip(gz.finish().unwrap(), Compression::Gzip, &plain);

        let zst = zstd::stream::encode_all(&plain[..], 3).unwrap();
        roundtrip(zst, Compression::Zstd, &plain);
    }

    #[test]
    fn empty_and_tiny_inputs_are_plain() {
        roundtrip(Vec::new(), Compression::None, b"");
        roundtrip(vec![0x1f], Compression::None, &[0x1f]);
    }
}
