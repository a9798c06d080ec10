//! Gauges computed when Prometheus scrapes, from the engine's own state: nothing to keep in sync.
//!
//! - `strata_layers`, `strata_layers_bytes`: image layers in the metadata store and their
//!   unpacked size;
//! - `strata_images`; `strata_containers{state}` (every state, zeros included);
//! - per running container (`id`, `name`, `image`), from its cgroups:
//!   `strata_container_cpu_seconds_total`, `strata_container_memory_usage_bytes`,
//!   `strata_container_memory_limit_bytes` (only when limited), `strata_container_pids`,
//!   `strata_container_blkio_read_bytes_total`, `strata_container_blkio_write_bytes_total`.
//!
//! Volumes do not exist yet, so `strata_volumes` is not exported.

use std::sync::Weak;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, GaugeVec, IntGauge, IntGaugeVec, Opts};
use tracing::warn;

use super::MetricsError;
use crate::engine::EngineInner;
use crate::model::ContainerStatus;

const STATES: &[ContainerStatus] = &[
    ContainerStatus::Created,
    ContainerStatus::Running,
    ContainerStatus::Paused,
    ContainerStatus::Restarting,
    ContainerStatus::Removing,
    ContainerStatus::Exited,
    ContainerStatus::Dead,
];

const CONTAINER_LABELS: &[&str] = &["id", "name", "image"];

/// Fresh metric values for one scrape; the collector keeps one set only for its descriptions.
struct Series {
    layers: IntGauge,
    layers_bytes: IntGauge,
    images: IntGauge,
    containers: IntGaugeVec,
    cpu_seconds: CounterVec,
    memory_usage: GaugeVec,
    memory_limit: GaugeVec,
    pids: GaugeVec,
    blkio_read: CounterVec,
    blkio_write: CounterVec,
}

impl Series {
    fn new() -> Result<Series, MetricsError> {
        Ok(Series {
            layers: IntGauge::new("strata_layers", "Image layers in the layer store.")?,
            layers_bytes: IntGauge::new(
                "strata_layers_bytes",
                "Unpacked size of the image layers in the layer store, in bytes.",
            )?,
            images: IntGauge::new("strata_images", "Images in the image store.")?,
            containers: IntGaugeVec::new(
                Opts::new("strata_containers", "Containers by state."),
                &["state"],
            )?,
            cpu_seconds: CounterVec::new(
                Opts::new(
                    "strata_container_cpu_seconds_total",
                    "CPU time used by a running container's processes, in seconds.",
                ),
                CONTAINER_LABELS,
            )?,
            memory_usage: GaugeVec::new(
                Opts::new(
                    "strata_container_memory_usage_bytes",
                    "Memory charged to a running container's cgroup, in bytes.",
                ),
                CONTAINER_LABELS,
            )?,
            memory_limit: GaugeVec::new(
                Opts::new(
                    "strata_container_memory_limit_bytes",
                    "Memory limit of a running container, in bytes (absent when unlimited).",
                ),
                CONTAINER_LABELS,
            )?,
            pids: GaugeVec::new(
                Opts::new("strata_container_pids", "Processes in a running container."),
                CONTAINER_LABELS,
            )?,
            blkio_read: CounterVec::new(
                Opts::new(
                    "strata_container_blkio_read_bytes_total",
                    "Bytes a running container read from block devices.",
                ),
                CONTAINER_LABELS,
            )?,
            blkio_write: CounterVec::new(
                Opts::new(
                    "strata_container_blkio_write_bytes_total",
                    "Bytes a running container wrote to block devices.",
                ),
                CONTAINER_LABELS,
            )?,
        })
    }

    fn descs(&self) -> Vec<&Desc> {
        let mut descs = Vec::new();
        descs.extend(self.layers.desc());
        descs.extend(self.layers_bytes.desc());
        descs.extend(self.images.desc());
        descs.extend(self.containers.desc());
        descs.extend(self.cpu_seconds.desc());
        descs.extend(self.memory_usage.desc());
        descs.extend(self.memory_limit.desc());
        descs.extend(self.pids.desc());
        descs.extend(self.blkio_read.desc());
        descs.extend(self.blkio_write.desc());
        descs
    }

    fn families(&self) -> Vec<MetricFamily> {
        let mut out = Vec::new();
        out.extend(self.layers.collect());
        out.extend(self.layers_bytes.collect());
        out.extend(self.images.collect());
        out.extend(self.containers.collect());
        out.extend(self.cpu_seconds.collect());
        out.extend(self.memory_usage.collect());
        out.extend(self.memory_limit.collect());
        out.extend(self.pids.collect());
        out.extend(self.blkio_read.collect());
        out.extend(self.blkio_write.collect());
        out
    }
}

/// The scrape-time collector of one engine.
pub struct EngineCollector {
    engine: Weak<EngineInner>,
    prototype: Series,
}

impl EngineCollector {
    pub(crate) fn new(engine: Weak<EngineInner>) -> Result<Self, MetricsError> {
        Ok(EngineCollector {
            engine,
            prototype: Series::new()?,
        })
    }
}

/// Fill `series` from the engine's state. Store errors are logged and leave that gauge out of
/// this scrape rather than failing the whole scrape.
fn fill(engine: &EngineInner, series: &Series) {
    match engine.db.read(layer_totals) {
        Ok((count, bytes)) => {
            series.layers.set(count);
            series.layers_bytes.set(bytes);
        }
        Err(e) => warn!(error = %e, "metrics: counting layers"),
    }
    match engine.images.count() {
        Ok(n) => series.images.set(n),
        Err(e) => warn!(error = %e, "metrics: counting images"),
    }
    let statuses = engine.containers.statuses();
    for state in STATES {
        let n = statuses.iter().filter(|s| *s == state).count();
        series
            .containers
            .with_label_values(&[state.as_str()])
            .set(n as i64);
    }
    for usage in engine.containers.running_usage() {
        let labels = [usage.id.as_str(), usage.name.as_str(), usage.image.as_str()];
        let cg = &usage.cgroup;
        series
            .cpu_seconds
            .with_label_values(&labels)
            .inc_by(cg.cpu.total_ns as f64 / 1e9);
        series
            .memory_usage
            .with_label_values(&labels)
            .set(cg.memory.usage as f64);
        if let Some(limit) = cg.memory.limit {
            series
                .memory_limit
                .with_label_values(&labels)
                .set(limit as f64);
        }
        series
            .pids
            .with_label_values(&labels)
            .set(cg.pids.current as f64);
        series
            .blkio_read
            .with_label_values(&labels)
            .inc_by(cg.blkio_read_bytes() as f64);
        series
            .blkio_write
            .with_label_values(&labels)
            .inc_by(cg.blkio_write_bytes() as f64);
    }
}

/// Layer count and total unpacked bytes.
fn layer_totals(conn: &rusqlite::Connection) -> crate::error::Result<(i64, i64)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM layers",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .map_err(|e| crate::error::EngineError::metadata("counting layers", e))
}

impl Collector for EngineCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.prototype.descs()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(engine) = self.engine.upgrade() else {
            return Vec::new();
        };
        let series = match Series::new() {
            Ok(series) => series,
            Err(e) => {
                warn!(error = %e, "metrics: defining the scrape-time series");
                return Vec::new();
            }
        };
        fill(&engine, &series);
        series.families()
    }
}
