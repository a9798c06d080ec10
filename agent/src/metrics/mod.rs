//! The engine's Prometheus registry: driver operation latencies and errors (recorded by
//! [`MeteredDriver`] around the real driver), image loads, API requests (recorded by the HTTP
//! layer through [`Metrics::observe_api_request`]), the agent's process metrics, and gauges
//! computed at scrape time ([`collector`]: layers, images, containers by state, per-container
//! cgroup figures).

pub mod collector;
pub mod counting_reader;
pub mod driver;
pub mod error;

use std::sync::Weak;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

pub use counting_reader::CountingReader;
pub use driver::MeteredDriver;
pub use error::MetricsError;

use crate::engine::EngineInner;

/// Buckets for operations from sub-millisecond mounts to minute-long layer applies.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The registry and the series the engine and the API record into.
pub struct Metrics {
    registry: Registry,
    pub(crate) driver_duration: HistogramVec,
    pub(crate) driver_errors: IntCounterVec,
    image_load_bytes: IntCounter,
    image_load_duration: HistogramVec,
    api_requests: IntCounterVec,
    api_duration: HistogramVec,
}

impl Metrics {
    /// A fresh registry with every series registered (one per engine, so several engines in one
    /// process, as in tests, do not mix).
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let driver_duration = HistogramVec::new(
            HistogramOpts::new(
                "strata_driver_operation_duration_seconds",
                "Time taken by graph driver operations (get = mount, put = unmount).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["driver", "operation"],
        )?;
        let driver_errors = IntCounterVec::new(
            Opts::new(
                "strata_driver_operation_errors_total",
                "Graph driver operations that failed.",
            ),
            &["driver", "operation"],
        )?;
        let image_load_bytes = IntCounter::new(
            "strata_image_load_bytes_total",
            "Bytes of image archives received by docker load.",
        )?;
        let image_load_duration = HistogramVec::new(
            HistogramOpts::new(
                "strata_image_load_duration_seconds",
                "Time taken by docker load, by outcome.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["outcome"],
        )?;
        let api_requests = IntCounterVec::new(
            Opts::new(
                "strata_api_requests_total",
                "API requests by matched route template, method and status code.",
            ),
            &["route", "method", "status"],
        )?;
        let api_duration = HistogramVec::new(
            HistogramOpts::new(
                "strata_api_request_duration_seconds",
                "Time until the API answered (headers sent), by matched route template and method.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )?;
        registry.register(Box::new(driver_duration.clone()))?;
        registry.register(Box::new(driver_errors.clone()))?;
        registry.register(Box::new(image_load_bytes.clone()))?;
        registry.register(Box::new(image_load_duration.clone()))?;
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_duration.clone()))?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            driver_duration,
            driver_errors,
            image_load_bytes,
            image_load_duration,
            api_requests,
            api_duration,
        })
    }

    /// Add the scrape-time collector of `engine`'s state (held weakly: the engine owns us).
    pub(crate) fn register_engine(&self, engine: Weak<EngineInner>) -> Result<(), MetricsError> {
        let collector = collector::EngineCollector::new(engine)?;
        self.registry.register(Box::new(collector))?;
        Ok(())
    }

    /// Record one API request. `route` must be a route template (`/containers/{id}/json`), never
    /// a raw path.
    pub fn observe_api_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.api_requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.api_duration
            .with_label_values(&[route, method])
            .observe(took.as_secs_f64());
    }

    /// Record one `docker load`: bytes received and how long it took, by outcome.
    pub fn observe_image_load(&self, bytes: u64, took: Duration, ok: bool) {
        self.image_load_bytes.inc_by(bytes);
        let outcome = if ok { "success" } else { "error" };
        self.image_load_duration
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }

    /// Every series in the text exposition format (version 0.0.4).
    pub fn render(&self) -> Result<String, MetricsError> {
        let families = self.registry.gather();
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out)?;
        String::from_utf8(out).map_err(|e| MetricsError::Encode(e.to_string()))
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
