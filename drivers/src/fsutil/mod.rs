//! Small filesystem helpers shared by the archive code and the drivers: extended attributes,
//! metadata that std does not set (owner of symlinks, nanosecond times, device nodes), file
//! cloning, atomic writes, disk usage, the backing filesystem's name, and the modes that close
//! the host-side directories to other users (`private`).

pub mod atomic;
pub mod clone;
pub mod deadline;
pub mod meta;
pub mod private;
pub mod remove;
pub mod statfs;
pub mod tree;
pub mod usage;
pub mod xattr;
