//! The per-series recorder: a single-producer ring per recording thread on
//! the hot path, the unsealed seconds behind one mutex on the cold path.
//!
//! # Protocol
//!
//! Every recording thread owns one [`Shard`] per series, handed to a new
//! thread only after the previous owner exited: the first thread to record
//! into a series owns the shard inline in the recorder (found by the
//! thread's token, one thread-local load and a compare; most series have one
//! recording thread), later ones a `thread_local::ThreadLocal` entry. A shard is a ring of `(meta, value)` slots, each
//! one request: its second, status and flags packed in `meta`, its latency
//! in `value`. Recording a sample is two relaxed stores into the slot at
//! `head` and a `Release` store of `head + 1`: no lock, no read-modify-write,
//! no allocation, and **the same cost whatever the order of the seconds**
//! (a model server stamping requests with their start time, a replay of
//! logs written at completion, several pods' logs concatenated).
//!
//! Consumers drain rings, always while holding the series mutex (`Open`),
//! so there is one consumer at a time: they read the slots in
//! `[tail, head)` (`head` loaded with `Acquire`), add each request into the
//! accumulator of its second (`open::Table`), and publish `tail` with
//! `Release`. The owner reuses a slot only after it has seen `tail` pass it
//! (`Acquire`). Each slot is read exactly once, so no sample is lost or
//! counted twice, and every sample lands in its own second:
//!
//! * the **owner** drains its own ring when it finds it full (the cold
//!   path; a thread that fills the small inline ring once gets a larger one);
//! * the **sealer** drains every ring, then hands out the seconds below the
//!   seal bound and the late deltas of seconds sealed earlier;
//! * a **query** drains every ring, then reads the unsealed seconds in
//!   place, so it sees every sample recorded before the call.
//!
//! A sample's second is classified when it is drained: below the store's
//! retention bound ([`Clock::keep_from`], which moves only between seal
//! passes) it is rejected, below the seal bound a late delta of that second
//! (counted), anything else joins its open second. Both bounds change only
//! in seal passes, so the classification does not depend on when or by
//! which thread a sample is drained.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::dense::Accumulator;
use crate::layout::Layout;
use crate::newest::NewestSeconds;
use crate::open::Table;
use crate::sparse::{Interval, SparseHist};
use crate::status::{clamp_status, StatusCounts};
use crate::sync::AtomicU64;
use crate::token;

/// Slots of the ring every shard starts with (inline, 128 B): enough for a
/// live thread below ~800 records a second per series between two clock
/// ticks, and small for the many series a scanner or a replay touches once
/// (a shard is allocated per series and recording thread).
const SMALL: usize = 8;
/// Slots of the ring a shard moves to once its small ring filled up between
/// two drains (4 KiB, allocated once).
const LARGE: usize = 256;
/// Unsealed seconds this far behind a series' newest are kept compact
/// after each seal pass (see `Table::settle_behind`).
const SETTLE_LAG: u64 = 3;
/// Samples of a batch added per accumulator lookup (well below any
/// accumulator's capacity).
const BATCH_CHUNK: usize = 1024;

/// Slots a recording thread that finds its ring full drains itself at once
/// (consumers that are not recording drain everything). The whole large
/// ring: smaller drains cut the tail of a `record()` call (~1 µs instead of
/// ~2 µs once per drain) but hand the series mutex and the accumulators'
/// cache lines back and forth twice as often between threads recording into
/// one series (two threads: 2.1x the shared mutex's throughput at 128,
/// 2.6x at 256).
const OWNER_DRAIN: u64 = 256;
// The owner's drain empties a small ring whole, so it can switch rings then.
const _: () = assert!(SMALL as u64 <= OWNER_DRAIN);

/// `meta` layout: `second << SECOND_SHIFT | explicit << 17 | no_latency << 16 | status`.
const SECOND_SHIFT: u32 = 18;
const EXPLICIT: u64 = 1 << 17;
const NO_LATENCY: u64 = 1 << 16;
/// Seconds from this one on do not fit `meta` (year 2.2 million): they take
/// the locked path, which handles every `u64`.
const MAX_PACKED_SECOND: u64 = 1 << (64 - SECOND_SHIFT);

#[expect(
    clippy::inline_always,
    reason = "runs for every recorded sample on the lock-free fast path (Recorder::record); \
              forced inlining is part of the benchmarked hot path"
)]
#[inline(always)]
fn pack(second: u64, explicit: bool, no_latency: bool, status: u16) -> u64 {
    (second << SECOND_SHIFT)
        | (u64::from(explicit) << 17)
        | (u64::from(no_latency) << 16)
        | u64::from(status)
}

/// One request in a ring.
struct Slot {
    meta: AtomicU64,
    value: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot { meta: AtomicU64::new(0), value: AtomicU64::new(0) }
    }
}

/// One thread's ring for one series.
///
/// Field protocol: `head`, `limit` and the slots are written only by the
/// owning thread; `tail` only by consumers, which hold the series mutex;
/// `large` is set by the owner while it holds the series mutex with its
/// ring drained (so consumers, which hold the mutex too, never see a switch
/// with slots in flight), and from then on is the ring in use.
struct Shard {
    /// Slots written so far (monotonic); published with `Release`.
    head: AtomicU64,
    /// `tail + capacity` as the owner last saw it: the hot path writes while
    /// `head < limit` without reading `tail`.
    limit: AtomicU64,
    /// Slots consumed so far (monotonic); published with `Release`.
    tail: AtomicU64,
    /// The newest second this thread has registered with the clock: a
    /// sample past it takes the cold path once, so the store's data time is
    /// current at every record, not only at the next drain.
    seen: AtomicU64,
    small: [Slot; SMALL],
    large: OnceLock<Box<[Slot]>>,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            head: AtomicU64::new(0),
            limit: AtomicU64::new(SMALL as u64),
            tail: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            small: std::array::from_fn(|_| Slot::new()),
            large: OnceLock::new(),
        }
    }

    /// The ring in use.
    #[expect(
        clippy::inline_always,
        reason = "looked up for every recorded sample on the fast path (Shard::push); forced \
                  inlining is part of the benchmarked hot path"
    )]
    #[inline(always)]
    fn ring(&self) -> &[Slot] {
        match self.large.get() {
            Some(r) => r,
            None => &self.small,
        }
    }

    /// The hot path: appends one request, or returns false (changing
    /// nothing) when the ring looks full. Owner only.
    #[expect(
        clippy::inline_always,
        reason = "the per-sample fast path of Recorder::record; forced inlining into it is part \
                  of the benchmarked hot path"
    )]
    #[inline(always)]
    fn push(&self, meta: u64, value: u64) -> bool {
        let head = self.head.load(Relaxed);
        if head == self.limit.load(Relaxed) {
            return false;
        }
        let ring = self.ring();
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only the low bits select a slot; ring lengths are powers of two"
        )]
        let Some(slot) = ring.get(head as usize & (ring.len() - 1)) else {
            return false;
        };
        slot.meta.store(meta, Relaxed);
        slot.value.store(value, Relaxed);
        self.head.store(head + 1, Release);
        true
    }

    /// Re-reads `tail` and moves `limit` up to `tail + capacity`; true when
    /// that made room. Owner only.
    fn refresh_limit(&self) -> bool {
        let tail = self.tail.load(Acquire);
        let limit = tail + self.ring().len() as u64;
        self.limit.store(limit, Relaxed);
        self.head.load(Relaxed) < limit
    }

    /// The published slots not consumed yet: the ring and `tail..head`.
    /// Consumers only, holding the series mutex; [`Shard::release`] after.
    #[inline]
    /// Whether every slot written has been drained.
    fn is_drained(&self) -> bool {
        self.head.load(Acquire) == self.tail.load(Relaxed)
    }

    fn pending(&self) -> (&[Slot], u64, u64) {
        let head = self.head.load(Acquire);
        (self.ring(), self.tail.load(Relaxed), head)
    }

    /// Frees the slots below `head` for the owner. Consumers only, after
    /// they read them.
    #[inline]
    fn release(&self, head: u64) {
        self.tail.store(head, Release);
    }

    /// Bytes of the large ring (the rest is inline).
    fn heap_bytes(&self) -> usize {
        self.large.get().map_or(0, |r| r.len() * std::mem::size_of::<Slot>())
    }
}

/// Counters a recorder keeps about samples that did not join an open second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderCounters {
    /// Samples for a second that was already sealed: filed as late deltas.
    pub late: u64,
    /// Samples older than retention (or before 1970): dropped.
    pub rejected: u64,
    /// Samples dated further ahead than the clock admits
    /// ([`Clock::admits`]): dropped.
    pub future: u64,
}

/// The data-time limits a recorder applies, shared by all series of a store.
pub trait Clock: Send + Sync {
    /// Registers a sample second and returns the newest second seen so far
    /// (including this one). Called once per new second per recording
    /// thread, on the cold path.
    fn observe(&self, second: u64) -> u64;
    /// Samples of seconds below this are past retention: rejected. A store
    /// moves it only between seal passes (from the newest seconds that hold
    /// samples, [`NewestSeconds::supported`]), so every sample drained
    /// between two passes is judged against the same bound, whichever
    /// thread drains it and when.
    fn keep_from(&self) -> u64;
    /// The lowest second that could still be one of the store's newest
    /// distinct seconds ([`NewestSeconds::entry`]): a drain notes the
    /// seconds at or above it. The default (`u64::MAX`) notes none.
    fn newest_entry(&self) -> u64 {
        u64::MAX
    }
    /// Adds the newest distinct seconds one drain met to the store's.
    fn note_newest(&self, seconds: &NewestSeconds) {
        let _ = seconds;
    }
    /// Whether a sample of `second` may be recorded at all: a store rejects
    /// seconds too far ahead of its wall clock, so that one future-dated
    /// line cannot move data time (and retention with it) past everything
    /// stored. Asked once per new second per recording thread (and per
    /// batch), never per sample on the fast path. The default admits all.
    fn admits(&self, second: u64) -> bool {
        let _ = second;
        true
    }
}

struct Open {
    /// Unsealed seconds and late deltas not yet handed out by `seal`.
    table: Table,
    /// Every second below this is sealed.
    sealed_below: u64,
    counters: RecorderCounters,
    /// Whether any sample came with an explicit time (`record_at`); a series
    /// fed only by the live clock needs no lateness window.
    explicit: bool,
    /// Whether any sample came from the live clock (`record`). A series
    /// seals past its lateness window only when it was fed, and only live:
    /// one with no sample yet keeps the window for its first `record_at`.
    live: bool,
}

/// What one seal pass hands to the store: sealed seconds and late deltas.
#[derive(Debug, Default)]
pub struct Sealed {
    /// Newly sealed one-second intervals, ascending.
    pub seconds: Vec<Interval>,
    /// Late deltas for seconds sealed earlier (merge them into those seconds).
    pub late: Vec<Interval>,
}

/// A shard on cache lines of its own (64 B lines: a 128 B pad, as
/// `CachePadded` gives on x86-64, would cost every series another 128 B).
#[repr(align(64))]
struct Lines(Shard);

/// The lock-free recorder of one series.
pub struct Recorder {
    layout: Layout,
    clock: Arc<dyn Clock>,
    /// The first recording thread's shard: no allocation and no
    /// `ThreadLocal` (whose bucket table alone is ~520 B) for the many series
    /// that only one thread records into. On lines of its own: its hot
    /// fields must not share a line with the mutex, nor with `owner`, which
    /// other recording threads read at every record.
    first: Lines,
    /// The inline shard's owner: the [`token`] of the thread that claimed
    /// it (0: not claimed yet). Set once.
    owner: AtomicU64,
    /// The other recording threads' shards, allocated when a second thread
    /// records. Cache-padded: `ThreadLocal` stores entries of adjacent
    /// thread ids contiguously, and their hot fields must not share a line.
    more: OnceLock<Box<ThreadLocal<CachePadded<Shard>>>>,
    open: Mutex<Open>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder for `layout` whose data time is kept by `clock`. Seconds
    /// below `sealed_below` count as sealed (use 0 for a new series).
    #[must_use]
    pub fn new(layout: Layout, sealed_below: u64, clock: Arc<dyn Clock>) -> Recorder {
        Recorder {
            layout,
            clock,
            first: Lines(Shard::new()),
            owner: AtomicU64::new(0),
            more: OnceLock::new(),
            open: Mutex::new(Open {
                table: Table::new(layout),
                sealed_below,
                counters: RecorderCounters::default(),
                explicit: false,
                live: false,
            }),
        }
    }

    /// The layout of every histogram this recorder produces.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    #[expect(
        clippy::inline_always,
        reason = "called once per Recorder::record; forced inlining keeps the thread-local \
                  lookup in the benchmarked hot path"
    )]
    #[inline(always)]
    fn shard(&self) -> &Shard {
        let t = token::current();
        // Tokens are never 0, so an unclaimed inline shard never matches.
        // A match is this thread's claim, or that of an exited thread whose
        // token this one took (the token's hand-over orders its records
        // before this thread's).
        if self.owner.load(Relaxed) == t {
            return &self.first.0;
        }
        self.other_shard(t)
    }

    /// The shard of a thread other than the inline shard's owner. Out of
    /// line, so that the owner's path stays small enough to inline into
    /// callers (`Series::record`).
    #[inline(never)]
    fn other_shard(&self, token: u64) -> &Shard {
        if let Some(s) = self.more.get().and_then(|m| m.get()) {
            return s;
        }
        self.new_shard(token)
    }

    #[cold]
    #[inline(never)]
    fn new_shard(&self, token: u64) -> &Shard {
        if self.owner.compare_exchange(0, token, Acquire, Relaxed).is_ok() {
            return &self.first.0;
        }
        self.more
            .get_or_init(|| Box::new(ThreadLocal::new()))
            .get_or(|| CachePadded::new(Shard::new()))
    }

    /// Every shard (the inline one whether claimed or not: unclaimed, it
    /// holds nothing).
    fn shards(&self) -> impl Iterator<Item = &Shard> + '_ {
        let more = self.more.get().into_iter().flat_map(|m| m.iter().map(|s| &**s));
        std::iter::once(&self.first.0).chain(more)
    }

    /// Records one request of `value_ns` nanoseconds with `status`, in data
    /// second `second`. Lock-free and allocation-free whenever this thread's
    /// ring has room, in whatever order the seconds come.
    ///
    /// `explicit` says the second came from the caller (a replay or harness
    /// timestamp) rather than the live clock; see [`Recorder::seal`].
    #[inline]
    pub fn record(&self, explicit: bool, second: u64, value_ns: u64, status: u16) {
        let shard = self.shard();
        // `seen` is below MAX_PACKED_SECOND, so this also says `second` packs.
        if second <= shard.seen.load(Relaxed)
            && shard.push(pack(second, explicit, false, status), value_ns)
        {
            return;
        }
        self.record_cold(shard, explicit, second, Some(value_ns), status);
    }

    /// Records a request whose latency is unknown: it counts in rate, status
    /// and error ratio, not in latency quantiles.
    pub fn record_status_only(&self, explicit: bool, second: u64, status: u16) {
        let shard = self.shard();
        if second <= shard.seen.load(Relaxed) && shard.push(pack(second, explicit, true, status), 0)
        {
            return;
        }
        self.record_cold(shard, explicit, second, None, status);
    }

    /// Records a batch of `(value_ns, status)` samples that share one second,
    /// under one lock (no ring).
    pub fn record_batch(&self, second: u64, samples: &[(u64, u16)]) {
        if samples.is_empty() {
            return;
        }
        let mut open = self.open.lock();
        if !self.admit(&mut open, second, true, samples.len() as u64) {
            return;
        }
        // In chunks that fit one accumulator's room (see `Table::get`),
        // each folded run by run (samples with one status in a row), as a
        // drain folds them.
        for chunk in samples.chunks(BATCH_CHUNK) {
            let acc = open.table.get(second, chunk.len() as u64);
            for run in chunk.chunk_by(|a, b| a.1 == b.1) {
                let status = run.first().map_or(0, |s| s.1);
                let n = acc.add_latencies(&self.layout, 0, run.len() as u64, |q| {
                    usize::try_from(q).ok().and_then(|q| run.get(q)).map(|s| s.0)
                });
                acc.add_requests(status, n);
            }
        }
    }

    /// Records the requests of one `second` and `status` given as
    /// `(value_ns, n)` counts (a histogram's buckets, such as an
    /// `HdrHistogram` log's), under the series mutex, in time independent
    /// of the counts: they become one compact part of their second, with
    /// exact extremes, sum and counters, as that many calls of
    /// [`Recorder::record`] would make them. Give all the counts of a second
    /// in one call: each call merges one part into the second.
    pub fn record_counts(&self, second: u64, status: u16, counts: &[(u64, u64)]) {
        let mut pairs: Vec<(u32, u64)> = Vec::with_capacity(counts.len());
        let mut iv = Interval::empty(second, 1);
        let mut n = 0u64;
        for &(v, c) in counts.iter().filter(|c| c.1 > 0) {
            pairs.push((self.layout.index(v), c));
            n = n.saturating_add(c);
            iv.min_ns = iv.min_ns.min(v);
            iv.max_ns = iv.max_ns.max(v);
            iv.sum_ns = iv.sum_ns.saturating_add(u128::from(v) * u128::from(c));
            if v > self.layout.highest_ns() {
                iv.clamped = iv.clamped.saturating_add(c);
            }
        }
        if n == 0 {
            return;
        }
        // Buckets of ascending values come ascending; values that share a
        // bucket are summed.
        pairs.sort_by_key(|p| p.0);
        pairs.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 = a.1.saturating_add(b.1);
            }
            same
        });
        let mut open = self.open.lock();
        if !self.admit(&mut open, second, true, n) {
            return;
        }
        // Sorted, distinct, non-zero pairs are always a valid histogram;
        // the error branch cannot run.
        let Ok(hist) = SparseHist::from_sorted(pairs) else { return };
        let (code, bad) = clamp_status(status);
        iv.hist = hist;
        iv.status = StatusCounts::from_pairs([(code, n)]);
        iv.invalid_status = if bad { n } else { 0 };
        open.table.add_part(iv);
    }

    #[cold]
    #[inline(never)]
    fn record_cold(
        &self,
        shard: &Shard,
        explicit: bool,
        second: u64,
        value_ns: Option<u64>,
        status: u16,
    ) {
        let packable = second < MAX_PACKED_SECOND;
        let meta = pack(second & (MAX_PACKED_SECOND - 1), explicit, value_ns.is_none(), status);
        let value = value_ns.unwrap_or(0);
        // Every second past `seen` comes here first (the fast path takes
        // only seconds up to it, and `seen` moves only to admitted ones).
        let new_second = second > shard.seen.load(Relaxed);
        if new_second && !self.clock.admits(second) {
            self.open.lock().counters.future += 1;
            return;
        }
        if packable && new_second {
            self.clock.observe(second);
            shard.seen.store(second, Relaxed);
            if shard.push(meta, value) {
                return;
            }
        }
        // Consumers may have made room since the owner last looked.
        if packable && shard.refresh_limit() && shard.push(meta, value) {
            return;
        }
        let mut open = self.open.lock();
        // At most OWNER_DRAIN samples (a microsecond or two) at a time.
        self.drain_one(&mut open, shard, OWNER_DRAIN);
        // The small ring filled up between two drains: this thread records
        // often enough to want the large one. Drained whole (SMALL <=
        // OWNER_DRAIN), so no slot is in flight while the ring changes.
        shard.large.get_or_init(|| (0..LARGE).map(|_| Slot::new()).collect());
        shard.refresh_limit();
        if packable && shard.push(meta, value) {
            return;
        }
        if self.admit(&mut open, second, explicit, 1) {
            open.table.get(second, 1).add(&self.layout, value_ns, status);
        }
    }

    /// Classifies `n` requests of `second` taken without a ring (a batch,
    /// a second that does not pack): too far ahead ([`Clock::admits`]) they
    /// are counted as future (false); past retention, as rejected (false);
    /// below the seal bound, as late. The drain loop does
    /// the same per sample, inline.
    fn admit(&self, open: &mut Open, second: u64, explicit: bool, n: u64) -> bool {
        if !self.clock.admits(second) {
            open.counters.future += n;
            return false;
        }
        self.clock.observe(second);
        if second < self.clock.keep_from() {
            open.counters.rejected += n;
            return false;
        }
        if second >= self.clock.newest_entry() {
            let mut met = NewestSeconds::new();
            met.insert(second);
            self.clock.note_newest(&met);
        }
        open.explicit |= explicit;
        open.live |= !explicit;
        if second < open.sealed_below {
            open.counters.late += n;
        }
        true
    }

    /// Drains one ring into the open seconds. Holding the series mutex.
    fn drain_one(&self, open: &mut Open, shard: &Shard, at_most: u64) {
        let (ring, tail, head) = shard.pending();
        let head = head.min(tail.saturating_add(at_most));
        if tail == head {
            return;
        }
        // Seconds below this are past retention (rejected); the bound moves
        // only between seal passes.
        let keep_from = self.clock.keep_from();
        // The store's newest distinct seconds, for retention: seconds at or
        // above `entry` are noted, once per run of a second.
        let entry = self.clock.newest_entry();
        let mut met = NewestSeconds::new();
        let Open { table, sealed_below, counters, explicit, live } = open;
        table.begin_drain();
        let layout = &self.layout;
        let (mut late, mut rejected) = (0u64, 0u64);
        let (mut any_explicit, mut any_live) = (0u64, 0u64);
        // Consecutive samples with the same `meta` (second, flags and
        // status: nearly all of them, in or out of order) form a run: it is
        // classified and looked up once, and only its latencies are looked
        // at one by one, the run's totals kept in registers
        // (`SecondAcc::add_latencies`).
        //
        // Seconds noted in `met` lately (direct-mapped): a drain of
        // disordered traffic switches between a few seconds all the time.
        let mut noted = [u64::MAX; 4];
        let mask = ring.len() - 1;
        // The slot at `q`, if its sample has `meta`.
        let same = |q: u64, meta: u64| {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "only the low bits select a slot; ring lengths are powers of two"
            )]
            let slot = ring.get(q as usize & mask)?;
            (slot.meta.load(Relaxed) == meta).then_some(slot)
        };
        // The length of the run of `meta` from `p` (no latency looked at).
        let run_len =
            |p: u64, meta: u64| (p..head).take_while(|&q| same(q, meta).is_some()).count() as u64;
        let mut p = tail;
        while p < head {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "only the low bits select a slot; ring lengths are powers of two"
            )]
            let Some(meta) = ring.get(p as usize & mask).map(|s| s.meta.load(Relaxed)) else {
                break;
            };
            // A run starts at `p`.
            let second = meta >> SECOND_SHIFT;
            let run_n = if second < keep_from {
                let n = run_len(p, meta);
                rejected += n;
                n
            } else {
                any_explicit |= meta & EXPLICIT;
                any_live |= !meta & EXPLICIT;
                let k = (second & 3) as usize;
                if second >= entry && noted.get(k).is_some_and(|&s| s != second) {
                    met.insert(second);
                    if let Some(s) = noted.get_mut(k) {
                        *s = second;
                    }
                }
                // Room for the rest of this drain: nothing spills mid-run.
                let acc = table.get(second, head - p);
                let n = if meta & NO_LATENCY == 0 {
                    acc.add_latencies(layout, p, head, |q| {
                        same(q, meta).map(|s| s.value.load(Relaxed))
                    })
                } else {
                    run_len(p, meta)
                };
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "the low 16 bits are the status"
                )]
                acc.add_requests(meta as u16, n);
                late += if second < *sealed_below { n } else { 0 };
                n
            };
            // A run holds at least the sample at `p`.
            p += run_n.max(1);
        }
        shard.release(head);
        if !met.is_empty() {
            self.clock.note_newest(&met);
        }
        counters.rejected += rejected;
        counters.late += late;
        *explicit |= any_explicit != 0;
        *live |= any_live != 0;
    }

    /// Drains every ring. Holding the series mutex.
    fn drain_all(&self, open: &mut Open) {
        for shard in self.shards() {
            self.drain_one(open, shard, u64::MAX);
        }
    }

    /// Drains every thread's ring into the unsealed seconds now, if the
    /// series has only been fed by the live clock and nobody else holds its
    /// mutex (a background thread calls this between seal passes, so that
    /// live threads recording at a moderate rate never find their ring
    /// full; a series fed explicit times, a replay's or a harness's, is left
    /// to its recording threads and the seal passes, off the parsers'
    /// cores).
    pub fn drain_live(&self) {
        if let Some(mut open) = self.open.try_lock() {
            if !open.explicit {
                self.drain_all(&mut open);
            }
        }
    }

    /// Seals every second below `seal_below` (or below `live_seal_below`
    /// when the series has samples and every one came from the live clock,
    /// which needs no lateness window): drains every ring and returns the sealed seconds
    /// and the late deltas of seconds sealed earlier. Late seconds still
    /// being added to are held back for a later pass unless `all_late`
    /// (a flush).
    pub fn seal(&self, seal_below: u64, live_seal_below: u64, all_late: bool) -> Sealed {
        let (detached, before) = {
            let mut open = self.open.lock();
            self.drain_all(&mut open);
            let live_only = open.live && !open.explicit;
            let wanted = if live_only { live_seal_below.max(seal_below) } else { seal_below };
            let target = wanted.max(open.sealed_below);
            let before = std::mem::replace(&mut open.sealed_below, target);
            let detached = open.table.detach_below(target, before, all_late);
            // `observe(0)` registers nothing new and reads data time.
            open.table.settle_behind(SETTLE_LAG, self.clock.observe(0));
            (detached, before)
        };
        // Built without the mutex, so recording threads that find their
        // ring full are not held up by the conversion.
        let (intervals, accs) = detached.finish();
        if !accs.is_empty() {
            self.open.lock().table.recycle(accs);
        }
        let mut out = Sealed::default();
        for iv in intervals {
            if iv.start_s < before {
                out.late.push(iv);
            } else {
                out.seconds.push(iv);
            }
        }
        out
    }

    /// Whether the recorder holds nothing a seal pass would hand out: every
    /// ring drained and no unsealed second or late delta held. A seal pass
    /// skips idle series (with nothing due in their tier either), so its cost
    /// follows the series that recorded, not every series of the store. A
    /// sample recorded while this runs is sealed by the next pass, as it
    /// would be had it come just after.
    pub fn is_idle(&self) -> bool {
        self.shards().all(Shard::is_drained) && self.open.lock().table.holds_nothing()
    }

    /// Adds everything not yet handed out by [`Recorder::seal`] for seconds
    /// in `[start_s, end_s)` into `acc`: every sample recorded before the
    /// call, open seconds and pending late deltas.
    pub fn read_unsealed(&self, start_s: u64, end_s: u64, acc: &mut Accumulator) {
        let mut open = self.open.lock();
        self.drain_all(&mut open);
        open.table.add_range_to(start_s, end_s, acc);
    }

    /// Seconds that hold unsealed data, for planning (ascending, deduplicated).
    pub fn unsealed_seconds(&self) -> Vec<u64> {
        let mut open = self.open.lock();
        self.drain_all(&mut open);
        let mut v: Vec<u64> = open.table.seconds().collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Late and rejected counts so far (every sample recorded before the
    /// call classified).
    pub fn counters(&self) -> RecorderCounters {
        let mut open = self.open.lock();
        self.drain_all(&mut open);
        open.counters
    }

    /// Bytes held by this recorder's rings and unsealed seconds (approximate:
    /// allocations, not allocator overhead).
    pub fn memory_bytes(&self) -> usize {
        let open = self.open.lock();
        let more = self.more.get().map_or(0, |m| {
            std::mem::size_of::<ThreadLocal<CachePadded<Shard>>>()
                + m.iter()
                    .map(|s| std::mem::size_of::<CachePadded<Shard>>() + s.heap_bytes())
                    .sum::<usize>()
        });
        std::mem::size_of::<Recorder>() + self.first.0.heap_bytes() + more + open.table.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);

    impl Clock for Fixed {
        fn observe(&self, second: u64) -> u64 {
            second.max(self.0)
        }
        fn keep_from(&self) -> u64 {
            0
        }
    }

    fn recorder() -> Recorder {
        Recorder::new(Layout::default(), 0, Arc::new(Fixed(0)))
    }

    /// `record_counts` makes the same seconds and late deltas as that many
    /// calls of `record`, for values above the range, values sharing a
    /// bucket, invalid statuses and zero counts too.
    #[test]
    fn record_counts_equals_single_records() {
        type Case<'a> = (u64, u16, &'a [(u64, u64)]);
        let (bulk, one) = (recorder(), recorder());
        let highest = Layout::default().highest_ns();
        let cases: [Case; 3] = [
            (10, 200, &[(1_000, 3), (1_000, 2), (5_000_000, 70_000), (999, 0)]),
            (10, 503, &[(2_000, 1)]),
            (11, 1234, &[(highest + 9, 5), (7, 1)]),
        ];
        for (second, status, counts) in cases {
            bulk.record_counts(second, status, counts);
            for &(v, n) in counts {
                for _ in 0..n {
                    one.record(true, second, v, status);
                }
            }
        }
        let (a, b) = (bulk.seal(20, 20, false), one.seal(20, 20, false));
        assert_eq!(a.seconds, b.seconds);
        // A late bulk count is a late delta, counted once per request.
        bulk.record_counts(10, 200, &[(7_000, 4)]);
        for _ in 0..4 {
            one.record(true, 10, 7_000, 200);
        }
        let (a, b) = (bulk.seal(20, 20, true), one.seal(20, 20, true));
        assert_eq!((a.late, bulk.counters()), (b.late, one.counters()));
        assert_eq!(bulk.counters().late, 4);
        bulk.record_counts(10, 200, &[(1, 0)]);
        bulk.record_counts(10, 200, &[]);
        assert!(bulk.seal(30, 30, true).late.is_empty(), "zero counts record nothing");
    }

    /// A clock whose retention bound is set by the test.
    struct KeepFrom(u64);

    impl Clock for KeepFrom {
        fn observe(&self, second: u64) -> u64 {
            second
        }
        fn keep_from(&self) -> u64 {
            self.0
        }
    }

    proptest::proptest! {
        /// Drains of any mix (seconds in and out of order, below retention,
        /// below the seal bound, statuses, unknown latencies, runs long and
        /// short) count every sample once where it belongs: the seconds and
        /// late deltas equal those built one sample at a time with
        /// `SecondAcc::add`, and `late` and `rejected` are exact.
        #[test]
        fn drains_classify_and_count_every_sample(
            samples in proptest::collection::vec(
                (
                    0u64..12,
                    0u64..4,
                    proptest::bool::ANY,
                    // Latencies in range, and some over it (clamped).
                    proptest::prop_oneof![9 => 0u64..3_000_000_000, 1 => 3_000_000_000_000u64..],
                ),
                1..600,
            ),
        ) {
            const KEEP_FROM: u64 = 3;
            const SEALED_BELOW: u64 = 6;
            let r = Recorder::new(Layout::default(), SEALED_BELOW, Arc::new(KeepFrom(KEEP_FROM)));
            let mut oracle = Table::new(Layout::default());
            let (mut late, mut rejected) = (0, 0);
            for &(second, code, known, v) in &samples {
                let status = [200u16, 200, 503, 1234][usize::try_from(code).unwrap_or(0)];
                if known {
                    r.record(true, second, v, status);
                } else {
                    r.record_status_only(true, second, status);
                }
                if second < KEEP_FROM {
                    rejected += 1;
                    continue;
                }
                late += u64::from(second < SEALED_BELOW);
                oracle.begin_drain();
                oracle.get(second, 1).add(&Layout::default(), known.then_some(v), status);
            }
            let c = r.counters();
            proptest::prop_assert_eq!((c.late, c.rejected), (late, rejected));
            let sealed = r.seal(u64::MAX, u64::MAX, true);
            let mut got = sealed.seconds;
            got.extend(sealed.late);
            got.sort_by_key(|iv| iv.start_s);
            let want = oracle.take_below(u64::MAX);
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn shard_size_is_bounded() {
        let size = std::mem::size_of::<CachePadded<Shard>>();
        println!("size_of::<CachePadded<Shard>>() = {size}");
        assert!(size <= 384, "{size}");
    }

    #[test]
    fn many_samples_per_bucket_spill_instead_of_wrapping() {
        // SPILL_AT is 5 000 in unit tests: several spills per second.
        let r = recorder();
        let n = 3 * 5_000 + 7;
        for _ in 0..n {
            r.record(true, 100, 5_000, 200);
        }
        let mut acc = Accumulator::new(Layout::default());
        r.read_unsealed(100, 101, &mut acc);
        assert_eq!((acc.total(), acc.requests()), (n, n));
        let sealed = r.seal(101, 101, true);
        assert_eq!(sealed.seconds.len(), 1);
        assert_eq!(sealed.seconds[0].requests(), n);
        assert_eq!(sealed.seconds[0].sum_ns, u128::from(n) * 5_000);
    }

    /// Cells that wrap carry (`u8` cells in unit tests: every 256 counts),
    /// including a cell that wraps to exactly 0; reads in place and the
    /// sealed interval both count every request in its bucket.
    #[test]
    fn cells_that_wrap_carry_their_counts() {
        let r = recorder();
        let layout = Layout::default();
        let cases: [(u64, u64); 4] =
            [(1_000, 1_000), (5_000_000, 256), (70_000_000, 3), (2_000, 512)];
        // Interleaved, in small runs, as traffic comes.
        let mut left: Vec<u64> = cases.iter().map(|c| c.1).collect();
        while left.iter().any(|&n| n > 0) {
            for (k, &(v, _)) in cases.iter().enumerate() {
                for _ in 0..left[k].min(7) {
                    r.record(true, 100, v, 200);
                }
                left[k] -= left[k].min(7);
            }
        }
        let mut want: Vec<(u32, u64)> = cases.iter().map(|&(v, n)| (layout.index(v), n)).collect();
        want.sort_unstable();
        let mut acc = Accumulator::new(layout);
        r.read_unsealed(100, 101, &mut acc);
        assert_eq!(acc.requests(), 1_771);
        let sealed = r.seal(200, 200, true);
        let got: Vec<(u32, u64)> = sealed.seconds[0].hist.iter().collect();
        assert_eq!(got, want);
        assert_eq!(sealed.seconds[0].requests(), 1_771);
    }

    #[test]
    fn alternating_seconds_land_in_their_own_second() {
        let r = recorder();
        for i in 0..10_000u64 {
            // 10, 12, 11, 13, 12, 14, ...: always two or three seconds open.
            let second = 10 + i / 100 + (i % 2) * 2;
            r.record(true, second, 1_000 + second, 200);
        }
        let sealed = r.seal(u64::MAX, u64::MAX, true);
        let mut total = 0;
        for iv in &sealed.seconds {
            assert_eq!((iv.min_ns, iv.max_ns), (1_000 + iv.start_s, 1_000 + iv.start_s));
            total += iv.requests();
        }
        assert_eq!(total, 10_000);
        assert!(sealed.late.is_empty());
    }

    #[test]
    fn after_a_seal_the_same_second_is_late_and_counted_once() {
        let r = recorder();
        r.record(true, 10, 1_000, 200);
        let sealed = r.seal(11, 11, true);
        assert_eq!(sealed.seconds[0].requests(), 1);
        r.record(true, 10, 2_000, 500);
        let sealed = r.seal(11, 11, true);
        assert!(sealed.seconds.is_empty());
        assert_eq!(sealed.late.len(), 1);
        assert_eq!((sealed.late[0].start_s, sealed.late[0].requests()), (10, 1));
        assert_eq!(r.counters().late, 1);
    }

    #[test]
    fn late_seconds_still_growing_are_held_back_until_quiet() {
        let r = recorder();
        r.record(true, 10, 1_000, 200);
        assert_eq!(r.seal(20, 20, false).seconds.len(), 1);
        r.record(true, 10, 2_000, 200);
        // Changed since the last pass: held back, still visible to queries.
        let sealed = r.seal(20, 20, false);
        assert!(sealed.late.is_empty() && sealed.seconds.is_empty());
        let mut acc = Accumulator::new(Layout::default());
        r.read_unsealed(10, 11, &mut acc);
        assert_eq!(acc.requests(), 1);
        r.record(true, 10, 3_000, 200);
        assert!(r.seal(20, 20, false).late.is_empty());
        // Quiet for a whole pass: handed out as one delta of both samples.
        let sealed = r.seal(20, 20, false);
        assert_eq!(sealed.late.len(), 1);
        assert_eq!((sealed.late[0].start_s, sealed.late[0].requests()), (10, 2));
        // A flush hands out what is held at once.
        r.record(true, 10, 4_000, 200);
        assert_eq!(r.seal(20, 20, true).late[0].requests(), 1);
        assert_eq!(r.counters().late, 3);
    }

    #[test]
    fn seconds_that_do_not_pack_take_the_locked_path() {
        let r = recorder();
        r.record(true, u64::MAX - 5, 1_000, 200);
        r.record_status_only(true, MAX_PACKED_SECOND, 404);
        assert_eq!(r.unsealed_seconds(), vec![MAX_PACKED_SECOND, u64::MAX - 5]);
        let sealed = r.seal(u64::MAX, u64::MAX, true);
        assert_eq!(sealed.seconds.len(), 2);
    }

    #[test]
    fn a_busy_thread_moves_to_the_large_ring_and_loses_nothing() {
        let r = recorder();
        for i in 0..(3 * LARGE as u64 + 5) {
            r.record(true, 50 + i % 3, i, 200);
        }
        assert!(r.shard().large.get().is_some());
        let mut acc = Accumulator::new(Layout::default());
        r.read_unsealed(0, 100, &mut acc);
        assert_eq!(acc.requests(), 3 * LARGE as u64 + 5);
    }
}
