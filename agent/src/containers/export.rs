//! `docker export`: the container's merged root filesystem as one tar (every file, no
//! whiteouts), written in the drivers' layer tar form (sorted, PAX times and xattrs) to a spool
//! file so errors are answered before the first byte.

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::spool::{anonymous_file, rewind, SpooledArchive};

impl Engine {
    /// `docker export CONTAINER`: works for running and stopped containers.
    pub async fn export_container(&self, id: &str) -> Result<SpooledArchive> {
        let c = self.inner.containers.shared().find(id)?;
        let rw_layer = c.record().rw_layer;
        let engine = self.clone();
        let container_id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let driver = &engine.inner.driver;
            let mut file = anonymous_file(engine.inner.images.tmp_root(), "export")?;
            let root = driver.get(&rw_layer)?;
            let written = {
                let mut out = std::io::BufWriter::with_capacity(1024 * 1024, &mut file);
                strata_drivers::archive::write_naive_diff(None, &root, &mut out)
                    .map_err(EngineError::from)
                    .and_then(|_| {
                        std::io::Write::flush(&mut out)
                            .map_err(|e| EngineError::io("writing the export spool file", e))
                    })
            };
            let released = driver.put(&rw_layer);
            written?;
            released?;
            let size = rewind(&mut file, "export")?;
            tracing::info!(container = %container_id, bytes = size, "container exported");
            Ok(SpooledArchive { file, size })
        })
        .await
        .map_err(|e| EngineError::Internal(format!("export task: {e}")))?
    }
}
