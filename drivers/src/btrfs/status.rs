//! What `docker info` shows under the btrfs driver's status.

use std::os::fd::AsFd;
use std::path::Path;

use super::ioctl;
use super::qgroups::Qgroups;

/// Status pairs: backing filesystem, its UUID, quotas, and space of the filesystem.
// statvfs field widths differ across targets: the casts are needed on some.
#[allow(clippy::unnecessary_cast)]
pub fn status(home: &Path, qgroups: &Qgroups) -> Vec<(String, String)> {
    let mut out = vec![("Backing Filesystem".to_string(), "btrfs".to_string())];
    if let Ok(dir) = std::fs::File::open(home) {
        if let Ok(uuid) = ioctl::fs_uuid(dir.as_fd()) {
            out.push(("Filesystem UUID".into(), uuid));
        }
    }
    if let Some(q) = qgroups.state() {
        let text = match (q.enabled, q.inconsistent) {
            (false, _) => "disabled",
            (true, false) => "enabled",
            (true, true) => "enabled (counts inconsistent, limits off until a rescan)",
        };
        out.push(("Quotas".into(), text.into()));
    }
    if let Ok(st) = nix::sys::statvfs::statvfs(home) {
        let frag = st.fragment_size() as u64;
        let total = st.blocks() as u64 * frag;
        let free = st.blocks_available() as u64 * frag;
        let used = total.saturating_sub(st.blocks_free() as u64 * frag);
        out.push(("Space Used".into(), human_size(used)));
        out.push(("Space Available".into(), human_size(free)));
        out.push(("Space Total".into(), human_size(total)));
    }
    out
}

/// Bytes in decimal units with four significant digits, as Docker prints sizes (`11.8MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(11_800_000), "11.8MB");
        assert_eq!(human_size(4_294_967_296), "4.295GB");
    }
}
