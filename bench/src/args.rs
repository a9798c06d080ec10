//! The flags of `strata bench` and the plan they resolve to.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use strata_drivers::DRIVER_NAMES;

use crate::error::BenchError;
use crate::units::{parse_count, parse_list, parse_size};

/// Flags of `strata bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Comma-separated drivers to measure: vfs,overlay2,btrfs,zfs,devicemapper. Default: every
    /// driver that opens here. A driver named here that cannot open is an error saying why.
    #[arg(long, value_name = "LIST")]
    pub drivers: Option<String>,
    /// Directory under which drivers without their own root (vfs, overlay2) get a scratch home
    /// for this run; the home is removed at the end.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/strata-bench")]
    pub root: PathBuf,
    /// Directory on a btrfs filesystem for the btrfs driver's scratch home (default: --root).
    /// `deploy/storage/btrfs.sh up` makes one and prints this variable.
    #[arg(long, value_name = "DIR", env = "STRATA_TEST_BTRFS_ROOT")]
    pub btrfs_root: Option<PathBuf>,
    /// Parent ZFS dataset for the zfs driver (its `zfs.fsname`). `deploy/storage/zfs.sh up`
    /// makes one and prints this variable.
    #[arg(long, value_name = "POOL/DS", env = "STRATA_TEST_ZFS_FSNAME")]
    pub zfs_fsname: Option<String>,
    /// Directory on that dataset for the zfs driver's scratch home (default: the dataset's
    /// mountpoint).
    #[arg(long, value_name = "DIR", env = "STRATA_TEST_ZFS_ROOT")]
    pub zfs_root: Option<PathBuf>,
    /// Extra driver option KEY=VALUE (repeatable), given to the driver its prefix names
    /// (`zfs.`, `btrfs.`, `overlay2.`, `vfs.`, `dm.` for devicemapper).
    #[arg(long = "storage-opt", value_name = "KEY=VALUE")]
    pub storage_opts: Vec<String>,
    /// Comma-separated image depths (number of layers) to measure [default: 1,5,20,64; --quick: 1,3].
    #[arg(long, value_name = "LIST")]
    pub layers: Option<String>,
    /// Comma-separated layer sizes, binary units (1M = 1 MiB) [default: 1M,20M; --quick: 64K].
    #[arg(long = "layer-size", value_name = "LIST")]
    pub layer_size: Option<String>,
    /// Files each layer's bytes are split into [default: 8; --quick: 4].
    #[arg(long, value_name = "N")]
    pub files_per_layer: Option<String>,
    /// Runs per driver, depth and size; every figure is summarized over them [default: 10; --quick: 3].
    #[arg(long, value_name = "N")]
    pub runs: Option<String>,
    /// Container layers created on one image for the disk-sharing figure [default: 5; --quick: 2].
    #[arg(long, value_name = "N")]
    pub instances: Option<String>,
    /// Skip (and report) any combination whose estimated disk need exceeds this [default: 10G].
    #[arg(long, value_name = "SIZE")]
    pub max_disk: Option<String>,
    /// Short mode for CI: depths 1,3, 64K layers, 4 files, 3 runs, 2 instances (flags given
    /// explicitly still win).
    #[arg(long)]
    pub quick: bool,
    /// Write every sample summary as JSON to FILE (schema: bench/schema.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write one SVG plot per figure into DIR (created if missing).
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// No progress bar (it is also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// What to run, with every default applied and every value checked.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Drivers named with `--drivers` (in the order given), or `None` for "every one that opens".
    pub drivers: Option<Vec<&'static str>>,
    pub root: PathBuf,
    pub btrfs_root: Option<PathBuf>,
    pub zfs_fsname: Option<String>,
    pub zfs_root: Option<PathBuf>,
    /// Extra options per driver name.
    pub storage_opts: BTreeMap<&'static str, BTreeMap<String, String>>,
    pub layers: Vec<usize>,
    pub layer_sizes: Vec<u64>,
    pub files_per_layer: usize,
    pub runs: usize,
    pub instances: usize,
    pub max_disk: u64,
    pub quick: bool,
    pub json: Option<PathBuf>,
    pub plot: Option<PathBuf>,
    pub progress: bool,
}

/// The driver an option key is meant for, by its prefix.
fn driver_of_option(key: &str) -> Option<&'static str> {
    let prefix = key.split('.').next()?;
    match prefix {
        "dm" | "devicemapper" => Some("devicemapper"),
        other => DRIVER_NAMES.iter().find(|n| **n == other).copied(),
    }
}

impl Plan {
    /// Check the flags and fill in defaults (`--quick` ones when asked).
    pub fn from_args(args: &BenchArgs) -> Result<Plan, BenchError> {
        let quick = args.quick;
        let pick = |given: &Option<String>, normal: &str, short: &str| -> String {
            given
                .clone()
                .unwrap_or_else(|| (if quick { short } else { normal }).to_string())
        };

        let drivers = match &args.drivers {
            None => None,
            Some(text) => Some(parse_list("--drivers", text, |name| {
                DRIVER_NAMES
                    .iter()
                    .find(|n| **n == name)
                    .copied()
                    .ok_or_else(|| BenchError::InvalidArg {
                        flag: "--drivers",
                        value: name.to_string(),
                        reason: format!("unknown driver (known: {})", DRIVER_NAMES.join(", ")),
                    })
            })?),
        };

        let mut storage_opts: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
        for opt in &args.storage_opts {
            let bad = |reason: &str| BenchError::InvalidArg {
                flag: "--storage-opt",
                value: opt.clone(),
                reason: reason.to_string(),
            };
            let (key, value) = opt
                .split_once('=')
                .ok_or_else(|| bad("expected KEY=VALUE"))?;
            let key = key.trim();
            let driver = driver_of_option(key).ok_or_else(|| {
                bad("the key must start with a driver prefix such as zfs. or dm.")
            })?;
            storage_opts
                .entry(driver)
                .or_default()
                .insert(key.to_string(), value.trim().to_string());
        }

        let layers = parse_list("--layers", &pick(&args.layers, "1,5,20,64", "1,3"), |s| {
            parse_count("--layers", s)
        })?;
        let layer_sizes = parse_list(
            "--layer-size",
            &pick(&args.layer_size, "1M,20M", "64K"),
            |s| parse_size("--layer-size", s),
        )?;
        let files_per_layer =
            parse_count("--files-per-layer", &pick(&args.files_per_layer, "8", "4"))?;
        let runs = parse_count("--runs", &pick(&args.runs, "10", "3"))?;
        let instances = parse_count("--instances", &pick(&args.instances, "5", "2"))?;
        let max_disk = parse_size("--max-disk", args.max_disk.as_deref().unwrap_or("10G"))?;

        Ok(Plan {
            drivers,
            root: args.root.clone(),
            btrfs_root: args.btrfs_root.clone(),
            zfs_fsname: args.zfs_fsname.clone().filter(|s| !s.trim().is_empty()),
            zfs_root: args.zfs_root.clone().filter(|p| !p.as_os_str().is_empty()),
            storage_opts,
            layers,
            layer_sizes,
            files_per_layer,
            runs,
            instances,
            max_disk,
            quick,
            json: args.json.clone(),
            plot: args.plot.clone(),
            progress: !args.no_progress && std::io::stderr().is_terminal(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn plan(argv: &[&str]) -> Result<Plan, BenchError> {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .expect("flags parse");
        Plan::from_args(&cli.args)
    }

    #[test]
    fn defaults() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.drivers, None);
        assert_eq!(p.layers, vec![1, 5, 20, 64]);
        assert_eq!(p.layer_sizes, vec![1 << 20, 20 << 20]);
        assert_eq!(p.runs, 10);
    }

    #[test]
    fn quick_is_small_but_explicit_flags_win() {
        let p = plan(&["--quick", "--runs", "4"]).unwrap();
        assert_eq!(p.layers, vec![1, 3]);
        assert_eq!(p.layer_sizes, vec![64 << 10]);
        assert_eq!(p.runs, 4);
        assert_eq!(p.instances, 2);
    }

    #[test]
    fn drivers_are_checked() {
        let p = plan(&["--drivers", "overlay2,vfs"]).unwrap();
        assert_eq!(p.drivers, Some(vec!["overlay2", "vfs"]));
        let err = plan(&["--drivers", "vfs,aufs"]).unwrap_err().to_string();
        assert!(
            err.contains("aufs") && err.contains("unknown driver"),
            "{err}"
        );
    }

    #[test]
    fn storage_opts_go_to_the_driver_their_prefix_names() {
        let p = plan(&[
            "--storage-opt",
            "dm.thinpooldev=pool",
            "--storage-opt",
            "zfs.fsname=t/s",
        ])
        .unwrap();
        assert_eq!(p.storage_opts["devicemapper"]["dm.thinpooldev"], "pool");
        assert_eq!(p.storage_opts["zfs"]["zfs.fsname"], "t/s");
        assert!(plan(&["--storage-opt", "size=1G"]).is_err());
    }
}
