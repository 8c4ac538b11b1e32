//! The accumulators of the seconds a recorder has not sealed yet.
//!
//! They live behind the series mutex (see [`crate::recorder`]): the rings of
//! the recording threads are drained into them, the sealer turns them into
//! [`Interval`]s, queries read them in place. Each is a lazily allocated
//! block directory of `u16` counts plus the status counts and the exact
//! extremes; a [`Table`] finds the one of a second in O(1) among the 16 it
//! holds densely (older unsealed seconds are kept as compact intervals), so
//! samples in any order within those seconds cost the same.

use std::collections::BTreeMap;

use crate::dense::Accumulator;
use crate::layout::Layout;
use crate::piecemap::PieceMap;
use crate::sparse::{Interval, SparseHist};
use crate::status::{clamp_status, StatusCounts, STATUS_CODES};

/// Counts per lazily allocated block of a second's histogram.
const BLOCK: usize = 256;
const BLOCK_SHIFT: u32 = 8;
/// A bucket's count in a second: `u16` (half the memory of `u32`); a cell
/// that wraps carries `Cell::MAX + 1` into `SecondAcc::carries`, so a second
/// holds any number of requests in a bucket without a spill. `u8` in unit
/// tests, to exercise the carries.
#[cfg(not(test))]
type Cell = u16;
#[cfg(test)]
type Cell = u8;
type Block = [Cell; BLOCK];
/// A status code's count in a second (`SPILL_AT` keeps it from overflowing).
type StatusCell = u32;
/// The counts of one hundred status codes.
type StatusBlock = [StatusCell; 100];
// Ten blocks of a hundred hold every status code.
const _: () = assert!(STATUS_CODES == 10 * 100);

/// A second's accumulator is spilled to an [`Interval`] before it holds
/// this many requests, so no status count can overflow (a count never
/// exceeds its second's number of requests; bucket cells carry instead).
/// Small in unit tests, to exercise it.
const SPILL_AT: u64 = if cfg!(test) { 5_000 } else { StatusCell::MAX as u64 };

/// Direct-mapped slots of a [`Table`] (seconds `s` and `s + SLOTS` share one):
/// the dense accumulators a series holds at most, besides stragglers.
const SLOTS: usize = 16;
/// Cells a second lists individually before its reads scan blocks.
const LISTED: usize = 64;
/// Late seconds a table holds back at most (see [`Table::detach_below`]).
const LATE_HELD: usize = 256;
/// Spare accumulators a table keeps for the next seconds (their blocks stay
/// allocated, so a steady series allocates nothing second after second).
const POOL: usize = 1;

/// Accumulators on the move between slots, the map, the pool and a seal:
/// boxed, so nothing is re-boxed and an empty slot stays one word.
type Accs = Vec<Box<SecondAcc>>;

/// The counts of one unsealed second of one series.
pub(crate) struct SecondAcc {
    second: u64,
    /// Blocks are allocated on first use and kept (zeroed) when the
    /// accumulator is reused for a later second: a steady series allocates
    /// nothing, and reads and resets visit only the allocated blocks.
    blocks: Vec<Option<Box<Block>>>,
    /// The first `LISTED` cells that went from 0 to 1 (`nlisted` of them;
    /// more than `LISTED`: the list is incomplete, reads scan blocks): a
    /// quiet second (a few requests) is read and reset by visiting its cells
    /// instead of scanning whole blocks. The extra slot is where a full
    /// list's writes go, so listing takes no branch.
    listed: [u32; LISTED + 1],
    nlisted: usize,
    /// `(bucket, count)` carried out of cells that wrapped (see [`Cell`]).
    carries: Vec<(u32, u64)>,
    /// Counts per status code, a block per hundred (`1xx`, `2xx`, ...),
    /// allocated on first use and kept (zeroed) for the next second: a
    /// second of `200`s holds 200 B of them, not 2 KB.
    status: [Option<Box<StatusBlock>>; 10],
    /// One bit per status hundred (0-9) that holds a count: reads and
    /// resets visit only those.
    status_hundreds: u16,
    /// Requests counted (with or without a latency).
    requests: u64,
    /// `requests` at the last seal pass that kept this (late) second back.
    requests_at_pass: u64,
    /// The table's drain number when this was last looked up: one in use
    /// by the current drain is never evicted.
    touch: u64,
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
            listed: [0; LISTED + 1],
            nlisted: 0,
            carries: Vec::new(),
            status: Default::default(),
            status_hundreds: 0,
            requests: 0,
            requests_at_pass: 0,
            touch: 0,
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
    pub(crate) fn add(&mut self, layout: &Layout, value_ns: Option<u64>, status: u16) {
        if let Some(v) = value_ns {
            self.add_latencies(layout, 0, 1, |_| Some(v));
        }
        self.add_requests(status, 1);
    }

    /// Adds the latencies `value_at(from)`, `value_at(from + 1)`, ... up to
    /// `to` or the first `None` (each: its cell, clamped to the layout's
    /// range and counted as clamped when over it; its raw value into the
    /// exact extremes and sum) and returns how many there were; their
    /// requests are counted by [`SecondAcc::add_requests`]. The totals stay
    /// in locals for the whole loop, and the layout is copied, so that
    /// stores to the cells do not make the compiler reload either; the
    /// rare cases (a latency over the range, a carry out of the sum's low
    /// word) take cold branches, so they hold no register. Room for them
    /// was made by [`Table::get`].
    #[expect(
        clippy::inline_always,
        reason = "the per-sample loop of the drain (Recorder::drain_one); forced inlining is part \
                  of the benchmarked record() cost"
    )]
    #[inline(always)]
    pub(crate) fn add_latencies(
        &mut self,
        layout: &Layout,
        from: u64,
        to: u64,
        mut value_at: impl FnMut(u64) -> Option<u64>,
    ) -> u64 {
        let layout = *layout;
        let highest = layout.highest_ns();
        let (mut sum, mut min, mut max) = (0u64, u64::MAX, 0u64);
        let (mut sum_hi, mut clamped) = (0u64, 0u64);
        let mut q = from;
        while q < to {
            let Some(v) = value_at(q) else { break };
            let bucket_v = if v > highest { over_range(&mut clamped, highest) } else { v };
            self.add_cell(layout.index_within(bucket_v));
            let (low, carry) = sum.overflowing_add(v);
            sum = low;
            if carry {
                carry_one(&mut sum_hi);
            }
            min = min.min(v);
            max = max.max(v);
            q += 1;
        }
        self.clamped += clamped;
        self.sum_ns += (u128::from(sum_hi) << 64) | u128::from(sum);
        self.min_ns = self.min_ns.min(min);
        self.max_ns = self.max_ns.max(max);
        q - from
    }

    /// Counts `n` requests of `status` (any `u16`; >= 1000 counts as 0 and
    /// in `invalid_status`). Room for them was made by [`Table::get`].
    #[expect(
        clippy::inline_always,
        reason = "once per run of the drain loop (every sample of disordered traffic); forced \
                  inlining is part of the benchmarked record_at cost"
    )]
    #[inline(always)]
    pub(crate) fn add_requests(&mut self, status: u16, n: u64) {
        let (code, bad) = clamp_status(status);
        // n <= the room `Table::get` made, below `StatusCell::MAX`.
        self.add_status(code, StatusCell::try_from(n).unwrap_or(StatusCell::MAX));
        self.requests += n;
        self.invalid_status += if bad { n } else { 0 };
    }

    /// Counts one sample in bucket `idx` (cells only).
    #[expect(
        clippy::inline_always,
        reason = "runs for every drained sample (SecondAcc::add_latencies); forced inlining is \
                  part of the benchmarked record() cost"
    )]
    #[inline(always)]
    fn add_cell(&mut self, idx: u32) {
        let b = (idx >> BLOCK_SHIFT) as usize;
        let mut new = Cell::MAX;
        if let Some(slot) = self.blocks.get_mut(b) {
            let block = match slot {
                Some(block) => block,
                None => slot.insert(Box::new([0; BLOCK])),
            };
            if let Some(cell) = block.get_mut(idx as usize & (BLOCK - 1)) {
                new = cell.wrapping_add(1);
                *cell = new;
            }
        }
        // A cell's first count (1) or a wrap (0): one predictable branch.
        if new <= 1 {
            self.rare_cell(idx, new);
        }
    }

    /// The count of bucket `idx`, carries included.
    fn cell(&self, idx: u32) -> u64 {
        let low = match self.blocks.get((idx >> BLOCK_SHIFT) as usize) {
            Some(Some(block)) => block.get(idx as usize & (BLOCK - 1)).copied().unwrap_or(0),
            _ => 0,
        };
        u64::from(low) + self.carried(idx)
    }

    /// What wraps of bucket `idx`'s cell carried.
    fn carried(&self, idx: u32) -> u64 {
        self.carries.iter().find(|c| c.0 == idx).map_or(0, |c| c.1)
    }

    /// A cell that went from 0 to 1 (`new` = 1: listed while the list is
    /// not full) or wrapped to 0 (carried; the list is given up, so reads
    /// scan blocks and each cell is read once). Out of line: it keeps the
    /// drain loop's registers for the common case.
    #[cold]
    #[inline(never)]
    fn rare_cell(&mut self, idx: u32, new: Cell) {
        if new == 0 {
            let unit = u64::from(Cell::MAX) + 1;
            match self.carries.iter_mut().find(|c| c.0 == idx) {
                Some(c) => c.1 += unit,
                None => self.carries.push((idx, unit)),
            }
            self.nlisted = LISTED + 1;
        } else if self.nlisted <= LISTED {
            if let Some(slot) = self.listed.get_mut(self.nlisted) {
                *slot = idx;
            }
            self.nlisted += 1;
        }
    }

    /// Whether the cell list is incomplete (reads scan blocks).
    fn listed_full(&self) -> bool {
        self.nlisted > LISTED
    }

    /// The listed cells as `(bucket, count)`, ascending (`!listed_full`).
    fn listed_cells(&self) -> Vec<(u32, u64)> {
        let mut idx = self.listed[..self.nlisted.min(LISTED)].to_vec();
        idx.sort_unstable();
        idx.into_iter().map(|i| (i, self.cell(i))).filter(|c| c.1 > 0).collect()
    }

    /// Zeroes the listed cells (`!listed_full`), sorting the list on the
    /// way; with `free_unused`, may free blocks the list does not touch.
    fn clear_listed(&mut self, free_unused: bool) {
        let n = self.nlisted.min(LISTED);
        self.listed[..n].sort_unstable();
        let mut touched = 0usize;
        let mut last_block = usize::MAX;
        for &i in &self.listed[..n] {
            let b = (i >> BLOCK_SHIFT) as usize;
            if b != last_block {
                touched += 1;
                last_block = b;
            }
            if let Some(Some(block)) = self.blocks.get_mut(b) {
                if let Some(c) = block.get_mut(i as usize & (BLOCK - 1)) {
                    *c = 0;
                }
            }
        }
        // Blocks stay allocated for the next second (a steady series then
        // allocates nothing), unless they are mostly ones this second did not
        // use (a rare outlier's): then those are freed.
        let allocated = self.blocks.iter().flatten().count();
        if free_unused && allocated > 4 * touched + 16 {
            let listed = &self.listed[..n];
            for (b, slot) in self.blocks.iter_mut().enumerate() {
                // The first listed cell in block `b` or later.
                let at = listed.partition_point(|&i| ((i >> BLOCK_SHIFT) as usize) < b);
                if listed.get(at).is_none_or(|&i| (i >> BLOCK_SHIFT) as usize != b) {
                    *slot = None;
                }
            }
        }
        self.nlisted = 0;
    }

    /// The non-zero `(bucket, count)` pairs, ascending.
    fn cells(&self) -> Vec<(u32, u64)> {
        if !self.listed_full() {
            return self.listed_cells();
        }
        let mut out = Vec::with_capacity(self.cells_bound());
        for (b, block) in (0u32..).zip(&self.blocks) {
            if let Some(block) = block {
                push_cells(&mut out, b << BLOCK_SHIFT, block);
            }
        }
        // Carries (a bucket with 65 536 requests or more in this second).
        for &(idx, carried) in &self.carries {
            match out.binary_search_by_key(&idx, |c| c.0) {
                Ok(i) => {
                    if let Some(c) = out.get_mut(i) {
                        c.1 += carried;
                    }
                }
                // The cell wrapped to exactly 0.
                Err(i) => out.insert(i, (idx, carried)),
            }
        }
        out
    }

    /// At most this many cells are non-zero.
    fn cells_bound(&self) -> usize {
        usize::try_from(self.requests).unwrap_or(usize::MAX).min(self.blocks.len() * BLOCK)
    }

    /// Adds `n` to the count of `code` (below [`STATUS_CODES`]).
    #[expect(
        clippy::inline_always,
        reason = "once per run of the drain loop (every sample of disordered traffic); forced \
                  inlining is part of the benchmarked record_at cost"
    )]
    #[inline(always)]
    fn add_status(&mut self, code: u16, n: StatusCell) {
        let h = code / 100;
        self.status_hundreds |= 1 << h;
        if let Some(block) = self.status.get_mut(usize::from(h)) {
            let block = block.get_or_insert_with(|| Box::new([0; 100]));
            if let Some(c) = block.get_mut(usize::from(code % 100)) {
                *c += n;
            }
        }
    }

    fn status_pairs(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0u16..).zip(&self.status).filter(|(h, _)| self.status_hundreds & (1 << h) != 0).flat_map(
            |(h, block)| {
                (h * 100..)
                    .zip(block.as_deref().into_iter().flatten())
                    .filter(|p| *p.1 > 0)
                    .map(|(code, &c)| (code, u64::from(c)))
            },
        )
    }

    /// Zeroes the status counts (the hundreds used only).
    fn clear_status(&mut self) {
        for (h, block) in self.status.iter_mut().enumerate() {
            if self.status_hundreds & (1 << h) != 0 {
                if let Some(block) = block {
                    block.fill(0);
                }
            }
        }
        self.status_hundreds = 0;
    }

    /// The counts as a one-second [`Interval`].
    pub(crate) fn to_interval(&self) -> Interval {
        let mut iv = Interval::empty(self.second, 1);
        // `cells` walks the blocks in ascending order.
        iv.hist = SparseHist::from_sorted(self.cells()).expect("cells are ascending");
        iv.status = StatusCounts::from_pairs(self.status_pairs());
        if !iv.hist.is_empty() {
            iv.min_ns = self.min_ns;
            iv.max_ns = self.max_ns;
        }
        iv.sum_ns = self.sum_ns;
        iv.clamped = self.clamped;
        iv.invalid_status = self.invalid_status;
        iv
    }

    /// The counts as a one-second [`Interval`], leaving the accumulator
    /// empty; blocks this second did not use are freed (so a rare outlier's
    /// block is not kept and scanned again every second).
    pub(crate) fn take_interval(&mut self) -> Interval {
        let iv = self.to_interval();
        self.clear(true);
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
        self.clear(false);
        self.second = second;
    }

    /// Empties the accumulator (its second unchanged), touching only what
    /// was used; with `free_unused`, frees blocks this second did not use.
    fn clear(&mut self, free_unused: bool) {
        if self.listed_full() {
            for slot in &mut self.blocks {
                if let Some(block) = slot {
                    if free_unused && block.iter().all(|&c| c == 0) {
                        *slot = None;
                    } else {
                        block.fill(0);
                    }
                }
            }
            self.nlisted = 0;
        } else {
            self.clear_listed(free_unused);
        }
        self.clear_status();
        self.carries.clear();
        self.requests = 0;
        self.requests_at_pass = 0;
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
            + self.status.iter().flatten().count() * std::mem::size_of::<StatusBlock>()
            + self.carries.capacity() * std::mem::size_of::<(u32, u64)>()
    }
}

/// Counts a latency over the layout's range and returns the value its
/// bucket is found by (the highest). Out of line: see
/// `SecondAcc::add_latencies`.
#[cold]
#[inline(never)]
fn over_range(clamped: &mut u64, highest: u64) -> u64 {
    *clamped += 1;
    highest
}

/// Counts a carry out of a sum's low word. Out of line: see
/// `SecondAcc::add_latencies`.
#[cold]
#[inline(never)]
fn carry_one(hi: &mut u64) {
    *hi += 1;
}

/// Appends the non-zero cells of `block` (bucket `base + k` for cell `k`),
/// skipping all-zero groups of 16 cells with one vectorized test: a second
/// of a quiet series touches few cells of the blocks it holds.
fn push_cells(out: &mut Vec<(u32, u64)>, base: u32, block: &Block) {
    for (g, group) in (0u32..).zip(block.chunks_exact(16)) {
        if group.iter().fold(0, |acc, &c| acc | c) == 0 {
            continue;
        }
        for (k, &c) in (g * 16..).zip(group) {
            if c > 0 {
                out.push((base + k, u64::from(c)));
            }
        }
    }
}

/// The unsealed seconds of one series, by second.
///
/// The accumulator of a second lives in its direct-mapped slot
/// (`second % SLOTS`) or, when another second in use by the same drain
/// holds the slot, in `overflow`; never in both. A second that needs an
/// occupied slot whose occupant the current drain has not used evicts it:
/// the occupant becomes a compact [`Interval`] in `settled` (it is still
/// unsealed; later samples of its second start a new accumulator, and the
/// parts are merged when the second is sealed). So a long lateness window
/// (a replay's hour) holds at most `SLOTS` dense accumulators per series,
/// and seconds in any order within `SLOTS` seconds never touch a map.
pub(crate) struct Table {
    layout: Layout,
    slots: Vec<Option<Box<SecondAcc>>>,
    overflow: BTreeMap<u64, Box<SecondAcc>>,
    pool: Accs,
    /// Compact parts of unsealed seconds: evicted accumulators, and parts
    /// spilled before a count could overflow.
    settled: PieceMap<Interval>,
    /// Drains so far (see `SecondAcc::touch`).
    drains: u64,
}

impl Table {
    pub(crate) fn new(layout: Layout) -> Table {
        Table {
            layout,
            // Allocated at the first dense second (see `get_slow`).
            slots: Vec::new(),
            overflow: BTreeMap::new(),
            pool: Vec::new(),
            settled: PieceMap::new(),
            drains: 0,
        }
    }

    /// Starts a drain: accumulators looked up from now on are in use.
    pub(crate) fn begin_drain(&mut self) {
        self.drains += 1;
    }

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
            let acc = self.slots[i].as_deref_mut().expect("checked: slot i holds `second`");
            acc.touch = self.drains;
            return acc;
        }
        self.get_slow(i, second, n)
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, i: usize, second: u64, n: u64) -> &mut SecondAcc {
        if self.slots.is_empty() {
            self.slots = (0..SLOTS).map(|_| None).collect();
        }
        let in_slot = matches!(self.slots.get(i), Some(Some(a)) if a.second == second);
        let acc: &mut SecondAcc = if in_slot {
            self.slots[i].as_deref_mut().expect("checked: slot i holds `second`")
        } else if self.overflow.contains_key(&second) {
            self.overflow.get_mut(&second).expect("checked: the map holds `second`")
        } else {
            let drains = self.drains;
            if self.slots[i].as_ref().is_some_and(|a| a.touch != drains) {
                // Not in use by this drain: evict it to its compact form.
                self.evict(i);
            }
            let fresh = self.fresh(second);
            if self.slots[i].is_none() {
                self.slots[i].insert(fresh)
            } else {
                self.overflow.entry(second).or_insert(fresh)
            }
        };
        acc.touch = self.drains;
        if acc.needs_spill(n) && !acc.is_empty() {
            let iv = acc.take_interval();
            file(&mut self.settled, iv);
        }
        acc
    }

    /// Adds a part of an unsealed second (or a late delta) built elsewhere,
    /// merged with the earlier parts of its second.
    pub(crate) fn add_part(&mut self, iv: Interval) {
        file(&mut self.settled, iv);
    }

    /// Turns the accumulator in slot `i` into a compact interval in
    /// `settled` (merged there with earlier parts of its second).
    fn evict(&mut self, i: usize) {
        if let Some(mut old) = self.slots.get_mut(i).and_then(Option::take) {
            let iv = old.take_interval();
            if !iv.is_empty() {
                file(&mut self.settled, iv);
            }
            if self.pool.len() < POOL {
                self.pool.push(old);
            }
        }
    }

    /// Evicts the accumulators of seconds more than `lag` seconds behind the
    /// newest one held or the store's data time `store_newest`, whichever is
    /// later (a long lateness window keeps its old seconds compact; the
    /// newest seconds, where disordered samples land, stay dense; a series
    /// that stopped recording, such as one of a scanner's 200 000 paths,
    /// keeps its last seconds compact instead of a dense accumulator each).
    /// When no accumulator is left, the spares and the slots go too: an idle series
    /// holds no dense memory. Between drains only.
    pub(crate) fn settle_behind(&mut self, lag: u64, store_newest: u64) {
        let own = self.slots.iter().flatten().map(|a| a.second).max();
        let newest = own.unwrap_or(0).max(store_newest);
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|a| a.second.saturating_add(lag) < newest) {
                self.evict(i);
            }
        }
        if self.slots.iter().all(Option::is_none) && self.overflow.is_empty() {
            self.pool = Vec::new();
            self.slots = Vec::new();
        }
    }

    /// Removes every second below `bound`, to be turned into intervals with
    /// [`Detached::finish`] without holding the series mutex, and their
    /// accumulators handed back with [`Table::recycle`].
    ///
    /// Seconds below `late_below` (sealed earlier: late deltas) are held
    /// back while they are still being added to (their count changed since
    /// the previous pass), unless `all_late` or more than [`LATE_HELD`] are
    /// pending: a replay that revisits old seconds (logs of several pods
    /// concatenated) then hands each second's late samples to the tiers as
    /// one delta, not one per pass. Queries read held-back seconds like
    /// open ones.
    pub(crate) fn detach_below(&mut self, bound: u64, late_below: u64, all_late: bool) -> Detached {
        let late_pending = self
            .slots
            .iter()
            .flatten()
            .chain(self.overflow.values())
            .filter(|a| a.second < late_below)
            .count();
        let all_late = all_late || late_pending > LATE_HELD;
        let mut take = |a: &mut SecondAcc| {
            if a.second >= bound {
                return false;
            }
            if a.second >= late_below || all_late || a.requests == a.requests_at_pass {
                return true;
            }
            a.requests_at_pass = a.requests;
            false
        };
        let mut accs: Accs = Vec::new();
        for slot in &mut self.slots {
            if slot.as_deref_mut().is_some_and(&mut take) {
                accs.extend(slot.take());
            }
        }
        // Stragglers: usually none, so rebuilding the map costs nothing.
        for (s, mut a) in std::mem::take(&mut self.overflow) {
            if take(&mut a) {
                accs.push(a);
            } else {
                self.overflow.insert(s, a);
            }
        }
        // Settled parts are whole intervals: they go out with their bound.
        // Split only when some stay: `split_off` leaves an allocated empty
        // node behind (~1.9 KB), which an idle series would keep for good.
        Detached { accs, settled: self.settled.take_below(bound) }
    }

    /// Keeps up to [`POOL`] used accumulators for the next seconds.
    /// None when the table holds no dense second (its slots were freed: the
    /// series went idle, see [`Table::settle_behind`]): an idle series keeps
    /// no spare.
    pub(crate) fn recycle(&mut self, accs: Accs) {
        if self.slots.is_empty() {
            return;
        }
        let room = POOL.saturating_sub(self.pool.len());
        self.pool.extend(accs.into_iter().take(room));
    }

    /// [`Table::detach_below`], finished and recycled at once.
    #[cfg(test)]
    pub(crate) fn take_below(&mut self, bound: u64) -> Vec<Interval> {
        let (out, accs) = self.detach_below(bound, 0, true).finish();
        self.recycle(accs);
        out
    }

    /// Whether no unsealed request is held (no second, no settled part).
    pub(crate) fn holds_nothing(&self) -> bool {
        self.settled.is_empty() && self.iter().next().is_none()
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
        for (_, iv) in self.settled.range(start_s..end_s) {
            acc.add_interval(iv);
        }
    }

    /// Seconds holding data.
    pub(crate) fn seconds(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(SecondAcc::second).chain(self.settled.iter().map(|e| *e.0))
    }

    /// Bytes allocated (accumulators, spares, settled parts).
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
            + self.settled.heap_bytes()
            + self
                .settled
                .iter()
                .map(|(_, p)| p.hist.heap_bytes() + p.status.len() * 16)
                .sum::<usize>()
    }
}

/// Seconds taken out of a [`Table`] by a seal.
pub(crate) struct Detached {
    accs: Accs,
    settled: PieceMap<Interval>,
}

impl Detached {
    /// The non-empty seconds as intervals, ascending (settled parts merged
    /// back in), and the accumulators, emptied, for [`Table::recycle`].
    pub(crate) fn finish(self) -> (Vec<Interval>, Accs) {
        let Detached { mut accs, mut settled } = self;
        accs.sort_unstable_by_key(|a| a.second);
        let mut out: Vec<Interval> = Vec::with_capacity(accs.len());
        for a in &mut accs {
            let mut iv = a.take_interval();
            if let Some(s) = settled.remove(iv.start_s) {
                iv.merge(&s);
            }
            if !iv.is_empty() {
                out.push(iv);
            }
        }
        out.extend(settled.into_values());
        out.sort_by_key(|iv| iv.start_s);
        (out, accs)
    }
}

/// Merges `iv` into the entry of its second in `map` (moved in when the
/// second has no entry yet).
pub(crate) fn file(map: &mut PieceMap<Interval>, iv: Interval) {
    map.upsert(iv.start_s, iv, |old, iv| old.merge(&iv));
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
    fn seconds_evicted_between_drains_settle_and_merge_back() {
        let layout = Layout::default();
        let mut t = Table::new(layout);
        let (a, b) = (100u64, 100 + SLOTS as u64);
        t.begin_drain();
        t.get(a, 1).add(&layout, Some(1_000), 200);
        t.begin_drain();
        // `a` is not in use by this drain: `b` evicts it to `settled`.
        t.get(b, 1).add(&layout, Some(2_000), 200);
        assert_eq!(t.settled.len(), 1);
        t.begin_drain();
        // And `a` comes back, evicting `b`; its parts merge at the seal.
        t.get(a, 1).add(&layout, Some(3_000), 503);
        let mut acc = Accumulator::new(layout);
        t.add_range_to(a, a + 1, &mut acc);
        assert_eq!(acc.requests(), 2);
        let out = t.take_below(u64::MAX);
        let got: Vec<(u64, u64, u64, u64)> =
            out.iter().map(|iv| (iv.start_s, iv.requests(), iv.min_ns, iv.max_ns)).collect();
        assert_eq!(got, vec![(a, 2, 1_000, 3_000), (b, 1, 2_000, 2_000)]);
        assert!(t.settled.is_empty() && t.iter().next().is_none());
    }

    #[test]
    fn listed_and_scanned_seconds_read_and_reset_exactly() {
        let layout = Layout::default();
        let mut a = SecondAcc::new(&layout, 0);
        // Few cells (listed), exactly LISTED, one more (scanned), many; each
        // round reuses the accumulator, so a reset that left a count behind
        // shows in the next round.
        for (round, &distinct) in [3u64, 64, 65, 700, 5, 2, 63].iter().enumerate() {
            let second = round as u64;
            a.reset(second);
            let mut want = std::collections::BTreeMap::new();
            for k in 0..distinct * 3 {
                // `distinct` values 1 ms apart (distinct buckets), in an
                // order that revisits them.
                let v = 1_000_000 * (1 + (k * 11 + round as u64) % distinct);
                a.add(&layout, Some(v), 200);
                *want.entry(layout.index(v)).or_insert(0u64) += 1;
            }
            assert_eq!(want.len() as u64, distinct);
            let want: Vec<(u32, u64)> = want.into_iter().collect();
            assert_eq!(a.to_interval().hist.iter().collect::<Vec<_>>(), want, "round {round}");
            let iv = if round % 2 == 0 { a.take_interval() } else { a.to_interval() };
            assert_eq!(iv.hist.iter().collect::<Vec<_>>(), want, "round {round}");
            assert_eq!(iv.start_s, second);
        }
    }

    #[test]
    fn a_quiet_second_after_a_busy_one_frees_the_blocks_it_did_not_use() {
        let layout = Layout::default();
        let mut a = SecondAcc::new(&layout, 0);
        // Busy: 4 000 values spread over ~100 blocks (listed list overflows).
        for k in 0..4_000u64 {
            a.add(&layout, Some(1_000 + k * 900_000), 200);
        }
        let busy = a.blocks.iter().flatten().count();
        assert!(busy > 40, "{busy}");
        assert_eq!(a.take_interval().requests(), 4_000);
        // Quiet: 3 samples in one block; reading it frees the other blocks.
        a.reset(1);
        for v in [5_000_000u64, 5_000_100, 5_000_200] {
            a.add(&layout, Some(v), 200);
        }
        let iv = a.take_interval();
        assert_eq!((iv.requests(), iv.hist.total()), (3, 3));
        assert_eq!(a.blocks.iter().flatten().count(), 1);
        // And the freed blocks come back empty.
        a.reset(2);
        a.add(&layout, Some(1_000), 200);
        assert_eq!(
            a.take_interval().hist.iter().collect::<Vec<_>>(),
            vec![(layout.index(1_000), 1)]
        );
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
        // The value above the range counts in the top bucket, and exactly
        // in the extremes and the sum.
        assert_eq!((iv.min_ns, iv.max_ns), (3, u64::MAX));
        assert_eq!((iv.clamped, iv.invalid_status), (1, 1));
        assert_eq!(iv.hist.iter().last(), Some((layout.index(layout.highest_ns()), 1)));
        assert_eq!(iv.status.get(0), 1);
        assert_eq!(iv.sum_ns, 3 + 2_000_000 + 2_000_001 + u128::from(u64::MAX));
        let mut acc = Accumulator::new(layout);
        a.add_to(&mut acc);
        assert_eq!((acc.total(), acc.requests(), acc.sum_ns()), (4, 5, iv.sum_ns));
    }
}
