//! The reader wrapper that records a layer tar's split while the tar is being unpacked, and the
//! finished-but-unpublished split it leaves.
//!
//! Recording never fails the read: if the split cannot be written (disk full, say) the layer is
//! still registered, only without a split (save then falls back to the driver's diff).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use strata_drivers::fsutil::private::{private_dir, private_file_options};

use super::format::SplitWriter;
use super::scanner::TarScanner;

/// A temporary split file, removed when dropped unless it was renamed into place.
pub(super) struct TempSplit {
    path: PathBuf,
    kept: bool,
}

impl TempSplit {
    fn create(dir: &Path) -> io::Result<(TempSplit, File)> {
        private_dir(dir)?;
        let path = dir.join(format!(
            "{}{}",
            super::TEMP_PREFIX,
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let file = private_file_options()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok((TempSplit { path, kept: false }, file))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The file was renamed into place: do not remove it.
    pub(super) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for TempSplit {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Err(err) = fs::remove_file(&self.path) {
            if err.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %err,
                    "removing a temporary tar-split file; the next start removes it");
            }
        }
    }
}

struct Recording {
    temp: TempSplit,
    scanner: TarScanner,
    writer: SplitWriter<BufWriter<File>>,
}

/// Passes a layer tar through unchanged while recording its split to a temporary file.
pub struct SplitRecorder<R> {
    inner: R,
    recording: Option<Recording>,
}

/// A complete split, not yet visible under its layer's name.
pub struct PendingSplit {
    pub(super) temp: TempSplit,
}

impl<R: Read> SplitRecorder<R> {
    /// Record into a new temporary file in `dir`; without one, pass the stream through only.
    pub(super) fn new(inner: R, dir: &Path) -> Self {
        let recording = match TempSplit::create(dir) {
            Ok((temp, file)) => {
                match SplitWriter::new(BufWriter::with_capacity(256 * 1024, file)) {
                    Ok(writer) => Some(Recording {
                        temp,
                        scanner: TarScanner::new(),
                        writer,
                    }),
                    Err(err) => {
                        warn_not_recorded(&err);
                        None
                    }
                }
            }
            Err(err) => {
                warn_not_recorded(&err);
                None
            }
        };
        SplitRecorder { inner, recording }
    }

    /// End the recording once the whole stream was read: the split, unless it could not be
    /// written or the tar overwrites a file whose content it refers to.
    pub fn finish(self) -> Option<PendingSplit> {
        let recording = self.recording?;
        if let Some(conflict) = recording.scanner.conflict() {
            tracing::info!(
                reason = conflict,
                "layer tar not recorded as tar-split (save rebuilds it from the driver's diff)"
            );
            return None;
        }
        let finished = recording
            .writer
            .finish()
            .and_then(|buffered| buffered.into_inner().map_err(|e| e.into_error()))
            .and_then(|file| file.sync_all());
        match finished {
            Ok(()) => Some(PendingSplit {
                temp: recording.temp,
            }),
            Err(err) => {
                warn_not_recorded(&err);
                None
            }
        }
    }
}

fn warn_not_recorded(err: &io::Error) {
    tracing::warn!(error = %err,
        "cannot write the layer's tar-split file; save will rebuild it from the driver's diff");
}

impl<R: Read> Read for SplitRecorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(recording) = &mut self.recording {
            if let Err(err) = recording.scanner.feed(&buf[..n], &mut recording.writer) {
                warn_not_recorded(&err);
                self.recording = None;
            }
        }
        Ok(n)
    }
}
