//! What filesystem a path lives on, in the words `docker info` uses.

use std::path::Path;

/// The name Docker prints as "Backing Filesystem" for the filesystem holding `path`.
pub fn backing_fs_name(path: &Path) -> String {
    let stat = match nix::sys::statfs::statfs(path) {
        Ok(s) => s,
        Err(_) => return "unknown".into(),
    };
    let magic = stat.filesystem_type().0 as u64;
    match magic {
        0xEF53 => "extfs",
        0x9123_683E => "btrfs",
        0x5846_5342 => "xfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0x6573_5546 => "fuse",
        0x6969 => "nfs",
        0xF2F5_2010 => "f2fs",
        0x5346_544E => "ntfs",
        0x0187 => "autofs",
        0x2011_BAB0 => "exfat",
        _ => return format!("unknown (0x{magic:x})"),
    }
    .to_string()
}

/// Whether directory listings under `dir` carry file types (`d_type`), which overlayfs needs.
pub fn supports_d_type(dir: &Path) -> bool {
    use nix::dir::{Dir, Type};
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(".d_type-probe-{}-{n}", std::process::id()));
    if std::fs::create_dir_all(&probe).is_err() {
        return false;
    }
    let result = (|| -> Option<bool> {
        std::fs::write(probe.join("f"), b"").ok()?;
        let mut d = Dir::open(&probe, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).ok()?;
        let mut found = false;
        for entry in d.iter() {
            let entry = entry.ok()?;
            if entry.file_name().to_bytes() == b"f" {
                found = entry.file_type() == Some(Type::File);
            }
        }
        Some(found)
    })();
    let _ = std::fs::remove_dir_all(&probe);
    result.unwrap_or(false)
}
