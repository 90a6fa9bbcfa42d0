//! Logging and metrics: the subscriber and the Prometheus recorder are set up here; what
//! is logged and counted is in one submodule per concern, each imported under its own name
//! everywhere:
//!
//! - [`metric`]: every metric's name and label.
//! - [`run_log`]: the log events of one run.
//! - [`daemon_log`]: the log events of `groupsync serve`.
//!
//! The clients ([`crate::identitynow`], [`crate::scim`]) log the details of their own
//! exchanges (pages, token renewals) where they happen; every retry is
//! [`run_log::retrying`], shown on a terminal's progress line too ([`show_retries_on`]).
//!
//! Logs go to stderr (stdout carries the summary); every line of a run is inside the
//! `run` span ([`run_span`]), so it carries the run id and the job in both text and JSON output.
//!
//! When stderr is a terminal and logs are text, log lines are written through the
//! [`progress_bars`], so a progress bar stays below them instead of being broken up; the
//! one line per created group drops to debug while a bar counts the groups
//! ([`run_log::group_created`]). Colours only on a terminal, and not when `NO_COLOR` is set.

pub mod daemon_log;
pub mod metric;
pub mod run_log;

use crate::config::LogFormat;
use indicatif::MultiProgress;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_indicatif::IndicatifWriter;
use tracing_indicatif::writer::Stderr;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format;

/// The progress bars log lines are printed above; set only when they can be shown.
static BARS: OnceLock<MultiProgress> = OnceLock::new();
/// True while a progress bar counts a run's groups.
static BAR_SHOWN: AtomicBool = AtomicBool::new(false);

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours(terminal, std::env::var_os("NO_COLOR")))
        .fmt_fields(escaped_fields());
    // A second init (tests, demo) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text if bars_possible(terminal, format) => {
            let bars = MultiProgress::new();
            let installed = builder
                .with_writer(IndicatifWriter::<Stderr>::new(bars.clone()))
                .try_init();
            if installed.is_ok() {
                let _ = BARS.set(bars);
            }
            installed
        }
        LogFormat::Text => builder.with_writer(std::io::stderr).try_init(),
        LogFormat::Json => builder
            .with_writer(std::io::stderr)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

/// Text logs' fields with control characters escaped (`\n`, `\u{1b}`, …): a value from
/// outside (an upstream's error body, a group name) cannot start a forged log line or
/// drive the terminal. JSON logs are escaped by their encoding.
fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer, field, value| {
        let text = escape_controls(&format!("{value:?}"));
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// `text` with every control character written as its escape.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Colours only when stderr is a terminal and `NO_COLOR` is unset (a container's or a
/// service manager's log gets plain text).
fn colours(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none()
}

/// A progress bar only on a terminal, and never among JSON logs.
fn bars_possible(stderr_is_terminal: bool, format: LogFormat) -> bool {
    stderr_is_terminal && format == LogFormat::Text
}

/// Where a progress bar goes, so log lines print above it; `None` when stderr is not a
/// terminal, logs are JSON, or logging was set up without [`init`].
pub fn progress_bars() -> Option<&'static MultiProgress> {
    BARS.get()
}

/// Says whether a progress bar is counting a run's groups ([`progress_bars`]).
pub fn set_bar_shown(shown: bool) {
    BAR_SHOWN.store(shown, Ordering::Relaxed);
}

fn bar_shown() -> bool {
    BAR_SHOWN.load(Ordering::Relaxed)
}

/// What shows a retry while it waits (a terminal's progress line); `None` clears it.
pub type RetryLine = Box<dyn Fn(Option<&crate::retry::Retrying<'_>>) + Send + Sync>;

static RETRY_LINE: std::sync::Mutex<Option<RetryLine>> = std::sync::Mutex::new(None);

/// Sets (or with `None` removes) what shows retries while they wait.
pub fn show_retries_on(line: Option<RetryLine>) {
    *RETRY_LINE.lock().unwrap_or_else(|p| p.into_inner()) = line;
}

fn show_retry(r: Option<&crate::retry::Retrying<'_>>) {
    if let Some(line) = RETRY_LINE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        line(r);
    }
}

/// The span every log line of one run is emitted in: the run's id, its job and its trigger.
pub fn run_span(run_id: &crate::domain::RunId, job: &str, trigger: &str) -> tracing::Span {
    tracing::info_span!("run", run_id = %run_id, job = job, trigger = trigger)
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

#[cfg(test)]
mod tests {
    use super::{bars_possible, colours, escaped_fields};
    use crate::config::LogFormat;
    use std::sync::{Arc, Mutex};

    /// What a text subscriber with [`escaped_fields`] writes for one event.
    fn text_line(emit: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .fmt_fields(escaped_fields())
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_upstream_body_cannot_forge_a_text_log_line() {
        let body = "oops\n2026-01-01T00:00:00Z  INFO groupsync: run finished created=0\r\u{1b}[2K";
        let line = text_line(|| {
            tracing::warn!(error = %body, status = 500, "upstream failed: {}", body);
        });
        assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
        assert!(line.ends_with('\n'));
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "{line:?}");
        assert!(line.contains("oops\\n2026-01-01"), "{line:?}");
        assert!(line.contains("status=500"), "{line:?}");
    }

    #[test]
    fn no_progress_bar_unless_stderr_is_a_terminal_and_logs_are_text() {
        assert!(bars_possible(true, LogFormat::Text));
        assert!(!bars_possible(false, LogFormat::Text));
        assert!(!bars_possible(true, LogFormat::Json));
        assert!(!bars_possible(false, LogFormat::Json));
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(true, Some("".into())));
        assert!(!colours(false, None));
    }
}
