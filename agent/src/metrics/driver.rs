//! `MeteredDriver`: a [`GraphDriver`] decorator that times every content operation into
//! `strata_driver_operation_duration_seconds{driver,operation}` and counts failures in
//! `strata_driver_operation_errors_total{driver,operation}`. The drivers themselves stay
//! metrics-free.
//!
//! Operation labels are the trait's method names: `create`, `create_rw`, `get` (mount), `put`
//! (unmount), `remove`, `diff`, `apply_diff`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use prometheus::{HistogramVec, IntCounterVec};
use strata_drivers::{ApplyLimits, CreateOpts, DriverError, GraphDriver, LayerId, Usage};

/// The operations that are timed, as they appear in the `operation` label.
pub const OPERATIONS: &[&str] = &[
    "create",
    "create_rw",
    "get",
    "put",
    "remove",
    "diff",
    "apply_diff",
];

/// Wraps the opened driver; every other method passes straight through.
pub struct MeteredDriver {
    inner: Arc<dyn GraphDriver>,
    duration: HistogramVec,
    errors: IntCounterVec,
}

impl MeteredDriver {
    /// Wrap `inner`, recording into `duration` and `errors` (labels `driver`, `operation`).
    /// Every operation's series exists from the start, at zero.
    pub fn new(inner: Arc<dyn GraphDriver>, duration: HistogramVec, errors: IntCounterVec) -> Self {
        for op in OPERATIONS {
            duration.with_label_values(&[inner.name(), op]);
            errors.with_label_values(&[inner.name(), op]);
        }
        MeteredDriver {
            inner,
            duration,
            errors,
        }
    }

    fn timed<T>(
        &self,
        operation: &str,
        f: impl FnOnce() -> Result<T, DriverError>,
    ) -> Result<T, DriverError> {
        let start = Instant::now();
        let result = f();
        let labels = [self.inner.name(), operation];
        self.duration
            .with_label_values(&labels)
            .observe(start.elapsed().as_secs_f64());
        if result.is_err() {
            self.errors.with_label_values(&labels).inc();
        }
        result
    }
}

impl GraphDriver for MeteredDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<(), DriverError> {
        self.timed("create", || self.inner.create(id, parent))
    }

    fn create_rw(
        &self,
        id: &LayerId,
        parent: Option<&LayerId>,
        opts: &CreateOpts,
    ) -> Result<(), DriverError> {
        self.timed("create_rw", || self.inner.create_rw(id, parent, opts))
    }

    fn remove(&self, id: &LayerId) -> Result<(), DriverError> {
        self.timed("remove", || self.inner.remove(id))
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.inner.exists(id)
    }

    fn parent(&self, id: &LayerId) -> Result<Option<LayerId>, DriverError> {
        self.inner.parent(id)
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf, DriverError> {
        self.timed("get", || self.inner.get(id))
    }

    fn put(&self, id: &LayerId) -> Result<(), DriverError> {
        self.timed("put", || self.inner.put(id))
    }

    fn diff(&self, id: &LayerId, out: &mut dyn Write) -> Result<u64, DriverError> {
        self.timed("diff", || self.inner.diff(id, out))
    }

    fn apply_diff_limited(
        &self,
        id: &LayerId,
        input: &mut dyn Read,
        limits: &ApplyLimits,
    ) -> Result<u64, DriverError> {
        self.timed("apply_diff", || {
            self.inner.apply_diff_limited(id, input, limits)
        })
    }

    fn usage(&self, id: &LayerId) -> Result<Usage, DriverError> {
        self.inner.usage(id)
    }

    fn status(&self) -> Vec<(String, String)> {
        self.inner.status()
    }

    fn metadata(&self, id: &LayerId) -> Result<BTreeMap<String, String>, DriverError> {
        self.inner.metadata(id)
    }

    fn layers(&self) -> Result<Vec<LayerId>, DriverError> {
        self.inner.layers()
    }

    fn reconcile_mounts(&self, in_use: &[LayerId]) -> Result<(), DriverError> {
        self.inner.reconcile_mounts(in_use)
    }

    fn cleanup(&self) -> Result<(), DriverError> {
        self.inner.cleanup()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn metered(home: &std::path::Path) -> (Metrics, MeteredDriver) {
        let metrics = Metrics::new().unwrap();
        let opts = strata_drivers::DriverOptions::new(home.to_path_buf());
        let vfs = strata_drivers::open_driver("vfs", &opts).unwrap();
        let driver = MeteredDriver::new(
            vfs,
            metrics.driver_duration.clone(),
            metrics.driver_errors.clone(),
        );
        (metrics, driver)
    }

    fn count(metrics: &Metrics, op: &str) -> u64 {
        metrics
            .driver_duration
            .with_label_values(&["vfs", op])
            .get_sample_count()
    }

    fn errors(metrics: &Metrics, op: &str) -> u64 {
        metrics.driver_errors.with_label_values(&["vfs", op]).get()
    }

    #[test]
    fn every_operation_is_timed_and_failures_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let (metrics, driver) = metered(tmp.path());
        let base = LayerId::new("base").unwrap();
        let rw = LayerId::new("rw").unwrap();
        driver.create(&base, None).unwrap();
        driver
            .create_rw(&rw, Some(&base), &CreateOpts::default())
            .unwrap();
        let path = driver.get(&rw).unwrap();
        std::fs::write(path.join("file"), b"hello").unwrap();
        driver.put(&rw).unwrap();
        let mut tar = Vec::new();
        driver.diff(&rw, &mut tar).unwrap();
        let other = LayerId::new("other").unwrap();
        driver.create(&other, None).unwrap();
        driver.apply_diff(&other, &mut &tar[..]).unwrap();
        driver.remove(&rw).unwrap();
        for op in OPERATIONS {
            assert!(count(&metrics, op) >= 1, "{op} was not timed");
            assert_eq!(errors(&metrics, op), 0, "{op} counted an error");
        }
        assert_eq!(driver.name(), "vfs");

        // A failing operation is timed and counted as an error.
        let missing = LayerId::new("missing").unwrap();
        assert!(driver.get(&missing).is_err());
        assert_eq!(errors(&metrics, "get"), 1);
        assert_eq!(count(&metrics, "get"), 2);

        let text = metrics.render().unwrap();
        assert!(text
            .contains("strata_driver_operation_errors_total{driver=\"vfs\",operation=\"get\"} 1"));
    }
}
