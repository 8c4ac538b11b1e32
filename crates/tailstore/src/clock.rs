//! Time: the data clock every series shares, the background clock thread
//! that publishes the coarse second and seals, and its shutdown.
//!
//! # Where periodic work goes
//!
//! The clock thread does three things per tick and nothing else: publish
//! the coarse wall-clock second, run a seal pass (or drain live rings), and
//! flush a durable store on schedule. Work that follows the data (alert
//! rules, SLO burn rates, exposition caches) subscribes a [`crate::Sink`]:
//! it is handed every sealed second and, after each pass, the bound below
//! which everything is sealed ([`crate::Sink::sealed_through`]), which is
//! the same signal for live traffic and for a replay of old logs (so a
//! backtest and a live evaluation run the same code). A sink must be quick;
//! one that queries the store does so from its own thread, woken by
//! `sealed_through`. Nothing is added to the ticker for such work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tailstore_hist::{Clock, NewestSeconds};

use crate::error::Error;
use crate::seal::{flush_inner, seal_pass, CLOSE_IDLE};
use crate::store::Inner;

/// The data clock shared by every series of a store.
pub(crate) struct Timeline {
    /// Newest data second seen (max over samples; follows the wall clock
    /// once `record()` has been used).
    pub(crate) newest: AtomicU64,
    /// Coarse wall-clock second, published by the ticker.
    pub(crate) now_s: AtomicU64,
    pub(crate) live: AtomicBool,
    pub(crate) retention_s: u64,
    /// Samples more than this ahead of `now_s` are rejected as future.
    pub(crate) max_future_s: u64,
    pub(crate) rejected_pre_epoch: AtomicU64,
    /// The newest distinct seconds that hold samples (noted by drains):
    /// data time for retention ([`Timeline::retention_newest`]).
    newest_seconds: Mutex<NewestSeconds>,
    /// `newest_seconds`' entry, read by every drain without the lock.
    newest_entry: AtomicU64,
    /// Data time for retention as of the last seal pass.
    retained_newest: AtomicU64,
    /// Samples of seconds below this are rejected: `retained_newest`
    /// minus the 1 s retention, as of the last seal pass.
    keep_from: AtomicU64,
}

impl Timeline {
    pub(crate) fn new(retention_s: u64, max_future_s: u64) -> Timeline {
        Timeline {
            newest: AtomicU64::new(0),
            now_s: AtomicU64::new(wall_second()),
            live: AtomicBool::new(false),
            retention_s,
            max_future_s,
            rejected_pre_epoch: AtomicU64::new(0),
            newest_seconds: Mutex::new(NewestSeconds::new()),
            newest_entry: AtomicU64::new(0),
            retained_newest: AtomicU64::new(0),
            keep_from: AtomicU64::new(0),
        }
    }

    /// Data time for retention, as of the last seal pass: the
    /// [`crate::RETENTION_SUPPORT`]-th newest distinct second holding
    /// samples, so that a few stray samples far ahead of the rest never
    /// move retention past the data (see `tailstore_hist::NewestSeconds`).
    pub(crate) fn retention_newest(&self) -> u64 {
        self.retained_newest.load(Relaxed)
    }

    /// Moves data time for retention to what the drains so far support and
    /// returns it. Called at the end of each seal pass (after it drained
    /// every ring), so that the samples drained before the next pass are
    /// all judged against one bound.
    pub(crate) fn publish_retention(&self) -> u64 {
        let supported = self.newest_seconds.lock().supported().unwrap_or(0);
        let newest = self.retained_newest.fetch_max(supported, Relaxed).max(supported);
        self.keep_from.store(newest.saturating_sub(self.retention_s), Relaxed);
        newest
    }
}

impl Clock for Timeline {
    fn observe(&self, second: u64) -> u64 {
        self.newest.fetch_max(second, Relaxed).max(second)
    }

    fn keep_from(&self) -> u64 {
        self.keep_from.load(Relaxed)
    }

    fn newest_entry(&self) -> u64 {
        self.newest_entry.load(Relaxed)
    }

    fn note_newest(&self, seconds: &NewestSeconds) {
        let mut held = self.newest_seconds.lock();
        if held.merge(seconds) {
            self.newest_entry.store(held.entry(), Relaxed);
        }
    }

    fn admits(&self, second: u64) -> bool {
        // `now_s` lags the wall clock by at most a tick; a stale read only
        // errs by that much. Refreshed here when the clock thread is slow
        // (a loaded machine), so a sample just inside the bound is kept.
        let bound = |now: u64| now.saturating_add(self.max_future_s);
        if second <= bound(self.now_s.load(Relaxed)) {
            return true;
        }
        let now = wall_second();
        self.now_s.fetch_max(now, Relaxed);
        second <= bound(now)
    }
}

/// The current unix second of the wall clock (0 before 1970).
pub(crate) fn wall_second() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `d` in whole seconds, rounded up (a window, lateness or retention of
/// 1.5 s covers 2 seconds); `Duration::MAX` saturates.
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// The instant of unix second `s`.
pub(crate) fn secs_to_time(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// Owned by every `Store` clone; the last one to go stops the clock thread
/// and closes the store.
pub(crate) struct TickerGuard {
    inner: Weak<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl TickerGuard {
    /// Starts the clock thread of `inner`, ticking every `opts.tick`.
    pub(crate) fn start(inner: &Arc<Inner>) -> TickerGuard {
        let weak = Arc::downgrade(inner);
        let tick = inner.opts.tick;
        let spawned = std::thread::Builder::new()
            .name("tailstore-clock".into())
            .spawn(move || ticker(&weak, tick));
        if spawned.is_err() {
            // Without a thread the clock still advances on every `seal_now`;
            // record() then uses the second of the last of those.
            inner.timeline.now_s.store(wall_second(), Relaxed);
        }
        TickerGuard { inner: Arc::downgrade(inner), thread: Mutex::new(spawned.ok()) }
    }

    /// Stops and joins the clock thread, then (durable store) seals
    /// everything and flushes, closing every file. Idempotent. Once it
    /// returns, no thread but the caller's holds the store, so dropping the
    /// caller's `Arc<Inner>` closes the writer and releases the lock.
    pub(crate) fn shutdown(&self) -> Result<(), Error> {
        let Some(inner) = self.inner.upgrade() else { return Ok(()) };
        if inner.stop.swap(true, Relaxed) {
            return Ok(());
        }
        if let Some(handle) = self.thread.lock().take() {
            // A sink that held the last handle and dropped it on the clock
            // thread itself must not join itself; that thread exits after
            // its pass since `stop` is set.
            if handle.thread().id() != std::thread::current().id() {
                handle.thread().unpark();
                // A panic of the clock thread already reached stderr; the
                // close goes on so that what was recorded is flushed.
                let _ = handle.join();
            }
        }
        // The sampler parks between samples (unparked here) and checks
        // `stop` before each: it is joined after at most one sample.
        let sampler = inner.sampler.lock().take();
        if let Some(handle) = sampler {
            if handle.thread().id() != std::thread::current().id() {
                handle.thread().unpark();
                let _ = handle.join();
            }
        }
        if inner.storage.is_none() {
            return Ok(());
        }
        flush_inner(&inner, Duration::ZERO)
    }
}

impl Drop for TickerGuard {
    fn drop(&mut self) {
        // Drop cannot report: `Store::close` is the way to see this error.
        let _ = self.shutdown();
    }
}

/// The clock thread: publishes the coarse second, seals, flushes. It holds
/// only a weak reference between passes and is woken early (unparked) by
/// the closing store, which joins it.
fn ticker(weak: &Weak<Inner>, tick: Duration) {
    let mut last_newest = u64::MAX;
    let mut passes_since_seal = 0u32;
    loop {
        std::thread::park_timeout(tick);
        let Some(inner) = weak.upgrade() else { return };
        if inner.stop.load(Relaxed) {
            return;
        }
        let now = wall_second();
        inner.timeline.now_s.store(now, Relaxed);
        if inner.timeline.live.load(Relaxed) {
            // Live data time follows the wall clock, which needs no
            // support from samples: an idle live store still expires.
            inner.timeline.newest.fetch_max(now, Relaxed);
            let mut wall = NewestSeconds::new();
            wall.insert(now);
            inner.timeline.note_newest(&wall);
        }
        let newest = inner.timeline.newest.load(Relaxed);
        passes_since_seal += 1;
        // Seal when data time moved, and at least every ~second for idle
        // series. On the other ticks, drain the rings of live series (a
        // seal pass drains them too): a thread calling `record()` fewer
        // than ~25 000 times per second (its ring's 256 slots per 10 ms
        // tick) then never drains its own ring, so its calls never pay for
        // one.
        let due = newest != last_newest || u128::from(passes_since_seal) * tick.as_millis() >= 1000;
        if due && !inner.opts.manual_seal {
            seal_pass(&inner, false);
            last_newest = newest;
            passes_since_seal = 0;
        } else if inner.timeline.live.load(Relaxed) {
            // Under the map's read lock, no copy of it: `drain_live` only
            // try-locks each series, so this is short even for thousands.
            // Stores never fed by `record()` (a replay's) skip it.
            for s in inner.series.read().values() {
                s.recorder.drain_live();
            }
        }
        if let Some(st) = &inner.storage {
            let mut st = st.lock();
            if st.last_flush.elapsed() >= inner.opts.flush_every {
                st.flush_and_expire(inner.timeline.retention_newest(), CLOSE_IDLE);
            }
        }
    }
}
