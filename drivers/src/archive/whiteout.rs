//! OCI whiteout names (`.wh.NAME`, `.wh..wh..opq`) and overlayfs's native forms.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Prefix of a whiteout file in an OCI layer tar.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the opaque-directory marker in an OCI layer tar.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of whiteout-internal names (aufs hard-link directories and the like), ignored.
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads to treat an upper directory as opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an entry's file name means for whiteout handling.
#[derive(Debug, PartialEq, Eq)]
pub enum WhiteoutName<'a> {
    /// An ordinary entry.
    Plain,
    /// `.wh..wh..opq`: the directory holding it is opaque.
    Opaque,
    /// `.wh.NAME`: `NAME` in the same directory is deleted.
    Delete(&'a OsStr),
    /// Another `.wh..wh.*` name: whiteout bookkeeping of other tools, skipped.
    Meta,
}

/// Classify an entry's final path component.
pub fn classify(name: &OsStr) -> WhiteoutName<'_> {
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER.as_bytes() {
        WhiteoutName::Opaque
    } else if bytes.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
        WhiteoutName::Meta
    } else if let Some(rest) = bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        WhiteoutName::Delete(OsStr::from_bytes(rest))
    } else {
        WhiteoutName::Plain
    }
}

/// The tar name of the whiteout for `name`.
pub fn whiteout_name(name: &OsStr) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(WHITEOUT_PREFIX);
    s.push(name);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify(OsStr::new("file")), WhiteoutName::Plain);
        assert_eq!(classify(OsStr::new(".wh..wh..opq")), WhiteoutName::Opaque);
        assert_eq!(
            classify(OsStr::new(".wh.foo")),
            WhiteoutName::Delete(OsStr::new("foo"))
        );
        assert_eq!(classify(OsStr::new(".wh..wh.plnk")), WhiteoutName::Meta);
        assert_eq!(whiteout_name(OsStr::new("x")), ".wh.x");
    }
}
