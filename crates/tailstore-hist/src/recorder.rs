//! The per-series recorder: single-writer shards on the hot path, the open
//! seconds and late deltas behind one mutex on the cold path.
//!
//! # Protocol
//!
//! Every recording thread owns one [`Shard`] per series (a
//! `thread_local::ThreadLocal` entry, handed to a new thread only after the
//! previous owner exited). A shard accumulates **one data second** at a time,
//! named by `state = second + 1` (`0` = empty). Only the owning thread ever
//! writes a shard's cells, so an increment is a relaxed load and a relaxed
//! store: no lock prefix, no read-modify-write, no allocation once the
//! touched blocks exist.
//!
//! Everything else happens under the series mutex (`Open`):
//!
//! * **Rotation** (owner, cold path): a sample for another second, a missing
//!   block, or a counter about to overflow makes the owner *sweep* its shard:
//!   move the counts into the open second they belong to, zero the cells, and
//!   continue. Single writer, so this is exact.
//! * **Steal** (sealer): when a second `X` is sealed, shards still holding `X`
//!   (idle threads) are read without being zeroed, since the owner may be writing them
//!   this instant. The sealer keeps a per-cell *baseline* of what it took and
//!   sets the `STOLEN` bit. Whatever the owner adds after the baseline, its
//!   one in-flight record or a few more before it sees the bit, is the
//!   *residue*: the owner's next cold path, a later seal pass (prompted by a
//!   change in the shard's record counter), or a query computes it as
//!   `cells - baseline` and files it as a late delta for `X`. No sample is
//!   lost or counted twice, and every sample stays in its own second.
//! * **Queries** read shards the same way (non-destructively) while holding
//!   the mutex, so they see every sample recorded before the call, the open
//!   second included.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::OnceLock;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use thread_local::ThreadLocal;

use crate::dense::Accumulator;
use crate::layout::Layout;
use crate::sparse::{Interval, SparseHist};
use crate::status::{clamp_status, StatusCounts, STATUS_CODES};
use crate::sync::{AtomicU16, AtomicU32, AtomicU64};

/// Cells per lazily allocated block.
const BLOCK: usize = 256;
const BLOCK_SHIFT: u32 = 8;
/// Status codes below this have inline cells; the rest share one lazy block.
const STATUS_INLINE: usize = 600;
/// Bit of `Shard::state` set once a sealer has taken a baseline.
const STOLEN: u64 = 1 << 63;
/// Cells a shard lists individually before it falls back to block scans.
const LISTED: usize = 48;

/// Bit of `Shard::status_touched` for the codes 600-999 (bits 0-5: hundreds).
const RARE_BIT: usize = STATUS_INLINE / 100;

/// Sets bit `i` of a single-writer bitmask (owner only; no store when set).
#[expect(
    clippy::inline_always,
    reason = "runs for every recorded sample in Shard::try_record_indexed (the record/\
              record_batch fast path); forced inlining is part of the benchmarked hot path"
)]
#[inline(always)]
fn mark(words: &[AtomicU64], i: usize) {
    if let Some(w) = words.get(i >> 6) {
        let m = 1u64 << (i & 63);
        let t = w.load(Relaxed);
        if t & m == 0 {
            w.store(t | m, Relaxed);
        }
    }
}

#[expect(
    clippy::inline_always,
    reason = "runs for every recorded sample in Shard::try_record_indexed (the record/\
              record_batch fast path); forced inlining is part of the benchmarked hot path"
)]
#[inline(always)]
fn mark_status(word: &AtomicU64, code: u16) {
    let m = 1u64 << (usize::from(code) / 100).min(RARE_BIT);
    let t = word.load(Relaxed);
    if t & m == 0 {
        word.store(t | m, Relaxed);
    }
}

/// Indices of the set bits of a bitmask, ascending.
fn set_bits(words: &[AtomicU64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(wi, w)| {
        let mut bits = w.load(Relaxed);
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(wi * 64 + b)
        })
    })
}

/// A shard's counter cell. 16 bits halve the memory of a series; a cell
/// about to overflow makes its owner sweep the shard first (a cold path
/// taken at most once per 65 535 records into one bucket).
type Cell = AtomicU16;
const CELL_MAX: u16 = u16::MAX;
type Block = [Cell; BLOCK];
type StatusBlock = [Cell; STATUS_CODES - STATUS_INLINE];

fn new_block() -> Box<Block> {
    Box::new(std::array::from_fn(|_| Cell::new(0)))
}

fn new_status_block() -> Box<StatusBlock> {
    Box::new(std::array::from_fn(|_| Cell::new(0)))
}

/// One thread's counts for one series and one second.
///
/// Field protocol: `state`, the cells and the scalar fields are written only
/// by the owning thread, with relaxed stores; `n` is stored with `Release`
/// after each record so a reader that sees it change knows to rescan.
/// Readers (sealer, queries) only load, and only while holding the series
/// mutex, except the owner's own hot path which needs no lock.
struct Shard {
    /// `second + 1` of the counts held (0: empty), `| STOLEN` after a steal.
    state: AtomicU64,
    blocks: Box<[OnceLock<Box<Block>>]>,
    /// Status cells for codes `0 ..= 599`, inline: every record touches one.
    status: [Cell; STATUS_INLINE],
    /// Status cells for codes `600 ..= 999`, allocated on first use.
    status_rare: OnceLock<Box<StatusBlock>>,
    min_ns: AtomicU64,
    max_ns: AtomicU64,
    sum_ns: AtomicU64,
    clamped: AtomicU64,
    invalid_status: AtomicU64,
    /// Records since the last sweep (a change hint for the sealer).
    n: AtomicU64,
    /// One bit per block touched since the last reset (and, in
    /// `status_touched`, per status hundred; bit 6 for 600-999): reads and
    /// resets visit only these, so a rotation costs what the second used,
    /// not every block ever allocated. Set by the owner before the cell.
    touched: Box<[AtomicU64]>,
    status_touched: AtomicU64,
    /// The first `LISTED` cells that went from 0 to 1 since the last reset,
    /// and how many (`LISTED + 1` once more were touched). A sparse second
    /// (a replayed series, a quiet endpoint) is then read by visiting its
    /// few cells instead of whole blocks. The owner stores the entry, then
    /// the count with `Release`; readers load the count with `Acquire`.
    listed: [AtomicU32; LISTED],
    nlisted: AtomicU32,
    /// The sealer's baseline while `STOLEN` is set. Locked only under the
    /// series mutex, so it never contends.
    baseline: Mutex<Option<Box<Baseline>>>,
}

/// What a steal took from a shard: the exact values of every non-zero cell.
struct Baseline {
    second: u64,
    cells: Vec<(u32, u32)>,
    status: Vec<(u16, u32)>,
    sum_ns: u64,
    clamped: u64,
    invalid_status: u64,
    n: u64,
}

/// A consistent-enough read of a shard (see the module protocol).
struct ShardRead {
    second: u64,
    stolen: bool,
    cells: Vec<(u32, u32)>,
    status: Vec<(u16, u32)>,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u64,
    clamped: u64,
    invalid_status: u64,
    n: u64,
}

impl Shard {
    fn new(layout: &Layout) -> Shard {
        let nblocks = layout.len().div_ceil(BLOCK);
        Shard {
            state: AtomicU64::new(0),
            blocks: (0..nblocks).map(|_| OnceLock::new()).collect(),
            status: std::array::from_fn(|_| Cell::new(0)),
            status_rare: OnceLock::new(),
            min_ns: AtomicU64::new(u64::MAX),
            max_ns: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            clamped: AtomicU64::new(0),
            invalid_status: AtomicU64::new(0),
            n: AtomicU64::new(0),
            touched: (0..nblocks.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            status_touched: AtomicU64::new(0),
            listed: std::array::from_fn(|_| AtomicU32::new(0)),
            nlisted: AtomicU32::new(0),
            baseline: Mutex::new(None),
        }
    }

    /// The hot path. Returns false, having changed nothing, when the cold
    /// path is needed (block missing, a counter would overflow).
    ///
    /// Only the owning thread calls this.
    #[expect(
        clippy::inline_always,
        reason = "the per-sample fast path of Recorder::record; forced inlining into it is part \
                  of the benchmarked hot path"
    )]
    #[inline(always)]
    fn try_record(&self, layout: &Layout, value_ns: u64, status: u16) -> bool {
        self.try_record_indexed(layout, layout.index(value_ns), value_ns, status)
    }

    /// [`Shard::try_record`] with the bucket index of `value_ns` precomputed.
    #[expect(
        clippy::inline_always,
        reason = "the per-sample fast path of Recorder::record and record_batch; forced inlining \
                  into their loops is part of the benchmarked hot path"
    )]
    #[inline(always)]
    fn try_record_indexed(&self, layout: &Layout, idx: u32, value_ns: u64, status: u16) -> bool {
        let v = value_ns.min(layout.highest_ns());
        let (code, bad_status) = clamp_status(status);
        let b = (idx >> BLOCK_SHIFT) as usize;
        let Some(block) = self.blocks.get(b).and_then(OnceLock::get) else {
            return false;
        };
        let cell = &block[idx as usize & (BLOCK - 1)];
        let Some(scell) = self.status_cell(code) else {
            return false;
        };
        let c = cell.load(Relaxed);
        let s = scell.load(Relaxed);
        let Some(sum) = self.sum_ns.load(Relaxed).checked_add(v) else {
            return false;
        };
        if c == CELL_MAX || s == CELL_MAX {
            return false;
        }
        // Commit: mark the block and status hundred first, then count.
        mark(&self.touched, b);
        mark_status(&self.status_touched, code);
        if c == 0 {
            self.list(idx);
        }
        cell.store(c + 1, Relaxed);
        scell.store(s + 1, Relaxed);
        self.sum_ns.store(sum, Relaxed);
        if v < self.min_ns.load(Relaxed) {
            self.min_ns.store(v, Relaxed);
        }
        if v > self.max_ns.load(Relaxed) {
            self.max_ns.store(v, Relaxed);
        }
        if value_ns > layout.highest_ns() {
            self.clamped.store(self.clamped.load(Relaxed) + 1, Relaxed);
        }
        if bad_status {
            self.invalid_status.store(self.invalid_status.load(Relaxed) + 1, Relaxed);
        }
        self.n.store(self.n.load(Relaxed) + 1, Release);
        true
    }

    /// A status-only record (latency unknown). Owner only.
    fn try_record_status(&self, status: u16) -> bool {
        let (code, bad_status) = clamp_status(status);
        let Some(scell) = self.status_cell(code) else {
            return false;
        };
        let s = scell.load(Relaxed);
        if s == CELL_MAX {
            return false;
        }
        mark_status(&self.status_touched, code);
        scell.store(s + 1, Relaxed);
        if bad_status {
            self.invalid_status.store(self.invalid_status.load(Relaxed) + 1, Relaxed);
        }
        self.n.store(self.n.load(Relaxed) + 1, Release);
        true
    }

    /// Allocates the blocks a record of `value_ns` / `status` needs. Owner only.
    fn ensure_blocks(&self, layout: &Layout, value_ns: Option<u64>, status: u16) {
        if let Some(v) = value_ns {
            let idx = layout.index(v);
            if let Some(b) = self.blocks.get((idx >> BLOCK_SHIFT) as usize) {
                b.get_or_init(new_block);
            }
        }
        let (code, _) = clamp_status(status);
        if usize::from(code) >= STATUS_INLINE {
            self.status_rare.get_or_init(new_status_block);
        }
    }

    /// The status cell of `code` (`< 1000`), `None` while its block is missing.
    #[expect(
        clippy::inline_always,
        reason = "looked up for every recorded sample in try_record_indexed (the record/\
                  record_batch fast path); forced inlining is part of the benchmarked hot path"
    )]
    #[inline(always)]
    fn status_cell(&self, code: u16) -> Option<&Cell> {
        let c = usize::from(code);
        match self.status.get(c) {
            Some(cell) => Some(cell),
            None => self.status_rare.get()?.get(c - STATUS_INLINE),
        }
    }

    /// Notes a cell that just became non-zero. Owner only.
    #[expect(
        clippy::inline_always,
        reason = "called from try_record_indexed (the record/record_batch fast path) whenever a \
                  cell goes from 0 to 1; forced inlining is part of the benchmarked hot path"
    )]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "n < LISTED (48) in the first branch and LISTED + 1 is 49: both fit u32"
    )]
    #[inline(always)]
    fn list(&self, idx: u32) {
        let n = self.nlisted.load(Relaxed) as usize;
        if let Some(slot) = self.listed.get(n) {
            slot.store(idx, Relaxed);
            self.nlisted.store(n as u32 + 1, Release);
        } else if n == LISTED {
            self.nlisted.store(LISTED as u32 + 1, Release);
        }
    }

    /// Reads the shard without changing it.
    fn read(&self) -> ShardRead {
        let n = self.n.load(Acquire);
        let state = self.state.load(Relaxed);
        let mut cells = Vec::new();
        let nlisted = self.nlisted.load(Acquire) as usize;
        if nlisted <= LISTED {
            for slot in &self.listed[..nlisted] {
                let idx = slot.load(Relaxed);
                let b = (idx >> BLOCK_SHIFT) as usize;
                if let Some(block) = self.blocks.get(b).and_then(OnceLock::get) {
                    let c = block[idx as usize & (BLOCK - 1)].load(Relaxed);
                    if c > 0 {
                        cells.push((idx, u32::from(c)));
                    }
                }
            }
            cells.sort_unstable_by_key(|c| c.0);
            // A cell listed twice (touched again after an owner's reset in
            // flight) must not count twice.
            cells.dedup_by_key(|c| c.0);
        }
        for b in set_bits(&self.touched).filter(|_| nlisted > LISTED) {
            let Some(block) = self.blocks.get(b).and_then(OnceLock::get) else { continue };
            for (k, cell) in block.iter().enumerate() {
                let c = cell.load(Relaxed);
                if c > 0 {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "b * BLOCK + k is a bucket index below layout.len(), a u32"
                    )]
                    cells.push(((b * BLOCK + k) as u32, u32::from(c)));
                }
            }
        }
        let mut status = Vec::new();
        let st = self.status_touched.load(Relaxed);
        for h in (0..RARE_BIT).filter(|h| st & (1 << h) != 0) {
            for (k, cell) in self.status[h * 100..(h + 1) * 100].iter().enumerate() {
                let c = cell.load(Relaxed);
                if c > 0 {
                    #[expect(
                        clippy::cast_possible_truncation,
                        reason = "h * 100 + k is a code below STATUS_INLINE (600), so it fits u16"
                    )]
                    status.push(((h * 100 + k) as u16, u32::from(c)));
                }
            }
        }
        if st & (1 << RARE_BIT) != 0 {
            if let Some(rare) = self.status_rare.get() {
                for (k, cell) in rare.iter().enumerate() {
                    let c = cell.load(Relaxed);
                    if c > 0 {
                        #[expect(
                            clippy::cast_possible_truncation,
                            reason = "STATUS_INLINE + k is a code below STATUS_CODES (1000), so \
                                      it fits u16"
                        )]
                        status.push(((STATUS_INLINE + k) as u16, u32::from(c)));
                    }
                }
            }
        }
        ShardRead {
            second: (state & !STOLEN).wrapping_sub(1),
            stolen: state & STOLEN != 0,
            cells,
            status,
            min_ns: self.min_ns.load(Relaxed),
            max_ns: self.max_ns.load(Relaxed),
            sum_ns: self.sum_ns.load(Relaxed),
            clamped: self.clamped.load(Relaxed),
            invalid_status: self.invalid_status.load(Relaxed),
            n,
        }
    }

    fn is_empty_state(&self) -> bool {
        self.state.load(Relaxed) == 0
    }

    /// Zeroes everything and marks the shard empty. Owner only, under the
    /// series mutex.
    fn reset(&self) {
        for b in set_bits(&self.touched) {
            if let Some(block) = self.blocks.get(b).and_then(OnceLock::get) {
                block.iter().for_each(|c| c.store(0, Relaxed));
            }
        }
        self.touched.iter().for_each(|w| w.store(0, Relaxed));
        self.nlisted.store(0, Relaxed);
        let st = self.status_touched.load(Relaxed);
        self.status_touched.store(0, Relaxed);
        for h in (0..RARE_BIT).filter(|h| st & (1 << h) != 0) {
            self.status[h * 100..(h + 1) * 100].iter().for_each(|c| c.store(0, Relaxed));
        }
        if st & (1 << RARE_BIT) != 0 {
            if let Some(sb) = self.status_rare.get() {
                sb.iter().for_each(|c| c.store(0, Relaxed));
            }
        }
        self.min_ns.store(u64::MAX, Relaxed);
        self.max_ns.store(0, Relaxed);
        self.sum_ns.store(0, Relaxed);
        self.clamped.store(0, Relaxed);
        self.invalid_status.store(0, Relaxed);
        self.n.store(0, Relaxed);
        *self.baseline.lock() = None;
        self.state.store(0, Relaxed);
    }
}

// Unsealed seconds and late deltas are assembled as `Interval`s under the
// series mutex; these helpers add shard contents to one.

fn add_cells(iv: &mut Interval, cells: impl Iterator<Item = (u32, u64)>) {
    // Shard reads and subtractions yield ascending indices.
    let incoming = SparseHist::from_sorted(cells).expect("cells are ascending");
    if !incoming.is_empty() {
        iv.hist = iv.hist.merged(&incoming);
    }
}

/// Adds a shard read, or its residue over `base`, to `iv`.
fn add_read(iv: &mut Interval, r: &ShardRead, base: Option<&Baseline>) {
    match base {
        None => {
            add_cells(iv, r.cells.iter().map(|&(i, c)| (i, u64::from(c))));
            iv.status
                .merge(&StatusCounts::from_pairs(r.status.iter().map(|&(s, c)| (s, u64::from(c)))));
            iv.sum_ns += u128::from(r.sum_ns);
            iv.clamped += r.clamped;
            iv.invalid_status += r.invalid_status;
        }
        Some(b) => {
            add_cells(iv, subtract(&r.cells, &b.cells));
            iv.status.merge(&StatusCounts::from_pairs(subtract(&r.status, &b.status)));
            iv.sum_ns += u128::from(r.sum_ns.saturating_sub(b.sum_ns));
            iv.clamped += r.clamped.saturating_sub(b.clamped);
            iv.invalid_status += r.invalid_status.saturating_sub(b.invalid_status);
        }
    }
    // Extremes of a residue are those of the whole shard: exact for every
    // window that contains the second, which is the only way the residue is
    // ever read (it merges with the sealed second).
    if !iv.hist.is_empty() {
        iv.min_ns = iv.min_ns.min(r.min_ns);
        iv.max_ns = iv.max_ns.max(r.max_ns);
    }
}

/// Merges `iv` into the entry of its second in `map` (moved in when the
/// second has no entry yet, the common case: no copy, no merge).
fn file(map: &mut BTreeMap<u64, Interval>, iv: Interval) {
    match map.entry(iv.start_s) {
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(iv);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&iv),
    }
}

/// `a - b` cell-wise over two ascending lists (`b`'s cells are a subset of
/// `a`'s positions or smaller counts; negative differences cannot occur for a
/// single-writer shard and are floored at zero).
fn subtract<K: Ord + Copy>(a: &[(K, u32)], b: &[(K, u32)]) -> impl Iterator<Item = (K, u64)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(k, c) in a {
        while j < b.len() && b[j].0 < k {
            j += 1;
        }
        let base = if j < b.len() && b[j].0 == k { b[j].1 } else { 0 };
        if c > base {
            out.push((k, u64::from(c - base)));
        }
    }
    out.into_iter()
}

/// Counters a recorder keeps about samples that did not take the fast path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderCounters {
    /// Samples for a second that was already sealed: filed as late deltas.
    pub late: u64,
    /// Samples older than retention (or before 1970): dropped.
    pub rejected: u64,
}

/// The data-time limits a recorder applies, shared by all series of a store.
pub trait Clock: Send + Sync {
    /// Registers a sample second and returns the newest second seen so far
    /// (including this one).
    fn observe(&self, second: u64) -> u64;
    /// The samples of a second `s` with `s + retention < newest` are rejected.
    fn retention_s(&self) -> u64;
}

struct Open {
    /// Unsealed seconds assembled from sweeps and steals.
    seconds: BTreeMap<u64, Interval>,
    /// Late deltas not yet handed out by `seal`.
    late: BTreeMap<u64, Interval>,
    /// Every second below this is sealed.
    sealed_below: u64,
    counters: RecorderCounters,
    /// Whether any sample came with an explicit time (`record_at`); a series
    /// fed only by the live clock needs no lateness window.
    explicit: bool,
}

/// What one seal pass hands to the store: sealed seconds and late deltas.
#[derive(Debug, Default)]
pub struct Sealed {
    /// Newly sealed one-second intervals, ascending.
    pub seconds: Vec<Interval>,
    /// Late deltas for seconds sealed earlier (merge them into those seconds).
    pub late: Vec<Interval>,
}

/// The lock-free recorder of one series.
pub struct Recorder {
    layout: Layout,
    /// Cache-padded: `ThreadLocal` stores entries of adjacent thread ids
    /// contiguously, and their hot fields must not share a line.
    shards: ThreadLocal<CachePadded<Shard>>,
    open: Mutex<Open>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder for `layout`. Seconds below `sealed_below` count as sealed
    /// (use 0 for a new series).
    #[must_use]
    pub fn new(layout: Layout, sealed_below: u64) -> Recorder {
        Recorder {
            layout,
            shards: ThreadLocal::new(),
            open: Mutex::new(Open {
                seconds: BTreeMap::new(),
                late: BTreeMap::new(),
                sealed_below,
                counters: RecorderCounters::default(),
                explicit: false,
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
        reason = "called once per Recorder::record and once per 256-sample chunk of record_batch; \
                  forced inlining keeps the thread-local lookup in the benchmarked hot path"
    )]
    #[inline(always)]
    fn shard(&self) -> &Shard {
        match self.shards.get() {
            Some(s) => s,
            None => self.new_shard(),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_shard(&self) -> &Shard {
        self.shards.get_or(|| CachePadded::new(Shard::new(&self.layout)))
    }

    /// Records one request of `value_ns` nanoseconds with `status`, in data
    /// second `second`. Lock-free and allocation-free when this thread last
    /// recorded the same second into blocks it already has.
    ///
    /// `explicit` says the second came from the caller (a replay or harness
    /// timestamp) rather than the live clock; see [`Recorder::seal`].
    #[inline]
    pub fn record(
        &self,
        clock: &dyn Clock,
        explicit: bool,
        second: u64,
        value_ns: u64,
        status: u16,
    ) {
        let shard = self.shard();
        if shard.state.load(Relaxed) == second.wrapping_add(1)
            && shard.try_record(&self.layout, value_ns, status)
        {
            return;
        }
        self.record_cold(clock, explicit, shard, second, Some(value_ns), status);
    }

    /// Records a request whose latency is unknown: it counts in rate, status
    /// and error ratio, not in latency quantiles.
    pub fn record_status_only(&self, clock: &dyn Clock, explicit: bool, second: u64, status: u16) {
        let shard = self.shard();
        if shard.state.load(Relaxed) == second.wrapping_add(1) && shard.try_record_status(status) {
            return;
        }
        self.record_cold(clock, explicit, shard, second, None, status);
    }

    /// Records a batch of `(value_ns, status)` samples that share one second.
    ///
    /// Bucket indices are computed in a separate branch-free pass over the
    /// slice (it vectorizes), then scattered.
    pub fn record_batch(&self, clock: &dyn Clock, second: u64, samples: &[(u64, u16)]) {
        let explicit = true;
        let mut idx = [0u32; 256];
        for chunk in samples.chunks(256) {
            for (slot, s) in idx.iter_mut().zip(chunk) {
                *slot = self.layout.index(s.0);
            }
            let shard = self.shard();
            for (k, s) in chunk.iter().enumerate() {
                if shard.state.load(Relaxed) == second.wrapping_add(1)
                    && shard.try_record_indexed(&self.layout, idx[k], s.0, s.1)
                {
                    continue;
                }
                self.record_cold(clock, explicit, shard, second, Some(s.0), s.1);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn record_cold(
        &self,
        clock: &dyn Clock,
        explicit: bool,
        shard: &Shard,
        second: u64,
        value_ns: Option<u64>,
        status: u16,
    ) {
        let newest = clock.observe(second);
        let mut open = self.open.lock();
        open.explicit |= explicit;
        let state = shard.state.load(Relaxed);
        // 1. Give back what the shard holds (residue of a steal, or a sweep).
        if state != 0 && (state != second.wrapping_add(1)) || state & STOLEN != 0 {
            Self::sweep_own(&mut open, shard);
        }
        // 2. Classify the new sample.
        if second.saturating_add(clock.retention_s()) < newest {
            open.counters.rejected += 1;
            return;
        }
        if second < open.sealed_below {
            open.counters.late += 1;
            let mut p = Interval::empty(second, 1);
            let (code, bad) = clamp_status(status);
            if let Some(v) = value_ns {
                let clamped = v > self.layout.highest_ns();
                let v = v.min(self.layout.highest_ns());
                // A single pair is trivially ascending.
                p.hist = SparseHist::from_sorted([(self.layout.index(v), 1)])
                    .expect("one pair is ascending");
                p.min_ns = v;
                p.max_ns = v;
                p.sum_ns = u128::from(v);
                p.clamped = u64::from(clamped);
            }
            p.status = StatusCounts::from_pairs([(code, 1)]);
            p.invalid_status = u64::from(bad);
            file(&mut open.late, p);
            return;
        }
        // 3. Fast-path state for this second, then record.
        shard.ensure_blocks(&self.layout, value_ns, status);
        if shard.state.load(Relaxed) != second.wrapping_add(1) {
            // Empty after step 1 (or already this second).
            shard.state.store(second.wrapping_add(1), Relaxed);
        }
        let ok = match value_ns {
            Some(v) => shard.try_record(&self.layout, v, status),
            None => shard.try_record_status(status),
        };
        if !ok {
            // A counter is saturated: sweep and retry on a fresh shard.
            Self::sweep_own(&mut open, shard);
            shard.state.store(second.wrapping_add(1), Relaxed);
            let ok = match value_ns {
                Some(v) => shard.try_record(&self.layout, v, status),
                None => shard.try_record_status(status),
            };
            debug_assert!(ok, "a freshly reset shard with its blocks accepts a record");
        }
    }

    /// The owner moves its shard's contents where they belong and resets it.
    fn sweep_own(open: &mut Open, shard: &Shard) {
        if shard.is_empty_state() {
            return;
        }
        let r = shard.read();
        let base = shard.baseline.lock().take();
        if let Some(b) = base {
            let mut p = Interval::empty(b.second, 1);
            add_read(&mut p, &r, Some(&b));
            if !p.is_empty() {
                open.counters.late += p.status.total();
                file(&mut open.late, p);
            }
        } else {
            let mut p = Interval::empty(r.second, 1);
            add_read(&mut p, &r, None);
            if !p.is_empty() {
                if r.second < open.sealed_below {
                    // Sealed meanwhile without a steal of this shard cannot
                    // happen (sealing steals every shard of the second), but
                    // filing it as late keeps it exact regardless.
                    open.counters.late += p.status.total();
                    file(&mut open.late, p);
                } else {
                    file(&mut open.seconds, p);
                }
            }
        }
        shard.reset();
    }

    /// Seals every second below `seal_below` (or below `live_seal_below`
    /// when every sample so far came from the live clock, which needs no
    /// lateness window): steals idle shards, collects residues and late
    /// deltas, and returns them.
    pub fn seal(&self, seal_below: u64, live_seal_below: u64) -> Sealed {
        let mut open = self.open.lock();
        let mut out = Sealed::default();
        let wanted = if open.explicit { seal_below } else { live_seal_below.max(seal_below) };
        let target = wanted.max(open.sealed_below);
        for shard in &self.shards {
            let state = shard.state.load(Relaxed);
            if state == 0 {
                continue;
            }
            let mut base = shard.baseline.lock();
            if state & STOLEN != 0 {
                // Residue check, prompted by a change of the record counter.
                if let Some(b) = base.as_mut() {
                    if shard.n.load(Acquire) != b.n {
                        let r = shard.read();
                        let mut p = Interval::empty(b.second, 1);
                        add_read(&mut p, &r, Some(b));
                        if !p.is_empty() {
                            open.counters.late += p.status.total();
                            file(&mut open.late, p);
                        }
                        **b = Baseline::from_read(b.second, &r);
                    }
                }
                continue;
            }
            let second = state.wrapping_sub(1);
            if second >= target {
                continue;
            }
            // Steal: mark first, then read, so anything the owner adds after
            // our read shows up against the baseline.
            shard.state.store(state | STOLEN, Relaxed);
            let r = shard.read();
            let mut p = Interval::empty(second, 1);
            add_read(&mut p, &r, None);
            if !p.is_empty() {
                file(&mut open.seconds, p);
            }
            *base = Some(Box::new(Baseline::from_read(second, &r)));
        }
        let keep = open.seconds.split_off(&target);
        let done = std::mem::replace(&mut open.seconds, keep);
        out.seconds = done.into_values().collect();
        out.late = std::mem::take(&mut open.late).into_values().collect();
        open.sealed_below = target;
        out
    }

    /// Adds everything not yet handed out by [`Recorder::seal`] for seconds
    /// in `[start_s, end_s)` into `acc`: open seconds, pending late deltas,
    /// shard contents and residues.
    pub fn read_unsealed(&self, start_s: u64, end_s: u64, acc: &mut Accumulator) {
        let open = self.open.lock();
        for (_, p) in open.seconds.range(start_s..end_s) {
            acc.add_interval(p);
        }
        for (_, p) in open.late.range(start_s..end_s) {
            acc.add_interval(p);
        }
        for shard in &self.shards {
            if shard.is_empty_state() {
                continue;
            }
            let r = shard.read();
            if !(start_s..end_s).contains(&r.second) {
                continue;
            }
            let base = shard.baseline.lock();
            let mut p = Interval::empty(r.second, 1);
            add_read(&mut p, &r, if r.stolen { base.as_deref() } else { None });
            acc.add_interval(&p);
        }
    }

    /// Seconds that hold unsealed data, for planning (ascending, deduplicated).
    pub fn unsealed_seconds(&self) -> Vec<u64> {
        let open = self.open.lock();
        let mut v: Vec<u64> = open.seconds.keys().chain(open.late.keys()).copied().collect();
        for shard in &self.shards {
            let st = shard.state.load(Relaxed);
            if st != 0 {
                v.push((st & !STOLEN) - 1);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Late and rejected counts so far.
    pub fn counters(&self) -> RecorderCounters {
        self.open.lock().counters
    }

    /// Bytes held by this recorder's shards and pending data (approximate:
    /// allocations, not allocator overhead).
    pub fn memory_bytes(&self) -> usize {
        let open = self.open.lock();
        let mut bytes = std::mem::size_of::<Recorder>();
        for shard in &self.shards {
            bytes += std::mem::size_of::<CachePadded<Shard>>()
                + shard.blocks.len() * std::mem::size_of::<OnceLock<Box<Block>>>();
            bytes += shard.blocks.iter().filter(|b| b.get().is_some()).count()
                * std::mem::size_of::<Block>();
            if shard.status_rare.get().is_some() {
                bytes += std::mem::size_of::<StatusBlock>();
            }
            if let Some(b) = shard.baseline.lock().as_ref() {
                bytes += b.cells.capacity() * 8 + b.status.capacity() * 8;
            }
        }
        for p in open.seconds.values().chain(open.late.values()) {
            bytes += p.hist.heap_bytes() + p.status.len() * 16;
        }
        bytes
    }
}

impl Baseline {
    fn from_read(second: u64, r: &ShardRead) -> Baseline {
        Baseline {
            second,
            cells: r.cells.clone(),
            status: r.status.clone(),
            sum_ns: r.sum_ns,
            clamped: r.clamped,
            invalid_status: r.invalid_status,
            n: r.n,
        }
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
        fn retention_s(&self) -> u64 {
            u64::MAX / 4
        }
    }

    #[test]
    fn shard_size_is_bounded() {
        let size = std::mem::size_of::<CachePadded<Shard>>();
        println!("size_of::<CachePadded<Shard>>() = {size}");
        assert!(size <= 1536, "{size}");
    }

    #[test]
    fn cell_overflow_sweeps_instead_of_wrapping() {
        let r = Recorder::new(Layout::default(), 0);
        let clock = Fixed(0);
        let n = 3 * u64::from(u16::MAX) + 7;
        for _ in 0..n {
            r.record(&clock, true, 100, 5_000, 200);
        }
        let mut acc = Accumulator::new(Layout::default());
        r.read_unsealed(100, 101, &mut acc);
        assert_eq!((acc.total(), acc.requests()), (n, n));
        let sealed = r.seal(101, 101);
        assert_eq!(sealed.seconds.len(), 1);
        assert_eq!(sealed.seconds[0].requests(), n);
        assert_eq!(sealed.seconds[0].sum_ns, u128::from(n) * 5_000);
    }

    #[test]
    fn steal_then_owner_residue_is_late_in_its_own_second() {
        let r = Recorder::new(Layout::default(), 0);
        let clock = Fixed(0);
        r.record(&clock, true, 10, 1_000, 200);
        // The sealer steals the shard while its owner still holds second 10.
        let sealed = r.seal(11, 11);
        assert_eq!(sealed.seconds[0].requests(), 1);
        // The owner's next record for second 10 finds the shard stolen: it is
        // late (its second is sealed) and must not double count the first.
        r.record(&clock, true, 10, 2_000, 500);
        let sealed = r.seal(11, 11);
        assert_eq!(sealed.late.len(), 1);
        assert_eq!(sealed.late[0].start_s, 10);
        assert_eq!(sealed.late[0].requests(), 1);
        assert_eq!(r.counters().late, 1);
    }
}
