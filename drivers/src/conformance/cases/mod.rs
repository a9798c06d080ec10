//! The cases of the conformance suite, one function each, taking a fresh fixture.

mod chains;
mod hostile;
mod lifecycle;
mod metadata;
mod refcount;
mod restart;
mod roundtrip;
mod whiteouts;

pub use chains::{parent_chain, remove_refused, stack_128};
pub use hostile::{
    hostile_hardlink, hostile_path_escape, hostile_symlink_escape, hostile_through_symlink,
    truncated_tar,
};
pub use lifecycle::{layers_listed, lifecycle, metadata_reported, usage_grows};
pub use metadata::{hard_links, mode_bits, mtime_preserved, ownership, symlinks, xattrs};
pub use refcount::{concurrent_users, refcounting};
pub use restart::reconcile_after_restart;
pub use roundtrip::diff_apply_roundtrip;
pub use whiteouts::{
    deleted_dir, deleted_file, dir_replaced_by_file, file_replaced_by_dir, opaque_dir,
};
