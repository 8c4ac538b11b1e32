//! The open-loop recorder: latency measured from each request's intended
//! send time, beside the latency measured from its actual send.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, UNIX_EPOCH};

use tailstore::{Series, Store};

use crate::error::Error;
use crate::schedule::{Schedule, Slot};

/// The suffix of the series that holds the uncorrected latencies: a harness
/// named `NAME` records `NAME` (corrected) and `NAME:uncorrected`.
pub const UNCORRECTED_SUFFIX: &str = ":uncorrected";

/// The name of the uncorrected twin of series `name`: `name:uncorrected`.
#[must_use]
pub fn uncorrected_name(name: &str) -> String {
    format!("{name}{UNCORRECTED_SUFFIX}")
}

/// `d` in ns, saturating (past ~584 years) as the store does.
fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The two latencies of one answered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// From the intended send time to the answer: what a user arriving on
    /// schedule waited (recorded in `NAME`).
    pub corrected: Duration,
    /// From the actual send to the answer: what the server took once the
    /// request reached it (recorded in `NAME:uncorrected`).
    pub uncorrected: Duration,
}

/// An open-loop (constant-rate, wrk2-style) recorder over two series of a
/// store: `NAME`, each response's latency from its *intended* send time
/// (coordinated-omission corrected), and `NAME:uncorrected`, the same
/// responses' latency from their actual send.
///
/// The schedule is fixed up front (request `i` is due at
/// `start + i × interval`, see [`Schedule`]), and each sample is stored at
/// the wall-clock second of its intended send, so a window query over the
/// run answers both series side by side. `Sync`: share one recorder
/// between worker threads (by reference in scoped threads, or in an `Arc`);
/// [`OpenLoop::next_slot`] hands each index out exactly once.
///
/// ```
/// use std::time::Duration;
/// use tailstore::{Options, Selector, Store};
/// use tailstore_harness::OpenLoop;
///
/// let store = Store::in_memory(Options::default());
/// let run = OpenLoop::new(&store, "/predict", Duration::from_millis(1))?;
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| {
///             while let Some(slot) = run.next_slot(20) {
///                 run.call(slot, || 200); // send the request, return its status
///             }
///         });
///     }
/// });
/// let w = store.query(Selector::exact("/predict")).last(Duration::from_secs(60)).run()?;
/// assert_eq!(w.count(), 20);
/// let u = store.query(Selector::exact("/predict:uncorrected")).last(Duration::from_secs(60)).run()?;
/// assert_eq!(u.count(), 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OpenLoop {
    corrected: Series,
    uncorrected: Series,
    schedule: Schedule,
    /// The next index to hand out; a successful compare-exchange from `i`
    /// to `i + 1` claims index `i` (`next_slot`).
    next: AtomicU64,
}

impl OpenLoop {
    /// A recorder of series `name` (and `name:uncorrected`) of `store`
    /// whose schedule starts now, one request every `expected_interval`
    /// (e.g. 5 ms for 200 requests per second).
    ///
    /// # Errors
    ///
    /// [`Error::ZeroInterval`] when `expected_interval` is zero.
    pub fn new(store: &Store, name: &str, expected_interval: Duration) -> Result<OpenLoop, Error> {
        Ok(OpenLoop::with_schedule(store, name, Schedule::new(expected_interval)?))
    }

    /// A recorder following `schedule`.
    #[must_use]
    pub fn with_schedule(store: &Store, name: &str, schedule: Schedule) -> OpenLoop {
        OpenLoop {
            corrected: store.series(name),
            uncorrected: store.series(&uncorrected_name(name)),
            schedule,
            next: AtomicU64::new(0),
        }
    }

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
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

    /// Claims the next request of the schedule, or `None` once `total`
    /// requests have been handed out (across all threads).
    pub fn next_slot(&self, total: u64) -> Option<Slot> {
        // Claim with a CAS loop so the counter stops at `total` instead of
        // growing past it with every call of a finished worker.
        let mut i = self.next.load(Relaxed);
        loop {
            if i >= total {
                return None;
            }
            match self.next.compare_exchange_weak(i, i + 1, Relaxed, Relaxed) {
                Ok(_) => return Some(self.slot(i)),
                Err(seen) => i = seen,
            }
        }
    }

    /// The slot of request `index` (for harnesses that assign indices
    /// themselves; each index should be sent once).
    #[must_use]
    pub fn slot(&self, index: u64) -> Slot {
        Slot { index, intended: self.schedule.intended(index) }
    }

    /// Records request `slot`, sent at `sent` and answered with `status` at
    /// `done`: `done - intended` in `NAME` and `done - sent` in
    /// `NAME:uncorrected`, both at the wall-clock time of the intended send.
    /// An instant before its reference counts as 0. Lock-free and
    /// allocation-free (after the thread's first record), like
    /// [`Series::record_at`].
    pub fn record(&self, slot: &Slot, sent: Instant, done: Instant, status: u16) -> Timing {
        let timing = Timing {
            corrected: done.saturating_duration_since(slot.intended),
            uncorrected: done.saturating_duration_since(sent),
        };
        let at = self.schedule.wall(slot.intended);
        if let Ok(d) = at.duration_since(UNIX_EPOCH) {
            let second = d.as_secs();
            self.corrected.record_at_unix(second, duration_ns(timing.corrected), status);
            self.uncorrected.record_at_unix(second, duration_ns(timing.uncorrected), status);
        } else {
            // Counted as rejected, as the store counts any pre-1970 sample.
            self.corrected.record_at(at, timing.corrected, status);
            self.uncorrected.record_at(at, timing.uncorrected, status);
        }
        timing
    }

    /// Waits until `slot` is due, runs `request` (which sends the request and
    /// returns its status; 0 when there is none, e.g. a refused
    /// connection), and records it: the whole of a worker's step.
    pub fn call<F: FnOnce() -> u16>(&self, slot: Slot, request: F) -> Timing {
        let sent = slot.wait();
        let status = request();
        let done = Instant::now();
        self.record(&slot, sent, done, status)
    }

    /// Runs the first `total` requests of the schedule on `threads` worker
    /// threads (at least 1) and returns when all are recorded: each worker
    /// claims the next slot, waits until it is due, calls `request` (which
    /// sends it and returns its status) and records it. Requests are sent
    /// on schedule as long as a worker is free; when every worker waits on
    /// a stalled server, the next requests go out late and their corrected
    /// latency counts the delay.
    pub fn run_workers<F>(&self, threads: usize, total: u64, request: F)
    where
        F: Fn(&Slot) -> u16 + Sync,
    {
        std::thread::scope(|s| {
            for _ in 0..threads.max(1) {
                s.spawn(|| {
                    while let Some(slot) = self.next_slot(total) {
                        self.call(slot, || request(&slot));
                    }
                });
            }
        });
    }
}
