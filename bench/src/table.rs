//! The terminal tables: one per figure, a row per image shape (depth × layer size), a column
//! per driver, each cell `median [min..p95]`.

use std::fmt::Write;

use crate::figures::{Better, Figure};
use crate::report::Report;
use crate::stats::Summary;
use crate::units::{human_bytes, short_number};

/// Format one summary for a table cell.
fn cell(figure: Figure, s: &Summary) -> String {
    let f = |v: f64| {
        if figure.is_bytes() {
            human_bytes(v)
        } else {
            short_number(v)
        }
    };
    if s.runs == 1 {
        f(s.median)
    } else {
        format!("{} [{}..{}]", f(s.median), f(s.min), f(s.p95))
    }
}

/// Every table of the report, with a header naming the drivers and what was skipped.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let c = &report.config;
    let _ = writeln!(
        out,
        "strata bench: {} run(s) per shape, {} file(s) per layer, {} instance(s) for the disk figures",
        c.runs, c.files_per_layer, c.instances
    );
    for d in &report.drivers {
        let _ = writeln!(out, "  {:<12} on {} ({})", d.name, d.backing_fs, d.home);
    }
    for s in &report.skipped_drivers {
        let _ = writeln!(out, "  {:<12} skipped: {}", s.name, s.reason);
    }
    for s in &report.skipped_cells {
        let _ = writeln!(
            out,
            "  {:<12} {} x {} skipped: {}",
            s.driver,
            s.layers,
            human_bytes(s.layer_size_bytes as f64),
            s.reason
        );
    }
    for figure in Figure::ALL {
        out.push('\n');
        out.push_str(&render_figure(report, figure));
    }
    out
}

/// One figure's table.
pub fn render_figure(report: &Report, figure: Figure) -> String {
    let info = figure.info();
    let drivers: Vec<&str> = report.drivers.iter().map(|d| d.name.as_str()).collect();
    let better = match info.better {
        Better::Lower => "lower is better",
        Better::Higher => "higher is better",
    };
    let spread = if report.config.runs == 1 {
        ""
    } else {
        ", median [min..p95]"
    };
    let mut out = format!("{} ({}{spread}; {better})\n", info.title, info.unit);

    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header = vec!["layers".to_string(), "layer size".to_string()];
    header.extend(drivers.iter().map(|d| d.to_string()));
    rows.push(header);
    for &size in &report.config.layer_sizes_bytes {
        for &layers in &report.config.layers {
            let mut row = vec![layers.to_string(), human_bytes(size as f64)];
            for driver in &drivers {
                let found = report.results.iter().find(|r| {
                    r.driver == *driver && r.layers == layers && r.layer_size_bytes == size
                });
                let text = match found.and_then(|r| r.figures.get(info.id)) {
                    Some(summary) => cell(figure, summary),
                    None if found.is_some() => "-".to_string(),
                    None => "skipped".to_string(),
                };
                row.push(text);
            }
            rows.push(row);
        }
    }

    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let mut line = String::from("  ");
        for (i, text) in row.iter().enumerate() {
            let pad = widths[i] - text.chars().count();
            // Numbers right-aligned, the header left-aligned.
            if n == 0 {
                line.push_str(text);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            }
            line.push_str("   ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::machine::Machine;
    use crate::report::{CellResult, Config, DriverInfo, SkippedCell, Tool};

    fn report() -> Report {
        let driver = |name: &str| DriverInfo {
            name: name.into(),
            home: format!("/x/{name}"),
            backing_fs: "extfs".into(),
            status: BTreeMap::new(),
        };
        let mut figures = BTreeMap::new();
        for f in Figure::ALL {
            figures.insert(
                f.id().to_string(),
                Summary::of(f.unit(), &[2.0, 1.0, 3.0]).unwrap(),
            );
        }
        Report {
            schema_version: 1,
            tool: Tool {
                name: "strata bench".into(),
                version: "0".into(),
            },
            command_line: vec!["strata".into()],
            started_at: String::new(),
            finished_at: String::new(),
            duration_seconds: 0.0,
            machine: Machine {
                kernel: "6".into(),
                arch: "x86_64".into(),
                os: None,
                cpus: 1,
                cpu_model: None,
                memory_bytes: None,
            },
            config: Config {
                drivers_requested: None,
                layers: vec![1, 20],
                layer_sizes_bytes: vec![1 << 20],
                files_per_layer: 8,
                runs: 3,
                instances: 2,
                max_disk_bytes: 1 << 30,
                quick: false,
            },
            figures: Figure::ALL.iter().map(|f| f.info()).collect(),
            drivers: vec![driver("vfs"), driver("overlay2")],
            skipped_drivers: vec![],
            skipped_cells: vec![SkippedCell {
                driver: "vfs".into(),
                layers: 20,
                layer_size_bytes: 1 << 20,
                reason: "too big".into(),
            }],
            results: ["vfs", "overlay2"]
                .iter()
                .flat_map(|d| [(d, 1usize), (d, 20)])
                .filter(|(d, l)| !(**d == "vfs" && *l == 20))
                .map(|(d, layers)| CellResult {
                    driver: d.to_string(),
                    layers,
                    layer_size_bytes: 1 << 20,
                    files_per_layer: 8,
                    image_bytes: 1,
                    diff_bytes: 1,
                    figures: figures.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_row_per_shape_one_column_per_driver() {
        let text = render_figure(&report(), Figure::Instantiate);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("instantiate: ") && lines[0].contains("lower is better"));
        assert!(
            lines[1].contains("layers")
                && lines[1].contains("vfs")
                && lines[1].contains("overlay2")
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            [
                "1",
                "1",
                "MiB",
                "2.00",
                "[1.00..3.00]",
                "2.00",
                "[1.00..3.00]"
            ]
        );
        assert!(lines[3].contains("skipped"), "{text}");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn bytes_are_human() {
        let text = render_figure(&report(), Figure::InstancesUsage);
        assert!(text.contains("2 B [1 B..3 B]"), "{text}");
        let all = render(&report());
        assert!(
            all.contains("vfs          20 x 1 MiB skipped: too big"),
            "{all}"
        );
    }
}
