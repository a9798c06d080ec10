//! Rebuilding a layer tar from its split: raw bytes as recorded, each file's content read from
//! the layer's tree (the driver's merged view; the layer's own content is on top of it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use strata_drivers::{GraphDriver, LayerId};

use super::error::TarSplitError;
use super::format::{Segment, SplitReader};

/// Write the tar described by `split` to `out`, reading file contents under `root`. Returns the
/// number of bytes written.
pub fn reassemble<R: Read>(
    mut split: SplitReader<R>,
    root: &Path,
    out: &mut dyn Write,
) -> Result<u64, TarSplitError> {
    let root = fs::canonicalize(root).map_err(|e| TarSplitError::LayerFile {
        path: root.to_path_buf(),
        reason: format!("resolving the layer's tree: {e}"),
    })?;
    let mut written = 0u64;
    while let Some(segment) = split.next_segment()? {
        match segment {
            Segment::Raw(bytes) => {
                out.write_all(&bytes).map_err(TarSplitError::Output)?;
                written += bytes.len() as u64;
            }
            Segment::File { path, size } => {
                written += copy_file(&root, &path, size, out)?;
            }
        }
    }
    Ok(written)
}

/// Copy exactly `size` bytes of the file at `rel` under `root`, refusing a path that leaves the
/// tree through a symlink.
fn copy_file(
    root: &Path,
    rel: &Path,
    size: u64,
    out: &mut dyn Write,
) -> Result<u64, TarSplitError> {
    let full = root.join(rel);
    let bad = |reason: String| TarSplitError::LayerFile {
        path: full.clone(),
        reason,
    };
    if rel.is_absolute() || rel.as_os_str().is_empty() {
        return Err(bad("not a relative path".into()));
    }
    let real = fs::canonicalize(&full).map_err(|e| bad(e.to_string()))?;
    if real != full {
        return Err(bad(format!(
            "resolves to {} (through a symlink)",
            real.display()
        )));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&full)
        .map_err(|e| bad(e.to_string()))?;
    let mut content = file.take(size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(bad(e.to_string())),
        };
        out.write_all(&buf[..n]).map_err(TarSplitError::Output)?;
        copied += n as u64;
    }
    if copied != size {
        return Err(bad(format!(
            "holds {copied} bytes but the layer tar had {size}"
        )));
    }
    Ok(copied)
}

/// One `get` of a layer, released by `put` when dropped.
pub struct MountedLayer<'a> {
    driver: &'a dyn GraphDriver,
    id: &'a LayerId,
    path: PathBuf,
}

impl<'a> MountedLayer<'a> {
    /// `get` the layer's tree.
    pub fn get(driver: &'a dyn GraphDriver, id: &'a LayerId) -> Result<Self, TarSplitError> {
        let path = driver.get(id)?;
        Ok(MountedLayer { driver, id, path })
    }

    /// Where the layer's tree is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for MountedLayer<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.driver.put(self.id) {
            tracing::warn!(cache_id = %self.id, error = %err, "releasing a layer after reading it");
        }
    }
}
