//! The one place that runs the `zfs` and `zpool` commands and reads their output.
//!
//! OpenZFS's libzfs is not packaged here (and zfs-fuse has no /dev/zfs), so the driver speaks to
//! ZFS through its command line tools, as moby's zfs driver does. Output is always requested with
//! `-H` (no header, tab-separated fields). Exact numbers come from `zfs get -Hp`, which both
//! zfs-fuse and kernel OpenZFS understand (zfs-fuse's `zfs list` has no `-p`).
//!
//! zfs-fuse answers "dataset is busy" for a short while after an unmount while it flushes; the
//! calls that can hit that window are retried for a few seconds (see [`Zfs::run_retrying_busy`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::cli_tool::CliFailure;
use crate::cli_tool::{self, RunOpts};
use crate::error::DriverError;

/// How long one `zfs`/`zpool` command may take before it is killed and reported: a wedged
/// zfs-fuse must fail a request, not hang it (and the agent thread running it) forever.
const COMMAND_DEADLINE: Duration = Duration::from_secs(180);

const RUN_OPTS: RunOpts = RunOpts {
    env: &[],
    deadline: Some(COMMAND_DEADLINE),
    wedged_hint: "is the ZFS daemon, zfs-fuse, wedged?",
};

/// How the ZFS tools phrase their failures.
pub trait ZfsSaid {
    /// Whether the tool said the named dataset or pool does not exist.
    fn is_not_found(&self) -> bool;
    /// Whether the tool said the dataset already exists.
    fn is_already_exists(&self) -> bool;
}

impl ZfsSaid for CliFailure {
    fn is_not_found(&self) -> bool {
        self.said(&["does not exist", "no such pool"])
    }

    fn is_already_exists(&self) -> bool {
        self.said(&["already exists"])
    }
}

/// Runs `zfs` and `zpool`.
#[derive(Clone, Debug)]
pub struct Zfs {
    zfs: PathBuf,
    zpool: PathBuf,
}

/// Split `-H` output into rows of tab-separated fields (empty lines skipped).
pub fn parse_rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('\t').map(|f| f.trim().to_string()).collect())
        .collect()
}

impl Zfs {
    /// Find the tools; fails with `Unsupported` naming what to install when they are missing.
    pub fn locate() -> Result<Zfs, DriverError> {
        let missing = |tool: &str| DriverError::Unsupported {
            driver: "zfs",
            reason: format!(
                "the `{tool}` command was not found in PATH or /usr/sbin, /sbin \
                 (install zfs-fuse or zfsutils-linux)"
            ),
        };
        let zfs = cli_tool::locate("zfs").ok_or_else(|| missing("zfs"))?;
        let zpool = cli_tool::locate("zpool").ok_or_else(|| missing("zpool"))?;
        Ok(Zfs { zfs, zpool })
    }

    fn run_tool(&self, tool: &Path, args: &[&str]) -> Result<String, CliFailure> {
        cli_tool::run(tool, args, RUN_OPTS)
    }

    /// Run `zfs ARGS...` and return its standard output.
    pub fn run(&self, args: &[&str]) -> Result<String, CliFailure> {
        self.run_tool(&self.zfs, args)
    }

    /// Run `zpool ARGS...` and return its standard output.
    pub fn run_zpool(&self, args: &[&str]) -> Result<String, CliFailure> {
        self.run_tool(&self.zpool, args)
    }

    /// Run `zfs ARGS...`, trying again for a few seconds while the tool answers "busy"
    /// (zfs-fuse still finishing an unmount).
    pub fn run_retrying_busy(&self, args: &[&str]) -> Result<String, CliFailure> {
        cli_tool::retry_while_busy(|| self.run(args))
    }

    /// `zfs get -Hp -o value PROP DATASET`: one property's value, exact numbers for sizes.
    pub fn get(&self, dataset: &str, prop: &str) -> Result<String, CliFailure> {
        let out = self.run(&["get", "-Hp", "-o", "value", prop, dataset])?;
        Ok(out.lines().next().unwrap_or("").trim().to_string())
    }

    /// `zfs get -Hp -o property,value PROPS DATASET`: several properties as (name, value).
    pub fn get_many(
        &self,
        dataset: &str,
        props: &[&str],
    ) -> Result<Vec<(String, String)>, CliFailure> {
        let list = props.join(",");
        let out = self.run(&["get", "-Hp", "-o", "property,value", &list, dataset])?;
        Ok(parse_rows(&out)
            .into_iter()
            .filter_map(|mut row| {
                if row.len() >= 2 {
                    let value = row.swap_remove(1);
                    let name = row.swap_remove(0);
                    Some((name, value))
                } else {
                    None
                }
            })
            .collect())
    }

    /// Whether `dataset` exists (any type).
    pub fn exists(&self, dataset: &str) -> Result<bool, CliFailure> {
        match self.run(&["list", "-H", "-t", "all", "-o", "name", dataset]) {
            Ok(_) => Ok(true),
            Err(f) if f.is_not_found() => Ok(false),
            Err(f) => Err(f),
        }
    }

    /// `zfs list -H -r -t TYPE -o COLUMNS ROOT`: rows for `root` and everything below it.
    pub fn list_recursive(
        &self,
        root: &str,
        kind: &str,
        columns: &[&str],
    ) -> Result<Vec<Vec<String>>, CliFailure> {
        let cols = columns.join(",");
        let out = self.run(&["list", "-H", "-r", "-t", kind, "-o", &cols, root])?;
        Ok(parse_rows(&out))
    }

    /// `zpool list -H -o PROP POOL`: one pool property as the tool prints it.
    pub fn pool_property(&self, pool: &str, prop: &str) -> Result<String, CliFailure> {
        let out = self.run_zpool(&["list", "-H", "-o", prop, pool])?;
        Ok(out.lines().next().unwrap_or("").trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_split_on_tabs_and_blank_lines_dropped() {
        let rows = parse_rows("pool/a\t-\tfilesystem\n\npool/a@b\tx y\tsnapshot\n");
        assert_eq!(
            rows,
            vec![
                vec!["pool/a".to_string(), "-".into(), "filesystem".into()],
                vec!["pool/a@b".to_string(), "x y".into(), "snapshot".into()],
            ]
        );
    }

    #[test]
    fn failures_are_classified_by_what_the_tool_said() {
        let f = CliFailure {
            command: "zfs destroy p/a".into(),
            stderr: "cannot destroy 'p/a': dataset is busy".into(),
        };
        assert!(f.is_busy());
        assert!(!f.is_not_found());
        let f = CliFailure {
            command: "zfs list p/x".into(),
            stderr: "cannot open 'p/x': dataset does not exist".into(),
        };
        assert!(f.is_not_found());
    }
}
