//! `docker info` `DriverStatus` for zfs, in the order and words moby uses.

use tracing::warn;

use super::cli::Zfs;
use super::options::ZfsOptions;
use super::xattr_probe::XattrSupport;
use crate::units::parse_tool_size;

/// What a value reads as when ZFS could not be asked.
const UNKNOWN: &str = "unknown";

/// Status pairs: Zpool, Zpool Health, Parent Dataset, Space Used By Parent, Space Available,
/// Parent Quota, Compression, then Strata's own Supports Xattrs (`true`, or `false` and what
/// that costs). Sizes are bytes.
pub fn status(zfs: &Zfs, options: &ZfsOptions, xattrs: &XattrSupport) -> Vec<(String, String)> {
    let pool = options.pool().to_string();
    let health = zfs.pool_property(&pool, "health").unwrap_or_else(|f| {
        warn!(command = %f.command, stderr = %f.stderr, "reading pool health");
        UNKNOWN.to_string()
    });
    let props = zfs
        .get_many(
            &options.fsname,
            &["used", "available", "quota", "compression"],
        )
        .unwrap_or_else(|f| {
            warn!(command = %f.command, stderr = %f.stderr, "reading parent dataset properties");
            Vec::new()
        });
    let prop = |name: &str| {
        props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let bytes = |name: &str| {
        prop(name)
            .and_then(parse_tool_size)
            .map(|n| n.to_string())
            .unwrap_or_else(|| UNKNOWN.to_string())
    };
    let quota = match prop("quota").map(|q| (q, parse_tool_size(q))) {
        Some((_, Some(0))) | Some(("none", _)) => "no".to_string(),
        Some((_, Some(n))) => n.to_string(),
        Some((other, None)) => other.to_string(),
        None => UNKNOWN.to_string(),
    };
    vec![
        ("Zpool".to_string(), pool),
        ("Zpool Health".to_string(), health),
        ("Parent Dataset".to_string(), options.fsname.clone()),
        ("Space Used By Parent".to_string(), bytes("used")),
        ("Space Available".to_string(), bytes("available")),
        ("Parent Quota".to_string(), quota),
        (
            "Compression".to_string(),
            prop("compression").unwrap_or(UNKNOWN).to_string(),
        ),
        ("Supports Xattrs".to_string(), xattr_status(xattrs)),
    ]
}

fn xattr_status(xattrs: &XattrSupport) -> String {
    if xattrs.is_supported() {
        "true".to_string()
    } else {
        "false (layers lose their xattrs, file capabilities included; accepted by \
         zfs.allow_no_xattr=true)"
            .to_string()
    }
}
