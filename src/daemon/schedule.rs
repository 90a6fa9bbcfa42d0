//! The cron trigger: fire times computed in the configured time zone, waited for on
//! tokio's clock.
//!
//! Fire times are found on the zone's wall clock (croner on a `DateTime<Tz>`), so a
//! daily 09:00 stays 09:00 local across daylight-saving changes; a time skipped by the
//! spring change fires right after the gap, and a time repeated by the autumn change
//! fires once. The wait is a tokio sleep, and "now" comes from a [`Clock`], so tests can
//! run days of schedule in paused time.

use super::coordinator::{Coordinator, TriggerKind};
use crate::config::Schedule;
use crate::telemetry::daemon_log;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// The first fire time strictly after `after`, or `None` if the expression never
/// fires again.
pub fn next_fire(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&schedule.timezone);
    schedule
        .cron
        .find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Where the schedule reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that moves with tokio's clock from a chosen start, so that paused and
/// advanced time in tests is also the time the schedule sees.
pub struct TokioClock {
    wall: DateTime<Utc>,
    at: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(wall: DateTime<Utc>) -> TokioClock {
        TokioClock {
            wall,
            at: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.at;
        self.wall + chrono::TimeDelta::from_std(elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// Triggers a run at every fire time until `shutdown`. Logs the next fire time at the
/// start and after each run.
pub async fn run(
    schedule: Schedule,
    coordinator: Coordinator,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) {
    let mut finished = coordinator.subscribe();
    let mut after = clock.now();
    loop {
        let Some(next) = next_fire(&schedule, after) else {
            daemon_log::schedule_exhausted(&schedule.expression);
            return;
        };
        log_next(&schedule, next);
        let wait = (next - clock.now()).to_std().unwrap_or_default();
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut sleep => break,
                got = finished.recv() => match got {
                    Ok(_) | Err(RecvError::Lagged(_)) => log_next(&schedule, next),
                    Err(RecvError::Closed) => {}
                },
            }
        }
        // Refused only while shutting down, and then the next turn returns.
        let _ = coordinator.trigger(TriggerKind::Schedule);
        // Not before `next` (a timer may wake a hair early), and not a burst of
        // catch-up runs after the machine slept through several fire times.
        after = next.max(clock.now());
    }
}

fn log_next(schedule: &Schedule, next: DateTime<Utc>) {
    let local = next.with_timezone(&schedule.timezone);
    daemon_log::next_fire(next, &local.format("%Y-%m-%d %H:%M:%S %Z").to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn schedule(expression: &str, zone: &str) -> Schedule {
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expression)
            .unwrap();
        Schedule {
            expression: expression.into(),
            cron,
            timezone: zone.parse().unwrap(),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fires(s: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        let mut out = vec![];
        for _ in 0..n {
            at = next_fire(s, at).unwrap();
            out.push(at.to_rfc3339());
        }
        out
    }

    #[test]
    fn a_daily_time_stays_local_across_the_spring_change_in_berlin() {
        let s = schedule("0 9 * * *", "Europe/Berlin");
        // 2026-03-29: 02:00 CET becomes 03:00 CEST
        assert_eq!(
            fires(&s, "2026-03-28T00:00:00Z", 3),
            [
                "2026-03-28T08:00:00+00:00",
                "2026-03-29T07:00:00+00:00",
                "2026-03-30T07:00:00+00:00"
            ]
        );
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_once_right_after_it() {
        let berlin = schedule("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&berlin, "2026-03-28T12:00:00Z", 2),
            // 03:00 CEST on the day of the change, then 02:30 CEST again
            ["2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00"]
        );
        let new_york = schedule("30 2 * * *", "America/New_York");
        // 2026-03-08: 02:00 EST becomes 03:00 EDT
        assert_eq!(
            fires(&new_york, "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00"]
        );
    }

    #[test]
    fn a_time_repeated_in_autumn_fires_once() {
        // 2026-10-25 in Berlin: 02:00–03:00 happens twice (CEST, then CET)
        let berlin = schedule("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            fires(&berlin, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
        );
        // 2026-11-01 in New York: 01:00–02:00 happens twice (EDT, then EST)
        let new_york = schedule("30 1 * * *", "America/New_York");
        assert_eq!(
            fires(&new_york, "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
        );
    }

    #[test]
    fn an_hourly_schedule_fires_every_real_hour_through_the_repeated_hour() {
        let s = schedule("0 * * * *", "Europe/Berlin");
        // 02:00 CEST, 02:00 CET (the repeated hour), 03:00 CET, 04:00 CET
        assert_eq!(
            fires(&s, "2026-10-24T23:30:00Z", 4),
            [
                "2026-10-25T00:00:00+00:00",
                "2026-10-25T01:00:00+00:00",
                "2026-10-25T02:00:00+00:00",
                "2026-10-25T03:00:00+00:00"
            ]
        );
    }

    #[test]
    fn seconds_are_optional() {
        let s = schedule("*/20 * * * * *", "UTC");
        assert_eq!(
            fires(&s, "2026-01-01T00:00:05Z", 2),
            ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00"]
        );
    }

    /// Notes the clock's time at each run and finishes at once.
    struct Stamp {
        clock: Arc<TokioClock>,
        at: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl crate::daemon::coordinator::Runner for Stamp {
        fn run(&self, req: crate::sync::RunRequest) -> crate::daemon::coordinator::RunFuture {
            self.at.lock().unwrap().push(self.clock.now().to_rfc3339());
            let report = self.interrupted(
                &req,
                Utc::now(),
                crate::sync::RunError::Internal("stand-in".into()),
            );
            Box::pin(async move { report })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_fires_on_tokio_time_across_the_change() {
        let c = Coordinator::new(10);
        let clock = Arc::new(TokioClock::starting_at(
            Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap(),
        ));
        let at = Arc::new(std::sync::Mutex::new(vec![]));
        let runner = Arc::new(Stamp {
            clock: clock.clone(),
            at: at.clone(),
        });
        let shutdown = CancellationToken::new();
        let mut finished = c.subscribe();
        let driver = {
            let (c, token) = (c.clone(), shutdown.clone());
            tokio::spawn(async move { c.drive(runner, token, Duration::from_secs(1)).await })
        };
        let s = schedule("30 2 * * *", "Europe/Berlin");
        let task = tokio::spawn(run(s, c.clone(), clock.clone(), shutdown.clone()));

        for _ in 0..3 {
            let run = finished.recv().await.unwrap();
            assert_eq!(run.trigger, "schedule");
        }
        assert_eq!(
            *at.lock().unwrap(),
            [
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:30:00+00:00",
                "2026-03-31T00:30:00+00:00"
            ]
        );
        shutdown.cancel();
        task.await.unwrap();
        driver.await.unwrap();
        assert_eq!(c.snapshot().started, 3);
    }
}
