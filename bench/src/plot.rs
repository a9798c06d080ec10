//! SVG plots (`--plot DIR`): one file per figure, `<figure id>.svg`, the figure's median against
//! the image depth (number of layers), one line per driver (and per layer size when several were
//! measured), with bars from min to p95.
//!
//! plotters is built without its font features (no font-kit, so no fontconfig): text is laid
//! out with its built-in estimate and written as SVG `<text>` for the viewer to render.

use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::error::BenchError;
use crate::figures::Figure;
use crate::report::{write_atomically, Report};
use crate::units::human_bytes;

const SIZE: (u32, u32) = (960, 600);

/// One line of a plot.
struct Series {
    label: String,
    color: RGBColor,
    marker: usize,
    /// (layers, min, median, p95), by layers.
    points: Vec<(f64, f64, f64, f64)>,
}

/// A fixed color per driver, so every plot reads the same.
fn driver_color(name: &str) -> RGBColor {
    match name {
        "vfs" => RGBColor(214, 39, 40),
        "overlay2" => RGBColor(31, 119, 180),
        "btrfs" => RGBColor(44, 160, 44),
        "zfs" => RGBColor(255, 127, 14),
        "devicemapper" => RGBColor(148, 103, 189),
        _ => RGBColor(90, 90, 90),
    }
}

fn series_of(report: &Report, figure: Figure) -> Vec<Series> {
    let sizes = &report.config.layer_sizes_bytes;
    let mut out = Vec::new();
    for driver in &report.drivers {
        for (size_index, &size) in sizes.iter().enumerate() {
            let mut points: Vec<(f64, f64, f64, f64)> = report
                .results
                .iter()
                .filter(|r| r.driver == driver.name && r.layer_size_bytes == size)
                .filter_map(|r| {
                    let s = r.figures.get(figure.id())?;
                    let k = axis_scale(figure);
                    Some((r.layers as f64, s.min / k, s.median / k, s.p95 / k))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = if sizes.len() > 1 {
                format!("{} {}", driver.name, human_bytes(size as f64))
            } else {
                driver.name.clone()
            };
            out.push(Series {
                label,
                color: driver_color(&driver.name),
                marker: size_index,
                points,
            });
        }
    }
    out
}

/// Byte figures are plotted in MiB, so that a log axis has round decades.
fn axis_scale(figure: Figure) -> f64 {
    if figure.is_bytes() {
        1024.0 * 1024.0
    } else {
        1.0
    }
}

/// The unit shown on the y axis.
fn axis_unit(figure: Figure) -> &'static str {
    if figure.is_bytes() {
        "MiB"
    } else {
        figure.unit()
    }
}

/// A tick value with no more digits than it needs: `100`, `2.5`, `0.01`.
fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (3 - v.abs().log10().floor() as i32 - 1).clamp(0, 6) as usize;
    let text = format!("{v:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Write every figure's plot into `dir`; returns the files written.
pub fn write_plots(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BenchError::io(format!("creating the plot directory {}", dir.display()), e))?;
    let mut written = Vec::new();
    for figure in Figure::ALL {
        let path = dir.join(format!("{}.svg", figure.id()));
        let svg = render(report, figure).map_err(|reason| BenchError::Output {
            path: path.clone(),
            reason,
        })?;
        write_atomically(&path, svg.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// The SVG text of one figure's plot.
pub fn render(report: &Report, figure: Figure) -> Result<String, String> {
    let series = series_of(report, figure);
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut x_min, mut x_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, min, _, p95) in all {
        lo = lo.min(min);
        hi = hi.max(p95);
        x_min = x_min.min(x);
        x_max = x_max.max(x);
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi, x_min, x_max) = (0.0, 1.0, 1.0, 1.0);
    }
    // Drivers differ by orders of magnitude: a log axis when every value is positive and they
    // span more than a factor of 20. Depths such as 1,5,20,64 read best on a log axis too.
    let log_y = lo > 0.0 && hi / lo > 20.0;
    let log_x = x_max / x_min >= 8.0;
    let (y_lo, y_hi) = if log_y {
        (lo / 1.5, hi * 1.5)
    } else {
        let bottom = if lo < 0.0 { lo * 1.1 } else { 0.0 };
        (bottom, if hi > bottom { hi * 1.1 } else { bottom + 1.0 })
    };
    let (x_lo, x_hi) = if log_x {
        (x_min / 1.3, x_max * 1.3)
    } else {
        ((x_min - 1.0).max(0.0), x_max + 1.0)
    };
    let (xr, yr) = (x_lo..x_hi, y_lo..y_hi);
    let mut svg = String::new();
    let plot = Plot {
        report,
        figure,
        series: &series,
    };
    match (log_x, log_y) {
        (false, false) => plot.draw(&mut svg, xr, yr)?,
        (true, false) => plot.draw(&mut svg, xr.log_scale(), yr)?,
        (false, true) => plot.draw(&mut svg, xr, yr.log_scale())?,
        (true, true) => plot.draw(&mut svg, xr.log_scale(), yr.log_scale())?,
    }
    Ok(svg)
}

/// What one plot shows.
struct Plot<'a> {
    report: &'a Report,
    figure: Figure,
    series: &'a [Series],
}

impl Plot<'_> {
    fn draw<X, Y>(&self, svg: &mut String, x_range: X, y_range: Y) -> Result<(), String>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let (report, figure, series) = (self.report, self.figure, self.series);
        let info = figure.info();
        let e = |err: DrawingAreaErrorKind<std::io::Error>| err.to_string();
        {
            let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(e)?;
            let caption = format!(
                "{} ({}, median of {} run(s), bars min..p95)",
                info.title,
                axis_unit(figure),
                report.config.runs
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 20))
                .margin(18)
                .x_label_area_size(48)
                .y_label_area_size(90)
                .build_cartesian_2d(x_range, y_range)
                .map_err(e)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .x_desc("layers in the image")
                .y_desc(axis_unit(figure))
                // Depths are whole numbers: leave ticks between them unlabelled.
                .x_label_formatter(&|x| {
                    if (x - x.round()).abs() < 1e-9 {
                        format!("{x:.0}")
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|y| tick_label(*y))
                .draw()
                .map_err(e)?;
            for s in series {
                let color = s.color;
                let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.2)).collect();
                chart
                    .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                    .map_err(e)?
                    .label(s.label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
                    });
                chart
                    .draw_series(s.points.iter().map(|&(x, min, median, p95)| {
                        ErrorBar::new_vertical(x, min, median, p95, color.stroke_width(1), 10)
                    }))
                    .map_err(e)?;
                match s.marker % 3 {
                    0 => chart
                        .draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))
                        .map_err(e)?,
                    1 => chart
                        .draw_series(
                            line.iter()
                                .map(|&p| TriangleMarker::new(p, 6, color.filled())),
                        )
                        .map_err(e)?,
                    _ => chart
                        .draw_series(
                            line.iter()
                                .map(|&p| Cross::new(p, 5, color.stroke_width(2))),
                        )
                        .map_err(e)?,
                };
            }
            if !series.is_empty() {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(e)?;
            }
            root.present().map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::tick_label;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick_label(100.0), "100");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(0.01), "0.01");
        assert_eq!(tick_label(12345.0), "12345");
        assert_eq!(tick_label(-20.0), "-20");
        assert_eq!(tick_label(0.0), "0");
    }
}
