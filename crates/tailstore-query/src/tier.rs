//! The in-memory tier of sealed history: one map per rollup level.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use tailstore_hist::{Accumulator, Interval, PieceMap};

use crate::plan::{plan_around, Plan, Planner};

/// Where a stored piece lies, as its source understands it (for a store
/// directory: a segment file, an offset and a length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceRef {
    /// The file (an index the source understands).
    pub file: u32,
    /// Byte offset.
    pub offset: u64,
    /// Bytes.
    pub len: u32,
}

/// Decodes stored pieces on demand, so that history stays on disk until a
/// query (or a late delta, or a rollup) needs it.
pub trait PieceSource: Send + Sync {
    /// The interval stored at `r`, or `None` when it no longer decodes (a
    /// checksum or framing failure): the tier counts it and marks the piece
    /// damaged, so that queries cover its span from finer levels or report
    /// it (see [`MemTier::add_window`]).
    fn read(&self, r: PieceRef) -> Option<Interval>;
}

/// The stored parts of one piece (almost always one).
pub type PieceRefs = smallvec::SmallVec<[PieceRef; 1]>;

/// A piece: in memory, or references to stored parts that add up to it.
#[derive(Debug)]
enum Slot {
    /// Boxed: a level holds up to hundreds of thousands of slots, and most
    /// of a reopened store's are cold (a few words each).
    Hot(Box<Interval>),
    Cold(PieceRefs),
}

/// One rollup level: pieces of `span_s` seconds kept for `retention_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelSpec {
    /// Piece length in seconds (1, 60, 3600, ...). Each level's span must be
    /// a multiple of the next finer one.
    pub span_s: u32,
    /// How long pieces are kept, measured back from the newest data second.
    pub retention_s: u64,
}

impl LevelSpec {
    /// The first retained piece start when the newest data second is `newest_s`:
    /// a piece is kept while it overlaps the last `retention_s` seconds.
    #[must_use]
    pub fn retained_from(&self, newest_s: u64) -> u64 {
        let t = (newest_s + 1).saturating_sub(self.retention_s);
        t - t % u64::from(self.span_s)
    }
}

/// What a source says about one of its levels, for the planner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelCoverage {
    /// Piece length in seconds.
    pub span_s: u32,
    /// Pieces starting at or after this second are present (retention edge).
    pub from_s: u64,
    /// Pieces ending at or before this second are complete (rollup edge);
    /// `u64::MAX` for the finest level.
    pub until_s: u64,
}

/// Sealed history of one series in memory, exact at every level.
///
/// Sealed seconds go into the finest level. A rollup piece is built once,
/// when its whole span is sealed ([`MemTier::roll_up`]): one dense merge of
/// the finer pieces, not one sparse merge per second. A late delta merges
/// into its second and into every rollup piece already built that contains it.
///
/// Pieces loaded from storage stay *cold* (references, see
/// [`MemTier::load_cold_sorted`]) until something reads them; the first read
/// decodes them through the tier's [`PieceSource`] and keeps them.
///
/// Recovery at open (a store's files loaded back) uses four methods nothing
/// else needs: [`MemTier::set_source`], [`MemTier::load_cold_sorted`],
/// [`MemTier::set_built_until`] and [`MemTier::rebuild`].
pub struct MemTier {
    levels: Vec<Level>,
    newest_s: u64,
    source: Option<Arc<dyn PieceSource>>,
    /// Stored parts that failed to decode when read.
    read_errors: AtomicU64,
}

impl std::fmt::Debug for MemTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemTier")
            .field("levels", &self.levels)
            .field("newest_s", &self.newest_s)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Level {
    spec: LevelSpec,
    pieces: PieceMap<Slot>,
    /// Pieces starting below this are built (complete but for late data).
    built_until: u64,
    /// Where this level's pieces are damaged: no answer uses a piece that
    /// starts in these spans (it may be missing or hold only some of its
    /// data); queries cover them from finer levels, or report them.
    damaged: Spans,
}

/// Disjoint half-open spans of seconds, `start -> end`, none adjacent.
#[derive(Debug, Default)]
pub(crate) struct Spans(BTreeMap<u64, u64>);

impl Spans {
    /// True when `s` is in a span.
    pub(crate) fn covers(&self, s: u64) -> bool {
        !self.0.is_empty() && self.0.range(..=s).next_back().is_some_and(|(_, &e)| e > s)
    }

    /// Adds `[a, b)`, merging it with the spans it touches.
    pub(crate) fn mark(&mut self, mut a: u64, mut b: u64) {
        if a >= b {
            return;
        }
        if let Some((&s, &e)) = self.0.range(..=a).next_back() {
            if e >= a {
                a = s;
                b = b.max(e);
                self.0.remove(&s);
            }
        }
        while let Some((&s, &e)) = self.0.range(a..=b).next() {
            b = b.max(e);
            self.0.remove(&s);
        }
        self.0.insert(a, b);
    }

    /// Removes `[a, b)`.
    pub(crate) fn unmark(&mut self, a: u64, b: u64) {
        if self.0.is_empty() || a >= b {
            return;
        }
        // Spans are disjoint and ascending: those that reach past `a`
        // among the ones starting before `b` are the last few.
        let hit: Vec<(u64, u64)> =
            self.0.range(..b).rev().take_while(|(_, &e)| e > a).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in hit {
            self.0.remove(&s);
            if s < a {
                self.0.insert(s, a);
            }
            if e > b {
                self.0.insert(b, e);
            }
        }
    }

    /// True when a span meets `[a, b)`.
    pub(crate) fn meets(&self, a: u64, b: u64) -> bool {
        !self.0.is_empty() && self.0.range(..b).next_back().is_some_and(|(_, &e)| e > a)
    }

    /// Pushes the parts of the spans inside `[a, b)` onto `out`, ascending.
    pub(crate) fn push_within(&self, a: u64, b: u64, out: &mut Vec<(u64, u64)>) {
        if self.0.is_empty() || a >= b {
            return;
        }
        let first = self.0.range(..=a).next_back().map_or(a, |(&s, _)| s);
        for (&s, &e) in self.0.range(first..b) {
            if e > a {
                out.push((s.max(a), e.min(b)));
            }
        }
    }

    /// Start of the first span that ends after `a`.
    pub(crate) fn first_after(&self, a: u64) -> Option<u64> {
        if self.0.is_empty() {
            return None;
        }
        let first = self.0.range(..=a).next_back().map_or(a, |(&s, _)| s);
        self.0.range(first..).find(|(_, &e)| e > a).map(|(&s, _)| s)
    }

    /// Drops the spans that end at or below `a`.
    pub(crate) fn drop_below(&mut self, a: u64) {
        if self.0.first_key_value().is_some_and(|(_, &e)| e <= a) {
            self.0.retain(|_, e| *e > a);
        }
    }
}

/// The piece at `start_s` of `span_s` seconds that the stored parts `refs`
/// add up to, or `None` when one of them no longer decodes (each failure is
/// counted in `errors`).
fn decode(
    start_s: u64,
    span_s: u32,
    refs: &[PieceRef],
    source: Option<&Arc<dyn PieceSource>>,
    errors: &AtomicU64,
) -> Option<Interval> {
    let mut iv = Interval::empty(start_s, span_s);
    let mut whole = true;
    for r in refs {
        if let Some(part) = source.and_then(|s| s.read(*r)) {
            iv.merge(&part);
        } else {
            errors.fetch_add(1, Relaxed);
            whole = false;
        }
    }
    whole.then_some(iv)
}

impl Level {
    /// The piece at `start`, decoded first if it is cold; `None` when there
    /// is none or it is damaged (a cold piece that does not decode is marked
    /// damaged here).
    fn hot(
        &mut self,
        start: u64,
        source: Option<&Arc<dyn PieceSource>>,
        errors: &AtomicU64,
    ) -> Option<&mut Interval> {
        if self.damaged.covers(start) {
            return None;
        }
        let span = self.spec.span_s;
        let slot = self.pieces.get_mut(start)?;
        if let Slot::Cold(refs) = slot {
            let Some(iv) = decode(start, span, refs, source, errors) else {
                self.damaged.mark(start, start + u64::from(span));
                return None;
            };
            *slot = Slot::Hot(Box::new(iv));
        }
        match slot {
            Slot::Hot(iv) => Some(&mut **iv),
            Slot::Cold(_) => None,
        }
    }

    /// Calls `f` with each intact piece starting in `[from, to)`, in time
    /// order, decoding cold ones. Returns how many. The starts of pieces
    /// found damaged as they are decoded are pushed onto `fresh` (and marked
    /// damaged); pieces already known to be damaged are skipped.
    fn for_each(
        &mut self,
        from: u64,
        to: u64,
        source: Option<&Arc<dyn PieceSource>>,
        errors: &AtomicU64,
        fresh: &mut Vec<u64>,
        mut f: impl FnMut(&Interval),
    ) -> usize {
        if from >= to {
            return 0;
        }
        let span = self.spec.span_s;
        let known = !self.damaged.0.is_empty();
        let first_fresh = fresh.len();
        let mut n = 0;
        for (&s, slot) in self.pieces.range_mut(from..to) {
            if known && self.damaged.covers(s) {
                continue;
            }
            if let Slot::Cold(refs) = slot {
                let Some(iv) = decode(s, span, refs, source, errors) else {
                    fresh.push(s);
                    continue;
                };
                *slot = Slot::Hot(Box::new(iv));
            }
            if let Slot::Hot(iv) = slot {
                f(iv);
                n += 1;
            }
        }
        for &s in &fresh[first_fresh..] {
            self.damaged.mark(s, s + u64::from(span));
        }
        n
    }
}

/// What [`MemTier::add_window`] merged, and what it could not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Covered {
    /// Intact pieces merged.
    pub pieces: usize,
    /// First second covered: past the parts of the window older than every
    /// retention (the window's start when there are none).
    pub covered_from: u64,
    /// Sub-ranges of the window, ascending, disjoint and not adjacent, that
    /// no intact piece covers: a level's piece there is damaged and no finer
    /// level retains that span intact.
    pub damaged: Vec<(u64, u64)>,
}

/// Sorts `ranges` and merges those that overlap or touch.
pub(crate) fn merge_ranges(ranges: &mut Vec<(u64, u64)>) {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *ranges = out;
}

impl MemTier {
    /// A tier with the given levels, finest first. Each level's span must be
    /// a multiple of the previous one's, and each level's retention is raised
    /// to at least the next level's span, so that rollups can be built.
    #[must_use]
    pub fn new(levels: &[LevelSpec]) -> MemTier {
        let mut specs: Vec<LevelSpec> = levels.to_vec();
        for k in 0..specs.len().saturating_sub(1) {
            let next = u64::from(specs[k + 1].span_s);
            specs[k].retention_s = specs[k].retention_s.max(next);
        }
        MemTier {
            levels: specs
                .into_iter()
                .map(|spec| Level {
                    spec,
                    pieces: PieceMap::new(),
                    built_until: 0,
                    damaged: Spans::default(),
                })
                .collect(),
            newest_s: 0,
            source: None,
            read_errors: AtomicU64::new(0),
        }
    }

    /// Sets where cold pieces are decoded from.
    pub fn set_source(&mut self, source: Arc<dyn PieceSource>) {
        self.source = Some(source);
    }

    /// Stored parts that failed to decode when a read needed them.
    pub fn read_errors(&self) -> u64 {
        self.read_errors.load(Relaxed)
    }

    /// Adds a cold piece of `level` at `start_s` (a multiple of the level's
    /// span): the stored parts `refs` add up to it; nothing is decoded now.
    /// Merges with what is there already. Pieces past retention are dropped.
    pub(crate) fn load_cold(&mut self, level: usize, start_s: u64, refs: PieceRefs) {
        let newest = self.newest_s;
        let Some(l) = self.levels.get_mut(level) else { return };
        if start_s < l.spec.retained_from(newest) || refs.is_empty() {
            return;
        }
        match l.pieces.get_mut(start_s) {
            None => {
                l.pieces.insert(start_s, Slot::Cold(refs));
            }
            Some(Slot::Cold(old)) => old.extend(refs),
            Some(Slot::Hot(iv)) => {
                let span = l.spec.span_s;
                match decode(start_s, span, &refs, self.source.as_ref(), &self.read_errors) {
                    Some(more) => iv.merge(&more),
                    None => l.damaged.mark(start_s, start_s + u64::from(span)),
                }
            }
        }
    }

    /// Adds cold pieces of `level` as `(start, refs)`, ascending by start
    /// and each start once. A piece's stored parts `refs` add up to it, and
    /// nothing is decoded now. Pieces merge with what is there already;
    /// those past retention are dropped. An empty level is built in bulk.
    pub fn load_cold_sorted(&mut self, level: usize, pieces: Vec<(u64, PieceRefs)>) {
        let newest = self.newest_s;
        let Some(l) = self.levels.get_mut(level) else { return };
        if !l.pieces.is_empty() {
            for (start, refs) in pieces {
                self.load_cold(level, start, refs);
            }
            return;
        }
        let from = l.spec.retained_from(newest);
        l.pieces = pieces
            .into_iter()
            .filter(|(s, r)| *s >= from && !r.is_empty())
            .map(|(s, r)| (s, Slot::Cold(r)))
            .collect();
    }

    /// Rebuilds the piece of rollup `level` at `start_s` from the finer
    /// level (replacing what is there) and returns it; `None`, leaving the
    /// piece as it is, when the finer level has nothing in that span. When
    /// the finer level is damaged in that span, the piece is marked damaged
    /// instead (nothing can tell whether its stored copy is whole) and
    /// `None` is returned; a piece rebuilt from intact finer pieces is no
    /// longer damaged.
    pub fn rebuild(
        &mut self,
        level: usize,
        start_s: u64,
        scratch: &mut Accumulator,
    ) -> Option<Interval> {
        if level == 0 || level >= self.levels.len() {
            return None;
        }
        let (finer, coarser) = self.levels.split_at_mut(level);
        let src = &mut finer[level - 1];
        let dst = &mut coarser[0];
        let span = u64::from(dst.spec.span_s);
        scratch.clear();
        let mut fresh = Vec::new();
        let n = src.for_each(
            start_s,
            start_s + span,
            self.source.as_ref(),
            &self.read_errors,
            &mut fresh,
            |iv| scratch.add_interval(iv),
        );
        if src.damaged.meets(start_s, start_s + span) {
            dst.damaged.mark(start_s, start_s + span);
            return None;
        }
        if n == 0 {
            return None;
        }
        dst.damaged.unmark(start_s, start_s + span);
        let piece = scratch.to_interval(start_s, dst.spec.span_s);
        dst.pieces.insert(start_s, Slot::Hot(Box::new(piece.clone())));
        Some(piece)
    }

    /// Adds a sealed one-second interval or a late delta.
    ///
    /// Pieces already past a level's retention are not recreated, unless a
    /// coarser level is still to be built from them. Returns the
    /// deltas applied to rollup pieces already built, as `(level, delta)`
    /// with the delta re-spanned to the piece (for persistence).
    pub fn insert(&mut self, iv: &Interval) -> Vec<(usize, Interval)> {
        self.insert_many(std::slice::from_ref(iv), None)
    }

    /// Adds many sealed seconds or late deltas at once: each to its second,
    /// as [`MemTier::insert`] does, but the ones that fall in one rollup
    /// piece already built, next to each other in `ivs` (ascending, as a
    /// seal pass hands them over), are summed first (in `scratch`, or merged
    /// pairwise without one) and merged into it once: a batch of late
    /// seconds (a replay revisiting an hour) rewrites each minute and hour
    /// piece once, not once per second. Returns the deltas applied to rollup
    /// pieces, one per piece, as `(level, delta)` re-spanned to the piece
    /// (for persistence).
    pub fn insert_many(
        &mut self,
        ivs: &[Interval],
        mut scratch: Option<&mut Accumulator>,
    ) -> Vec<(usize, Interval)> {
        let newest = self.newest_s;
        let keep: Vec<u64> = (0..self.levels.len()).map(|k| self.keep_from(k, newest)).collect();
        let mut deltas = Vec::new();
        for (k, level) in self.levels.iter_mut().enumerate() {
            let span_s = level.spec.span_s;
            let span = u64::from(span_s);
            for group in ivs.chunk_by(|a, b| a.start_s / span == b.start_s / span) {
                let Some(first) = group.first() else { continue };
                let start = first.start_s - first.start_s % span;
                if start < keep[k] || (k > 0 && start >= level.built_until) {
                    // Past retention, or not built yet (the roll-up will
                    // include it from the finer level).
                    continue;
                }
                if level.damaged.covers(start) {
                    // What is stored there is not known: the piece stays
                    // damaged (its late data is persisted at the finest
                    // level all the same).
                    continue;
                }
                let delta = if let ([_, _, ..], Some(scratch)) = (group, scratch.as_deref_mut()) {
                    scratch.clear();
                    for iv in group {
                        scratch.add_interval(iv);
                    }
                    scratch.to_interval(start, span_s)
                } else {
                    let mut d = first.clone();
                    for iv in &group[1..] {
                        d.merge(iv);
                    }
                    d.start_s = start;
                    d.span_s = span_s;
                    d
                };
                match level.hot(start, self.source.as_ref(), &self.read_errors) {
                    Some(piece) => piece.merge(&delta),
                    None if k > 0 => {
                        level.pieces.insert(start, Slot::Hot(Box::new(delta.clone())));
                    }
                    None => {
                        level.pieces.insert(start, Slot::Hot(Box::new(delta)));
                        continue;
                    }
                }
                if k > 0 {
                    deltas.push((k, delta));
                }
            }
        }
        deltas
    }

    /// Rollup pieces at or after this second are rebuilt from the finer
    /// level; earlier ones are taken as loaded. Used when opening a store.
    pub fn set_built_until(&mut self, level: usize, until_s: u64) {
        if let Some(l) = self.levels.get_mut(level) {
            l.built_until = until_s;
            l.pieces.remove_from(until_s);
        }
    }

    /// The level specs (finest first), with retentions as adjusted by `new`.
    pub fn specs(&self) -> Vec<LevelSpec> {
        self.levels.iter().map(|l| l.spec).collect()
    }

    /// Builds every rollup piece whose span lies wholly below `sealed_below`
    /// (every second below it is sealed), using `scratch` for the merge.
    /// Returns the pieces built, as `(level, piece)`. A piece whose span
    /// holds damaged finer pieces is not built but marked damaged (and not
    /// returned, so that no partial copy is persisted as whole).
    pub fn roll_up(
        &mut self,
        sealed_below: u64,
        scratch: &mut Accumulator,
    ) -> Vec<(usize, Interval)> {
        let mut built = Vec::new();
        for k in 1..self.levels.len() {
            let (finer, coarser) = self.levels.split_at_mut(k);
            let src = &mut finer[k - 1];
            let dst = &mut coarser[0];
            let span = u64::from(dst.spec.span_s);
            let limit = sealed_below - sealed_below % span;
            while dst.built_until < limit {
                // Jump over empty stretches to the next finer piece (or
                // damaged span: its pieces may be gone altogether).
                let next_piece = src.pieces.range(dst.built_until..).next().map(|e| *e.0);
                let next_damage = src.damaged.first_after(dst.built_until);
                let Some(next) = next_piece.into_iter().chain(next_damage).min() else {
                    dst.built_until = limit;
                    break;
                };
                let next = next.max(dst.built_until);
                let start = next - next % span;
                if start >= limit {
                    dst.built_until = limit;
                    break;
                }
                scratch.clear();
                let mut fresh = Vec::new();
                let n = src.for_each(
                    start,
                    start + span,
                    self.source.as_ref(),
                    &self.read_errors,
                    &mut fresh,
                    |iv| scratch.add_interval(iv),
                );
                if src.damaged.meets(start, start + span) {
                    dst.damaged.mark(start, start + span);
                } else if n > 0 && start >= dst.spec.retained_from(self.newest_s) {
                    dst.damaged.unmark(start, start + span);
                    let piece = scratch.to_interval(start, dst.spec.span_s);
                    built.push((k, piece.clone()));
                    dst.pieces.insert(start, Slot::Hot(Box::new(piece)));
                }
                dst.built_until = start + span;
            }
        }
        self.evict();
        built
    }

    /// When this tier next has work, if nothing is added to it: the
    /// smallest seal bound at which [`MemTier::roll_up`] would build a piece
    /// (`u64::MAX`: none), and the smallest data time at which
    /// [`MemTier::advance`] would drop one (`u64::MAX`: none). A store skips
    /// an idle series' tier until one of them is reached.
    #[must_use]
    pub fn due(&self) -> (u64, u64) {
        let mut rollup = u64::MAX;
        for k in 1..self.levels.len() {
            let (src, dst) = (&self.levels[k - 1], &self.levels[k]);
            let span = u64::from(dst.spec.span_s);
            if let Some((&next, _)) = src.pieces.range(dst.built_until..).next() {
                rollup = rollup.min((next - next % span).saturating_add(span));
            }
        }
        let mut expire = u64::MAX;
        for level in &self.levels {
            if let Some(first) = level.pieces.first_key() {
                // `retained_from(newest)` passes `first` once
                // `newest + 1 - retention >= first + span`.
                let at = first
                    .saturating_add(u64::from(level.spec.span_s))
                    .saturating_add(level.spec.retention_s)
                    .saturating_sub(1);
                expire = expire.min(at);
            }
        }
        (rollup, expire)
    }

    /// Moves the data clock to `newest_s` and drops pieces past retention.
    pub fn advance(&mut self, newest_s: u64) {
        if newest_s <= self.newest_s {
            return;
        }
        self.newest_s = newest_s;
        self.evict();
    }

    /// Drops the pieces past retention, except those a coarser level still
    /// has to be built from (data time can jump past a level's retention
    /// before the rollup of what it holds is due).
    fn evict(&mut self) {
        let newest = self.newest_s;
        for k in 0..self.levels.len() {
            let keep_from = self.keep_from(k, newest);
            let level = &mut self.levels[k];
            if level.pieces.first_key().is_some_and(|s| s < keep_from) {
                level.pieces.remove_below(keep_from);
            }
            level.damaged.drop_below(keep_from);
        }
    }

    /// Pieces of level `k` starting below this may be dropped.
    fn keep_from(&self, k: usize, newest: u64) -> u64 {
        let from = self.levels[k].spec.retained_from(newest);
        match self.levels.get(k + 1) {
            Some(coarser) => from.min(coarser.built_until),
            None => from,
        }
    }

    /// Coverage of every level, finest first.
    pub fn coverage(&self) -> Vec<LevelCoverage> {
        self.levels
            .iter()
            .enumerate()
            .map(|(k, l)| LevelCoverage {
                span_s: l.spec.span_s,
                from_s: l.spec.retained_from(self.newest_s),
                until_s: if k == 0 { u64::MAX } else { l.built_until },
            })
            .collect()
    }

    /// Marks the pieces of `level` starting in `[start_s, end_s)` damaged
    /// (a store's scan found damage there): no answer uses them any more.
    /// The span is widened to whole pieces.
    pub fn mark_damaged(&mut self, level: usize, start_s: u64, end_s: u64) {
        let Some(l) = self.levels.get_mut(level) else { return };
        let span = u64::from(l.spec.span_s);
        l.damaged.mark(start_s - start_s % span, end_s.div_ceil(span).saturating_mul(span));
    }

    /// Start of the first damaged span of `level` that ends after `from_s`.
    pub(crate) fn first_damage(&self, level: usize, from_s: u64) -> Option<u64> {
        self.levels.get(level)?.damaged.first_after(from_s)
    }

    /// Plans `[start_s, end_s)` over this tier's levels (see [`plan`](crate::plan)),
    /// around the pieces known to be damaged: their spans are planned over
    /// the finer levels, and what no intact retained level covers is in
    /// [`Plan::damaged`]. Pieces found damaged only when decoded are not
    /// known yet; [`MemTier::add_window`] handles those too.
    #[must_use]
    pub fn plan(&self, start_s: u64, end_s: u64) -> Plan {
        let levels = &self.levels;
        plan_around(
            &self.coverage(),
            &|li, a, b, out| levels[li].damaged.push_within(a, b, out),
            start_s,
            end_s,
        )
    }

    /// Adds the window `[start_s, end_s)` into `acc` with the fewest intact
    /// pieces, as [`MemTier::plan`] plans it. A piece that turns out
    /// damaged when it is decoded (its stored bytes fail their checksum) is
    /// left out and marked damaged, and its span is added from the finer
    /// levels instead; so the answer is exact wherever an intact retained
    /// level covers the window, and [`Covered::damaged`] lists the rest.
    pub fn add_window(&mut self, start_s: u64, end_s: u64, acc: &mut Accumulator) -> Covered {
        let cov = self.coverage();
        let levels = &self.levels;
        let mut p = plan_around(
            &cov,
            &|li, a, b, out| levels[li].damaged.push_within(a, b, out),
            start_s,
            end_s,
        );
        let covered_from = p.uncovered.iter().map(|u| u.1).max().unwrap_or(start_s);
        let mut damaged = std::mem::take(&mut p.damaged);
        let mut work = std::mem::take(&mut p.segments);
        let mut pieces = 0;
        let mut fresh = Vec::new();
        let mut i = 0;
        while let Some(&seg) = work.get(i) {
            i += 1;
            let Some(level) = self.levels.get_mut(seg.level) else { continue };
            let span = u64::from(level.spec.span_s);
            pieces += level.for_each(
                seg.start_s,
                seg.end_s,
                self.source.as_ref(),
                &self.read_errors,
                &mut fresh,
                |iv| acc.add_interval(iv),
            );
            if fresh.is_empty() {
                continue;
            }
            // Found damaged as they were decoded (and marked so): their
            // spans from the finer levels, planned around known damage.
            let levels = &self.levels;
            let planner = Planner {
                levels: &cov,
                damaged: &|li, a, b, out| levels[li].damaged.push_within(a, b, out),
            };
            let mut sub = Plan::default();
            for s in fresh.drain(..) {
                match seg.level.checked_sub(1) {
                    Some(finer) => planner.plan_into(finer, s, s + span, true, &mut sub),
                    None => sub.damaged.push((s, s + span)),
                }
            }
            work.append(&mut sub.segments);
            damaged.append(&mut sub.damaged);
        }
        merge_ranges(&mut damaged);
        Covered { pieces, covered_from, damaged }
    }

    /// Adds the pieces of level `level` starting in `[start_s, end_s)`.
    /// Returns how many pieces were merged. Damaged pieces are left out
    /// (see [`MemTier::add_window`] for an answer that covers them).
    pub fn add_range(
        &mut self,
        level: usize,
        start_s: u64,
        end_s: u64,
        acc: &mut Accumulator,
    ) -> usize {
        self.for_each_piece(level, start_s, end_s, |iv| acc.add_interval(iv))
    }

    /// Calls `f` with each intact piece of level `level` starting in
    /// `[start_s, end_s)`, in time order (decoding cold ones). Returns how
    /// many. Damaged pieces are left out, and those found damaged as they
    /// are decoded are marked so.
    pub fn for_each_piece(
        &mut self,
        level: usize,
        start_s: u64,
        end_s: u64,
        f: impl FnMut(&Interval),
    ) -> usize {
        self.for_each_intact(level, start_s, end_s, &mut Vec::new(), f)
    }

    /// [`MemTier::for_each_piece`], pushing the starts of the pieces found
    /// damaged as they were decoded onto `fresh`.
    pub(crate) fn for_each_intact(
        &mut self,
        level: usize,
        start_s: u64,
        end_s: u64,
        fresh: &mut Vec<u64>,
        f: impl FnMut(&Interval),
    ) -> usize {
        let Some(l) = self.levels.get_mut(level) else { return 0 };
        l.for_each(start_s, end_s, self.source.as_ref(), &self.read_errors, fresh, f)
    }

    /// Copies of the intact pieces of level `level` starting in
    /// `[start_s, end_s)`, in time order (empty for an unknown level).
    #[must_use]
    pub fn pieces(&mut self, level: usize, start_s: u64, end_s: u64) -> Vec<Interval> {
        let mut out = Vec::new();
        self.for_each_piece(level, start_s, end_s, |iv| out.push(iv.clone()));
        out
    }

    /// Number of pieces held per level, finest first.
    #[cfg(test)]
    pub(crate) fn piece_counts(&self) -> Vec<usize> {
        self.levels.iter().map(|l| l.pieces.len()).collect()
    }

    /// First second and end (exclusive) of the sealed data over all levels
    /// (coarse levels may reach further back than the finest).
    pub fn time_bounds(&self) -> Option<(u64, u64)> {
        // Finest level first: a coarser piece widens the bounds only where
        // it holds data the finer levels no longer do (or do not yet), so
        // the bounds are exact to the second wherever seconds are kept.
        let mut bounds: Option<(u64, u64)> = None;
        // The finer levels hold every second from here on.
        let mut finer_from = u64::MAX;
        for l in &self.levels {
            let span = u64::from(l.spec.span_s);
            if let (Some(first), Some(last)) = (l.pieces.first_key(), l.pieces.last_key()) {
                let end = last + span;
                bounds = Some(match bounds {
                    None => (first, end),
                    // The coarse first piece starts before the finer data's
                    // span, or the finer levels no longer hold all of it.
                    Some((f, e)) => (
                        if first < f - f % span || first < finer_from { first.min(f) } else { f },
                        if end > e.div_ceil(span) * span { end } else { e },
                    ),
                });
            }
            finer_from = finer_from.min(l.spec.retained_from(self.newest_s));
        }
        bounds
    }

    /// Bytes held by the pieces in memory and the references to cold ones
    /// (approximate).
    pub fn memory_bytes(&self) -> usize {
        let maps: usize = self.levels.iter().map(|l| l.pieces.heap_bytes()).sum();
        let pieces: usize = self
            .levels
            .iter()
            .flat_map(|l| l.pieces.iter())
            .map(|(_, slot)| match slot {
                Slot::Hot(iv) => {
                    std::mem::size_of::<Interval>() + iv.hist.heap_bytes() + iv.status.len() * 16
                }
                Slot::Cold(refs) if refs.spilled() => refs.len() * std::mem::size_of::<PieceRef>(),
                Slot::Cold(_) => 0,
            })
            .sum();
        maps + pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Segment;
    use tailstore_hist::{Layout, SparseHist, StatusCounts};

    fn iv(start_s: u64, n: u64) -> Interval {
        let mut i = Interval::empty(start_s, 1);
        i.hist = SparseHist::from_sorted([(100, n)]).unwrap();
        i.status = StatusCounts::from_pairs([(200, n)]);
        i.min_ns = 100;
        i.max_ns = 100;
        i.sum_ns = u128::from(100 * n);
        i
    }

    /// Rollup pieces do not widen the bounds where seconds are kept.
    #[test]
    fn time_bounds_are_exact_where_seconds_are_kept() {
        let levels = [
            LevelSpec { span_s: 1, retention_s: 120 },
            LevelSpec { span_s: 60, retention_s: 3600 },
        ];
        let mut t = MemTier::new(&levels);
        let mut scratch = Accumulator::new(Layout::default());
        for s in 605..650 {
            t.advance(s);
            t.insert(&iv(s, 1));
            t.roll_up(s + 1, &mut scratch);
        }
        t.roll_up(700, &mut scratch);
        assert_eq!(t.time_bounds(), Some((605, 650)));
        // Once the early seconds are past retention, the minute they were
        // in is the best bound known.
        t.advance(740);
        assert_eq!(t.time_bounds(), Some((600, 650)));
    }

    #[test]
    fn insert_rolls_up_and_retention_evicts() {
        let levels = [
            LevelSpec { span_s: 1, retention_s: 120 },
            LevelSpec { span_s: 60, retention_s: 3600 },
        ];
        let mut t = MemTier::new(&levels);
        let mut scratch = Accumulator::new(Layout::default());
        for s in 0..600 {
            t.advance(s);
            t.insert(&iv(s, 1));
            t.roll_up(s + 1, &mut scratch);
        }
        assert_eq!(t.piece_counts(), vec![120, 10]);
        // A late delta reaches the built minute too.
        t.insert(&iv(550, 5));
        let mut acc = Accumulator::new(Layout::default());
        t.add_range(1, 540, 600, &mut acc);
        assert_eq!(acc.requests(), 65);
        let mut acc = Accumulator::new(Layout::default());
        assert_eq!(t.add_range(1, 0, 600, &mut acc), 10);
        assert_eq!(acc.requests(), 605);
        assert_eq!(levels[0].retained_from(599), 480);
        assert_eq!(levels[1].retained_from(599), 0);
        assert_eq!(levels[1].retained_from(3700), 60);
    }

    /// Data time can jump past the finest level's retention between two seal
    /// passes: the seconds sealed then still reach their rollups.
    #[test]
    fn seconds_past_retention_still_roll_up() {
        let levels = [
            LevelSpec { span_s: 1, retention_s: 120 },
            LevelSpec { span_s: 60, retention_s: 3600 },
        ];
        let mut t = MemTier::new(&levels);
        let mut scratch = Accumulator::new(Layout::default());
        // Seconds 0..30 sealed, minute 0 not complete yet.
        for s in 0..30 {
            t.insert(&iv(s, 2));
        }
        t.roll_up(30, &mut scratch);
        // Data time jumps 10 minutes; then more seconds of minute 0 arrive.
        t.advance(600);
        for s in 30..60 {
            t.insert(&iv(s, 1));
        }
        t.roll_up(600, &mut scratch);
        let mut acc = Accumulator::new(Layout::default());
        assert_eq!(t.add_range(1, 0, 60, &mut acc), 1);
        assert_eq!(acc.requests(), 90);
        // Once the minute is built the seconds past retention are dropped.
        assert_eq!(t.piece_counts(), vec![0, 1]);
    }

    fn two_levels(seconds_retention_s: u64) -> [LevelSpec; 2] {
        [
            LevelSpec { span_s: 1, retention_s: seconds_retention_s },
            LevelSpec { span_s: 60, retention_s: 3600 },
        ]
    }

    /// Ten minutes of one request a second, sealed and rolled up.
    fn ten_minutes(levels: &[LevelSpec]) -> MemTier {
        let mut t = MemTier::new(levels);
        let mut scratch = Accumulator::new(Layout::default());
        for s in 0..600 {
            t.advance(s);
            t.insert(&iv(s, 1));
            t.roll_up(s + 1, &mut scratch);
        }
        t
    }

    /// Issue 10, item 2: a damaged minute is answered from its retained
    /// seconds (exact, nothing reported); damaged seconds with no finer
    /// level are left out and reported.
    #[test]
    fn damaged_pieces_are_covered_by_finer_levels_or_reported() {
        let mut t = ten_minutes(&two_levels(7200));
        t.mark_damaged(1, 120, 180);
        let p = t.plan(0, 600);
        assert_eq!(
            p.segments,
            vec![
                Segment { level: 1, start_s: 0, end_s: 120 },
                Segment { level: 0, start_s: 120, end_s: 180 },
                Segment { level: 1, start_s: 180, end_s: 600 },
            ]
        );
        let mut acc = Accumulator::new(Layout::default());
        let c = t.add_window(0, 600, &mut acc);
        assert_eq!((acc.requests(), c.damaged.as_slice(), c.covered_from), (600, &[][..], 0));
        // Three of those seconds damaged too: no finer level, reported.
        t.mark_damaged(0, 130, 133);
        let mut acc = Accumulator::new(Layout::default());
        let c = t.add_window(100, 300, &mut acc);
        assert_eq!((acc.requests(), c.damaged), (197, vec![(130, 133)]));
        // A damaged second inside an intact minute does not matter.
        let mut acc = Accumulator::new(Layout::default());
        let c = t.add_window(300, 420, &mut acc);
        assert_eq!((acc.requests(), c.damaged.len()), (120, 0));
        t.mark_damaged(0, 301, 302);
        let mut acc = Accumulator::new(Layout::default());
        assert!(t.add_window(300, 420, &mut acc).damaged.is_empty());
    }

    /// Decodes stored pieces from a map; a missing key is a part that
    /// fails its checksum.
    struct MapSource(std::collections::HashMap<u32, Interval>);

    impl PieceSource for MapSource {
        fn read(&self, r: PieceRef) -> Option<Interval> {
            self.0.get(&r.file).cloned()
        }
    }

    fn cold(file: u32) -> PieceRefs {
        smallvec::smallvec![PieceRef { file, offset: 0, len: 1 }]
    }

    /// A cold piece that fails to decode when a query reads it is damage,
    /// not an empty piece: its span comes from the finer level where that
    /// is retained, and is reported where it is not.
    #[test]
    fn a_piece_that_fails_to_decode_is_damage_not_empty() {
        let mut t = MemTier::new(&two_levels(120));
        t.advance(599);
        let mut parts = std::collections::HashMap::new();
        let mut seconds = Vec::new();
        for s in 480..600u32 {
            parts.insert(s, iv(u64::from(s), 1));
            seconds.push((u64::from(s), cold(s)));
        }
        let mut minutes = Vec::new();
        for m in (0..600u32).step_by(60) {
            let mut piece = iv(u64::from(m), 60);
            piece.span_s = 60;
            // Minutes 120 and 540 fail their checksum.
            if m != 120 && m != 540 {
                parts.insert(10_000 + m, piece);
            }
            minutes.push((u64::from(m), cold(10_000 + m)));
        }
        t.set_source(Arc::new(MapSource(parts)));
        t.load_cold_sorted(0, seconds);
        t.load_cold_sorted(1, minutes);
        t.set_built_until(1, 600);
        // Minute 540 from its seconds: exact, nothing damaged.
        let mut acc = Accumulator::new(Layout::default());
        let c = t.add_window(480, 600, &mut acc);
        assert_eq!((acc.requests(), c.damaged.len()), (120, 0));
        assert_eq!(t.read_errors(), 1);
        // Minute 120: its seconds are past retention.
        for _ in 0..2 {
            let mut acc = Accumulator::new(Layout::default());
            let c = t.add_window(60, 240, &mut acc);
            assert_eq!((acc.requests(), c.damaged), (120, vec![(120, 180)]));
        }
        // Decoded once: known damage afterwards.
        assert_eq!(t.read_errors(), 2);
        assert_eq!(t.plan(60, 240).damaged, vec![(120, 180)]);
    }

    /// A rollup over damaged finer pieces is not built as whole.
    #[test]
    fn rollups_over_damaged_seconds_are_damaged() {
        let mut t = MemTier::new(&two_levels(7200));
        let mut scratch = Accumulator::new(Layout::default());
        for s in 0..60 {
            t.insert(&iv(s, 1));
        }
        // Second 10 is damaged, the whole of minute 1 (nothing of it left).
        t.mark_damaged(0, 10, 11);
        t.mark_damaged(0, 60, 120);
        let built = t.roll_up(180, &mut scratch);
        assert!(built.is_empty(), "{built:?}");
        let mut acc = Accumulator::new(Layout::default());
        let c = t.add_window(0, 180, &mut acc);
        assert_eq!((acc.requests(), c.damaged), (59, vec![(10, 11), (60, 120)]));
    }

    /// Damaged spans merge when they touch, split when a part is whole
    /// again, and answer the lookups the planner and the slide make.
    #[test]
    fn damaged_spans_merge_split_and_answer() {
        let mut d = Spans::default();
        d.mark(10, 20);
        d.mark(30, 40);
        d.mark(20, 25); // touches [10, 20)
        assert_eq!(d.0.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), [(10, 25), (30, 40)]);
        d.mark(5, 35);
        assert_eq!(d.0.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), [(5, 40)]);
        d.unmark(10, 12);
        d.unmark(38, 50);
        assert_eq!(d.0.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), [(5, 10), (12, 38)]);
        assert!(d.covers(5) && !d.covers(10) && d.covers(37) && !d.covers(38));
        assert!(d.meets(9, 12) && !d.meets(10, 12) && !d.meets(38, 100) && d.meets(0, 6));
        let mut out = Vec::new();
        d.push_within(7, 20, &mut out);
        assert_eq!(out, [(7, 10), (12, 20)]);
        assert_eq!(
            (d.first_after(0), d.first_after(7), d.first_after(10), d.first_after(38)),
            (Some(5), Some(5), Some(12), None)
        );
        d.drop_below(10);
        assert_eq!(d.0.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>(), [(12, 38)]);
    }
}
