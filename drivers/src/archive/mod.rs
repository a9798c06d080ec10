//! Layer tar streams in OCI form: safe unpacking with whiteout conversion (`apply_tar`),
//! deterministic PAX writing of diffs, naive change detection for full-tree drivers and the
//! overlay upper-dir walk for overlay2's native diff.

mod changes;
mod entry_meta;
mod overlay_walk;
mod own_usage;
mod paths;
mod stream;
mod unpack;
pub mod whiteout;
mod writer;

pub use changes::{changes, write_naive_diff, Change, ChangeKind};
#[allow(unused_imports)]
pub(crate) use entry_meta::format_pax_time;
pub use overlay_walk::{overlay_diff_items, write_overlay_diff};
pub use own_usage::{own_usage, own_usage_in, Bytes};
pub use paths::{normalize_entry_path, symlink_escapes};
pub use unpack::apply_tar;
#[allow(unused_imports)]
pub(crate) use writer::pax_record;
pub use writer::{write_diff, DiffItem, LayerTarWriter};

/// How whiteouts in a layer tar become native on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Full-tree drivers (vfs, btrfs, zfs): the layer already holds its parent's tree, so a
    /// whiteout deletes the named path and an opaque marker empties the directory of everything
    /// the same tar did not write.
    Delete,
    /// overlay2: `.wh.NAME` becomes a 0/0 character device `NAME`, `.wh..wh..opq` becomes the
    /// xattr `trusted.overlay.opaque=y` on its directory.
    Overlay,
}

#[cfg(test)]
mod sparse_and_limit_tests;
#[cfg(test)]
mod tests;
