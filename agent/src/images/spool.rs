//! Spool files: anonymous temporary files under `<data-root>/tmp` for streams whose size or
//! digest must be known before they are used (a layer diff before it is registered, an archive
//! before it is answered). The file is unlinked as soon as it is created, so nothing is left on
//! disk whatever happens to the operation or the process.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use strata_drivers::fsutil::private::private_file_options;

use crate::error::{EngineError, Result};

/// A finished archive (export, save) ready to be streamed to a client from its start.
#[derive(Debug)]
pub struct SpooledArchive {
    /// Positioned at the start; already unlinked.
    pub file: File,
    /// Its length in bytes.
    pub size: u64,
}

/// Create an unlinked read-write file in `dir`; `what` names it in errors.
pub fn anonymous_file(dir: &Path, what: &str) -> Result<File> {
    let path = dir.join(format!(
        "spool-{what}-{}",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    let file = private_file_options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| EngineError::io(format!("creating spool file {}", path.display()), e))?;
    std::fs::remove_file(&path)
        .map_err(|e| EngineError::io(format!("unlinking spool file {}", path.display()), e))?;
    Ok(file)
}

/// Rewind a spooled file to its start and return its length.
pub fn rewind(file: &mut File, what: &str) -> Result<u64> {
    let size = file
        .seek(SeekFrom::End(0))
        .map_err(|e| EngineError::io(format!("measuring the {what} spool file"), e))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| EngineError::io(format!("rewinding the {what} spool file"), e))?;
    Ok(size)
}
