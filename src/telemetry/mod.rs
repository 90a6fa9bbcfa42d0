//! Logging and metrics: the subscriber and the Prometheus recorder are set up here; what
//! is logged and counted is in one submodule per concern, each imported under its own name
//! everywhere:
//!
//! - [`metric`]: every metric's name and label.
//! - [`run_log`]: the log events of one run.
//! - [`daemon_log`]: the log events of `groupsync serve`.
//!
//! Logs go to stderr (stdout carries the summary); every line of a run is inside the
//! `run` span ([`run_span`]), so it carries the run id in both text and JSON output.

pub mod daemon_log;
pub mod metric;
pub mod run_log;

use crate::config::LogFormat;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, demo) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// The span every log line of one run is emitted in.
pub fn run_span(run_id: &crate::domain::RunId, trigger: &str) -> tracing::Span {
    tracing::info_span!("run", run_id = %run_id, trigger = trigger)
}

/// The process's Prometheus recorder, installed globally the first time it is asked for
/// (the metric macros write to the global recorder, so there can be only one).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(metric::RUN_DURATION.into()),
                    &metric::RUN_DURATION_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "another metrics recorder was installed first; /metrics stays empty"
                );
            }
            metric::describe();
            handle
        })
        .clone()
}
