//! Simulated time as a plain number, so that protocol code and records never hold a
//! madsim type.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Nanoseconds of simulated time since the start of the run. Totally ordered, cheap to copy,
/// and displayed as seconds with millisecond precision (`12.345s`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);

    /// The current simulated time. Must be called inside a madsim runtime.
    pub fn now() -> SimTime {
        let elapsed = madsim::time::TimeHandle::current().elapsed();
        SimTime(elapsed.as_nanos() as u64)
    }

    /// Builds a time from milliseconds since the start.
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }

    /// Builds a time from a duration since the start.
    pub fn from_duration(d: Duration) -> SimTime {
        SimTime(d.as_nanos() as u64)
    }

    /// Whole milliseconds since the start.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Seconds since the start, as a float (for display and charts only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Duration since the start.
    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> SimTime {
        SimTime(self.0.saturating_add(d.as_nanos() as u64))
    }

    /// The duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}s",
            self.0 / 1_000_000_000,
            (self.0 / 1_000_000) % 1000
        )
    }
}

/// Sleeps until the given simulated time (returns at once if it has passed).
pub async fn sleep_until(t: SimTime) {
    let now = SimTime::now();
    if t > now {
        madsim::time::sleep(t.since(now)).await;
    }
}

/// A wake-up for one task's event loop that re-arms cheaply.
///
/// madsim cannot cancel a timer, and its `Sleep` registers a new one every time it is
/// polled, so a loop that builds a fresh `sleep` per iteration leaves one timer (and one
/// spurious wake-up) per event behind. An `Alarm` registers at most one timer per distinct
/// deadline and completes exactly when simulated time reaches the deadline. Use one alarm
/// per task: its timers wake the task that first waited for each deadline.
#[derive(Debug, Default)]
pub struct Alarm {
    armed: BTreeSet<SimTime>,
}

impl Alarm {
    /// An alarm with no timer registered.
    pub fn new() -> Self {
        Alarm::default()
    }

    /// Completes once simulated time reaches `at` (at once if it has passed).
    pub fn wait_until(&mut self, at: SimTime) -> AlarmWait<'_> {
        AlarmWait { alarm: self, at }
    }
}

/// The future of [`Alarm::wait_until`].
#[derive(Debug)]
pub struct AlarmWait<'a> {
    alarm: &'a mut Alarm,
    at: SimTime,
}

impl Future for AlarmWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let now = SimTime::now();
        if this.at <= now {
            return Poll::Ready(());
        }
        let armed = &mut this.alarm.armed;
        if !armed.contains(&this.at) {
            *armed = armed.split_off(&SimTime(now.0 + 1));
            let mut sleep = madsim::time::sleep(this.at.since(now));
            // Dropping the `Sleep` keeps its timer: it wakes this task at `at`.
            if Pin::new(&mut sleep).poll(cx).is_ready() {
                return Poll::Ready(());
            }
            armed.insert(this.at);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_seconds_with_millis() {
        assert_eq!(SimTime::from_millis(12_345).to_string(), "12.345s");
        assert_eq!(SimTime(999_999).to_string(), "0.000s");
        assert_eq!(
            SimTime::from_millis(1).plus(Duration::from_millis(2)),
            SimTime::from_millis(3)
        );
        assert_eq!(
            SimTime::from_millis(1).since(SimTime::from_millis(5)),
            Duration::ZERO
        );
    }
}
