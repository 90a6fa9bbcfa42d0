//! Waiting out a request's latency to the microsecond.
//!
//! tokio's timer counts whole milliseconds and rounds up, which made a 5 ms latency about
//! 6 ms. A blocking thread's sleep keeps to the setting but costs two hand-overs between
//! threads per request (to the sleeping thread and back): a 5 ms wait took 5.36 ms on
//! average at a benchmark's pace, against 5.19 ms now, and the difference counted against
//! the client the benchmark measures. On Linux the wait is a `timerfd` watched by the runtime's own
//! event loop, which wakes the waiting task when the kernel's high-resolution timer fires;
//! elsewhere it is the blocking thread's sleep.
//!
//! Neither follows tokio's paused clock: tests that pause time set no latency.

use std::future::Future;
use std::time::{Duration, Instant};

/// Waits `d`, counted from this call, not from when the future is first awaited.
pub fn wait(d: Duration) -> impl Future<Output = ()> {
    let started = Instant::now();
    let timer = Timer::start(d);
    async move {
        if timer.fired().await.is_err() {
            // no timer could be set up: the runtime's, rounded up to the millisecond
            tokio::time::sleep(d.saturating_sub(started.elapsed())).await;
        }
    }
}

#[cfg(target_os = "linux")]
struct Timer(std::io::Result<tokio::io::unix::AsyncFd<rustix::fd::OwnedFd>>);

#[cfg(target_os = "linux")]
impl Timer {
    /// A one-shot monotonic timer armed for `d` from now.
    fn start(d: Duration) -> Timer {
        use rustix::time::{
            Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
            timerfd_settime,
        };
        let armed = || {
            let fd = timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )?;
            let once = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                // a zero value would disarm the timer: a zero wait is one nanosecond
                it_value: Timespec {
                    tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(d.subsec_nanos().max(u32::from(d.is_zero()))),
                },
            };
            timerfd_settime(&fd, TimerfdTimerFlags::empty(), &once)?;
            // Deprecated because a registered descriptor that something else closes or
            // reuses is unsound; this one is owned by the `AsyncFd` itself, closed only
            // when it is dropped (its replacement, `register_with_interest`, is `unsafe`).
            #[allow(deprecated)]
            tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)
        };
        Timer(armed())
    }

    /// Resolves when the timer has fired: its expiry count was read.
    async fn fired(self) -> std::io::Result<()> {
        let fd = self.0?;
        loop {
            let mut ready = fd.readable().await?;
            let mut count = [0u8; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut count)?)) {
                Ok(read) => return read.map(|_| ()),
                // woken before the timer fired: wait again
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
struct Timer(tokio::task::JoinHandle<()>);

#[cfg(not(target_os = "linux"))]
impl Timer {
    fn start(d: Duration) -> Timer {
        Timer(tokio::task::spawn_blocking(move || std::thread::sleep(d)))
    }

    async fn fired(self) -> std::io::Result<()> {
        self.0.await.map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_at_least_the_time_counted_from_the_call() {
        for ms in [0, 1, 3, 7] {
            let d = Duration::from_millis(ms);
            let started = Instant::now();
            let waiting = wait(d);
            // time spent before the first poll counts toward the wait
            std::thread::sleep(Duration::from_millis(2));
            let before_poll = started.elapsed();
            waiting.await;
            assert!(
                started.elapsed() >= d,
                "{ms} ms: woke after {:?}",
                started.elapsed()
            );
            if before_poll >= d {
                // already over: the wait ends at once, it does not start again
                assert!(started.elapsed() < before_poll + Duration::from_millis(500));
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_waits_at_once_each_last_their_own_time() {
        let waits = (0..200u64).map(|i| async move {
            let d = Duration::from_micros(500 + 37 * i);
            let started = Instant::now();
            wait(d).await;
            (d, started.elapsed())
        });
        for (d, took) in futures_util::future::join_all(waits).await {
            assert!(took >= d, "asked {d:?}, woke after {took:?}");
        }
    }
}
