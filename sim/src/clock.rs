//! Per-node clocks. madsim has one global clock; real machines do not. Protocol code takes
//! "local now" as an input, and the host converts local deadlines back to simulated time
//! with the node's [`NodeClock`], so skew and drift reach exactly the timers that read the
//! local clock (session expiry, election timeouts, lag detection).

use crate::time::SimTime;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A node's clock: `local = sim * (1 + drift_ppm / 1e6) + offset`.
///
/// Guarantees: local time is monotonic in simulated time for any drift above -1e6 ppm
/// (clamped), and [`NodeClock::sim_deadline`] is the earliest simulated time at which the
/// local clock reads at least the given local time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClock {
    /// Constant offset in nanoseconds (may be negative; local time saturates at zero).
    pub offset_ns: i64,
    /// Rate error in parts per million: +1000 runs 0.1% fast.
    pub drift_ppm: i64,
}

/// Drift is clamped to this many ppm either way so the clock stays monotonic.
const DRIFT_PPM_LIMIT: i64 = 900_000;

impl NodeClock {
    /// A perfect clock.
    pub const EXACT: NodeClock = NodeClock {
        offset_ns: 0,
        drift_ppm: 0,
    };

    fn drift(&self) -> i128 {
        self.drift_ppm.clamp(-DRIFT_PPM_LIMIT, DRIFT_PPM_LIMIT) as i128
    }

    /// Local time at the given simulated time, in nanoseconds.
    pub fn local_at(&self, sim: SimTime) -> u64 {
        let scaled = sim.0 as i128 * (1_000_000 + self.drift()) / 1_000_000;
        (scaled + self.offset_ns as i128).max(0) as u64
    }

    /// Local time now.
    pub fn local_now(&self) -> u64 {
        self.local_at(SimTime::now())
    }

    /// The earliest simulated time at which the local clock reads at least `local_ns`.
    pub fn sim_deadline(&self, local_ns: u64) -> SimTime {
        let unscaled = local_ns as i128 - self.offset_ns as i128;
        if unscaled <= 0 || self.local_at(SimTime::ZERO) >= local_ns {
            return SimTime::ZERO;
        }
        let rate = 1_000_000 + self.drift();
        // ceil(unscaled * 1e6 / rate)
        let sim = (unscaled * 1_000_000 + rate - 1) / rate;
        SimTime(sim as u64)
    }

    /// How long to sleep in simulated time until the local clock reads `local_ns`.
    pub fn sim_duration_until(&self, local_ns: u64) -> Duration {
        self.sim_deadline(local_ns).since(SimTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_clock_is_identity() {
        let c = NodeClock::EXACT;
        assert_eq!(c.local_at(SimTime(123)), 123);
        assert_eq!(c.sim_deadline(123), SimTime(123));
    }

    #[test]
    fn drift_and_offset_round_trip() {
        for clock in [
            NodeClock {
                offset_ns: 3_600_000_000_000,
                drift_ppm: 300_000,
            },
            NodeClock {
                offset_ns: -5_000_000,
                drift_ppm: -200,
            },
            NodeClock {
                offset_ns: 7,
                drift_ppm: 1,
            },
        ] {
            for sim in [0u64, 1, 999, 1_000_000_007, 60_000_000_000] {
                let local = clock.local_at(SimTime(sim));
                let back = clock.sim_deadline(local);
                assert!(back <= SimTime(sim), "{clock:?} {sim}");
                assert!(clock.local_at(back) >= local, "{clock:?} {sim}");
            }
        }
    }

    #[test]
    fn fast_clock_fires_timers_early_in_sim_time() {
        let fast = NodeClock {
            offset_ns: 0,
            drift_ppm: 300_000,
        };
        // 1.3 local seconds pass per simulated second.
        assert_eq!(fast.sim_deadline(1_300_000_000), SimTime(1_000_000_000));
    }
}
