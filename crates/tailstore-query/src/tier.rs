//! The in-memory tier of sealed history: one map per rollup level.

use std::collections::BTreeMap;

use tailstore_hist::{Accumulator, Interval};

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
#[derive(Debug)]
pub struct MemTier {
    levels: Vec<Level>,
    newest_s: u64,
}

#[derive(Debug)]
struct Level {
    spec: LevelSpec,
    pieces: BTreeMap<u64, Interval>,
    /// Pieces starting below this are built (complete but for late data).
    built_until: u64,
}

impl MemTier {
    /// A tier with the given levels, finest first. Each level's span must be
    /// a multiple of the previous one's, and each level's retention is raised
    /// to at least the next level's span, so that rollups can be built.
    pub fn new(levels: &[LevelSpec]) -> MemTier {
        let mut specs: Vec<LevelSpec> = levels.to_vec();
        for k in 0..specs.len().saturating_sub(1) {
            let next = u64::from(specs[k + 1].span_s);
            specs[k].retention_s = specs[k].retention_s.max(next);
        }
        MemTier {
            levels: specs
                .into_iter()
                .map(|spec| Level { spec, pieces: BTreeMap::new(), built_until: 0 })
                .collect(),
            newest_s: 0,
        }
    }

    /// Adds a sealed one-second interval or a late delta.
    ///
    /// Pieces already past a level's retention are not recreated. Returns the
    /// deltas applied to rollup pieces already built, as `(level, delta)`
    /// with the delta re-spanned to the piece (for persistence).
    pub fn insert(&mut self, iv: &Interval) -> Vec<(usize, Interval)> {
        let newest = self.newest_s;
        let mut deltas = Vec::new();
        for (k, level) in self.levels.iter_mut().enumerate() {
            let span = u64::from(level.spec.span_s);
            let start = iv.start_s - iv.start_s % span;
            if start < level.spec.retained_from(newest) {
                continue;
            }
            if k > 0 && start >= level.built_until {
                // Not built yet: the roll-up will include it from the finer level.
                continue;
            }
            let mut delta = iv.clone();
            delta.start_s = start;
            delta.span_s = level.spec.span_s;
            match level.pieces.get_mut(&start) {
                Some(piece) => piece.merge(&delta),
                None => {
                    level.pieces.insert(start, delta.clone());
                }
            }
            if k > 0 {
                deltas.push((k, delta));
            }
        }
        deltas
    }

    /// Loads a stored piece of `level` (one second, or a whole rollup piece
    /// read back from storage): merges it in, and marks the rollup span as
    /// built. Pieces past retention are dropped.
    pub fn load(&mut self, level: usize, iv: &Interval) {
        let newest = self.newest_s;
        let Some(l) = self.levels.get_mut(level) else { return };
        let span = u64::from(l.spec.span_s);
        let start = iv.start_s - iv.start_s % span;
        if start < l.spec.retained_from(newest) {
            return;
        }
        let mut piece = iv.clone();
        piece.start_s = start;
        piece.span_s = l.spec.span_s;
        match l.pieces.get_mut(&start) {
            Some(p) => p.merge(&piece),
            None => {
                l.pieces.insert(start, piece);
            }
        }
    }

    /// Rollup pieces at or after this second are rebuilt from the finer
    /// level; earlier ones are taken as loaded. Used when opening a store.
    pub fn set_built_until(&mut self, level: usize, until_s: u64) {
        if let Some(l) = self.levels.get_mut(level) {
            l.built_until = until_s;
            let keep: BTreeMap<u64, Interval> =
                l.pieces.range(..until_s).map(|(k, v)| (*k, v.clone())).collect();
            l.pieces = keep;
        }
    }

    /// The level specs (finest first), with retentions as adjusted by `new`.
    pub fn specs(&self) -> Vec<LevelSpec> {
        self.levels.iter().map(|l| l.spec).collect()
    }

    /// The piece of `level` starting at `start_s`, if any.
    pub fn piece(&self, level: usize, start_s: u64) -> Option<&Interval> {
        self.levels.get(level)?.pieces.get(&start_s)
    }

    /// Builds every rollup piece whose span lies wholly below `sealed_below`
    /// (every second below it is sealed), using `scratch` for the merge.
    /// Returns the pieces built, as `(level, piece)`.
    pub fn roll_up(
        &mut self,
        sealed_below: u64,
        scratch: &mut Accumulator,
    ) -> Vec<(usize, Interval)> {
        let mut built = Vec::new();
        for k in 1..self.levels.len() {
            let (finer, coarser) = self.levels.split_at_mut(k);
            let src = &finer[k - 1];
            let dst = &mut coarser[0];
            let span = u64::from(dst.spec.span_s);
            let limit = sealed_below - sealed_below % span;
            while dst.built_until < limit {
                // Jump over empty stretches to the next finer piece.
                let Some((&next, _)) = src.pieces.range(dst.built_until..).next() else {
                    dst.built_until = limit;
                    break;
                };
                let start = next - next % span;
                if start >= limit {
                    dst.built_until = limit;
                    break;
                }
                scratch.clear();
                let mut any = false;
                for iv in src.pieces.range(start..start + span).map(|e| e.1) {
                    scratch.add_interval(iv);
                    any = true;
                }
                if any && start >= dst.spec.retained_from(self.newest_s) {
                    let piece = scratch.to_interval(start, dst.spec.span_s);
                    built.push((k, piece.clone()));
                    dst.pieces.insert(start, piece);
                }
                dst.built_until = start + span;
            }
        }
        built
    }

    /// Moves the data clock to `newest_s` and drops pieces past retention.
    pub fn advance(&mut self, newest_s: u64) {
        if newest_s <= self.newest_s {
            return;
        }
        self.newest_s = newest_s;
        for level in &mut self.levels {
            let from = level.spec.retained_from(newest_s);
            level.pieces = level.pieces.split_off(&from);
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

    /// Adds the pieces of level `level` starting in `[start_s, end_s)`.
    /// Returns how many pieces were merged.
    pub fn add_range(
        &self,
        level: usize,
        start_s: u64,
        end_s: u64,
        acc: &mut Accumulator,
    ) -> usize {
        let Some(level) = self.levels.get(level) else { return 0 };
        let mut n = 0;
        for iv in level.pieces.range(start_s..end_s).map(|e| e.1) {
            acc.add_interval(iv);
            n += 1;
        }
        n
    }

    /// Copies of the pieces of level `level` starting in `[start_s, end_s)`,
    /// in time order (empty for an unknown level).
    pub fn pieces(&self, level: usize, start_s: u64, end_s: u64) -> Vec<Interval> {
        let Some(level) = self.levels.get(level) else { return Vec::new() };
        if start_s >= end_s {
            return Vec::new();
        }
        level.pieces.range(start_s..end_s).map(|e| e.1.clone()).collect()
    }

    /// Number of pieces held per level, finest first.
    pub fn piece_counts(&self) -> Vec<usize> {
        self.levels.iter().map(|l| l.pieces.len()).collect()
    }

    /// First second and end (exclusive) of the sealed data over all levels
    /// (coarse levels may reach further back than the finest).
    pub fn time_bounds(&self) -> Option<(u64, u64)> {
        let first = self.levels.iter().filter_map(|l| l.pieces.keys().next().copied()).min()?;
        let end = self
            .levels
            .iter()
            .filter_map(|l| l.pieces.iter().next_back().map(|(k, _)| k + u64::from(l.spec.span_s)))
            .max()?;
        Some((first, end))
    }

    /// Bytes held by the encoded pieces (approximate).
    pub fn memory_bytes(&self) -> usize {
        self.levels
            .iter()
            .flat_map(|l| l.pieces.values())
            .map(|iv| {
                std::mem::size_of::<Interval>() + 48 + iv.hist.heap_bytes() + iv.status.len() * 16
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
