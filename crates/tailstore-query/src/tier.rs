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
}

/// Sealed history of one series in memory: every level is kept exact by
/// merging each sealed second (and each late delta) into the piece of every
/// level that contains it.
#[derive(Debug)]
pub struct MemTier {
    levels: Vec<(LevelSpec, BTreeMap<u64, Interval>)>,
    newest_s: u64,
}

impl MemTier {
    /// A tier with the given levels, finest first.
    pub fn new(levels: &[LevelSpec]) -> MemTier {
        MemTier { levels: levels.iter().map(|l| (*l, BTreeMap::new())).collect(), newest_s: 0 }
    }

    /// Merges a sealed one-second interval or late delta into every level.
    ///
    /// Pieces already past a level's retention are not recreated.
    pub fn insert(&mut self, iv: &Interval) {
        let newest = self.newest_s;
        for (spec, map) in &mut self.levels {
            let span = u64::from(spec.span_s);
            let start = iv.start_s - iv.start_s % span;
            if start < spec.retained_from(newest) {
                continue;
            }
            match map.get_mut(&start) {
                Some(piece) => piece.merge(iv),
                None => {
                    let mut piece = iv.clone();
                    piece.start_s = start;
                    piece.span_s = spec.span_s;
                    map.insert(start, piece);
                }
            }
        }
    }

    /// Moves the data clock to `newest_s` and drops pieces past retention.
    pub fn advance(&mut self, newest_s: u64) {
        if newest_s <= self.newest_s {
            return;
        }
        self.newest_s = newest_s;
        for (spec, map) in &mut self.levels {
            let from = spec.retained_from(newest_s);
            *map = map.split_off(&from);
        }
    }

    /// Coverage of every level, finest first.
    pub fn coverage(&self) -> Vec<LevelCoverage> {
        self.levels
            .iter()
            .map(|(spec, _)| LevelCoverage {
                span_s: spec.span_s,
                from_s: spec.retained_from(self.newest_s),
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
        let Some((_, map)) = self.levels.get(level) else { return 0 };
        let mut n = 0;
        for iv in map.range(start_s..end_s).map(|e| e.1) {
            acc.add_interval(iv);
            n += 1;
        }
        n
    }

    /// Number of pieces held per level, finest first.
    pub fn piece_counts(&self) -> Vec<usize> {
        self.levels.iter().map(|l| l.1.len()).collect()
    }

    /// First and last (exclusive) second with data at the finest level that has any.
    pub fn time_bounds(&self) -> Option<(u64, u64)> {
        self.levels.iter().find_map(|(spec, map)| {
            let first = map.keys().next()?;
            let (last, _) = map.iter().next_back()?;
            Some((*first, last + u64::from(spec.span_s)))
        })
    }

    /// Bytes held by the encoded pieces (approximate).
    pub fn memory_bytes(&self) -> usize {
        self.levels
            .iter()
            .flat_map(|l| l.1.values())
            .map(|iv| {
                std::mem::size_of::<Interval>()
                    + 48
                    + iv.hist.as_bytes().len()
                    + iv.status.len() * 16
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
        for s in 0..600 {
            t.advance(s);
            t.insert(&iv(s, 1));
        }
        assert_eq!(t.piece_counts(), vec![120, 10]);
        let mut acc = Accumulator::new(Layout::default());
        assert_eq!(t.add_range(1, 0, 600, &mut acc), 10);
        assert_eq!(acc.requests(), 600);
        assert_eq!(levels[0].retained_from(599), 480);
        assert_eq!(levels[1].retained_from(599), 0);
        assert_eq!(levels[1].retained_from(3700), 60);
    }
}
