//! The send schedule of an open-loop harness: request `i` is due at
//! `start + i × interval`, whatever happened to the requests before it.

use std::time::{Duration, Instant, SystemTime};

use crate::error::Error;

/// When each request of an open-loop run is meant to be sent.
///
/// Request `i` (from 0) is due at `start + i × interval`: the intended send
/// time depends on `i` alone, never on when earlier requests were sent or
/// answered, so a stalled server cannot push the schedule back (wrk2's
/// constant throughput). `Copy`, so every worker thread can hold one.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    start: Instant,
    start_wall: SystemTime,
    interval: Duration,
}

impl Schedule {
    /// A schedule starting now, one request every `interval`.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] when `interval` is zero.
    pub fn new(interval: Duration) -> Result<Schedule, Error> {
        Schedule::starting_at(Instant::now(), SystemTime::now(), interval)
    }

    /// A schedule whose request 0 is due at `start`, the monotonic instant
    /// of the wall-clock time `start_wall` (the time samples are stored at).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] when `interval` is zero.
    pub fn starting_at(
        start: Instant,
        start_wall: SystemTime,
        interval: Duration,
    ) -> Result<Schedule, Error> {
        if interval.is_zero() {
            return Err(Error::ZeroInterval);
        }
        Ok(Schedule { start, start_wall, interval })
    }

    /// The interval between two intended sends.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The instant request 0 is due.
    #[must_use]
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The offset of request `index` from the start: `index × interval`,
    /// saturating at `Duration::MAX` (about 584 billion years).
    #[must_use]
    pub fn offset(&self, index: u64) -> Duration {
        let ns = self.interval.as_nanos().saturating_mul(u128::from(index));
        // Split into whole seconds and nanoseconds: the seconds of a product
        // of a u64 and a Duration (< 2^64 s × 2^64) may exceed u64; saturate.
        let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
        let nanos = u32::try_from(ns % 1_000_000_000).unwrap_or(0);
        Duration::new(secs, nanos)
    }

    /// The instant request `index` is due: `start + index × interval`
    /// (saturating at the latest instant the platform represents).
    #[must_use]
    pub fn intended(&self, index: u64) -> Instant {
        let off = self.offset(index);
        self.start.checked_add(off).unwrap_or_else(|| far_future(self.start, off))
    }

    /// The wall-clock time of `at` (an instant of this schedule's clock):
    /// the time a sample sent at `at` is stored at.
    #[must_use]
    pub fn wall(&self, at: Instant) -> SystemTime {
        if let Some(d) = at.checked_duration_since(self.start) {
            self.start_wall.checked_add(d).unwrap_or(self.start_wall)
        } else {
            let back = self.start.duration_since(at);
            self.start_wall.checked_sub(back).unwrap_or(self.start_wall)
        }
    }

    /// How many requests are due by `now`: the index of the first request
    /// whose intended send time is after `now`.
    #[must_use]
    pub fn due_by(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        // interval > 0 (checked at construction), so the division is defined.
        let n = elapsed / self.interval.as_nanos() + 1;
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// The number of requests a run of `duration` sends: those due strictly
    /// before `start + duration`.
    #[must_use]
    pub fn count_within(&self, duration: Duration) -> u64 {
        let n = duration.as_nanos().div_ceil(self.interval.as_nanos());
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// The latest instant reachable from `start` by halving `off` until it fits.
fn far_future(start: Instant, mut off: Duration) -> Instant {
    while !off.is_zero() {
        off /= 2;
        if let Some(t) = start.checked_add(off) {
            return t;
        }
    }
    start
}

/// One request of an open-loop run: its index and intended send time.
///
/// Handed out by [`crate::OpenLoop::next_slot`], each index exactly once
/// across all threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub(crate) index: u64,
    pub(crate) intended: Instant,
}

impl Slot {
    /// The request's index in the schedule (0, 1, 2, …).
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The instant the request is meant to be sent.
    #[must_use]
    pub fn intended(&self) -> Instant {
        self.intended
    }

    /// Sleeps until the intended send time (returns at once when it has
    /// passed: a late request is sent at once, never skipped) and returns
    /// the instant the caller may send, i.e. the actual send time.
    #[must_use = "the returned instant is the actual send time to record"]
    pub fn wait(&self) -> Instant {
        loop {
            let now = Instant::now();
            match self.intended.checked_duration_since(now) {
                Some(d) if !d.is_zero() => std::thread::sleep(d),
                _ => return now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_depend_on_the_index_only() {
        let t0 = Instant::now();
        let w0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_547_200);
        let s = Schedule::starting_at(t0, w0, Duration::from_millis(5)).unwrap();
        assert_eq!(s.intended(0), t0);
        assert_eq!(s.intended(200), t0 + Duration::from_secs(1));
        assert_eq!(s.wall(s.intended(200)), w0 + Duration::from_secs(1));
        assert_eq!(s.due_by(t0), 1);
        assert_eq!(s.due_by(t0 + Duration::from_micros(4_999)), 1);
        assert_eq!(s.due_by(t0 + Duration::from_millis(5)), 2);
        assert_eq!(s.count_within(Duration::from_secs(10)), 2_000);
        assert_eq!(s.count_within(Duration::from_micros(10_001)), 3);
        // Far beyond any instant: saturates instead of panicking.
        let far = s.intended(u64::MAX);
        assert!(far >= s.intended(1 << 40));
        assert_eq!(s.offset(u64::MAX).as_nanos(), 5_000_000 * u128::from(u64::MAX));
    }

    #[test]
    fn zero_interval_is_an_error() {
        assert!(matches!(Schedule::new(Duration::ZERO), Err(Error::ZeroInterval)));
    }

    #[test]
    fn a_late_slot_waits_not_at_all() {
        let slot = Slot { index: 0, intended: Instant::now() };
        let t = slot.wait();
        assert!(t >= slot.intended());
        let later = Slot { index: 1, intended: Instant::now() + Duration::from_millis(20) };
        assert!(later.wait() >= later.intended());
    }
}
