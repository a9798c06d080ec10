//! `--storage-opt dm.*` for the devicemapper driver, as Docker's devicemapper named them.
//!
//! | key | meaning | default |
//! | --- | --- | --- |
//! | `dm.thinpooldev` | an existing thin-pool device (`/dev/mapper/NAME` or `NAME`) | none: loop-backed pool |
//! | `dm.loopdatasize` | size of the sparse data file of a loop-backed pool | `100G` |
//! | `dm.loopmetadatasize` | size of the sparse metadata file of a loop-backed pool | `2G` |
//! | `dm.basesize` | virtual size of the base device (every layer's size) | `10G` |
//! | `dm.fs` | filesystem of the base device: `ext4` or `xfs` | `ext4` |
//! | `dm.blocksize` | pool block size of a loop-backed pool (64K..1G, multiple of 64K) | `64K` |
//! | `dm.min_free_space` | percentage of free data/metadata space below which creating layers is refused | `10%` |
//!
//! A per-layer `size=` (container layers) is accepted when it is at least the base size: a
//! snapshot cannot be smaller than its origin's filesystem.

use std::collections::BTreeMap;

use crate::error::DriverError;
use crate::units::parse_user_size;

/// Docker's default virtual size of the base device.
pub const DEFAULT_BASE_SIZE: u64 = 10 << 30;
const DEFAULT_LOOP_DATA: u64 = 100 << 30;
const DEFAULT_LOOP_METADATA: u64 = 2 << 30;
const DEFAULT_BLOCK_SIZE: u64 = 64 << 10;
/// The thin-pool target keeps at most this much metadata.
const MAX_METADATA: u64 = 16 << 30;

/// Filesystem made on the base device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filesystem {
    Ext4,
    Xfs,
}

impl Filesystem {
    /// The name as `mount -t` and `docker info` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Xfs => "xfs",
        }
    }
}

/// Where the thin pool comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolSource {
    /// An existing pool named by `dm.thinpooldev` (dm name, without `/dev/mapper/`).
    Existing(String),
    /// A pool the driver builds on two sparse files attached to loop devices.
    Loop { data_size: u64, metadata_size: u64 },
}

/// Parsed and checked `dm.*` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmOptions {
    pub pool: PoolSource,
    pub base_size: u64,
    pub fs: Filesystem,
    pub block_size: u64,
    /// Percent of free space to keep (0..=99).
    pub min_free_percent: u8,
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> DriverError {
    DriverError::InvalidOption {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

impl DmOptions {
    /// Parse `opts`; any `dm.*` key not listed above, and any other key, is refused.
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<DmOptions, DriverError> {
        let mut thinpool = None;
        let mut data_size = DEFAULT_LOOP_DATA;
        let mut metadata_size = DEFAULT_LOOP_METADATA;
        let mut base_size = DEFAULT_BASE_SIZE;
        let mut fs = Filesystem::Ext4;
        let mut block_size = DEFAULT_BLOCK_SIZE;
        let mut min_free_percent = 10u8;
        let size = |key: &str, value: &str| {
            parse_user_size(value)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(key, value, "not a size (e.g. 10G, 512M, bytes)"))
        };
        for (key, value) in opts {
            match key.as_str() {
                "dm.thinpooldev" => {
                    let name = value.trim_start_matches("/dev/mapper/");
                    if name.is_empty() || name.contains('/') {
                        return Err(invalid(key, value, "name a device-mapper thin pool"));
                    }
                    thinpool = Some(name.to_string());
                }
                "dm.loopdatasize" => data_size = size(key, value)?,
                "dm.loopmetadatasize" => metadata_size = size(key, value)?,
                "dm.basesize" => base_size = size(key, value)?,
                "dm.fs" => {
                    fs = match value.as_str() {
                        "ext4" => Filesystem::Ext4,
                        "xfs" => Filesystem::Xfs,
                        _ => return Err(invalid(key, value, "use ext4 or xfs")),
                    }
                }
                "dm.blocksize" => {
                    block_size = size(key, value)?;
                    if block_size % (64 << 10) != 0 || block_size > (1 << 30) {
                        return Err(invalid(key, value, "a multiple of 64K, at most 1G"));
                    }
                }
                "dm.min_free_space" => {
                    let n = value
                        .trim_end_matches('%')
                        .parse::<u8>()
                        .ok()
                        .filter(|n| *n < 100)
                        .ok_or_else(|| invalid(key, value, "a percentage 0%..99%"))?;
                    min_free_percent = n;
                }
                other => {
                    return Err(invalid(
                        other,
                        value,
                        "not a devicemapper option (dm.thinpooldev, dm.loopdatasize, \
                         dm.loopmetadatasize, dm.basesize, dm.fs, dm.blocksize, dm.min_free_space)",
                    ))
                }
            }
        }
        if base_size % 512 != 0 {
            return Err(invalid(
                "dm.basesize",
                &base_size.to_string(),
                "a multiple of 512 bytes",
            ));
        }
        if metadata_size > MAX_METADATA {
            return Err(invalid(
                "dm.loopmetadatasize",
                &metadata_size.to_string(),
                "the thin-pool target uses at most 16G of metadata",
            ));
        }
        let pool = match thinpool {
            Some(name) => PoolSource::Existing(name),
            None => PoolSource::Loop {
                data_size,
                metadata_size,
            },
        };
        Ok(DmOptions {
            pool,
            base_size,
            fs,
            block_size,
            min_free_percent,
        })
    }
}

/// The virtual size of a new read-write layer from its `size=` option, if any. Smaller than the
/// base size is refused (a snapshot cannot shrink its origin's filesystem).
pub fn parse_layer_size(
    opts: &BTreeMap<String, String>,
    base_size: u64,
) -> Result<Option<u64>, DriverError> {
    let mut size = None;
    for (key, value) in opts {
        match key.as_str() {
            "size" => {
                let n = parse_user_size(value)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid(key, value, "not a size (e.g. 20G, 512M, bytes)"))?;
                if n < base_size {
                    return Err(invalid(
                        key,
                        value,
                        format!("smaller than the base device size ({base_size} bytes)"),
                    ));
                }
                size = Some(n / 512 * 512);
            }
            other => return Err(invalid(other, value, "devicemapper layers take only size=")),
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_a_loop_pool_with_ext4() {
        let o = DmOptions::parse(&BTreeMap::new()).unwrap();
        assert_eq!(o.fs, Filesystem::Ext4);
        assert_eq!(o.base_size, DEFAULT_BASE_SIZE);
        assert!(matches!(o.pool, PoolSource::Loop { .. }));
    }

    #[test]
    fn bad_options_are_refused_with_the_key() {
        for (k, v) in [
            ("dm.fs", "btrfs"),
            ("dm.basesize", "big"),
            ("dm.blocksize", "1000"),
            ("dm.nope", "1"),
            ("dm.loopmetadatasize", "20G"),
        ] {
            let err = DmOptions::parse(&opts(&[(k, v)])).unwrap_err();
            assert!(
                matches!(&err, DriverError::InvalidOption { key, .. } if key == k),
                "{err}"
            );
        }
        let o = DmOptions::parse(&opts(&[("dm.thinpooldev", "/dev/mapper/tp")])).unwrap();
        assert_eq!(o.pool, PoolSource::Existing("tp".into()));
    }

    #[test]
    fn layer_size_may_not_be_below_the_base() {
        assert_eq!(parse_layer_size(&opts(&[]), 1 << 30).unwrap(), None);
        assert_eq!(
            parse_layer_size(&opts(&[("size", "2G")]), 1 << 30).unwrap(),
            Some(2 << 30)
        );
        assert!(parse_layer_size(&opts(&[("size", "100M")]), 1 << 30).is_err());
        assert!(parse_layer_size(&opts(&[("inodes", "5")]), 1 << 30).is_err());
    }
}
