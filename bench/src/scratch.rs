//! The layers one benchmark run creates, remembered so that every one of them is unmounted and
//! removed again: at the end of the run, on an error, or on Ctrl-C.
//!
//! Layer ids carry this process's id (`sb<pid>-i<n>` for image layers, `sb<pid>-c<n>` for
//! container layers) so that a driver shared with others (one zfs parent dataset) never sees a
//! name clash.

use std::io::{Read, Write};
use std::path::PathBuf;

use strata_drivers::{CreateOpts, GraphDriver, LayerId, Usage};
use tracing::warn;

use crate::error::BenchError;

/// Hands out unique layer ids for this process.
#[derive(Debug)]
pub struct IdGen {
    prefix: String,
    next: u64,
}

impl IdGen {
    pub fn new() -> IdGen {
        IdGen {
            prefix: format!("sb{}", std::process::id()),
            next: 0,
        }
    }

    fn make(&mut self, kind: char) -> Result<LayerId, BenchError> {
        self.next += 1;
        let text = format!("{}-{kind}{}", self.prefix, self.next);
        LayerId::new(text.clone()).map_err(|source| BenchError::Driver {
            driver: "-",
            op: "naming",
            layer: text,
            source: Box::new(source),
        })
    }

    /// A fresh id for an image layer.
    pub fn image(&mut self) -> Result<LayerId, BenchError> {
        self.make('i')
    }

    /// A fresh id for a container (read-write) layer.
    pub fn container(&mut self) -> Result<LayerId, BenchError> {
        self.make('c')
    }
}

impl Default for IdGen {
    fn default() -> Self {
        IdGen::new()
    }
}

/// A driver plus the layers and mounts this run made in it. Dropping it releases them all.
pub struct Scratch<'d> {
    driver: &'d dyn GraphDriver,
    name: &'static str,
    /// Layers in creation order (parents before children).
    layers: Vec<LayerId>,
    /// One entry per `get` not yet matched by a `put`.
    mounts: Vec<LayerId>,
}

impl<'d> Scratch<'d> {
    pub fn new(driver: &'d dyn GraphDriver) -> Scratch<'d> {
        Scratch {
            driver,
            name: driver.name(),
            layers: Vec::new(),
            mounts: Vec::new(),
        }
    }

    fn fail(
        &self,
        op: &'static str,
        id: &LayerId,
    ) -> impl FnOnce(strata_drivers::DriverError) -> BenchError {
        let driver = self.name;
        let layer = id.to_string();
        move |source| BenchError::Driver {
            driver,
            op,
            layer,
            source: Box::new(source),
        }
    }

    /// `create` an image layer.
    pub fn create(&mut self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), BenchError> {
        self.driver
            .create(id, parent)
            .map_err(self.fail("create", id))?;
        self.layers.push(id.clone());
        Ok(())
    }

    /// `create_rw` a container layer.
    pub fn create_rw(&mut self, id: &LayerId, parent: &LayerId) -> Result<(), BenchError> {
        self.driver
            .create_rw(id, Some(parent), &CreateOpts::default())
            .map_err(self.fail("create_rw", id))?;
        self.layers.push(id.clone());
        Ok(())
    }

    /// `apply_diff` a tar into a layer; returns the unpacked size.
    pub fn apply(&mut self, id: &LayerId, tar: &mut dyn Read) -> Result<u64, BenchError> {
        self.driver
            .apply_diff(id, tar)
            .map_err(self.fail("apply_diff", id))
    }

    /// `get` (mount) a layer.
    pub fn get(&mut self, id: &LayerId) -> Result<PathBuf, BenchError> {
        let path = self.driver.get(id).map_err(self.fail("get", id))?;
        self.mounts.push(id.clone());
        Ok(path)
    }

    /// `put` (release) a layer got before.
    pub fn put(&mut self, id: &LayerId) -> Result<(), BenchError> {
        self.driver.put(id).map_err(self.fail("put", id))?;
        if let Some(pos) = self.mounts.iter().rposition(|m| m == id) {
            self.mounts.remove(pos);
        }
        Ok(())
    }

    /// `remove` a layer.
    pub fn remove(&mut self, id: &LayerId) -> Result<(), BenchError> {
        self.driver.remove(id).map_err(self.fail("remove", id))?;
        self.layers.retain(|l| l != id);
        Ok(())
    }

    /// `diff` a layer into `out`; returns the bytes written.
    pub fn diff(&mut self, id: &LayerId, out: &mut dyn Write) -> Result<u64, BenchError> {
        self.driver.diff(id, out).map_err(self.fail("diff", id))
    }

    /// `usage` of a layer.
    pub fn usage(&mut self, id: &LayerId) -> Result<Usage, BenchError> {
        self.driver.usage(id).map_err(self.fail("usage", id))
    }

    /// Put every outstanding mount and remove every layer, children first. Keeps going past
    /// failures and returns the first one.
    pub fn release_all(&mut self) -> Result<(), BenchError> {
        let mut first_error = None;
        while let Some(id) = self.mounts.pop() {
            if let Err(e) = self.driver.put(&id) {
                first_error.get_or_insert(BenchError::Driver {
                    driver: self.name,
                    op: "put",
                    layer: id.to_string(),
                    source: Box::new(e),
                });
            }
        }
        while let Some(id) = self.layers.pop() {
            if !self.driver.exists(&id) {
                continue;
            }
            if let Err(e) = self.driver.remove(&id) {
                first_error.get_or_insert(BenchError::Driver {
                    driver: self.name,
                    op: "remove",
                    layer: id.to_string(),
                    source: Box::new(e),
                });
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        if self.mounts.is_empty() && self.layers.is_empty() {
            return;
        }
        if let Err(e) = self.release_all() {
            warn!(driver = self.name, error = %e, "cleaning up the benchmark's layers failed");
        }
    }
}
