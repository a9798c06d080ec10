//! The backing stores of the copy-on-write drivers' end-to-end tests, made by
//! `deploy/storage/btrfs.sh up` (`STRATA_TEST_BTRFS_ROOT`) and `deploy/storage/zfs.sh up`
//! (`STRATA_TEST_ZFS_FSNAME`, `STRATA_TEST_ZFS_ROOT`): without them a test fails saying so.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::daemon::DaemonOptions;
use crate::docker_cli::OutputExt;

/// A required environment variable, or an error saying which script sets it.
pub fn required_env(name: &str, script: &str) -> Result<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => bail!(
            "{name} is not set: bring the backing store up first with \
             `eval \"$(sudo bash deploy/storage/{script} up)\"` (deploy/test.sh does it)"
        ),
    }
}

/// Run a tool and return its stdout, failing with everything it printed.
pub fn run_tool(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} (is it installed?)"))?;
    out.ok(&format!("{program} {}", args.join(" ")))
}

/// The test btrfs mount (`STRATA_TEST_BTRFS_ROOT`): a btrfs daemon's root is made inside it.
pub fn btrfs_mount() -> Result<PathBuf> {
    let mount = PathBuf::from(required_env("STRATA_TEST_BTRFS_ROOT", "btrfs.sh")?);
    ensure!(
        mount.is_dir(),
        "STRATA_TEST_BTRFS_ROOT={} is not a directory: run deploy/storage/btrfs.sh up",
        mount.display()
    );
    Ok(mount)
}

/// A child dataset of the test pool's parent dataset (`STRATA_TEST_ZFS_FSNAME`), made for one
/// test and destroyed (with anything still in it) when dropped.
pub struct ZfsDataset {
    pub name: String,
}

impl ZfsDataset {
    /// A new dataset under the test pool's parent dataset.
    pub fn for_test() -> Result<ZfsDataset> {
        let parent = required_env("STRATA_TEST_ZFS_FSNAME", "zfs.sh")?;
        required_env("STRATA_TEST_ZFS_ROOT", "zfs.sh")?;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{parent}/e2e-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        run_tool("zfs", &["create", &name]).with_context(|| {
            format!("creating {name}: is the pool up (deploy/storage/zfs.sh up)?")
        })?;
        Ok(ZfsDataset { name })
    }

    /// Daemon options putting the zfs driver's layers under this dataset.
    pub fn daemon_options(&self) -> DaemonOptions {
        DaemonOptions::default().args([
            "--storage-opt".to_string(),
            format!("zfs.fsname={}", self.name),
        ])
    }

    /// Every dataset and snapshot below this one (names relative to it: `<id>`,
    /// `<parent>@<id>`).
    pub fn children(&self) -> Result<BTreeSet<String>> {
        let text = run_tool(
            "zfs",
            &["list", "-H", "-t", "all", "-o", "name", "-r", &self.name],
        )?;
        let prefix = format!("{}/", self.name);
        let snap_prefix = format!("{}@", self.name);
        Ok(text
            .lines()
            .filter_map(|l| {
                l.strip_prefix(&prefix)
                    .or_else(|| l.strip_prefix(&snap_prefix).map(|_| l))
            })
            .map(str::to_string)
            .collect())
    }
}

impl Drop for ZfsDataset {
    fn drop(&mut self) {
        // zfs-fuse answers "busy" for a while after unmounts; retry for a bit.
        let started = Instant::now();
        loop {
            match run_tool("zfs", &["destroy", "-r", &self.name]) {
                Ok(_) => return,
                Err(e) if started.elapsed() > Duration::from_secs(20) => {
                    eprintln!("test zfs dataset: destroying {}: {e:#}", self.name);
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}
