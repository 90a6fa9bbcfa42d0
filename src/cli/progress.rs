//! Progress of a long run on a terminal: one line on stderr, rewritten in place. Nothing
//! is shown when stderr is not a terminal or logs are JSON.

use crate::identitynow::FetchProgress;
use crate::sync::Progress;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

pub struct Terminal {
    enabled: bool,
    shown: Mutex<bool>,
}

impl Terminal {
    pub fn new(wanted: bool) -> Terminal {
        Terminal {
            enabled: wanted && std::io::stderr().is_terminal(),
            shown: Mutex::new(false),
        }
    }

    fn show(&self, line: String) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = true;
    }

    /// Ends the progress line so the summary starts on a fresh one.
    pub fn finish(&self) {
        if *self.shown.lock().unwrap_or_else(|p| p.into_inner()) {
            eprintln!();
        }
    }
}

impl Progress for Terminal {
    fn fetched(&self, p: &FetchProgress) {
        let total = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
        self.show(format!(
            "reading source: {} pages, {} groups{total}",
            p.pages, p.groups
        ));
    }

    fn checked(&self, done: usize, of: usize) {
        self.show(format!("checking target: {done}/{of} groups"));
    }

    fn created(&self, done: usize, of: usize) {
        self.show(format!("creating: {done}/{of} groups"));
    }
}
