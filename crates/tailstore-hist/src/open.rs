//! The accumulators of the seconds a recorder has not sealed yet.
//!
//! They live behind the series mutex (see [`crate::recorder`]): the rings of
//! the recording threads are drained into them, the sealer turns them into
//! [`Interval`]s, queries read them in place. Each is a lazily allocated
//! block directory of `u32` counts plus the status counts and the exact
//! extremes; a [`Table`] finds the one of a second in O(1) for the seconds
//! of a lateness window, so samples in any order cost the same.

use std::collections::BTreeMap;

use crate::dense::Accumulator;
use crate::layout::Layout;
use crate::sparse::{Interval, SparseHist};
use crate::status::{clamp_status, StatusCounts, STATUS_CODES};

/// Counts per lazily allocated block of a second's histogram.
const BLOCK: usize = 256;
const BLOCK_SHIFT: u32 = 8;
type Block = [u32; BLOCK];

/// A second's accumulator is spilled to an [`Interval`] before it holds
/// this many requests, so no `u32` count can overflow (a count never exceeds
/// its second's number of requests). Small in unit tests, to exercise it.
const SPILL_AT: u64 = if cfg!(test) { 5_000 } else { u32::MAX as u64 };

/// Direct-mapped slots of a [`Table`] (seconds `s` and `s + SLOTS` share one).
const SLOTS: usize = 64;
/// Spare accumulators a table keeps for the next seconds (their blocks stay
/// allocated, so a steady series allocates nothing second after second).
const POOL: usize = 8;

/// The counts of one unsealed second of one series.
pub(crate) struct SecondAcc {
    second: u64,
    /// Blocks are allocated on first use and kept (zeroed) when the
    /// accumulator is reused for a later second: a steady series allocates
    /// nothing, and reads and resets visit only the allocated blocks.
    blocks: Vec<Option<Box<Block>>>,
    status: Box<[u32; STATUS_CODES]>,
    /// Requests counted (with or without a latency).
    requests: u64,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u128,
    clamped: u64,
    invalid_status: u64,
}

impl SecondAcc {
    fn new(layout: &Layout, second: u64) -> SecondAcc {
        let nblocks = layout.len().div_ceil(BLOCK);
        SecondAcc {
            second,
            blocks: (0..nblocks).map(|_| None).collect(),
            status: Box::new([0; STATUS_CODES]),
            requests: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            sum_ns: 0,
            clamped: 0,
            invalid_status: 0,
        }
    }

    /// The second counted.
    pub(crate) fn second(&self) -> u64 {
        self.second
    }

    /// True when nothing was counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.requests == 0
    }

    /// Whether `n` more requests could make a count overflow: spill first
    /// (see [`SPILL_AT`]).
    #[inline]
    pub(crate) fn needs_spill(&self, n: u64) -> bool {
        self.requests.saturating_add(n) > SPILL_AT
    }

    /// Counts one request: `value_ns` is its latency (`None`: unknown, it
    /// counts in status only); `status` any `u16` (>= 1000 counts as 0 and
    /// in `invalid_status`). Room for it was made by [`Table::get`].
    #[expect(
        clippy::inline_always,
        reason = "runs for every drained sample (Recorder's drain loop); forced inlining into                   the loop is part of the benchmarked record() cost"
    )]
    #[inline(always)]
    pub(crate) fn add(&mut self, layout: &Layout, value_ns: Option<u64>, status: u16) {
        let (code, bad) = clamp_status(status);
        if let Some(s) = self.status.get_mut(usize::from(code)) {
            *s += 1;
        }
        self.requests += 1;
        self.invalid_status += u64::from(bad);
        if let Some(v) = value_ns {
            let highest = layout.highest_ns();
            self.clamped += u64::from(v > highest);
            let v = v.min(highest);
            self.add_cell(layout.index(v));
            self.sum_ns += u128::from(v);
            self.min_ns = self.min_ns.min(v);
            self.max_ns = self.max_ns.max(v);
        }
    }

    /// Counts one sample in bucket `idx` (cells only).
    #[expect(
        clippy::inline_always,
        reason = "runs for every drained sample (Run::add and SecondAcc::add); forced inlining \
                  is part of the benchmarked record() cost"
    )]
    #[inline(always)]
    fn add_cell(&mut self, idx: u32) {
        let b = (idx >> BLOCK_SHIFT) as usize;
        if let Some(slot) = self.blocks.get_mut(b) {
            let block = match slot {
                Some(block) => block,
                None => slot.insert(Box::new([0; BLOCK])),
            };
            if let Some(cell) = block.get_mut(idx as usize & (BLOCK - 1)) {
                *cell += 1;
            }
        }
    }

    /// The non-zero `(bucket, count)` pairs, ascending.
    fn cells(&self) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for (b, block) in (0u32..).zip(&self.blocks) {
            let Some(block) = block else { continue };
            let base = b << BLOCK_SHIFT;
            for (k, &c) in (0u32..).zip(block.iter()) {
                if c > 0 {
                    out.push((base + k, u64::from(c)));
                }
            }
        }
        out
    }

    fn status_pairs(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0u16..).zip(self.status.iter()).filter(|p| *p.1 > 0).map(|(code, &c)| (code, u64::from(c)))
    }

    /// The counts as a one-second [`Interval`].
    pub(crate) fn to_interval(&self) -> Interval {
        let mut iv = Interval::empty(self.second, 1);
        // `cells` walks the blocks in ascending order.
        iv.hist = SparseHist::from_sorted(self.cells()).expect("cells are ascending");
        self.fill_interval(&mut iv);
        iv
    }

    fn fill_interval(&self, iv: &mut Interval) {
        iv.status = StatusCounts::from_pairs(self.status_pairs());
        if !iv.hist.is_empty() {
            iv.min_ns = self.min_ns;
            iv.max_ns = self.max_ns;
        }
        iv.sum_ns = self.sum_ns;
        iv.clamped = self.clamped;
        iv.invalid_status = self.invalid_status;
    }

    /// The counts as a one-second [`Interval`], leaving the accumulator
    /// empty in one pass over its blocks: used blocks are zeroed, blocks
    /// this second did not use are freed (so a rare outlier's block is not
    /// scanned again every second).
    pub(crate) fn take_interval(&mut self) -> Interval {
        let mut cells = Vec::new();
        for (b, slot) in (0u32..).zip(self.blocks.iter_mut()) {
            let Some(block) = slot else { continue };
            let before = cells.len();
            let base = b << BLOCK_SHIFT;
            for (k, c) in (0u32..).zip(block.iter_mut()) {
                if *c > 0 {
                    cells.push((base + k, u64::from(*c)));
                    *c = 0;
                }
            }
            if cells.len() == before {
                *slot = None;
            }
        }
        let mut iv = Interval::empty(self.second, 1);
        iv.hist = SparseHist::from_sorted(cells).expect("cells are ascending");
        self.fill_interval(&mut iv);
        self.status.fill(0);
        self.requests = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
        self.sum_ns = 0;
        self.clamped = 0;
        self.invalid_status = 0;
        iv
    }

    /// Adds the counts into a query's accumulator.
    pub(crate) fn add_to(&self, acc: &mut Accumulator) {
        for (i, c) in self.cells() {
            acc.add_bucket(i, c);
        }
        for (code, c) in self.status_pairs() {
            acc.add_status(code, c);
        }
        acc.add_extremes(self.min_ns, self.max_ns, self.sum_ns);
        acc.add_clamped(self.clamped, self.invalid_status);
    }

    /// Empties the accumulator for `second`, touching only what was used.
    fn reset(&mut self, second: u64) {
        for block in self.blocks.iter_mut().flatten() {
            block.fill(0);
        }
        self.status.fill(0);
        self.second = second;
        self.requests = 0;
        self.min_ns = u64::MAX;
        self.max_ns = 0;
        self.sum_ns = 0;
        self.clamped = 0;
        self.invalid_status = 0;
    }

    /// Bytes allocated.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<SecondAcc>()
            + self.blocks.len() * std::mem::size_of::<Option<Box<Block>>>()
            + self.blocks.iter().flatten().count() * std::mem::size_of::<Block>()
            + std::mem::size_of::<[u32; STATUS_CODES]>()
    }
}

/// The scalar totals of a run of drained samples of one second, kept in
/// registers and folded into the second's accumulator when the run ends
/// ([`Run::finish`]). Only the histogram cells are written per sample; the
/// status of consecutive samples with the same code (nearly all of them) is
/// counted here too, so no memory location is incremented twice in a row.
pub(crate) struct Run {
    requests: u64,
    sum_ns: u128,
    min_ns: u64,
    max_ns: u64,
    clamped: u64,
    invalid_status: u64,
    code: u16,
    code_n: u32,
}

impl Run {
    pub(crate) fn new() -> Run {
        Run {
            requests: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            clamped: 0,
            invalid_status: 0,
            code: 0,
            code_n: 0,
        }
    }

    /// Counts one request into the run (cells into `acc` at once). `acc`
    /// is the same accumulator for the whole run, and [`Table::get`] made
    /// room for the whole run.
    #[expect(
        clippy::inline_always,
        reason = "runs for every drained sample (Recorder's drain loop); forced inlining keeps \
                  the run's totals in registers, which is the point of a run"
    )]
    #[inline(always)]
    pub(crate) fn add(
        &mut self,
        acc: &mut SecondAcc,
        layout: &Layout,
        value: Option<u64>,
        status: u16,
    ) {
        let (code, bad) = clamp_status(status);
        if code != self.code {
            self.flush_status(acc);
            self.code = code;
        }
        self.code_n += 1;
        self.requests += 1;
        self.invalid_status += u64::from(bad);
        if let Some(v) = value {
            let highest = layout.highest_ns();
            self.clamped += u64::from(v > highest);
            let v = v.min(highest);
            acc.add_cell(layout.index(v));
            self.sum_ns += u128::from(v);
            self.min_ns = self.min_ns.min(v);
            self.max_ns = self.max_ns.max(v);
        }
    }

    fn flush_status(&mut self, acc: &mut SecondAcc) {
        if self.code_n > 0 {
            if let Some(s) = acc.status.get_mut(usize::from(self.code)) {
                *s += self.code_n;
            }
            self.code_n = 0;
        }
    }

    /// Folds the run into `acc` and starts an empty one.
    pub(crate) fn finish(&mut self, acc: &mut SecondAcc) {
        self.flush_status(acc);
        acc.requests += self.requests;
        acc.sum_ns += self.sum_ns;
        acc.min_ns = acc.min_ns.min(self.min_ns);
        acc.max_ns = acc.max_ns.max(self.max_ns);
        acc.clamped += self.clamped;
        acc.invalid_status += self.invalid_status;
        *self = Run::new();
    }
}

/// The unsealed seconds of one series, by second.
///
/// A second lives in its direct-mapped slot (`second % SLOTS`) when that is
/// free, else in `overflow`; never in both. A lateness window of up to
/// `SLOTS` seconds therefore never touches the map.
pub(crate) struct Table {
    layout: Layout,
    slots: Vec<Option<Box<SecondAcc>>>,
    overflow: BTreeMap<u64, Box<SecondAcc>>,
    #[expect(
        clippy::vec_box,
        reason = "accumulators move between slots, the map, the pool and a seal as boxes: no \
              re-boxing, and an empty slot stays one word"
    )]
    pool: Vec<Box<SecondAcc>>,
    /// Parts of seconds spilled before a `u32` count could overflow.
    spilled: BTreeMap<u64, Interval>,
}

impl Table {
    pub(crate) fn new(layout: Layout) -> Table {
        Table {
            layout,
            slots: (0..SLOTS).map(|_| None).collect(),
            overflow: BTreeMap::new(),
            pool: Vec::new(),
            spilled: BTreeMap::new(),
        }
    }

    #[expect(
        clippy::unnecessary_box_returns,
        reason = "accumulators move between slots, the map, the pool and a seal as boxes: no \
              re-boxing, and an empty slot stays one word"
    )]
    fn fresh(&mut self, second: u64) -> Box<SecondAcc> {
        match self.pool.pop() {
            Some(mut a) => {
                a.reset(second);
                a
            }
            None => Box::new(SecondAcc::new(&self.layout, second)),
        }
    }

    /// The accumulator of `second`, created empty on first use, with room
    /// for `n` more requests (its counts are spilled first when they could
    /// overflow).
    #[expect(
        clippy::inline_always,
        reason = "looked up whenever the second changes between two drained samples (every \
                  sample of disordered traffic); forced inlining of the slot hit is part of the \
                  benchmarked record_at cost"
    )]
    #[inline(always)]
    pub(crate) fn get(&mut self, second: u64, n: u64) -> &mut SecondAcc {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "only the low bits select a slot; SLOTS is a power of two"
        )]
        let i = second as usize & (SLOTS - 1);
        let hit =
            matches!(self.slots.get(i), Some(Some(a)) if a.second == second && !a.needs_spill(n));
        if hit {
            return self.slots[i].as_deref_mut().expect("checked: slot i holds `second`");
        }
        self.get_slow(i, second, n)
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, i: usize, second: u64, n: u64) -> &mut SecondAcc {
        let in_slot = matches!(self.slots.get(i), Some(Some(a)) if a.second == second);
        let acc: &mut SecondAcc = if in_slot {
            self.slots[i].as_deref_mut().expect("checked: slot i holds `second`")
        } else if self.overflow.contains_key(&second) {
            self.overflow.get_mut(&second).expect("checked: the map holds `second`")
        } else {
            let fresh = self.fresh(second);
            if self.slots[i].is_none() {
                self.slots[i].insert(fresh)
            } else {
                self.overflow.entry(second).or_insert(fresh)
            }
        };
        if acc.needs_spill(n) {
            let iv = acc.to_interval();
            acc.reset(second);
            file(&mut self.spilled, iv);
        }
        acc
    }

    /// Removes every second below `bound`, to be turned into intervals with
    /// [`Detached::finish`] without holding the series mutex, and their
    /// accumulators handed back with [`Table::recycle`].
    pub(crate) fn detach_below(&mut self, bound: u64) -> Detached {
        let mut accs: Vec<Box<SecondAcc>> = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|a| a.second < bound) {
                accs.extend(slot.take());
            }
        }
        let keep = self.overflow.split_off(&bound);
        accs.extend(std::mem::replace(&mut self.overflow, keep).into_values());
        let keep = self.spilled.split_off(&bound);
        Detached { accs, spilled: std::mem::replace(&mut self.spilled, keep) }
    }

    /// Keeps up to [`POOL`] used accumulators for the next seconds.
    #[expect(
        clippy::vec_box,
        reason = "accumulators move between slots, the map, the pool and a seal as boxes: no \
              re-boxing, and an empty slot stays one word"
    )]
    pub(crate) fn recycle(&mut self, accs: Vec<Box<SecondAcc>>) {
        let room = POOL.saturating_sub(self.pool.len());
        self.pool.extend(accs.into_iter().take(room));
    }

    /// [`Table::detach_below`], finished and recycled at once.
    #[cfg(test)]
    pub(crate) fn take_below(&mut self, bound: u64) -> Vec<Interval> {
        let (out, accs) = self.detach_below(bound).finish();
        self.recycle(accs);
        out
    }

    /// Every non-empty second held, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SecondAcc> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|b| &**b)
            .chain(self.overflow.values().map(|b| &**b))
            .filter(|a| !a.is_empty())
    }

    /// Adds every second in `[start_s, end_s)` into `acc`.
    pub(crate) fn add_range_to(&self, start_s: u64, end_s: u64, acc: &mut Accumulator) {
        for a in self.iter().filter(|a| (start_s..end_s).contains(&a.second)) {
            a.add_to(acc);
        }
        for (_, iv) in self.spilled.range(start_s..end_s) {
            acc.add_interval(iv);
        }
    }

    /// Seconds holding data.
    pub(crate) fn seconds(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(SecondAcc::second).chain(self.spilled.keys().copied())
    }

    /// Bytes allocated (accumulators, spares, spilled parts).
    pub(crate) fn heap_bytes(&self) -> usize {
        let accs: usize = self
            .slots
            .iter()
            .flatten()
            .chain(self.overflow.values())
            .chain(self.pool.iter())
            .map(|a| a.heap_bytes())
            .sum();
        accs + self.slots.len() * std::mem::size_of::<Option<Box<SecondAcc>>>()
            + self
                .spilled
                .values()
                .map(|p| p.hist.heap_bytes() + p.status.len() * 16)
                .sum::<usize>()
    }
}

/// Seconds taken out of a [`Table`] by a seal.
pub(crate) struct Detached {
    #[expect(
        clippy::vec_box,
        reason = "accumulators move between slots, the map, the pool and a seal as boxes: no \
              re-boxing, and an empty slot stays one word"
    )]
    accs: Vec<Box<SecondAcc>>,
    spilled: BTreeMap<u64, Interval>,
}

impl Detached {
    /// The non-empty seconds as intervals, ascending (spilled parts merged
    /// back in), and the accumulators, emptied, for [`Table::recycle`].
    #[expect(
        clippy::vec_box,
        reason = "accumulators move between slots, the map, the pool and a seal as boxes: no \
              re-boxing, and an empty slot stays one word"
    )]
    pub(crate) fn finish(self) -> (Vec<Interval>, Vec<Box<SecondAcc>>) {
        let Detached { mut accs, mut spilled } = self;
        accs.sort_unstable_by_key(|a| a.second);
        let mut out: Vec<Interval> = Vec::with_capacity(accs.len());
        for a in &mut accs {
            let mut iv = a.take_interval();
            if let Some(s) = spilled.remove(&iv.start_s) {
                iv.merge(&s);
            }
            if !iv.is_empty() {
                out.push(iv);
            }
        }
        out.extend(spilled.into_values());
        out.sort_by_key(|iv| iv.start_s);
        (out, accs)
    }
}

/// Merges `iv` into the entry of its second in `map` (moved in when the
/// second has no entry yet).
pub(crate) fn file(map: &mut BTreeMap<u64, Interval>, iv: Interval) {
    match map.entry(iv.start_s) {
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(iv);
        }
        std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&iv),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keeps_colliding_seconds_apart() {
        let layout = Layout::default();
        let mut t = Table::new(layout);
        let seconds = [5u64, 5 + SLOTS as u64, 5 + 2 * SLOTS as u64, 6];
        for (k, &s) in seconds.iter().enumerate() {
            for _ in 0..=k {
                t.get(s, 1).add(&layout, Some(1_000 * (s + 1)), 200);
            }
        }
        // Free slot 5, then ask again for a second that lives in overflow.
        let first = t.take_below(6);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].start_s, first[0].requests()), (5, 1));
        t.get(5 + SLOTS as u64, 1).add(&layout, Some(7), 404);
        let rest = t.take_below(u64::MAX);
        let got: Vec<(u64, u64)> = rest.iter().map(|iv| (iv.start_s, iv.requests())).collect();
        assert_eq!(got, vec![(6, 4), (5 + SLOTS as u64, 3), (5 + 2 * SLOTS as u64, 3)]);
        assert!(t.iter().next().is_none());
    }

    #[test]
    fn interval_is_exact() {
        let layout = Layout::default();
        let mut a = SecondAcc::new(&layout, 9);
        let vals = [3u64, 2_000_000, 2_000_001, u64::MAX];
        for &v in &vals {
            a.add(&layout, Some(v), 200);
        }
        a.add(&layout, None, 1234);
        let iv = a.to_interval();
        assert_eq!(iv.requests(), 5);
        assert_eq!(iv.hist.total(), 4);
        assert_eq!((iv.min_ns, iv.max_ns), (3, layout.highest_ns()));
        assert_eq!((iv.clamped, iv.invalid_status), (1, 1));
        assert_eq!(iv.status.get(0), 1);
        assert_eq!(iv.sum_ns, 3 + 2_000_000 + 2_000_001 + u128::from(layout.highest_ns()));
        let mut acc = Accumulator::new(layout);
        a.add_to(&mut acc);
        assert_eq!((acc.total(), acc.requests(), acc.sum_ns()), (4, 5, iv.sum_ns));
    }
}
