//! What a server has served, for `GET /sandbox/stats`: requests by method and path
//! template, the 429s among them, and the most requests seen in any sliding 10-second
//! window, and in any second, per key (a client id on the tenant, one key for the whole
//! SCIM server).
//!
//! Times are tokio instants, so tests can pause time.

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The window the peak is measured over (the tenant's rate-limit window).
pub const WINDOW: Duration = Duration::from_secs(10);

/// The largest number of events inside any window `[t, t + window)` (10 s unless made
/// [`PeakWindow::over`] another), kept while the events arrive in time order: only the
/// events of the last window are remembered.
#[derive(Debug)]
pub struct PeakWindow {
    recent: VecDeque<Instant>,
    peak: usize,
    window: Duration,
}

impl Default for PeakWindow {
    fn default() -> Self {
        PeakWindow::over(WINDOW)
    }
}

impl PeakWindow {
    /// The peak over windows of this length.
    pub fn over(window: Duration) -> PeakWindow {
        PeakWindow {
            recent: VecDeque::new(),
            peak: 0,
            window,
        }
    }

    /// Counts an event at `now` (not earlier than the previous one) and returns the peak.
    pub fn hit(&mut self, now: Instant) -> usize {
        while self
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.window)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.peak = self.peak.max(self.recent.len());
        self.peak
    }

    pub fn peak(&self) -> usize {
        self.peak
    }
}

#[derive(Debug, Default)]
struct Inner {
    by_route: BTreeMap<String, u64>,
    total: u64,
    too_many: u64,
    windows: HashMap<String, PeakWindow>,
    /// The same over one-second windows.
    seconds: HashMap<String, PeakWindow>,
}

/// Counters of one server; shared by its handlers.
#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Inner>,
}

impl Stats {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request answered with `status`, under its `route` ("GET /v2025/entitlements").
    pub fn served(&self, route: String, status: u16) {
        let mut inner = self.lock();
        inner.total += 1;
        if status == 429 {
            inner.too_many += 1;
        }
        *inner.by_route.entry(route).or_default() += 1;
    }

    /// A request attributed to `key` at `now`, for the sliding-window peak.
    pub fn seen(&self, key: &str, now: Instant) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        for (windows, length) in [
            (&mut inner.windows, WINDOW),
            (&mut inner.seconds, Duration::from_secs(1)),
        ] {
            windows
                .entry(key.to_owned())
                .or_insert_with(|| PeakWindow::over(length))
                .hit(now);
        }
    }

    /// The most requests of `key` in any one second (0 if it was never seen).
    pub fn peak_in_second(&self, key: &str) -> usize {
        self.lock().seconds.get(key).map_or(0, PeakWindow::peak)
    }

    /// The peak for `key` (0 if it was never seen).
    pub fn peak(&self, key: &str) -> usize {
        self.lock().windows.get(key).map_or(0, PeakWindow::peak)
    }

    /// Every key's peak.
    pub fn peaks(&self) -> BTreeMap<String, usize> {
        let inner = self.lock();
        inner
            .windows
            .iter()
            .map(|(k, w)| (k.clone(), w.peak()))
            .collect()
    }

    /// The counts `GET /sandbox/stats` answers with; each server adds its peaks.
    pub fn to_json(&self) -> Value {
        let inner = self.lock();
        json!({
            "requests": inner.total,
            "by_route": inner.by_route,
            "rate_limited": inner.too_many,
            "window_seconds": WINDOW.as_secs(),
        })
    }
}

/// The route of `path` among `templates` (segments in braces match any one segment), or
/// `None` when no template matches.
pub fn template_of<'a, S: AsRef<str>>(path: &str, templates: &'a [S]) -> Option<&'a str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    templates.iter().map(AsRef::as_ref).find(|t| {
        let parts: Vec<&str> = t.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_fullest_ten_seconds() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = PeakWindow::default();
        // 3 in the first second, 2 more before 10 s: 5 within [0, 10 s)
        for ms in [0, 100, 900, 5_000, 9_999] {
            w.hit(at(ms));
        }
        assert_eq!(w.peak(), 5);
        // at 10 s the first one has left: still 5 in [0.1 s, 10.1 s)
        assert_eq!(w.hit(at(10_000)), 5);
        assert_eq!(w.hit(at(10_050)), 6, "100, 900, 5000, 9999, 10000, 10050");
        // a quiet spell then a burst of 2 keeps the earlier peak
        w.hit(at(30_000));
        assert_eq!(w.hit(at(30_001)), 6);
        assert_eq!(w.recent.len(), 2, "only the last window is kept");
        // events exactly WINDOW apart never share a window
        let mut spaced = PeakWindow::default();
        for i in 0..5 {
            spaced.hit(t0 + WINDOW * i);
        }
        assert_eq!(spaced.peak(), 1);
        // many at one instant all count
        let mut burst = PeakWindow::default();
        for _ in 0..7 {
            burst.hit(t0);
        }
        assert_eq!(burst.peak(), 7);
    }

    #[test]
    fn stats_count_routes_429s_and_peaks_per_key() {
        let s = Stats::default();
        let t0 = Instant::now();
        s.served("GET /v2025/entitlements".into(), 200);
        s.served("GET /v2025/entitlements".into(), 429);
        s.served("POST /oauth/token".into(), 200);
        s.seen("a", t0);
        s.seen("a", t0 + Duration::from_secs(1));
        s.seen("b", t0);
        assert_eq!((s.peak("a"), s.peak("b"), s.peak("c")), (2, 1, 0));
        let j = s.to_json();
        assert_eq!(j["requests"], 3);
        assert_eq!(j["rate_limited"], 1);
        assert_eq!(j["by_route"]["GET /v2025/entitlements"], 2);
        assert_eq!(s.peaks()["a"], 2);
        assert_eq!(s.peak_in_second("a"), 1, "a second apart");
        s.seen("a", t0 + Duration::from_millis(1_500));
        assert_eq!((s.peak("a"), s.peak_in_second("a")), (3, 2));
    }

    #[test]
    fn paths_map_to_their_templates() {
        let t = ["/v3/sources", "/v3/sources/{id}", "/beta/task-status/{id}"];
        assert_eq!(template_of("/v3/sources", &t), Some("/v3/sources"));
        assert_eq!(template_of("/v3/sources/abc", &t), Some("/v3/sources/{id}"));
        assert_eq!(template_of("/v3/sources/", &t), Some("/v3/sources"));
        assert_eq!(template_of("/v3/sources/a/b", &t), None);
        assert_eq!(
            template_of("/beta/task-status/x", &t),
            Some("/beta/task-status/{id}")
        );
    }
}
