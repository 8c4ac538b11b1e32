//! Gauges: a value sampled over time (memory, CPU, a queue's depth). Per
//! second a gauge keeps exact `count, min, max, sum, last` ([`GaugeAgg`]);
//! [`GaugeRecorder`] takes samples without a lock or an allocation.
//!
//! # Protocol
//!
//! A recorder holds a direct-mapped ring of [`RING`] slots, one second each
//! (`second % RING`), shared by every thread that sets the gauge. A slot is
//! five relaxed atomics (count, and the bits of min, max, sum, last) guarded
//! by a `state` word: `0` when empty, else `tag << 16 | closed << 15 |
//! writers`, with `tag = second + 1`.
//!
//! * A **writer** claims an empty slot (`0 -> tag | 1`, compare-and-swap)
//!   or enters one holding its second (`writers + 1`, compare-and-swap,
//!   refused once `closed` is set), updates the fields (an add, compare-
//!   and-swap loops for min, max and sum, a store for last), and leaves
//!   (`writers - 1`, `Release`). A writer whose slot holds another second,
//!   or is being drained, takes the cold path: the recorder's mutex, and a
//!   merge into the unsealed seconds' map.
//! * The **consumer** (every drain holds that mutex, so there is one at a
//!   time, and only it empties slots: a slot's tag cannot change while it
//!   looks) sets `closed`, waits until `writers` is 0 (`Acquire`: every
//!   entered writer's updates are visible; entries are a few instructions,
//!   so the wait is short), reads the fields, resets them to the empty
//!   aggregate and stores `0` (`Release`: the next claimer sees reset
//!   fields). No sample is lost or counted twice.
//!
//! Within one second, `last` is the last value set: a drain merges a slot
//! after what the map already holds for its second, and a cold-path writer
//! that found its slot being drained merges after the drain (it waited for
//! the mutex). Concurrent sets from different threads have no order.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::newest::NewestSeconds;
use crate::recorder::Clock;
use crate::sync::AtomicU64;

/// Slots of a gauge's ring: seconds that can take samples without a lock
/// at the same time (a live gauge uses one or two; a replay within the
/// default 10 s lateness fits).
pub const RING: usize = 16;

const WRITERS: u64 = (1 << 15) - 1;
const CLOSED: u64 = 1 << 15;
const TAG_SHIFT: u32 = 16;
/// Seconds at or above this do not fit a slot's tag (year ~4.4 million):
/// they take the cold path.
const MAX_RING_SECOND: u64 = (1 << 47) - 1;

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

/// One second's aggregates, updated in place (see the module's protocol).
struct Slot {
    state: AtomicU64,
    count: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    sum: AtomicU64,
    last: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: AtomicU64::new(0),
            count: AtomicU64::new(0),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            sum: AtomicU64::new(0),
            last: AtomicU64::new(0),
        }
    }

    /// Enters the slot for `tag`; false when it holds another second or is
    /// being drained.
    #[inline]
    fn enter(&self, tag: u64) -> bool {
        let mut st = self.state.load(Acquire);
        loop {
            let next = if st == 0 {
                tag << TAG_SHIFT | 1
            } else if st >> TAG_SHIFT == tag && st & CLOSED == 0 && st & WRITERS < WRITERS {
                st + 1
            } else {
                return false;
            };
            match self.state.compare_exchange_weak(st, next, Acquire, Acquire) {
                Ok(_) => return true,
                Err(now) => st = now,
            }
        }
    }

    #[inline]
    fn add(&self, v: f64) {
        self.count.fetch_add(1, Relaxed);
        update_f64(&self.min, |cur| (v < cur).then_some(v));
        update_f64(&self.max, |cur| (v > cur).then_some(v));
        update_f64(&self.sum, |cur| Some(cur + v));
        self.last.store(v.to_bits(), Relaxed);
        self.state.fetch_sub(1, Release);
    }

    /// Empties the slot, returning its second and aggregate. Only the
    /// consumer (holding the recorder's mutex) calls it.
    fn take(&self) -> Option<(u64, GaugeAgg)> {
        let st = self.state.load(Acquire);
        if st == 0 {
            return None;
        }
        let st = self.state.fetch_or(CLOSED, AcqRel);
        let mut spins = 0u32;
        let mut st = st | CLOSED;
        while st & WRITERS != 0 {
            // A writer inside is a few instructions from leaving, unless it
            // was preempted: then give its thread the core.
            spins += 1;
            if spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            st = self.state.load(Acquire);
        }
        let second = (st >> TAG_SHIFT) - 1;
        let last = f64::from_bits(self.last.load(Relaxed));
        let agg = GaugeAgg {
            count: self.count.swap(0, Relaxed),
            min: f64::from_bits(self.min.swap(f64::INFINITY.to_bits(), Relaxed)),
            max: f64::from_bits(self.max.swap(f64::NEG_INFINITY.to_bits(), Relaxed)),
            sum: f64::from_bits(self.sum.swap(0, Relaxed)),
            last,
            last_s: second,
        };
        self.state.store(0, Release);
        // A writer claims a slot with its first sample in the same
        // compare-and-swap, but adds it after: a claimed slot drained in
        // between is empty.
        (agg.count > 0).then_some((second, agg))
    }
}

#[inline]
fn update_f64(a: &AtomicU64, f: impl Fn(f64) -> Option<f64>) {
    let mut cur = a.load(Relaxed);
    while let Some(v) = f(f64::from_bits(cur)) {
        match a.compare_exchange_weak(cur, v.to_bits(), Relaxed, Relaxed) {
            Ok(_) => return,
            Err(now) => cur = now,
        }
    }
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
    ring: [Slot; RING],
    open: Mutex<GaugeOpen>,
    clock: Arc<dyn Clock>,
    /// Newest second seen by this gauge: a sample past it registers with the
    /// clock (once per new second).
    newest: AtomicU64,
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
            ring: std::array::from_fn(|_| Slot::new()),
            open: Mutex::new(GaugeOpen { seconds: BTreeMap::new(), sealed_below }),
            clock,
            newest: AtomicU64::new(0),
            explicit: AtomicBool::new(false),
            late: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            future: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
        }
    }

    /// Records `v` at `second` (`explicit`: dated by the caller, not read
    /// from the live clock). NaN and infinities are counted and dropped; so
    /// are seconds the clock does not admit (too far ahead). No lock and no
    /// allocation unless the second's slot holds another second.
    #[inline]
    pub fn set(&self, explicit: bool, second: u64, v: f64) {
        if !v.is_finite() {
            self.invalid.fetch_add(1, Relaxed);
            return;
        }
        if second > self.newest.load(Relaxed) {
            if !self.clock.admits(second) {
                self.future.fetch_add(1, Relaxed);
                return;
            }
            self.newest.fetch_max(second, Relaxed);
            self.clock.observe(second);
        }
        if explicit && !self.explicit.load(Relaxed) {
            self.explicit.store(true, Relaxed);
        }
        if second <= MAX_RING_SECOND {
            #[expect(clippy::cast_possible_truncation, reason = "the remainder is below RING")]
            let slot = &self.ring[(second % RING as u64) as usize];
            if slot.enter(second + 1) {
                slot.add(v);
                return;
            }
        }
        let mut open = self.open.lock();
        open.seconds.entry(second).or_default().merge(&GaugeAgg::one(second, v));
    }

    /// Moves every slot into the map (under its lock) and notes the
    /// seconds with the clock.
    fn drain(&self, open: &mut GaugeOpen) {
        let mut newest = NewestSeconds::new();
        for slot in &self.ring {
            if let Some((second, agg)) = slot.take() {
                open.seconds.entry(second).or_default().merge(&agg);
                newest.insert(second);
            }
        }
        if !newest.is_empty() {
            self.clock.note_newest(&newest);
        }
    }

    /// Whether nothing is unsealed.
    #[must_use]
    pub fn is_idle(&self) -> bool {
        self.ring.iter().all(|s| s.state.load(Relaxed) == 0) && self.open.lock().seconds.is_empty()
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

    /// Approximate bytes held (the ring and the unsealed seconds).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<GaugeRecorder>()
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
    fn colliding_seconds_take_the_cold_path_and_keep_order() {
        let r = rec();
        // 100 and 116 share a slot: 116 goes to the map.
        r.set(true, 100, 1.0);
        r.set(true, 116, 5.0);
        r.set(true, 116, 6.0);
        // A drain empties the slot; 116 then claims it, after the map's part.
        let mut seen = Vec::new();
        r.read_unsealed(0, 200, |s, a| seen.push((s, a.count, a.last)));
        assert_eq!(seen, vec![(100, 1, 1.0), (116, 2, 6.0)]);
        r.set(true, 116, 4.0);
        let s = r.seal(200, 200);
        assert_eq!(
            s.seconds,
            vec![
                (100, GaugeAgg::one(100, 1.0)),
                (116, {
                    let mut a = GaugeAgg::one(116, 5.0);
                    a.merge(&GaugeAgg::one(116, 6.0));
                    a.merge(&GaugeAgg::one(116, 4.0));
                    a
                })
            ]
        );
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
