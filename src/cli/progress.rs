//! Progress of a long run on a terminal: one bar on stderr, below the log lines (they are
//! written through the same [`indicatif`] bars, see [`crate::telemetry::progress_bars`]).
//! Nothing is drawn when stderr is not a terminal or logs are JSON.
//!
//! While a request waits to be retried, the bar's message says so ("retrying IdentityNow
//! entitlements at offset 500 in 7 s (429, attempt 2/5)") until the request is over.

use crate::identitynow::{FetchProgress, Selection};
use crate::retry::Retrying;
use crate::sync::Progress;
use crate::telemetry;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::{Arc, Mutex};

pub struct Terminal {
    bar: Option<Arc<Bar>>,
    /// What the source's entitlements gave: printed with the run's summary.
    selection: std::sync::Mutex<Option<String>>,
}

impl Terminal {
    /// A bar when `wanted` and logging can show one; otherwise progress goes nowhere.
    pub fn new(wanted: bool) -> Terminal {
        let bar = telemetry::progress_bars()
            .filter(|_| wanted)
            .map(|bars| Bar::new(bars.add(ProgressBar::no_length().with_style(style()))));
        if let Some(bar) = &bar {
            telemetry::set_bar_shown(true);
            let shown = bar.clone();
            telemetry::show_retries_on(Some(Box::new(move |r| shown.retrying(r))));
        }
        Terminal {
            bar,
            selection: std::sync::Mutex::new(None),
        }
    }

    /// Which group entitlements were selected and which left out, once the source is read.
    pub fn selection(&self) -> Option<String> {
        self.selection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn show(&self, stage: &str, done: usize, of: Option<u64>) {
        let Some(shown) = &self.bar else { return };
        let bar = &shown.bar;
        // Position and length together, so no frame shows more done than there is to do.
        match of {
            Some(of) => bar.update(|state| {
                state.set_len(of);
                state.set_pos(done as u64);
            }),
            None => {
                bar.unset_length();
                bar.set_position(done as u64);
            }
        }
        shown.stage(stage);
    }

    /// Removes the bar so the summary starts on a clean line.
    pub fn finish(&self) {
        if let Some(shown) = &self.bar {
            telemetry::show_retries_on(None);
            shown.bar.finish_and_clear();
            telemetry::set_bar_shown(false);
        }
    }
}

/// The bar and what its message says: the stage, or a retry while one waits.
struct Bar {
    bar: ProgressBar,
    line: Mutex<Line>,
}

#[derive(Default)]
struct Line {
    stage: String,
    retry: Option<String>,
}

impl Bar {
    fn new(bar: ProgressBar) -> Arc<Bar> {
        Arc::new(Bar {
            bar,
            line: Mutex::new(Line::default()),
        })
    }

    fn stage(&self, stage: &str) {
        let mut line = self.line.lock().unwrap_or_else(|p| p.into_inner());
        line.stage = stage.to_owned();
        self.draw(&line);
    }

    /// A retry waits (`Some`), or the retried request is over (`None`).
    fn retrying(&self, r: Option<&Retrying<'_>>) {
        let mut line = self.line.lock().unwrap_or_else(|p| p.into_inner());
        line.retry = r.map(Retrying::to_string);
        self.draw(&line);
    }

    fn draw(&self, line: &Line) {
        self.bar
            .set_message(line.retry.clone().unwrap_or_else(|| line.stage.clone()));
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} [{wide_bar}] {human_pos}/{human_len} groups")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Progress for Terminal {
    fn fetched(&self, p: &FetchProgress) {
        self.show(
            &format!("reading source, page {}", p.pages),
            p.groups,
            p.total,
        );
    }

    fn selected(&self, s: &Selection) {
        *self.selection.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("entitlements: {s}"));
    }

    fn checked(&self, done: usize, of: usize) {
        self.show("checking target", done, Some(of as u64));
    }

    fn created(&self, done: usize, of: usize) {
        self.show("creating", done, Some(of as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::{Bar, Terminal};
    use crate::retry::{Operation, Retrying};
    use crate::sync::Progress;
    use indicatif::ProgressBar;
    use std::time::Duration;

    #[test]
    fn a_waiting_retry_shows_on_the_progress_line_until_the_request_is_over() {
        let op = Operation::new("IdentityNow", "entitlements at offset 500");
        let r = Retrying {
            operation: &op,
            attempt: 2,
            max: 5,
            wait: Duration::from_millis(7_000),
            reason: "429".into(),
        };
        assert_eq!(
            r.to_string(),
            "retrying IdentityNow entitlements at offset 500 in 7 s (429, attempt 2/5)"
        );
        let short = Retrying {
            wait: Duration::from_millis(500),
            reason: "timeout".into(),
            ..r.clone()
        };
        assert!(short.to_string().contains(" in 500 ms (timeout, "));
        let bar = Bar::new(ProgressBar::hidden());
        bar.stage("reading source, page 3");
        assert_eq!(bar.bar.message(), "reading source, page 3");
        bar.retrying(Some(&r));
        assert_eq!(bar.bar.message(), r.to_string());
        bar.stage("reading source, page 3");
        assert_eq!(bar.bar.message(), r.to_string(), "still waiting");
        bar.retrying(None);
        assert_eq!(bar.bar.message(), "reading source, page 3");
    }

    #[test]
    fn no_bar_is_drawn_when_logging_cannot_show_one() {
        // Unit tests never call `telemetry::init`, so there is nowhere to draw a bar,
        // as when stderr is not a terminal.
        let t = Terminal::new(true);
        assert!(t.bar.is_none());
        t.created(1, 2);
        t.finish();
        assert!(Terminal::new(false).bar.is_none());
    }
}
