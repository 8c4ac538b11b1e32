//! Sealed gauge history ([`GaugeTier`]: 1 s pieces rolled up to 1 min and
//! 1 h, the same aggregates at every level) and the answer of a gauge query
//! ([`GaugeStats`]: aggregates, growth rate, restarts).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore_hist::GaugeAgg;

use crate::plan::plan_around;
use crate::tier::{LevelCoverage, LevelSpec, Spans};

/// Sealed history of one gauge, exact at every level: each sealed second
/// goes into the finest level; a rollup piece is built once its whole span
/// is sealed; a late delta merges into its second and every rollup piece
/// already built that contains it.
///
/// For a durable store, the `_logged` methods say what to persist, and
/// [`GaugeTier::load`] and [`GaugeTier::finish_load`] rebuild the tier from
/// the stored pieces. Where the stored pieces may be incomplete (damage
/// found at open, [`GaugeTier::mark_damaged`]), queries answer from the
/// intact levels and report the seconds none covers.
#[derive(Debug)]
pub struct GaugeTier {
    levels: Vec<GaugeLevel>,
    newest_s: u64,
}

#[derive(Debug)]
struct GaugeLevel {
    spec: LevelSpec,
    pieces: BTreeMap<u64, GaugeAgg>,
    /// Pieces starting below this are built (the finest level: sealed).
    built_until: u64,
    /// Spans whose pieces may be incomplete (damage found at open).
    damaged: Spans,
}

/// A piece to persist: `(level, start, aggregates)`.
pub type GaugeLogged = (usize, u64, GaugeAgg);

impl GaugeTier {
    /// An empty tier with `levels` (finest first, each span a multiple of
    /// the previous).
    #[must_use]
    pub fn new(levels: &[LevelSpec]) -> GaugeTier {
        GaugeTier {
            levels: levels
                .iter()
                .map(|&spec| GaugeLevel {
                    spec,
                    pieces: BTreeMap::new(),
                    built_until: 0,
                    damaged: Spans::default(),
                })
                .collect(),
            newest_s: 0,
        }
    }

    /// Adds sealed second `second` (`late`: a delta of a second sealed
    /// before, merged into every rollup piece already built that holds it).
    /// A second older than the finest level's retention is dropped.
    pub fn insert(&mut self, second: u64, agg: &GaugeAgg) {
        self.insert_logged(second, agg, None);
    }

    /// [`GaugeTier::insert`], pushing onto `log` what to persist: the
    /// second itself (level 0) and a delta of every rollup piece already
    /// built that it merged into.
    pub fn insert_logged(
        &mut self,
        second: u64,
        agg: &GaugeAgg,
        mut log: Option<&mut Vec<GaugeLogged>>,
    ) {
        for (k, level) in self.levels.iter_mut().enumerate() {
            let span = u64::from(level.spec.span_s);
            let start = second - second % span;
            if start < level.spec.retained_from(self.newest_s) {
                continue;
            }
            if k == 0 || start < level.built_until {
                level.pieces.entry(start).or_default().merge(agg);
                if let Some(log) = log.as_deref_mut() {
                    log.push((k, start, *agg));
                }
            }
        }
    }

    /// Builds every rollup piece whose span lies below `sealed_below`.
    pub fn roll_up(&mut self, sealed_below: u64) {
        self.roll_up_logged(sealed_below, None);
    }

    /// [`GaugeTier::roll_up`], pushing every piece built onto `log`. A
    /// piece built over damaged finer pieces is damaged too.
    pub fn roll_up_logged(&mut self, sealed_below: u64, mut log: Option<&mut Vec<GaugeLogged>>) {
        if let Some(finest) = self.levels.first_mut() {
            finest.built_until = finest.built_until.max(sealed_below);
        }
        for k in 1..self.levels.len() {
            let (finer, coarser) = self.levels.split_at_mut(k);
            let (Some(finer), Some(level)) = (finer.last(), coarser.first_mut()) else { continue };
            let span = u64::from(level.spec.span_s);
            let until = finer.built_until - finer.built_until % span;
            if until <= level.built_until {
                continue;
            }
            let from = level.built_until;
            let mut built: Vec<u64> = Vec::new();
            for (&s, agg) in finer.pieces.range(from..until) {
                let start = s - s % span;
                level.pieces.entry(start).or_default().merge(agg);
                if built.last() != Some(&start) {
                    built.push(start);
                }
            }
            for &start in &built {
                if finer.damaged.meets(start, start + span) {
                    level.damaged.mark(start, start + span);
                }
                if let (Some(log), Some(p)) = (log.as_deref_mut(), level.pieces.get(&start)) {
                    log.push((k, start, *p));
                }
            }
            level.built_until = until;
        }
    }

    /// Loads one stored record of `level` (in the order the files hold
    /// them): a second adds to what its second holds; a rollup piece
    /// replaces what its start holds unless it is a `late` delta, which
    /// adds. Call [`GaugeTier::finish_load`] after the last.
    pub fn load(&mut self, level: usize, start_s: u64, agg: &GaugeAgg, late: bool) {
        let Some(l) = self.levels.get_mut(level) else { return };
        if level == 0 || late {
            l.pieces.entry(start_s).or_default().merge(agg);
        } else {
            l.pieces.insert(start_s, *agg);
        }
    }

    /// Marks `[start_s, end_s)` of `level` damaged: its pieces there may
    /// be incomplete, so queries cover the span from other levels or
    /// report it.
    pub fn mark_damaged(&mut self, level: usize, start_s: u64, end_s: u64) {
        if let Some(l) = self.levels.get_mut(level) {
            l.damaged.mark(start_s, end_s);
        }
    }

    /// Ends a load, with `newest_s` the newest second stored (every second
    /// up to it counts as sealed) and `retained` data time for retention:
    /// every rollup span that the finer level retains whole and intact is
    /// rebuilt from it (so a rollup a crash left unwritten, or whose late
    /// deltas it cut short, is exact again), and pushed onto `log` where it
    /// differs from the stored one. A span with damaged finer pieces keeps
    /// its stored piece, or is damaged too when none is stored.
    pub fn finish_load(&mut self, newest_s: u64, retained: u64, log: &mut Vec<GaugeLogged>) {
        self.newest_s = self.newest_s.max(retained);
        if let Some(finest) = self.levels.first_mut() {
            finest.built_until = finest.built_until.max(newest_s + 1);
        }
        for k in 1..self.levels.len() {
            let (finer, coarser) = self.levels.split_at_mut(k);
            let (Some(finer), Some(level)) = (finer.last(), coarser.first_mut()) else { continue };
            let span = u64::from(level.spec.span_s);
            let until = finer.built_until - finer.built_until % span;
            level.built_until = level.built_until.max(until);
            let from = finer.spec.retained_from(self.newest_s).div_ceil(span) * span;
            let mut starts: Vec<u64> =
                finer.pieces.range(from..until).map(|(&s, _)| s - s % span).collect();
            starts.extend(level.pieces.range(from..until).map(|(&s, _)| s));
            starts.sort_unstable();
            starts.dedup();
            for start in starts {
                if finer.damaged.meets(start, start + span) {
                    if !level.pieces.contains_key(&start) {
                        level.damaged.mark(start, start + span);
                    }
                    continue;
                }
                let mut agg = GaugeAgg::EMPTY;
                for (_, a) in finer.pieces.range(start..start + span) {
                    agg.merge(a);
                }
                // Intact finer data is the truth: a stored piece it does
                // not support goes, a different one is replaced.
                level.damaged.unmark(start, start + span);
                if agg.is_empty() {
                    level.pieces.remove(&start);
                } else if level.pieces.get(&start) != Some(&agg) {
                    level.pieces.insert(start, agg);
                    log.push((k, start, agg));
                }
            }
        }
    }

    /// Drops the pieces past each level's retention, with `newest_s` as
    /// data time.
    pub fn advance(&mut self, newest_s: u64) {
        self.newest_s = self.newest_s.max(newest_s);
        for k in 0..self.levels.len() {
            // A piece not yet rolled up stays until it is (a backlog sealed
            // in one pass is rolled up before it expires).
            let rolled = self.levels.get(k + 1).map_or(u64::MAX, |c| c.built_until);
            let level = &mut self.levels[k];
            let from = level.spec.retained_from(self.newest_s).min(rolled);
            if level.pieces.first_key_value().is_some_and(|(&s, _)| s < from) {
                level.pieces = level.pieces.split_off(&from);
            }
            level.damaged.drop_below(from);
        }
    }

    /// What each level covers, for [`crate::plan`].
    #[must_use]
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

    /// Merges the fewest intact pieces that cover `[start_s, end_s)` into
    /// `acc` (in time order) and returns the first covered second (past
    /// what no retained level covers at the window's start), the pieces
    /// merged, and the seconds of the window that no intact piece covers
    /// (damage found at open, see [`GaugeTier::mark_damaged`]).
    pub fn add_window(&self, start_s: u64, end_s: u64, acc: &mut GaugeAgg) -> (u64, usize, u64) {
        let levels = &self.levels;
        let p = plan_around(
            &self.coverage(),
            &|li, a, b, out| levels[li].damaged.push_within(a, b, out),
            start_s,
            end_s,
        );
        let mut covered_from = start_s;
        for &(a, b) in &p.uncovered {
            if a <= covered_from {
                covered_from = covered_from.max(b);
            }
        }
        let mut pieces = 0;
        for seg in &p.segments {
            if let Some(level) = self.levels.get(seg.level) {
                for agg in level.pieces.range(seg.start_s..seg.end_s).map(|(_, a)| a) {
                    acc.merge(agg);
                    pieces += 1;
                }
            }
        }
        let damaged = p.damaged.iter().map(|(a, b)| b - a).sum();
        (covered_from.min(end_s), pieces, damaged)
    }

    /// The first second and end (exclusive) of the sealed data, if any.
    #[must_use]
    pub fn time_bounds(&self) -> Option<(u64, u64)> {
        let mut out: Option<(u64, u64)> = None;
        for l in &self.levels {
            let span = u64::from(l.spec.span_s);
            if let (Some((&a, _)), Some((&b, last))) =
                (l.pieces.first_key_value(), l.pieces.last_key_value())
            {
                let end = if span == 1 { b + 1 } else { last.last_s + 1 };
                out = Some(out.map_or((a, end), |(x, y)| (x.min(a), y.max(end))));
            }
        }
        out
    }

    /// Approximate bytes held.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.pieces.len() * (std::mem::size_of::<(u64, GaugeAgg)>() + 16))
            .sum()
    }
}

/// Points of a growth estimate at most (the Theil–Sen slope costs their
/// square): a longer window averages several minutes per point.
pub const MAX_GROWTH_POINTS: usize = 1_000;

/// A drop of the mean between two consecutive points by more than this
/// fraction is a restart.
pub const RESTART_DROP: f64 = 0.30;

/// The answer of a gauge query over `[start, end)`: exact aggregates, and
/// the means of consecutive points (per second in a window under ten
/// minutes, else per minute, or per several minutes past
/// [`MAX_GROWTH_POINTS`]) for growth and restarts.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugeStats {
    agg: GaugeAgg,
    start_s: u64,
    end_s: u64,
    /// `(point start, mean)` of the points holding samples, ascending.
    points: Vec<(u64, f64)>,
    point_s: u64,
    warmup_s: u64,
    restarts: Vec<u64>,
    damaged_s: u64,
}

impl GaugeStats {
    /// The answer over `[start_s, end_s)` (the covered start) from the
    /// window's aggregate and its points of `point_s` seconds (see the
    /// type); `warmup_s` after a restart is left out of growth.
    #[must_use]
    #[expect(clippy::similar_names, reason = "points and point_s are the points and their length")]
    pub fn new(
        agg: GaugeAgg,
        start_s: u64,
        end_s: u64,
        points: Vec<(u64, f64)>,
        point_s: u64,
        warmup_s: u64,
    ) -> GaugeStats {
        let restarts = points
            .windows(2)
            .filter(|w| w[0].1 > 0.0 && w[1].1 < w[0].1 * (1.0 - RESTART_DROP))
            .map(|w| w[1].0)
            .collect();
        GaugeStats { agg, start_s, end_s, points, point_s, warmup_s, restarts, damaged_s: 0 }
    }

    /// With `damaged_s` seconds of the window that no intact stored piece
    /// covers (see [`GaugeStats::damaged_s`]).
    #[must_use]
    pub fn with_damaged_s(mut self, damaged_s: u64) -> GaugeStats {
        self.damaged_s = damaged_s;
        self
    }

    /// Seconds of the window that no intact stored piece covers (damage
    /// that a store found at open): the aggregates may miss samples there.
    /// 0 when the answer is whole.
    #[must_use]
    pub fn damaged_s(&self) -> u64 {
        self.damaged_s
    }

    /// The point length for a window of `len_s` seconds (1 under ten
    /// minutes, else 60, or whole minutes keeping at most
    /// [`MAX_GROWTH_POINTS`] points).
    #[must_use]
    pub fn point_s_for(len_s: u64) -> u64 {
        if len_s < 600 {
            1
        } else {
            60 * len_s.div_ceil(60 * MAX_GROWTH_POINTS as u64).max(1)
        }
    }

    /// Samples in the window.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.agg.count
    }

    /// Smallest sample; `None` when empty.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        (self.agg.count > 0).then_some(self.agg.min)
    }

    /// Largest sample; `None` when empty.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        (self.agg.count > 0).then_some(self.agg.max)
    }

    /// Mean of the samples; `None` when empty.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        self.agg.mean()
    }

    /// Sum of the samples (0 when empty).
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.agg.sum
    }

    /// The last sample (of the latest second; within it, the last one a
    /// thread set); `None` when empty.
    #[must_use]
    pub fn last(&self) -> Option<f64> {
        (self.agg.count > 0).then_some(self.agg.last)
    }

    /// The window's aggregate.
    #[must_use]
    pub fn aggregate(&self) -> &GaugeAgg {
        &self.agg
    }

    /// First second of the window (unix seconds; moved past what retention
    /// dropped).
    #[must_use]
    pub fn start_s(&self) -> u64 {
        self.start_s
    }

    /// End of the window, exclusive (unix seconds).
    #[must_use]
    pub fn end_s(&self) -> u64 {
        self.end_s
    }

    /// The points growth and restarts are found on: `(start second, mean)`
    /// of each point holding samples, ascending.
    #[must_use]
    pub fn points(&self) -> &[(u64, f64)] {
        &self.points
    }

    /// Seconds per point (1, 60, or a multiple of 60).
    #[must_use]
    pub fn point_s(&self) -> u64 {
        self.point_s
    }

    /// Where the mean dropped by more than [`RESTART_DROP`] from one point
    /// to the next (unix seconds of the point after the drop), ascending.
    #[must_use]
    pub fn restarts_s(&self) -> &[u64] {
        &self.restarts
    }

    /// [`GaugeStats::restarts_s`] as instants.
    #[must_use]
    pub fn restarts(&self) -> Vec<SystemTime> {
        self.restarts.iter().map(|&s| UNIX_EPOCH + Duration::from_secs(s)).collect()
    }

    /// Growth in percent per hour: the Theil–Sen slope (median of the
    /// pairwise slopes) of the points' means over time, divided by the
    /// median of those means, × 100 × 3600.
    ///
    /// Only the segment after the last restart counts, from `warmup` after
    /// it (model initialisation); the whole window when there is none.
    /// `None` with fewer than two points there, or a median of 0.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "second differences are far below 2^53")]
    pub fn growth_pct_per_hour(&self) -> Option<f64> {
        let from = self.restarts.last().map_or(0, |&r| r + self.warmup_s);
        let seg: Vec<(u64, f64)> = self.points.iter().copied().filter(|p| p.0 >= from).collect();
        if seg.len() < 2 {
            return None;
        }
        let mut slopes = Vec::with_capacity(seg.len() * (seg.len() - 1) / 2);
        for (i, a) in seg.iter().enumerate() {
            for b in &seg[i + 1..] {
                slopes.push((b.1 - a.1) / (b.0 - a.0) as f64);
            }
        }
        let slope = median(&mut slopes)?;
        let mut values: Vec<f64> = seg.iter().map(|p| p.1).collect();
        let m = median(&mut values)?;
        (m != 0.0).then(|| slope / m * 100.0 * 3600.0)
    }
}

/// The median (mean of the middle two for an even count); `None` when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(f64::midpoint(lo, hi))
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "integer values and exact aggregates: equality is the oracle")]
mod tests {
    use super::*;

    fn levels() -> Vec<LevelSpec> {
        vec![
            LevelSpec { span_s: 1, retention_s: 3600 },
            LevelSpec { span_s: 60, retention_s: 48 * 3600 },
            LevelSpec { span_s: 3600, retention_s: 35 * 86400 },
        ]
    }

    #[test]
    fn rollups_are_exact_and_planned_coarsest_first() {
        let mut t = GaugeTier::new(&levels());
        let base = 1_000 * 3600;
        let mut all = GaugeAgg::EMPTY;
        for s in base..base + 2 * 3600 {
            #[expect(clippy::cast_precision_loss, reason = "small test values")]
            let a = GaugeAgg::one(s, (s % 97) as f64);
            t.insert(s, &a);
            all.merge(&a);
        }
        t.advance(base + 2 * 3600 - 1);
        t.roll_up(base + 2 * 3600);
        let mut acc = GaugeAgg::EMPTY;
        let (from, pieces, _) = t.add_window(base + 3600, base + 2 * 3600, &mut acc);
        assert_eq!((from, pieces), (base + 3600, 1));
        let mut acc = GaugeAgg::EMPTY;
        t.add_window(base, base + 2 * 3600, &mut acc);
        assert_eq!(acc, all);
        // A late delta reaches every built level.
        t.insert(base + 3700, &GaugeAgg::one(base + 3700, -5.0));
        let mut acc = GaugeAgg::EMPTY;
        t.add_window(base + 3600, base + 2 * 3600, &mut acc);
        assert_eq!(acc.min, -5.0);
        let mut acc = GaugeAgg::EMPTY;
        t.add_window(base + 3660, base + 3720, &mut acc);
        assert_eq!((acc.count, acc.min), (61, -5.0));
    }

    #[test]
    fn median_and_theil_sen() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        // 100 + t/36 per second: +1 %/h of 100 exactly at the median 100.
        let pts: Vec<(u64, f64)> = (0..61u32)
            .map(|i| (u64::from(i) * 60, 100.0 + (f64::from(i) - 30.0) * 60.0 / 3600.0))
            .collect();
        let st = GaugeStats::new(GaugeAgg::EMPTY, 0, 3660, pts, 60, 300);
        let g = st.growth_pct_per_hour().unwrap();
        assert!((g - 1.0).abs() < 1e-9, "{g}");
        assert!(st.restarts_s().is_empty());
    }

    /// splitmix64, for the randomized model test below.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % n
        }
    }

    /// The tier against a naive model (every sample, by second and arrival)
    /// over random seals, late deltas, retention and windows: short
    /// retentions (10 min of seconds, 2 h of minutes) so that windows cross
    /// every level and its edges.
    #[test]
    fn tier_matches_a_naive_model_across_seals_late_deltas_and_retention() {
        for seed in 0..12 {
            let specs = [
                LevelSpec { span_s: 1, retention_s: 600 },
                LevelSpec { span_s: 60, retention_s: 7200 },
                LevelSpec { span_s: 3600, retention_s: 100 * 86400 },
            ];
            let mut t = GaugeTier::new(&specs);
            let mut rng = Rng(seed);
            let base = 500 * 3600 + rng.below(3600);
            let mut raw: Vec<(u64, f64, usize)> = Vec::new();
            let mut sealed = base;
            let mut order = 0;
            while sealed < base + 4 * 3600 {
                let next = sealed + 1 + rng.below(120);
                t.advance(next.saturating_sub(1));
                for s in sealed..next {
                    let mut agg = GaugeAgg::EMPTY;
                    for _ in 0..rng.below(3) {
                        #[expect(clippy::cast_precision_loss, reason = "small values")]
                        let v = rng.below(1000) as f64 - 500.0;
                        agg.merge(&GaugeAgg::one(s, v));
                        raw.push((s, v, order));
                        order += 1;
                    }
                    if !agg.is_empty() {
                        t.insert(s, &agg);
                    }
                }
                // Late deltas within the finest level's retention.
                for _ in 0..rng.below(3) {
                    let back = 1 + rng.below(500.min(next - base));
                    let s = next - back;
                    #[expect(clippy::cast_precision_loss, reason = "small values")]
                    let v = rng.below(1000) as f64;
                    t.insert(s, &GaugeAgg::one(s, v));
                    raw.push((s, v, order));
                    order += 1;
                }
                sealed = next;
                t.roll_up(sealed);
            }
            let fine_from = specs[0].retained_from(sealed - 1);
            for _ in 0..200 {
                let a = base + rng.below(sealed - base);
                let mut b = a + rng.below(sealed + 1 - a);
                // An end whose minute starts before the finest level's
                // retention is a whole minute, whose hour starts before the
                // minutes' retention a whole hour (the window's old edge is
                // covered from the next piece; its end is not moved).
                if b - b % 60 < fine_from {
                    b -= b % 60;
                }
                if b - b % 3600 < specs[1].retained_from(sealed - 1) {
                    b -= b % 3600;
                }
                let mut acc = GaugeAgg::EMPTY;
                let (from, _, _) = t.add_window(a, b.max(a), &mut acc);
                let mut exp = GaugeAgg::EMPTY;
                let mut w: Vec<&(u64, f64, usize)> =
                    raw.iter().filter(|r| r.0 >= from && r.0 < b).collect();
                w.sort_by_key(|r| (r.0, r.2));
                for r in w {
                    exp.merge(&GaugeAgg::one(r.0, r.1));
                }
                assert_eq!(
                    (acc.count, acc.min, acc.max, acc.sum, acc.last),
                    (exp.count, exp.min, exp.max, exp.sum, exp.last),
                    "seed {seed}: [{a}, {b}) covered from {from}"
                );
                // A start the finest level retains is covered; an older one
                // moves to the first second a retained level covers, at most
                // one piece of the coarsest level needed (an hour) on.
                assert!(from >= a && from <= b.max(a), "seed {seed}: [{a}, {b}) from {from}");
                if a >= fine_from {
                    assert_eq!(from, a, "seed {seed}: [{a}, {b})");
                } else if a >= specs[1].retained_from(sealed - 1) {
                    assert!(from <= a.next_multiple_of(60), "seed {seed}: [{a}, {b}) from {from}");
                }
            }
        }
    }
}
