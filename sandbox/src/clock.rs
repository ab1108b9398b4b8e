//! Deterministic clocks handed to the guest. No real time leaks into a job: the wall clock is
//! frozen and the monotonic clock advances by a fixed step per reading, so reruns see the same
//! times. Host-side deadlines never use these clocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// 2000-01-01T00:00:00Z in seconds since the Unix epoch.
const FROZEN_WALL_SECONDS: u64 = 946_684_800;
/// How far the monotonic clock moves per reading, in nanoseconds (1 µs).
const MONOTONIC_STEP_NANOS: u64 = 1_000;

/// A wall clock stuck at 2000-01-01T00:00:00Z.
pub(crate) struct FrozenWallClock;

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(MONOTONIC_STEP_NANOS)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(FROZEN_WALL_SECONDS)
    }
}

/// A monotonic clock that reads 0 first and 1 µs more on every later reading.
#[derive(Default)]
pub(crate) struct SteppingMonotonicClock {
    next_nanos: AtomicU64,
}

impl HostMonotonicClock for SteppingMonotonicClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_STEP_NANOS
    }

    fn now(&self) -> u64 {
        // Wrapping would need 1.8e16 readings; a job cannot get near that within its limits.
        self.next_nanos
            .fetch_add(MONOTONIC_STEP_NANOS, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_steps_from_zero() {
        let clock = SteppingMonotonicClock::default();
        assert_eq!(clock.now(), 0);
        assert_eq!(clock.now(), 1_000);
        assert_eq!(clock.now(), 2_000);
    }

    #[test]
    fn wall_clock_is_frozen_at_2000() {
        assert_eq!(FrozenWallClock.now(), Duration::from_secs(946_684_800));
        assert_eq!(FrozenWallClock.now(), FrozenWallClock.now());
    }
}
