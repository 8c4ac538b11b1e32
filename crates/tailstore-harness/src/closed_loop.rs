//! The closed-loop correction: `HdrHistogram`'s
//! `recordValueWithExpectedInterval` over a store's series.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{Series, Store};

use crate::open_loop::uncorrected_name;

/// Up to this many added samples are recorded one by one (lock-free);
/// more (a stall) in batches.
const FEW: u64 = 16;

/// Added samples are recorded in batches of this many (a stack buffer: no
/// allocation on the record path).
const BATCH: usize = 256;

/// The values `HdrHistogram` adds to a sample of `value_ns` taken when one
/// was expected every `interval_ns`: `value - interval`, `value - 2 ×
/// interval`, … down to the last one that is at least `interval` (none when
/// `interval_ns` is 0 or `value_ns` is at most `2 × interval_ns - 1`).
///
/// Exactly the loop of Java's `recordValueWithExpectedInterval` and of
/// `hdrhistogram::Histogram::record_correct`; the sample itself is not
/// included.
///
/// ```
/// let v: Vec<u64> = tailstore_harness::missing_values(35, 10).collect();
/// assert_eq!(v, [25, 15]);
/// ```
pub fn missing_values(value_ns: u64, interval_ns: u64) -> impl Iterator<Item = u64> {
    let first = if interval_ns == 0 { None } else { value_ns.checked_sub(interval_ns) };
    std::iter::successors(first, move |m| m.checked_sub(interval_ns))
        .take_while(move |m| interval_ns > 0 && *m >= interval_ns)
}

/// A closed-loop recorder with `HdrHistogram`'s correction, for harnesses
/// that send each request when the previous one is answered and so cannot
/// keep a schedule.
///
/// Each sample goes to `NAME:uncorrected` as measured, and to `NAME` with
/// the samples the stall hid: when a response took longer than the
/// expected interval between requests, the requests that would have been
/// sent meanwhile are added as `latency - interval`, `latency - 2 ×
/// interval`, … ([`missing_values`]), exactly as
/// `hdrhistogram::Histogram::record_correct` adds them, so `NAME`'s bucket
/// counts are that crate's at the same precision. The added samples carry
/// the real one's status and second; `NAME`'s count therefore includes
/// them, and request rates and error ratios are the uncorrected series'.
///
/// The work per sample is linear in `latency / interval`, as
/// `HdrHistogram`'s; latencies above the layout's highest value are
/// clamped to it before the correction, as they are when recorded.
///
/// ```
/// use std::time::Duration;
/// use tailstore::{Options, Selector, Store};
/// use tailstore_harness::ClosedLoop;
///
/// let store = Store::in_memory(Options::default());
/// let h = ClosedLoop::new(&store, "/predict", Duration::from_millis(10));
/// h.record(Duration::from_millis(35), 200); // adds 25 ms and 15 ms to "/predict"
/// let w = store.query(Selector::exact("/predict")).last(Duration::from_secs(60)).run()?;
/// assert_eq!(w.count(), 3);
/// let u = store.query(Selector::exact("/predict:uncorrected")).last(Duration::from_secs(60)).run()?;
/// assert_eq!(u.count(), 1);
/// # Ok::<(), tailstore::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClosedLoop {
    corrected: Series,
    uncorrected: Series,
    interval_ns: u64,
    highest_ns: u64,
}

impl ClosedLoop {
    /// A recorder of series `name` (and `name:uncorrected`) of `store` that
    /// expects a request every `expected_interval`; zero turns the
    /// correction off (as an interval of 0 does in `HdrHistogram`).
    #[must_use]
    pub fn new(store: &Store, name: &str, expected_interval: Duration) -> ClosedLoop {
        ClosedLoop {
            corrected: store.series(name),
            uncorrected: store.series(&uncorrected_name(name)),
            interval_ns: u64::try_from(expected_interval.as_nanos()).unwrap_or(u64::MAX),
            highest_ns: store.layout().highest_ns(),
        }
    }

    /// The series of corrected latencies (`NAME`).
    #[must_use]
    pub fn corrected(&self) -> &Series {
        &self.corrected
    }

    /// The series of uncorrected latencies (`NAME:uncorrected`).
    #[must_use]
    pub fn uncorrected(&self) -> &Series {
        &self.uncorrected
    }

    /// Records one response of `latency` and `status`, now.
    pub fn record(&self, latency: Duration, status: u16) {
        self.record_at(SystemTime::now(), latency, status);
    }

    /// Records one response of `latency` and `status` at `at` (its second
    /// holds the added samples too). A time before 1970 is rejected and
    /// counted, as [`Series::record_at`] does.
    pub fn record_at(&self, at: SystemTime, latency: Duration, status: u16) {
        let Ok(since) = at.duration_since(UNIX_EPOCH) else {
            // Counted as rejected, as the store counts any pre-1970 sample.
            self.uncorrected.record_at(at, latency, status);
            self.corrected.record_at(at, latency, status);
            return;
        };
        let second = since.as_secs();
        let raw = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.uncorrected.record_at_unix(second, raw, status);
        self.corrected.record_at_unix(second, raw, status);
        if self.interval_ns == 0 {
            return;
        }
        let value = raw.min(self.highest_ns);
        // value / interval - 1 samples are added (see `missing_values`).
        let added = (value / self.interval_ns).saturating_sub(1);
        if added <= FEW {
            // A few: through the lock-free path, one by one.
            for m in missing_values(value, self.interval_ns) {
                self.corrected.record_at_unix(second, m, status);
            }
            return;
        }
        // A stall's many: in batches (one lock of the series per batch).
        let mut buf = [(0u64, status); BATCH];
        let mut n = 0;
        for m in missing_values(value, self.interval_ns) {
            buf[n].0 = m;
            n += 1;
            if n == BATCH {
                self.corrected.record_batch_at_unix(second, &buf);
                n = 0;
            }
        }
        if n > 0 {
            self.corrected.record_batch_at_unix(second, &buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop exactly as Java's `recordValueWithExpectedInterval` writes it.
    fn java(value: u64, interval: u64) -> Vec<u64> {
        let mut v = Vec::new();
        if interval == 0 || value <= interval {
            return v;
        }
        let mut missing = value - interval;
        while missing >= interval {
            v.push(missing);
            missing -= interval;
        }
        v
    }

    #[test]
    fn missing_values_match_the_java_loop() {
        for value in 0..200 {
            for interval in 0..50 {
                let ours: Vec<u64> = missing_values(value, interval).collect();
                assert_eq!(ours, java(value, interval), "value {value} interval {interval}");
            }
        }
        assert_eq!(missing_values(u64::MAX, u64::MAX / 3).count(), 2);
        assert_eq!(
            missing_values(u64::MAX, 1).take(3).collect::<Vec<_>>(),
            [u64::MAX - 1, u64::MAX - 2, u64::MAX - 3]
        );
    }
}
