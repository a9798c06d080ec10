//! One driver × depth × layer size combination, measured `runs` times.
//!
//! Each run: apply the image bottom-up (create + apply_diff per layer), instantiate a container
//! layer on its top (create_rw + get), change one byte of a bottom-layer file through it, diff
//! it, tear it down (put + remove); then create and mount `instances` container layers on the
//! image to see what they add on disk; then remove everything. Only the named steps are timed:
//! building the layer tars, syncing and cleaning up are not.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use strata_drivers::LayerId;

use crate::error::BenchError;
use crate::figures::Figure;
use crate::interrupt::Interrupt;
use crate::payload::Payload;
use crate::report::CellResult;
use crate::scratch::{IdGen, Scratch};
use crate::stats::Summary;
use crate::targets::OpenedDriver;

const MIB: f64 = 1024.0 * 1024.0;

/// What one cell needs besides the driver.
pub struct CellSpec<'a> {
    pub payload: &'a Payload,
    pub layers: usize,
    pub runs: usize,
    pub instances: usize,
}

/// Samples of every figure, gathered over runs.
#[derive(Default)]
struct Samples(BTreeMap<Figure, Vec<f64>>);

impl Samples {
    fn push(&mut self, figure: Figure, value: f64) {
        self.0.entry(figure).or_default().push(value);
    }
}

/// Milliseconds since `start`.
fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// A `Write` that only counts.
#[derive(Default)]
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Measure one cell. `on_run` is called after each run (progress).
pub fn measure_cell(
    opened: &OpenedDriver,
    spec: &CellSpec<'_>,
    ids: &mut IdGen,
    interrupt: &Interrupt,
    mut on_run: impl FnMut(usize),
) -> Result<CellResult, BenchError> {
    let mut samples = Samples::default();
    let mut image_bytes = 0;
    let mut diff_bytes = 0;
    for run in 0..spec.runs {
        interrupt.check()?;
        let mut scratch = Scratch::new(opened.driver.as_ref());
        let outcome = one_run(opened, spec, ids, interrupt, &mut scratch, &mut samples)?;
        image_bytes = outcome.image_bytes;
        diff_bytes = outcome.diff_bytes;
        scratch.release_all()?;
        crate::settle::after_run(opened.name, &opened.home, outcome.image_bytes);
        on_run(run + 1);
    }
    let mut figures = BTreeMap::new();
    for (figure, values) in &samples.0 {
        if let Some(summary) = Summary::of(figure.unit(), values) {
            figures.insert(figure.id().to_string(), summary);
        }
    }
    Ok(CellResult {
        driver: opened.name.to_string(),
        layers: spec.layers,
        layer_size_bytes: spec.payload.layer_size(),
        files_per_layer: spec.payload.files_per_layer(),
        image_bytes,
        diff_bytes,
        figures,
    })
}

struct RunOutcome {
    image_bytes: u64,
    diff_bytes: u64,
}

fn one_run(
    opened: &OpenedDriver,
    spec: &CellSpec<'_>,
    ids: &mut IdGen,
    interrupt: &Interrupt,
    scratch: &mut Scratch<'_>,
    samples: &mut Samples,
) -> Result<RunOutcome, BenchError> {
    // Apply, bottom-up.
    let mut top: Option<LayerId> = None;
    let mut apply_secs = 0.0;
    let mut image_bytes = 0;
    for index in 0..spec.layers {
        let tar = spec.payload.layer_tar(index)?;
        interrupt.check()?;
        let id = ids.image()?;
        let start = Instant::now();
        scratch.create(&id, top.as_ref())?;
        image_bytes += scratch.apply(&id, &mut tar.as_slice())?;
        apply_secs += start.elapsed().as_secs_f64();
        top = Some(id);
    }
    let Some(top) = top else {
        return Err(BenchError::InvalidArg {
            flag: "--layers",
            value: "0".into(),
            reason: "an image needs at least one layer".into(),
        });
    };
    samples.push(
        Figure::Apply,
        image_bytes as f64 / MIB / apply_secs.max(1e-9),
    );
    interrupt.check()?;

    // Instantiate.
    let container = ids.container()?;
    let start = Instant::now();
    scratch.create_rw(&container, &top)?;
    let root = scratch.get(&container)?;
    samples.push(Figure::Instantiate, ms_since(start));

    // First write (copy-up).
    let target = root.join(Payload::bottom_file());
    let start = Instant::now();
    change_one_byte(&target)?;
    samples.push(Figure::FirstWrite, ms_since(start));

    // Diff.
    let mut sink = CountingSink::default();
    let start = Instant::now();
    let diff_bytes = scratch.diff(&container, &mut sink)?;
    samples.push(Figure::Diff, ms_since(start));

    // Teardown.
    let start = Instant::now();
    scratch.put(&container)?;
    scratch.remove(&container)?;
    samples.push(Figure::Teardown, ms_since(start));
    interrupt.check()?;

    // Sharing: N instances of the same image.
    let backing = opened.backing_path();
    let before = used_bytes(backing)?;
    let mut instances = Vec::with_capacity(spec.instances);
    for _ in 0..spec.instances {
        interrupt.check()?;
        let id = ids.container()?;
        scratch.create_rw(&id, &top)?;
        scratch.get(&id)?;
        instances.push(id);
    }
    let after = used_bytes(backing)?;
    samples.push(Figure::DiskAdded, after as f64 - before as f64);
    let mut usage = 0;
    for id in &instances {
        usage += scratch.usage(id)?.size_bytes;
    }
    samples.push(Figure::InstancesUsage, usage as f64);

    Ok(RunOutcome {
        image_bytes,
        diff_bytes,
    })
}

/// Open `path` for writing (no truncation), overwrite its first byte, close.
fn change_one_byte(path: &Path) -> Result<(), BenchError> {
    let ctx = |e| BenchError::io(format!("first write to {}", path.display()), e);
    let file = OpenOptions::new().write(true).open(path).map_err(ctx)?;
    file.write_all_at(b"X", 0).map_err(ctx)?;
    drop(file);
    Ok(())
}

/// Used bytes of the filesystem holding `path`, after flushing it (`syncfs`) so that delayed
/// allocation and copy-on-write filesystems have settled their accounting.
fn used_bytes(path: &Path) -> Result<u64, BenchError> {
    let dir = std::fs::File::open(path)
        .map_err(|e| BenchError::io(format!("opening {} to sync it", path.display()), e))?;
    nix::unistd::syncfs(dir.as_raw_fd())
        .map_err(|e| BenchError::io(format!("syncfs of {}", path.display()), e.into()))?;
    let st = nix::sys::statvfs::fstatvfs(&dir)
        .map_err(|e| BenchError::io(format!("statvfs of {}", path.display()), e.into()))?;
    let frsize = st.fragment_size() as u64;
    Ok((st.blocks() as u64).saturating_sub(st.blocks_free() as u64) * frsize)
}

/// Bytes a cell is expected to need on disk at its peak (the image plus the instances, with a
/// block of slack per file), so that a run that cannot fit is skipped instead of filling the disk.
pub fn estimate_disk(
    driver: &str,
    layers: usize,
    layer_size: u64,
    files: usize,
    instances: usize,
) -> u64 {
    let layers = layers as u64;
    let per_file_slack = 4096 * (files as u64 + 1);
    let layer = layer_size + per_file_slack;
    let image = layer * layers;
    match driver {
        // Every layer is a full copy of its parent plus its own content, and so is every
        // container layer.
        "vfs" => layer * layers * (layers + 1) / 2 + (instances as u64 + 1) * image,
        // Copy-on-write drivers: the image once, plus one copied-up file.
        _ => image + layer_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vfs_needs_a_copy_per_layer() {
        let cow = estimate_disk("overlay2", 4, 1 << 20, 1, 2);
        let vfs = estimate_disk("vfs", 4, 1 << 20, 1, 2);
        assert!(cow < 6 << 20);
        // 1+2+3+4 layer copies for the image, 3 more full copies for the containers.
        assert!(vfs >= (10 + 12) << 20);
    }

    #[test]
    fn counting_sink_counts() {
        let mut s = CountingSink::default();
        s.write_all(&[0; 1000]).unwrap();
        assert_eq!(s.0, 1000);
    }
}
