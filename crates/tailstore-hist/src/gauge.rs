//! Gauges: a value sampled over time (memory, CPU, a queue's depth). Per
//! second a gauge keeps exact `count, min, max, sum, last` ([`GaugeAgg`]);
//! [`GaugeRecorder`] takes samples without a lock or an allocation.
//!
//! # Protocol
//!
//! Like the request [`crate::Recorder`]: every thread that sets a gauge owns
//! a ring of [`SHARD_SLOTS`] `(second, value bits)` slots for it (a
//! `thread_local::ThreadLocal` entry, handed to a new thread only after the
//! previous owner exited). Setting a value is two relaxed stores into the
//! slot at `head` and a `Release` store of `head + 1`: no lock, no
//! read-modify-write, no allocation (after the thread's first value).
//!
//! Consumers hold the recorder's mutex, so there is one at a time: they read
//! the slots in `[tail, head)` (`head` loaded with `Acquire`), merge each
//! run of one second into the map of unsealed seconds, and publish `tail`
//! with `Release`. The owner reuses a slot only after it has seen `tail`
//! pass it (`Acquire`). Each slot is read exactly once: no value is lost or
//! counted twice. A thread that finds its ring full takes the mutex, drains
//! every ring and merges its value into the map itself (the cold path, once
//! per [`SHARD_SLOTS`] values between two drains; seal passes and queries
//! drain too).
//!
//! Within one second the last value set wins among one thread's values:
//! they are merged in the order it set them, and each drain merges after
//! what the map holds. Values of one second set by different threads between
//! two drains are merged ring by ring, in no particular order.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::newest::NewestSeconds;
use crate::recorder::Clock;
use crate::sync::AtomicU64;

/// Slots of each setting thread's ring (1 KiB): a thread setting a gauge
/// fewer than this many times between two seal passes (about a second) never
/// takes the cold path.
pub const SHARD_SLOTS: usize = 64;

/// Exact aggregates of a gauge's samples over a span: count, min, max, sum
/// and the last value (the one with the latest second; among equal seconds,
/// the one merged last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaugeAgg {
    /// Samples.
    pub count: u64,
    /// Smallest sample (`+inf` when empty).
    pub min: f64,
    /// Largest sample (`-inf` when empty).
    pub max: f64,
    /// Sum of the samples.
    pub sum: f64,
    /// The last sample (see the type's docs); 0 when empty.
    pub last: f64,
    /// The second of `last` (unix seconds); 0 when empty.
    pub last_s: u64,
}

impl Default for GaugeAgg {
    fn default() -> Self {
        GaugeAgg::EMPTY
    }
}

impl GaugeAgg {
    /// No samples.
    pub const EMPTY: GaugeAgg = GaugeAgg {
        count: 0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum: 0.0,
        last: 0.0,
        last_s: 0,
    };

    /// One sample `v` at `second`.
    #[must_use]
    pub fn one(second: u64, v: f64) -> GaugeAgg {
        GaugeAgg { count: 1, min: v, max: v, sum: v, last: v, last_s: second }
    }

    /// Whether it holds no sample.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds `o`, which comes after `self` in set order: on a tie of
    /// `last_s`, `o`'s last wins.
    pub fn merge(&mut self, o: &GaugeAgg) {
        if o.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *o;
            return;
        }
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        if o.last_s >= self.last_s {
            self.last = o.last;
            self.last_s = o.last_s;
        }
    }

    /// Mean of the samples; `None` when empty.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "a count above 2^53 is past any real gauge")]
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// One thread's ring of values (see the module's protocol).
struct Shard {
    /// Second of each slot; written by the owner only.
    seconds: [AtomicU64; SHARD_SLOTS],
    /// `f64::to_bits` of each slot's value; written by the owner only.
    values: [AtomicU64; SHARD_SLOTS],
    /// Values pushed; written by the owner only (`Release`).
    head: AtomicU64,
    /// Values drained; written by consumers only, under the mutex (`Release`).
    tail: AtomicU64,
    /// Newest second this thread has registered with the clock; written by
    /// the owner only. A value at or below it needs no clock call.
    seen: AtomicU64,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            seconds: std::array::from_fn(|_| AtomicU64::new(0)),
            values: std::array::from_fn(|_| AtomicU64::new(0)),
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            seen: AtomicU64::new(0),
        }
    }

    /// Pushes one value; false when the ring is full. Owner only.
    #[inline]
    fn push(&self, second: u64, v: f64) -> bool {
        let h = self.head.load(Relaxed);
        if h - self.tail.load(Acquire) >= SHARD_SLOTS as u64 {
            return false;
        }
        let i = slot_index(h);
        self.seconds[i].store(second, Relaxed);
        self.values[i].store(v.to_bits(), Relaxed);
        self.head.store(h + 1, Release);
        true
    }

    /// Drains the ring into `open`, one merge per run of one second, and
    /// notes the seconds in `newest`. Consumers only (under the mutex).
    fn drain(&self, open: &mut BTreeMap<u64, GaugeAgg>, newest: &mut NewestSeconds) {
        let h = self.head.load(Acquire);
        let t = self.tail.load(Relaxed);
        if h == t {
            return;
        }
        let mut run: Option<(u64, GaugeAgg)> = None;
        for k in t..h {
            let i = slot_index(k);
            let second = self.seconds[i].load(Relaxed);
            let one = GaugeAgg::one(second, f64::from_bits(self.values[i].load(Relaxed)));
            match &mut run {
                Some((s, agg)) if *s == second => agg.merge(&one),
                _ => {
                    if let Some((s, agg)) = run.take() {
                        open.entry(s).or_default().merge(&agg);
                        newest.insert(s);
                    }
                    run = Some((second, one));
                }
            }
        }
        if let Some((s, agg)) = run {
            open.entry(s).or_default().merge(&agg);
            newest.insert(s);
        }
        self.tail.store(h, Release);
    }
}

/// The slot of the `k`-th value of a ring.
#[inline]
#[expect(clippy::cast_possible_truncation, reason = "the remainder is below SHARD_SLOTS")]
fn slot_index(k: u64) -> usize {
    (k % SHARD_SLOTS as u64) as usize
}

/// Counters of a [`GaugeRecorder`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GaugeCounters {
    /// Samples for seconds already sealed (kept, as late deltas).
    pub late: u64,
    /// Samples past retention (dropped).
    pub rejected: u64,
    /// Samples dated too far ahead of the wall clock (dropped).
    pub future: u64,
    /// NaN or infinite values (dropped).
    pub invalid: u64,
}

/// What one seal hands out: sealed seconds and late deltas of seconds
/// sealed before, each ascending.
#[derive(Debug, Default)]
pub struct GaugeSealed {
    /// Seconds sealed now.
    pub seconds: Vec<(u64, GaugeAgg)>,
    /// Late samples of seconds sealed earlier, one aggregate per second.
    pub late: Vec<(u64, GaugeAgg)>,
    /// Every second below this is now sealed.
    pub below: u64,
}

struct GaugeOpen {
    /// Unsealed seconds (and late samples not yet handed out).
    seconds: BTreeMap<u64, GaugeAgg>,
    /// Seconds below this were sealed.
    sealed_below: u64,
}

/// The unsealed seconds of one gauge: a lock-free ring on the hot path,
/// a map behind a mutex for the rest (see the module's protocol).
pub struct GaugeRecorder {
    /// Cache-padded: `ThreadLocal` stores entries of adjacent thread ids
    /// next to each other.
    shards: ThreadLocal<CachePadded<Shard>>,
    open: Mutex<GaugeOpen>,
    clock: Arc<dyn Clock>,
    /// Set by the first explicitly dated sample: seals then wait for the
    /// lateness window instead of one second of grace.
    explicit: AtomicBool,
    late: AtomicU64,
    rejected: AtomicU64,
    future: AtomicU64,
    invalid: AtomicU64,
}

impl std::fmt::Debug for GaugeRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaugeRecorder").field("counters", &self.counters()).finish_non_exhaustive()
    }
}

impl GaugeRecorder {
    /// A recorder whose seconds below `sealed_below` count as sealed,
    /// registering new seconds with `clock`.
    #[must_use]
    pub fn new(sealed_below: u64, clock: Arc<dyn Clock>) -> GaugeRecorder {
        GaugeRecorder {
            shards: ThreadLocal::new(),
            open: Mutex::new(GaugeOpen { seconds: BTreeMap::new(), sealed_below }),
            clock,
            explicit: AtomicBool::new(false),
            late: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            future: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
        }
    }

    /// Records `v` at `second` (`explicit`: dated by the caller, not read
    /// from the live clock). NaN and infinities are counted and dropped; so
    /// are seconds the clock does not admit (too far ahead). No lock, no
    /// read-modify-write and no allocation (after this thread's first value)
    /// unless this thread's ring is full or the second is new to it.
    #[inline]
    pub fn set(&self, explicit: bool, second: u64, v: f64) {
        if !v.is_finite() {
            self.invalid.fetch_add(1, Relaxed);
            return;
        }
        if explicit && !self.explicit.load(Relaxed) {
            self.explicit.store(true, Relaxed);
        }
        let shard = self.shards.get_or(|| CachePadded::new(Shard::new()));
        if second <= shard.seen.load(Relaxed) && shard.push(second, v) {
            return;
        }
        self.set_cold(shard, second, v);
    }

    /// A second new to this thread (registered with the clock, or refused as
    /// too far ahead), or a full ring (every ring drained under the mutex,
    /// then the value merged after them).
    #[cold]
    fn set_cold(&self, shard: &Shard, second: u64, v: f64) {
        if second > shard.seen.load(Relaxed) {
            if !self.clock.admits(second) {
                self.future.fetch_add(1, Relaxed);
                return;
            }
            self.clock.observe(second);
            shard.seen.store(second, Relaxed);
            if shard.push(second, v) {
                return;
            }
        }
        let mut open = self.open.lock();
        self.drain(&mut open);
        open.seconds.entry(second).or_default().merge(&GaugeAgg::one(second, v));
    }

    /// Drains every thread's ring into the map (under its lock) and notes
    /// the seconds with the clock.
    fn drain(&self, open: &mut GaugeOpen) {
        let mut newest = NewestSeconds::new();
        for shard in &self.shards {
            shard.drain(&mut open.seconds, &mut newest);
        }
        if !newest.is_empty() {
            self.clock.note_newest(&newest);
        }
    }

    /// Whether nothing is unsealed.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.shards.iter().all(|s| s.head.load(Acquire) == s.tail.load(Relaxed))
            && self.open.lock().seconds.is_empty()
    }

    /// Seals every second below `seal_below` (below `live_seal_below` while
    /// every sample came from the live clock): hands out those seconds, and
    /// the late samples of seconds sealed before (counted). Samples of
    /// seconds below the clock's retention bound are dropped and counted.
    pub fn seal(&self, seal_below: u64, live_seal_below: u64) -> GaugeSealed {
        let bound = if self.explicit.load(Relaxed) { seal_below } else { live_seal_below };
        let keep_from = self.clock.keep_from();
        let mut open = self.open.lock();
        self.drain(&mut open);
        let mut out = GaugeSealed::default();
        let rest = open.seconds.split_off(&bound);
        let below = std::mem::replace(&mut open.seconds, rest);
        for (second, agg) in below {
            if second < keep_from {
                self.rejected.fetch_add(agg.count, Relaxed);
            } else if second < open.sealed_below {
                self.late.fetch_add(agg.count, Relaxed);
                out.late.push((second, agg));
            } else {
                out.seconds.push((second, agg));
            }
        }
        open.sealed_below = open.sealed_below.max(bound);
        out.below = open.sealed_below;
        out
    }

    /// Calls `f` with every unsealed second in `[from, to)` (late samples
    /// not yet handed out included), ascending, after draining the ring.
    pub fn read_unsealed(&self, from: u64, to: u64, mut f: impl FnMut(u64, &GaugeAgg)) {
        if from >= to {
            return;
        }
        let mut open = self.open.lock();
        self.drain(&mut open);
        for (&s, agg) in open.seconds.range(from..to) {
            f(s, agg);
        }
    }

    /// The unsealed seconds' first second and end (exclusive).
    #[must_use]
    pub fn unsealed_bounds(&self) -> Option<(u64, u64)> {
        let mut open = self.open.lock();
        self.drain(&mut open);
        let first = *open.seconds.keys().next()?;
        let last = *open.seconds.keys().next_back()?;
        Some((first, last + 1))
    }

    /// The counters so far.
    #[must_use]
    pub fn counters(&self) -> GaugeCounters {
        GaugeCounters {
            late: self.late.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            future: self.future.load(Relaxed),
            invalid: self.invalid.load(Relaxed),
        }
    }

    /// Approximate bytes held (the rings and the unsealed seconds).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<GaugeRecorder>()
            + self.shards.iter().count() * std::mem::size_of::<CachePadded<Shard>>()
            + self.open.lock().seconds.len() * (std::mem::size_of::<(u64, GaugeAgg)>() + 16)
    }
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "integer values and exact aggregates: equality is the oracle")]
mod tests {
    use super::*;

    struct Free;
    impl Clock for Free {
        fn observe(&self, second: u64) -> u64 {
            second
        }
        fn keep_from(&self) -> u64 {
            0
        }
    }

    fn rec() -> GaugeRecorder {
        GaugeRecorder::new(0, Arc::new(Free))
    }

    #[test]
    fn one_second_exact_and_last_set_wins() {
        let r = rec();
        for v in [3.0, -1.5, 7.25, 2.0] {
            r.set(true, 100, v);
        }
        r.set(true, 100, f64::NAN);
        r.set(true, 100, f64::INFINITY);
        let s = r.seal(101, 101);
        assert_eq!(s.seconds.len(), 1);
        let (sec, a) = s.seconds[0];
        assert_eq!(sec, 100);
        assert_eq!((a.count, a.min, a.max, a.sum, a.last), (4, -1.5, 7.25, 10.75, 2.0));
        assert_eq!(r.counters().invalid, 2);
    }

    #[test]
    fn a_full_ring_takes_the_cold_path_and_keeps_order() {
        let r = rec();
        // Three rings' worth of values in one second, then one in the next:
        // the owner drains its own ring on the way.
        let n = 3 * u32::try_from(SHARD_SLOTS).unwrap() + 5;
        for i in 0..n {
            r.set(true, 100, f64::from(i));
        }
        r.set(true, 101, -1.0);
        let mut seen = Vec::new();
        r.read_unsealed(0, 200, |s, a| seen.push((s, a.count, a.min, a.max, a.last)));
        let top = f64::from(n - 1);
        assert_eq!(seen, vec![(100, u64::from(n), 0.0, top, top), (101, 1, -1.0, -1.0, -1.0)]);
        r.set(true, 100, 0.5);
        let s = r.seal(200, 200);
        assert_eq!(s.seconds[0].1.last, 0.5);
        assert_eq!(s.seconds[0].1.count, u64::from(n) + 1);
    }

    #[test]
    fn late_samples_after_a_seal_are_deltas() {
        let r = rec();
        r.set(true, 10, 1.0);
        let s = r.seal(20, 20);
        assert_eq!(s.seconds.len(), 1);
        r.set(true, 10, 9.0);
        r.set(true, 25, 2.0);
        let s = r.seal(21, 21);
        assert_eq!(s.late, vec![(10, GaugeAgg::one(10, 9.0))]);
        assert!(s.seconds.is_empty());
        assert_eq!(r.counters().late, 1);
    }

    #[test]
    fn threads_lose_nothing_while_draining() {
        let r = Arc::new(rec());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        r.set(true, u64::from(i / 1000), f64::from(t * 100_000 + i));
                    }
                })
            })
            .collect();
        let mut total = GaugeAgg::EMPTY;
        let mut sealed = 0;
        while sealed < 30 {
            let s = r.seal(sealed, sealed);
            for (_, a) in s.seconds.iter().chain(&s.late) {
                total.merge(a);
            }
            sealed += 1;
            std::thread::yield_now();
        }
        for t in threads {
            t.join().unwrap();
        }
        let s = r.seal(100, 100);
        for (_, a) in s.seconds.iter().chain(&s.late) {
            total.merge(a);
        }
        assert_eq!(total.count, 80_000);
        let expect: f64 =
            (0..4u32).flat_map(|t| (0..20_000u32).map(move |i| f64::from(t * 100_000 + i))).sum();
        assert_eq!(total.sum, expect);
        assert_eq!(total.min, 0.0);
        assert_eq!(total.max, 319_999.0);
    }
}
