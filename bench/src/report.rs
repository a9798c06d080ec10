//! The JSON report (`--json FILE`). Its schema is `bench/schema.json`; bump
//! [`SCHEMA_VERSION`] on any change that is not a pure addition of optional fields.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::BenchError;
use crate::figures::FigureInfo;
use crate::machine::Machine;
use crate::stats::Summary;

/// Version of the report's layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    /// The exact command line, one element per argument.
    pub command_line: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub machine: Machine,
    pub config: Config,
    pub figures: Vec<FigureInfo>,
    pub drivers: Vec<DriverInfo>,
    pub skipped_drivers: Vec<SkippedDriverInfo>,
    pub skipped_cells: Vec<SkippedCell>,
    pub results: Vec<CellResult>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The plan, after defaults.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// The drivers named with `--drivers`, or null when every driver that opens was measured.
    pub drivers_requested: Option<Vec<String>>,
    pub layers: Vec<usize>,
    pub layer_sizes_bytes: Vec<u64>,
    pub files_per_layer: usize,
    pub runs: usize,
    pub instances: usize,
    pub max_disk_bytes: u64,
    pub quick: bool,
}

/// A measured driver.
#[derive(Clone, Debug, Serialize)]
pub struct DriverInfo {
    pub name: String,
    pub home: String,
    /// `docker info`'s "Backing Filesystem" word for the home's filesystem.
    pub backing_fs: String,
    /// The driver's own status pairs.
    pub status: BTreeMap<String, String>,
}

/// A driver that was not measured because it does not open here.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedDriverInfo {
    pub name: String,
    pub reason: String,
}

/// A driver × depth × size combination that was not measured.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedCell {
    pub driver: String,
    pub layers: usize,
    pub layer_size_bytes: u64,
    pub reason: String,
}

/// Every figure of one driver × depth × size combination.
#[derive(Clone, Debug, Serialize)]
pub struct CellResult {
    pub driver: String,
    pub layers: usize,
    pub layer_size_bytes: u64,
    pub files_per_layer: usize,
    /// File content in the whole image (what apply_diff reported, summed over layers).
    pub image_bytes: u64,
    /// Size of the container layer's diff tar (last run).
    pub diff_bytes: u64,
    /// Figure id -> summary over the runs.
    pub figures: BTreeMap<String, Summary>,
}

impl Report {
    /// Write the report to `path` atomically (a temporary file in the same directory, renamed).
    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| BenchError::Output {
            path: path.to_path_buf(),
            reason: format!("serializing the report: {e}"),
        })?;
        write_atomically(path, text.as_bytes())
    }
}

/// Write `bytes` to `path` through a temporary sibling and one rename; nothing is left behind
/// on failure.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    let fail = |reason: String| BenchError::Output {
        path: path.to_path_buf(),
        reason,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| fail("not a file path".into()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    Ok(())
}
