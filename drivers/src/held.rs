//! A layer a driver mounts for its own use (diff, apply_diff, usage) through its own `get`, and
//! releases through `put` when the guard drops, whatever way the caller leaves.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::driver::GraphDriver;
use crate::error::DriverError;
use crate::layer_id::LayerId;

/// Layer `id` mounted at `path` for the driver's own use; `put` on drop.
pub struct HeldLayer<'a, D: GraphDriver + ?Sized> {
    driver: &'a D,
    id: LayerId,
    path: PathBuf,
}

impl<'a, D: GraphDriver + ?Sized> HeldLayer<'a, D> {
    /// `driver.get(id)`, released when the returned guard drops.
    pub fn hold(driver: &'a D, id: &LayerId) -> Result<Self, DriverError> {
        let path = driver.get(id)?;
        Ok(HeldLayer {
            driver,
            id: id.clone(),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<D: GraphDriver + ?Sized> Drop for HeldLayer<'_, D> {
    fn drop(&mut self) {
        if let Err(e) = self.driver.put(&self.id) {
            warn!(layer = %self.id, error = %e, "releasing a layer mounted for the driver's own use");
        }
    }
}

/// Mount `id` and, if it has one, its parent, hand both paths to `f`, and release both. Used by
/// the drivers whose diff and usage compare a layer's full tree against its parent's.
pub fn with_layer_and_parent<D: GraphDriver + ?Sized, T>(
    driver: &D,
    id: &LayerId,
    f: impl FnOnce(Option<&Path>, &Path) -> Result<T, DriverError>,
) -> Result<T, DriverError> {
    let parent = driver.parent(id)?;
    let layer = HeldLayer::hold(driver, id)?;
    let parent_held = parent
        .as_ref()
        .map(|p| HeldLayer::hold(driver, p))
        .transpose()?;
    f(parent_held.as_ref().map(|h| h.path()), layer.path())
}
