//! The planner: cover a window with the fewest pieces of the coarsest levels.

use crate::tier::LevelCoverage;

/// One step of a plan: merge the pieces of `level` that start in `[start_s, end_s)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Index into the source's levels (0 = finest).
    pub level: usize,
    /// First second (aligned to the level's span).
    pub start_s: u64,
    /// End second, exclusive (aligned to the level's span).
    pub end_s: u64,
}

/// A plan for a window, and what it could not cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Segments in time order.
    pub segments: Vec<Segment>,
    /// Sub-ranges no retained level covers (older than every retention).
    pub uncovered: Vec<(u64, u64)>,
    /// Sub-ranges, in time order, where a level's pieces are damaged and no
    /// finer retained level is intact: no intact piece covers them. Always
    /// empty from [`plan`], which knows of no damage (a
    /// [`MemTier`](crate::MemTier) plans around its damaged pieces).
    pub damaged: Vec<(u64, u64)>,
}

/// What a source knows to be damaged: `f(level, from, to, out)` pushes onto
/// `out` the sub-ranges of `[from, to)`, ascending, where the pieces of
/// `level` are damaged (aligned to the level's span).
pub(crate) type DamageFn<'a> = &'a dyn Fn(usize, u64, u64, &mut Vec<(u64, u64)>);

impl Plan {
    /// Number of pieces the plan merges at most (one per level span in each segment).
    #[must_use]
    pub fn max_pieces(&self, levels: &[LevelCoverage]) -> u64 {
        self.segments
            .iter()
            .map(|s| (s.end_s - s.start_s) / u64::from(levels[s.level].span_s))
            .sum()
    }
}

/// Plans `[start_s, end_s)` over `levels` (finest first, each span a multiple
/// of the previous): the coarsest level takes every whole piece inside the
/// window that it still retains, and the edges recurse to finer levels.
#[must_use]
pub fn plan(levels: &[LevelCoverage], start_s: u64, end_s: u64) -> Plan {
    plan_around(levels, &|_, _, _, _| {}, start_s, end_s)
}

/// [`plan`], with the damaged pieces `damaged` reports left out: the span
/// of a damaged piece is planned over the finer levels (exact where they
/// are retained and intact), and what no intact level covers is in
/// [`Plan::damaged`].
pub(crate) fn plan_around(
    levels: &[LevelCoverage],
    damaged: DamageFn<'_>,
    start_s: u64,
    end_s: u64,
) -> Plan {
    let mut p = Plan::default();
    if start_s < end_s && !levels.is_empty() {
        Planner { levels, damaged }.plan_into(levels.len() - 1, start_s, end_s, false, &mut p);
    }
    p
}

/// The levels and their damage, while a plan is made.
pub(crate) struct Planner<'a> {
    pub(crate) levels: &'a [LevelCoverage],
    pub(crate) damaged: DamageFn<'a>,
}

impl Planner<'_> {
    /// Plans `[start, end)` into `p` with levels `0 ..= li`. Inside a
    /// damaged piece's span (`in_damage`), what the finest level does not
    /// retain is damaged, not uncovered (it is not at the window's old edge).
    pub(crate) fn plan_into(&self, li: usize, start: u64, end: u64, in_damage: bool, p: &mut Plan) {
        if start >= end {
            return;
        }
        let lv = self.levels[li];
        let span = u64::from(lv.span_s);
        if li == 0 {
            let from = start.max(lv.from_s);
            if start < from.min(end) {
                let gap = (start, from.min(end));
                if in_damage {
                    p.damaged.push(gap);
                } else {
                    p.uncovered.push(gap);
                }
            }
            // The finest level must start at a multiple of its span too.
            if from < end {
                let mut bad = Vec::new();
                (self.damaged)(0, from, end, &mut bad);
                let mut at = from;
                for (a, b) in bad {
                    if at < a {
                        p.segments.push(Segment { level: 0, start_s: at, end_s: a });
                    }
                    p.damaged.push((a, b));
                    at = b;
                }
                if at < end {
                    p.segments.push(Segment { level: 0, start_s: at, end_s: end });
                }
            }
            return;
        }
        // The whole pieces of this level inside the window that it has.
        let whole_start = start.div_ceil(span).saturating_mul(span).max(lv.from_s);
        let whole_end = (end - end % span).min(lv.until_s - lv.until_s % span);
        if whole_start < whole_end {
            self.plan_into(li - 1, start, whole_start, in_damage, p);
            let mut bad = Vec::new();
            (self.damaged)(li, whole_start, whole_end, &mut bad);
            let mut at = whole_start;
            for (a, b) in bad {
                if at < a {
                    p.segments.push(Segment { level: li, start_s: at, end_s: a });
                }
                // Damaged pieces of this level: their spans from finer ones.
                self.plan_into(li - 1, a, b, true, p);
                at = b;
            }
            if at < whole_end {
                p.segments.push(Segment { level: li, start_s: at, end_s: whole_end });
            }
            self.plan_into(li - 1, whole_end, end, in_damage, p);
        } else {
            self.plan_into(li - 1, start, end, in_damage, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(span_s: u32, from_s: u64) -> LevelCoverage {
        LevelCoverage { span_s, from_s, until_s: u64::MAX }
    }

    #[test]
    fn unbuilt_rollups_fall_back_to_finer_levels() {
        let mut levels = [lv(1, 0), lv(60, 0), lv(3600, 0)];
        levels[1].until_s = 7200; // minutes built up to 7200
        levels[2].until_s = 3600; // hours built up to 3600
        let p = plan(&levels, 0, 7300);
        assert_eq!(
            p.segments,
            vec![
                Segment { level: 2, start_s: 0, end_s: 3600 },
                Segment { level: 1, start_s: 3600, end_s: 7200 },
                Segment { level: 0, start_s: 7200, end_s: 7300 },
            ]
        );
    }

    #[test]
    fn hour_window_unaligned() {
        let levels = [lv(1, 0), lv(60, 0), lv(3600, 0)];
        let p = plan(&levels, 7230, 7230 + 3600);
        assert!(p.uncovered.is_empty());
        // 30 s + 59 min + 30 s.
        assert_eq!(
            p.segments,
            vec![
                Segment { level: 0, start_s: 7230, end_s: 7260 },
                Segment { level: 1, start_s: 7260, end_s: 10800 },
                Segment { level: 0, start_s: 10800, end_s: 10830 },
            ]
        );
        assert_eq!(p.max_pieces(&levels), 30 + 59 + 30);
    }

    #[test]
    fn uses_hours_and_covers_exactly() {
        let levels = [lv(1, 0), lv(60, 0), lv(3600, 0)];
        for (a, b) in [(0, 1), (59, 61), (3599, 7201), (100, 90_000), (86_399, 691_201)] {
            let p = plan(&levels, a, b);
            let mut t = a;
            for s in &p.segments {
                assert_eq!(s.start_s, t);
                let span = u64::from(levels[s.level].span_s);
                assert_eq!(s.start_s % span, 0);
                assert_eq!(s.end_s % span, 0, "{s:?}");
                t = s.end_s;
            }
            assert_eq!(t, b);
        }
        assert!(plan(&levels, 0, 7 * 86_400).max_pieces(&levels) == 168);
    }

    #[test]
    fn retention_edges() {
        // Seconds kept from 10_000, minutes from 0.
        let levels = [lv(1, 10_000), lv(60, 0)];
        let p = plan(&levels, 9_990, 10_030);
        assert_eq!(p.uncovered, vec![(9_990, 10_000)]);
        let p = plan(&levels, 0, 20_000);
        assert!(p.uncovered.is_empty());
        // Nothing retained before 10 000 at the finest level, minutes from 9 960.
        let levels = [lv(1, 10_000), lv(60, 9_960)];
        let p = plan(&levels, 9_000, 10_100);
        assert_eq!(p.uncovered, vec![(9_000, 9_960)]);
    }

    #[test]
    fn empty_window() {
        let levels = [lv(1, 0)];
        assert_eq!(plan(&levels, 5, 5), Plan::default());
    }
}
