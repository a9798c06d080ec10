//! `strata bench`: what each graph driver costs to apply an image, instantiate a container layer
//! on it, copy up a file, diff, tear down, and how much disk N instances of one image take.
//!
//! The benchmark talks to the drivers directly through the `GraphDriver` trait (no daemon), so
//! it measures the storage layer itself. See `bench/README.md` for the figures and the JSON
//! schema (`bench/schema.json`).

mod args;
mod error;
mod figures;
mod interrupt;
mod machine;
mod measure;
mod payload;
mod progress;
mod scratch;
mod settle;
mod stats;
mod table;
mod targets;
mod units;

pub mod plot;
pub mod report;
pub mod validate;

use std::time::Instant;

pub use args::BenchArgs;
pub use error::BenchError;
pub use figures::Figure;
pub use stats::Summary;

use args::Plan;
use interrupt::Interrupt;
use measure::{estimate_disk, measure_cell, CellSpec};
use payload::Payload;
use progress::Progress;
use report::{CellResult, Config, DriverInfo, Report, SkippedCell, SkippedDriverInfo, Tool};
use scratch::IdGen;
use settle::available_bytes;
use targets::{open_drivers, OpenedDriver};
use units::human_bytes;

/// Room left free on a backing filesystem beyond a combination's estimated need.
const DISK_MARGIN: u64 = 1 << 30;

/// Run `strata bench` with its flags: measure, print the tables, write JSON and plots if asked.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    init_logging();
    let plan = Plan::from_args(&args)?;
    prepare_outputs(&plan)?;
    let report = measure_all(&plan)?;
    print!("{}", table::render(&report));
    if let Some(path) = &plan.json {
        report.write_json(path)?;
        eprintln!("strata bench: wrote {}", path.display());
    }
    if let Some(dir) = &plan.plot {
        let files = plot::write_plots(&report, dir)?;
        for file in &files {
            validate::check_svg(file).map_err(|reason| BenchError::Output {
                path: file.clone(),
                reason,
            })?;
        }
        eprintln!(
            "strata bench: wrote {} plots to {}",
            files.len(),
            dir.display()
        );
    }
    Ok(())
}

/// Make the directories the JSON report and the plots go to before measuring, so that a typo
/// there fails in a second rather than after the whole benchmark.
fn prepare_outputs(plan: &Plan) -> Result<(), BenchError> {
    let json_dir = plan
        .json
        .as_ref()
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty());
    for dir in json_dir.into_iter().chain(plan.plot.as_deref()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            BenchError::io(
                format!("creating the output directory {}", dir.display()),
                e,
            )
        })?;
    }
    if let Some(path) = &plan.json {
        if path.is_dir() {
            return Err(BenchError::Output {
                path: path.clone(),
                reason: "is a directory; --json wants a file name".into(),
            });
        }
    }
    Ok(())
}

/// Driver logs (and ours) at `warn` unless `STRATA_LOG` says otherwise, on stderr.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Already set (bench called from a process with its own subscriber): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One driver × depth × size to measure.
struct Cell {
    driver: usize,
    layers: usize,
    layer_size: u64,
}

/// Open the drivers, measure every combination, and assemble the report. Everything created is
/// removed before this returns, on success, error or Ctrl-C.
fn measure_all(plan: &Plan) -> Result<Report, BenchError> {
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let interrupt = Interrupt::install()?;
    let (drivers, skipped_drivers) = open_drivers(plan)?;

    let (cells, skipped_cells) = plan_cells(plan, &drivers.list)?;
    let progress = Progress::new((cells.len() * plan.runs) as u64, plan.progress);
    for s in &skipped_drivers {
        progress.note(&format!("strata bench: {} skipped: {}", s.name, s.reason));
    }
    for s in &skipped_cells {
        progress.note(&format!(
            "strata bench: {} {} x {} skipped: {}",
            s.driver,
            s.layers,
            human_bytes(s.layer_size_bytes as f64),
            s.reason
        ));
    }

    let mut ids = IdGen::new();
    let mut results: Vec<CellResult> = Vec::with_capacity(cells.len());
    // Size-major, then depth, then driver: one payload in memory at a time, and the drivers
    // measured side by side under the same conditions.
    for &layer_size in &plan.layer_sizes {
        let size_cells: Vec<&Cell> = cells
            .iter()
            .filter(|c| c.layer_size == layer_size)
            .collect();
        if size_cells.is_empty() {
            continue;
        }
        let payload = Payload::new(layer_size, plan.files_per_layer);
        for cell in size_cells {
            let opened = &drivers.list[cell.driver];
            let spec = CellSpec {
                payload: &payload,
                layers: cell.layers,
                runs: plan.runs,
                instances: plan.instances,
            };
            progress.set_message(format!(
                "{} {} layer(s) x {}",
                opened.name,
                cell.layers,
                human_bytes(layer_size as f64)
            ));
            let result = measure_cell(opened, &spec, &mut ids, &interrupt, |_| progress.inc())?;
            results.push(result);
        }
    }
    drop(progress);

    let report = Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool {
            name: "strata bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_seconds: clock.elapsed().as_secs_f64(),
        machine: machine::Machine::detect(),
        config: Config {
            drivers_requested: plan
                .drivers
                .as_ref()
                .map(|d| d.iter().map(|n| n.to_string()).collect()),
            layers: plan.layers.clone(),
            layer_sizes_bytes: plan.layer_sizes.clone(),
            files_per_layer: plan.files_per_layer,
            runs: plan.runs,
            instances: plan.instances,
            max_disk_bytes: plan.max_disk,
            quick: plan.quick,
        },
        figures: Figure::ALL.iter().map(|f| f.info()).collect(),
        drivers: drivers.list.iter().map(driver_info).collect(),
        skipped_drivers: skipped_drivers
            .iter()
            .map(|s| SkippedDriverInfo {
                name: s.name.into(),
                reason: s.reason.clone(),
            })
            .collect(),
        skipped_cells,
        results,
    };
    // Dropping the drivers unmounts what is left and deletes their scratch homes.
    drop(drivers);
    Ok(report)
}

fn driver_info(d: &OpenedDriver) -> DriverInfo {
    DriverInfo {
        name: d.name.into(),
        home: d.home.display().to_string(),
        backing_fs: d.backing_fs.clone(),
        status: d.status.iter().cloned().collect(),
    }
}

/// Every combination to measure, and those skipped because they would not fit on disk.
fn plan_cells(
    plan: &Plan,
    drivers: &[OpenedDriver],
) -> Result<(Vec<Cell>, Vec<SkippedCell>), BenchError> {
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for &layer_size in &plan.layer_sizes {
        for &layers in &plan.layers {
            for (index, d) in drivers.iter().enumerate() {
                let need = estimate_disk(
                    d.name,
                    layers,
                    layer_size,
                    plan.files_per_layer,
                    plan.instances,
                );
                let available = available_bytes(d.backing_path())?;
                let reason = if need > plan.max_disk {
                    Some(format!(
                        "needs about {} of disk, more than --max-disk {}",
                        human_bytes(need as f64),
                        human_bytes(plan.max_disk as f64)
                    ))
                } else if need.saturating_add(DISK_MARGIN) > available {
                    Some(format!(
                        "needs about {} of disk (plus {} to spare), {} available on {}",
                        human_bytes(need as f64),
                        human_bytes(DISK_MARGIN as f64),
                        human_bytes(available as f64),
                        d.backing_path().display()
                    ))
                } else {
                    None
                };
                match reason {
                    Some(reason) => {
                        skipped.push(SkippedCell {
                            driver: d.name.into(),
                            layers,
                            layer_size_bytes: layer_size,
                            reason,
                        });
                    }
                    None => cells.push(Cell {
                        driver: index,
                        layers,
                        layer_size,
                    }),
                }
            }
        }
    }
    Ok((cells, skipped))
}
