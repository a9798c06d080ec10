//! The metadata of one tar entry: owner, mode, mtime (PAX sub-second when present), xattrs
//! (PAX `SCHILY.xattr.*`) and device numbers.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;

use crate::error::ArchiveError;
use crate::fsutil::meta::FileTime;

const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// What an entry says about the file it describes, besides its name and data.
#[derive(Debug, Clone)]
pub(crate) struct EntryMeta {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub mtime: FileTime,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
    pub major: u32,
    pub minor: u32,
    pub size: u64,
}

impl EntryMeta {
    /// Read the entry's header and PAX records (before its data is consumed).
    pub(crate) fn read<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        display: &str,
    ) -> Result<EntryMeta, ArchiveError> {
        let bad = |what: &str, e: std::io::Error| {
            ArchiveError::Corrupt(format!("entry {display:?}: bad {what}: {e}"))
        };
        let header = entry.header();
        let uid = header.uid().map_err(|e| bad("uid", e))?;
        let gid = header.gid().map_err(|e| bad("gid", e))?;
        let too_big =
            |what: &str| ArchiveError::Corrupt(format!("entry {display:?}: {what} out of range"));
        let uid = u32::try_from(uid).map_err(|_| too_big("uid"))?;
        let gid = u32::try_from(gid).map_err(|_| too_big("gid"))?;
        let mode = header.mode().map_err(|e| bad("mode", e))? & 0o7777;
        let header_mtime = header.mtime().map_err(|e| bad("mtime", e))?;
        let kind = header.entry_type();
        let (major, minor) = if kind.is_character_special() || kind.is_block_special() {
            (
                header
                    .device_major()
                    .map_err(|e| bad("device major", e))?
                    .unwrap_or(0),
                header
                    .device_minor()
                    .map_err(|e| bad("device minor", e))?
                    .unwrap_or(0),
            )
        } else {
            // Other entries often leave the fields empty; they mean nothing there.
            (0, 0)
        };
        let size = entry.size();
        let mut mtime = FileTime {
            secs: header_mtime as i64,
            nanos: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
            for record in pax {
                let record = record.map_err(|e| bad("PAX record", e))?;
                let key = record.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = record.value().ok().and_then(parse_pax_time) {
                        mtime = t;
                    }
                } else if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                    xattrs.push((
                        OsString::from_vec(name.to_vec()),
                        record.value_bytes().to_vec(),
                    ));
                }
            }
        }
        Ok(EntryMeta {
            uid,
            gid,
            mode,
            mtime,
            xattrs,
            major,
            minor,
            size,
        })
    }
}

/// Parse a PAX time value (`SECONDS[.FRACTION]`, possibly negative).
pub(crate) fn parse_pax_time(value: &str) -> Option<FileTime> {
    let (negative, rest) = match value.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, value),
    };
    let (secs_str, frac_str) = rest.split_once('.').unwrap_or((rest, ""));
    let secs: i64 = if secs_str.is_empty() {
        0
    } else {
        secs_str.parse().ok()?
    };
    if !frac_str.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = frac_str.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: u32 = digits.parse().ok()?;
    if !negative {
        return Some(FileTime { secs, nanos });
    }
    if nanos == 0 {
        Some(FileTime {
            secs: -secs,
            nanos: 0,
        })
    } else {
        Some(FileTime {
            secs: -secs - 1,
            nanos: 1_000_000_000 - nanos,
        })
    }
}

/// Format a time as a PAX value with nanoseconds.
pub(crate) fn format_pax_time(t: FileTime) -> String {
    if t.secs >= 0 || t.nanos == 0 {
        format!("{}.{:09}", t.secs, t.nanos)
    } else {
        format!("-{}.{:09}", -(t.secs + 1), 1_000_000_000 - t.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_round_trip() {
        let t = parse_pax_time("1700000000.123456789").unwrap();
        assert_eq!(
            t,
            FileTime {
                secs: 1_700_000_000,
                nanos: 123_456_789
            }
        );
        assert_eq!(format_pax_time(t), "1700000000.123456789");
        assert_eq!(
            parse_pax_time("12").unwrap(),
            FileTime { secs: 12, nanos: 0 }
        );
        assert_eq!(
            parse_pax_time("1.5").unwrap(),
            FileTime {
                secs: 1,
                nanos: 500_000_000
            }
        );
        let neg = parse_pax_time("-1.25").unwrap();
        assert_eq!(
            neg,
            FileTime {
                secs: -2,
                nanos: 750_000_000
            }
        );
        assert_eq!(format_pax_time(neg), "-1.250000000");
        assert!(parse_pax_time("abc").is_none());
    }
}
