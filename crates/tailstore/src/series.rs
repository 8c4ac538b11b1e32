//! A series: its recorder and sealed history, and the handle users record
//! through.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tailstore_hist::Recorder;
use tailstore_query::MemTier;

use crate::clock::Timeline;
use crate::store::Inner;

/// One series: the lock-free recorder of its unsealed seconds and the tier
/// of its sealed pieces.
pub(crate) struct SeriesInner {
    pub(crate) name: Arc<str>,
    pub(crate) recorder: Recorder,
    pub(crate) tier: Mutex<MemTier>,
    /// `MemTier::due` after the last seal pass that visited this series:
    /// the seal bound and the data time for retention at which its tier
    /// next has work. A pass skips the series while its recorder is idle
    /// and neither is reached.
    pub(crate) rollup_due: AtomicU64,
    pub(crate) expire_due: AtomicU64,
}

/// A new series of `inner` whose seconds below `sealed_below` count as sealed.
pub(crate) fn new_series(inner: &Inner, name: &str, sealed_below: u64) -> SeriesInner {
    SeriesInner {
        name: Arc::from(name),
        recorder: Recorder::new(inner.opts.layout, sealed_below, inner.timeline.clone()),
        tier: Mutex::new(MemTier::new(&inner.opts.levels(inner.durable))),
        rollup_due: AtomicU64::new(0),
        expire_due: AtomicU64::new(0),
    }
}

/// A cheap, cloneable handle to one series; `Send + Sync`.
#[derive(Clone)]
pub struct Series {
    pub(crate) inner: Arc<SeriesInner>,
    pub(crate) timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

#[inline]
fn duration_ns(d: Duration) -> u64 {
    // Saturates past ~584 years: the histogram's top bucket takes it, and
    // min, max and sum keep the saturated value.
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Series {
    /// The series name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Records one request that took `latency` and answered `status`, at the
    /// current second of the store's coarse clock. No lock, no allocation
    /// (after this thread's first records), no clock read.
    #[inline]
    pub fn record(&self, latency: Duration, status: u16) {
        let tl = &*self.timeline;
        if !tl.live.load(Relaxed) {
            tl.live.store(true, Relaxed);
        }
        let second = tl.now_s.load(Relaxed);
        self.inner.recorder.record(false, second, duration_ns(latency), status);
    }

    /// Records one request at an explicit time (replays, benchmark harnesses):
    /// it lands in the second `floor(at)`, whatever the order of calls.
    #[inline]
    pub fn record_at(&self, at: SystemTime, latency: Duration, status: u16) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(d) => self.inner.recorder.record(true, d.as_secs(), duration_ns(latency), status),
            Err(_) => {
                self.timeline.rejected_pre_epoch.fetch_add(1, Relaxed);
            }
        }
    }

    /// Records one request at unix second `second` with a latency in ns: the
    /// allocation-free core of [`Series::record_at`].
    #[inline]
    pub fn record_at_unix(&self, second: u64, latency_ns: u64, status: u16) {
        self.inner.recorder.record(true, second, latency_ns, status);
    }

    /// Records a request whose latency is unknown (e.g. a load balancer's
    /// `-1`): it counts in rate, status and error ratio, not in quantiles.
    pub fn record_status_at(&self, at: SystemTime, status: u16) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(d) => {
                self.inner.recorder.record_status_only(true, d.as_secs(), status);
            }
            Err(_) => {
                self.timeline.rejected_pre_epoch.fetch_add(1, Relaxed);
            }
        }
    }

    /// [`Series::record_status_at`] at unix second `second`.
    pub fn record_status_at_unix(&self, second: u64, status: u16) {
        self.inner.recorder.record_status_only(true, second, status);
    }

    /// Records the requests of unix second `second` with `status` given as
    /// `(latency_ns, n)` counts (a histogram's buckets, such as an
    /// `HdrHistogram` log's), in time independent of the counts: exactly as
    /// that many calls of [`Series::record_at_unix`] would. Give all the
    /// counts of a second in one call (each call merges one part into it).
    pub fn record_counts_at_unix(&self, second: u64, status: u16, counts: &[(u64, u64)]) {
        self.inner.recorder.record_counts(second, status, counts);
    }

    /// Records many `(latency_ns, status)` samples of one unix second. The
    /// bucket indices are computed in one branch-free pass, then scattered.
    pub fn record_batch_at_unix(&self, second: u64, samples: &[(u64, u16)]) {
        self.inner.recorder.record_batch(second, samples);
    }

    /// Approximate bytes this series holds (recorder rings, unsealed seconds
    /// and history).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.inner.recorder.memory_bytes() + self.inner.tier.lock().memory_bytes()
    }

    /// Recorder-only bytes (the recording threads' rings and the unsealed
    /// seconds).
    #[must_use]
    pub fn recorder_bytes(&self) -> usize {
        self.inner.recorder.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    /// Every series of a store pays this (a scanner's 200 000 paths, each
    /// seen once): keep it small (it was 896 B before the recorder's inline
    /// shard went to 64 B lines and 8 slots).
    #[test]
    fn a_series_is_small() {
        let size = std::mem::size_of::<super::SeriesInner>();
        assert!(size <= 640, "SeriesInner is {size} B");
    }
}
