//! Progress of a long run on a terminal: one bar on stderr, below the log lines (they are
//! written through the same [`indicatif`] bars, see [`crate::telemetry::progress_bars`]).
//! Nothing is drawn when stderr is not a terminal or logs are JSON.

use crate::identitynow::{FetchProgress, Selection};
use crate::sync::Progress;
use crate::telemetry;
use indicatif::{ProgressBar, ProgressStyle};

pub struct Terminal {
    bar: Option<ProgressBar>,
    /// What the source's entitlements gave: printed with the run's summary.
    selection: std::sync::Mutex<Option<String>>,
}

impl Terminal {
    /// A bar when `wanted` and logging can show one; otherwise progress goes nowhere.
    pub fn new(wanted: bool) -> Terminal {
        let bar = telemetry::progress_bars()
            .filter(|_| wanted)
            .map(|bars| bars.add(ProgressBar::no_length().with_style(style())));
        if bar.is_some() {
            telemetry::set_bar_shown(true);
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
        let Some(bar) = &self.bar else { return };
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
        bar.set_message(stage.to_owned());
    }

    /// Removes the bar so the summary starts on a clean line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            telemetry::set_bar_shown(false);
        }
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
    use super::Terminal;
    use crate::sync::Progress;

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
