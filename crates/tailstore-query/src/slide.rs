//! Sliding range queries: one answer per point of a range, each piece of
//! the chosen rollup level added when it enters the window and taken away
//! when it leaves.

use std::collections::VecDeque;
use std::ops::DerefMut;

use tailstore_hist::{Accumulator, ErrorSet, Layout};

use crate::stats::WindowStats;
use crate::tier::{LevelCoverage, MemTier};

/// A range query over some series' tiers: every point `t` answers the
/// window `[t - window, t)`, exactly as a planned single query would.
#[derive(Clone, Debug)]
pub struct Slide<'a> {
    /// The window's length in seconds.
    pub window: u64,
    /// The statuses counted as errors in the answers.
    pub errors: &'a ErrorSet,
    /// The histogram layout of every tier.
    pub layout: Layout,
}

impl Slide<'_> {
    /// Answers the leading `points` (ascending, evenly spaced) whose windows
    /// one rollup level covers completely in every tier, through `f`, and
    /// returns how many; the caller plans the rest one by one.
    ///
    /// The level is the coarsest whose span divides the step, the window and
    /// the points and that every tier retains back to the first window.
    /// Each piece is added once when it enters the window and subtracted
    /// once when it leaves, and the exact extremes are kept in monotonic
    /// queues, so the cost is one visit per piece, not one merge of the
    /// whole window per point. `read_unsealed(from, to, acc)` adds what the
    /// series hold that is not in their tiers yet (open seconds, pending
    /// late deltas) for `[from, to)`, as a planned query adds it. Slides
    /// only when windows overlap or touch (step <= window: one running
    /// accumulator instead of a fresh one per point); returns 0 otherwise.
    ///
    /// Damage stops the slide: it ends before the first window that meets
    /// a piece of the level known to be damaged, or at the point whose
    /// entering piece turns out damaged when decoded (that point is not
    /// answered). The caller plans the rest, which covers damaged pieces
    /// from finer levels or reports them ([`MemTier::add_window`]); every
    /// slid answer has [`WindowStats::damaged_s`] 0.
    pub fn run<T: DerefMut<Target = MemTier>>(
        &self,
        tiers: &mut [T],
        points: &[u64],
        read_unsealed: &mut dyn FnMut(u64, u64, &mut Accumulator),
        f: &mut dyn FnMut(u64, &WindowStats),
    ) -> usize {
        let window = self.window;
        let Some((level, slid)) = self.choose(tiers, points) else { return 0 };
        // `choose` found a first point.
        let t0 = points[0];
        let mut acc = Accumulator::new(self.layout);
        let mut unsealed = Accumulator::new(self.layout);
        // Monotonic queues of (slot start, extreme) for the window's min and max.
        let mut mins: VecDeque<(u64, u64)> = VecDeque::new();
        let mut maxs: VecDeque<(u64, u64)> = VecDeque::new();
        let mut added_to = t0 - window;
        let mut removed_to = t0 - window;
        let mut entering: Vec<(u64, u64, u64)> = Vec::new();
        let mut pieces = 0usize;
        let mut fresh = Vec::new();
        for (answered, &t) in points[..slid].iter().enumerate() {
            let from = t - window;
            // The accumulator holds the pieces starting in [removed_to, added_to);
            // the window needs [from, t), and from <= added_to (windows overlap
            // or touch).
            if removed_to < from {
                for tier in tiers.iter_mut() {
                    pieces -=
                        tier.for_each_piece(level, removed_to, from, |iv| acc.sub_interval(iv));
                }
                removed_to = from;
            }
            // Entering pieces; their extremes go to the queues slot by slot.
            entering.clear();
            for tier in tiers.iter_mut() {
                pieces += tier.for_each_intact(level, added_to.max(from), t, &mut fresh, |iv| {
                    acc.add_interval(iv);
                    if !iv.hist.is_empty() {
                        entering.push((iv.start_s, iv.min_ns, iv.max_ns));
                    }
                });
            }
            if !fresh.is_empty() {
                // A piece of this window is damaged: planned from here on.
                return answered;
            }
            entering.sort_unstable_by_key(|e| e.0);
            for slot in entering.chunk_by(|a, b| a.0 == b.0) {
                let start = slot[0].0;
                let lo = slot.iter().map(|e| e.1).min().unwrap_or(u64::MAX);
                let hi = slot.iter().map(|e| e.2).max().unwrap_or(0);
                while mins.back().is_some_and(|b| b.1 >= lo) {
                    mins.pop_back();
                }
                mins.push_back((start, lo));
                while maxs.back().is_some_and(|b| b.1 <= hi) {
                    maxs.pop_back();
                }
                maxs.push_back((start, hi));
            }
            added_to = t;
            while mins.front().is_some_and(|f| f.0 < from) {
                mins.pop_front();
            }
            while maxs.front().is_some_and(|f| f.0 < from) {
                maxs.pop_front();
            }
            match (mins.front(), maxs.front()) {
                (Some(a), Some(b)) => acc.set_extremes(a.1, b.1),
                _ => acc.set_extremes(u64::MAX, 0),
            }
            // What the recorders still hold for the window (open seconds,
            // pending late deltas), as a planned query adds it.
            unsealed.clear();
            read_unsealed(from, t, &mut unsealed);
            let answer = |a: Accumulator| {
                WindowStats::new(a, self.errors.clone(), from, t).with_plan_info(
                    from,
                    tiers.len(),
                    pieces,
                )
            };
            if unsealed.is_empty() {
                // Lend the running accumulator to the answer, then take it back.
                let stats =
                    answer(std::mem::replace(&mut acc, Accumulator::empty_compact(self.layout)));
                f(t, &stats);
                acc = stats.into_accumulator();
            } else {
                let mut snap = acc.snapshot();
                snap.add_accumulator(&unsealed);
                f(t, &answer(snap));
            }
        }
        slid
    }

    /// The level to slide over and how many leading points slide (at least
    /// one), or `None` when none does.
    fn choose<T: DerefMut<Target = MemTier>>(
        &self,
        tiers: &[T],
        points: &[u64],
    ) -> Option<(usize, usize)> {
        let window = self.window;
        let (Some(&t0), true) = (points.first(), window > 0) else { return None };
        let step = points.get(1).map_or(window, |t| t - t0);
        // Sliding pays when windows overlap, and when they touch (each point
        // then takes the previous window's pieces away and adds its own, in
        // the accumulator already allocated: a rule evaluated every minute
        // over the last minute).
        if step > window || t0 < window {
            return None;
        }
        let covs: Vec<Vec<LevelCoverage>> = tiers.iter().map(|t| t.coverage()).collect();
        let cov = covs.first()?;
        // The coarsest level whose span divides the step, the window and the
        // points, and that every series has retained back to the first window.
        let choice = (0..cov.len()).rev().find(|&k| {
            let span = u64::from(cov[k].span_s);
            step.is_multiple_of(span)
                && window.is_multiple_of(span)
                && t0.is_multiple_of(span)
                && covs.iter().all(|c| c.get(k).is_some_and(|c| c.from_s <= t0 - window))
        });
        let level = choice?;
        // Points whose window ends past a rollup's built edge are planned.
        let until = covs.iter().filter_map(|c| c.get(level)).map(|c| c.until_s).min().unwrap_or(0);
        // And so are points from the first window that meets known damage.
        let damage = tiers
            .iter()
            .filter_map(|t| t.first_damage(level, t0 - window))
            .min()
            .unwrap_or(u64::MAX);
        let slid = points.iter().take_while(|&&t| t <= until && t <= damage).count();
        (slid > 0).then_some((level, slid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier::LevelSpec;
    use tailstore_hist::Interval;

    /// splitmix64: deterministic traffic without a dependency.
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

    /// An hour boundary.
    const T0: u64 = 1_800_000_000;
    const LEVELS: [LevelSpec; 3] = [
        LevelSpec { span_s: 1, retention_s: 3 * 3600 },
        LevelSpec { span_s: 60, retention_s: 48 * 3600 },
        LevelSpec { span_s: 3600, retention_s: 400 * 24 * 3600 },
    ];

    /// Three hours of two series with wide latencies, idle stretches and
    /// errors, sealed second by second into their tiers; also returns every
    /// one-second interval (the oracle sums them directly).
    fn traffic(seed: u64) -> (Vec<MemTier>, Vec<Interval>) {
        let layout = Layout::default();
        let mut rng = Rng(seed);
        let mut tiers = vec![MemTier::new(&LEVELS), MemTier::new(&LEVELS)];
        let mut seconds = Vec::new();
        let mut scratch = Accumulator::new(layout);
        for s in T0..T0 + 3 * 3600 {
            for tier in &mut tiers {
                // Idle for a stretch now and then: empty pieces slide too.
                let n = if (s / 300) % 7 == 3 { 0 } else { rng.below(6) };
                if n > 0 {
                    let mut acc = Accumulator::new(layout);
                    for _ in 0..n {
                        let magnitude = 1 << rng.below(20);
                        let v = 1_000 * (1 + rng.below(magnitude));
                        acc.add_bucket(layout.index(v), 1);
                        acc.add_extremes(v, v, u128::from(v));
                        let status = match rng.below(4) {
                            0 | 1 => 200,
                            2 => 503,
                            _ => 404,
                        };
                        acc.add_status(status, 1);
                    }
                    let iv = acc.to_interval(s, 1);
                    tier.advance(s);
                    tier.insert(&iv);
                    seconds.push(iv);
                }
                tier.roll_up(s + 1, &mut scratch);
            }
        }
        (tiers, seconds)
    }

    fn same(a: &WindowStats, b: &Accumulator, ctx: &str) {
        let x = a.accumulator();
        assert_eq!(x.total(), b.total(), "{ctx}: total");
        assert_eq!(x.requests(), b.requests(), "{ctx}: requests");
        assert_eq!(x.status_counts(), b.status_counts(), "{ctx}: statuses");
        assert_eq!(x.min_ns(), b.min_ns(), "{ctx}: min");
        assert_eq!(x.max_ns(), b.max_ns(), "{ctx}: max");
        assert_eq!(x.sum_ns(), b.sum_ns(), "{ctx}: sum");
        for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            assert_eq!(x.quantile_ns(q), b.quantile_ns(q), "{ctx}: q{q}");
        }
    }

    /// Every slid point equals the sum of the one-second intervals of its
    /// window, for windows and steps that slide at each level.
    #[test]
    fn slid_points_equal_the_sum_of_their_seconds() {
        let layout = Layout::default();
        let errors = ErrorSet::default();
        let (mut tiers, seconds) = traffic(7);
        for (window, step, first) in [
            (300, 10, T0 + 600),
            (600, 60, T0 + 3600),
            (7200, 3600, T0 + 3 * 3600),
            (3600, 60, T0 + 3600),
            (2, 1, T0 + 5),
            // Windows that touch: each point replaces the whole window.
            (60, 60, T0 + 600),
            (1, 1, T0 + 5),
            (3600, 3600, T0 + 3600),
        ] {
            let points: Vec<u64> = (0..50).map(|k| first + k * step).collect();
            let slide = Slide { window, errors: &errors, layout };
            let mut got = Vec::new();
            let mut refs: Vec<&mut MemTier> = tiers.iter_mut().collect();
            let n = slide.run(&mut refs, &points, &mut |_, _, _| {}, &mut |t, w| {
                got.push((t, w.compact()));
            });
            assert!(n > 0, "window {window} step {step}: nothing slid");
            assert_eq!(got.len(), n);
            for (t, w) in &got {
                let mut oracle = Accumulator::new(layout);
                for iv in seconds.iter().filter(|iv| (t - window..*t).contains(&iv.start_s)) {
                    oracle.add_interval(iv);
                }
                same(w, &oracle, &format!("window {window} step {step} point {t}"));
                assert_eq!(w.bounds_s(), (t - window, *t));
            }
        }
    }

    /// What the series hold outside their tiers is added to each point.
    #[test]
    fn unsealed_samples_join_each_point() {
        let layout = Layout::default();
        let errors = ErrorSet::default();
        let (mut tiers, _) = traffic(11);
        let points: Vec<u64> = (0..20).map(|k| T0 + 3600 + k * 60).collect();
        let slide = Slide { window: 600, errors: &errors, layout };
        let mut plain = Vec::new();
        let mut refs: Vec<&mut MemTier> = tiers.iter_mut().collect();
        slide.run(&mut refs, &points, &mut |_, _, _| {}, &mut |_, w| plain.push(w.count()));
        // One extra request in the last second of every window.
        let mut extra = Vec::new();
        let mut unsealed = |_: u64, to: u64, acc: &mut Accumulator| {
            acc.add_bucket(layout.index(5_000), 1);
            acc.add_extremes(5_000, 5_000, 5_000);
            acc.add_status(200, 1);
            assert!(to > 0);
        };
        slide.run(&mut refs, &points, &mut unsealed, &mut |_, w| extra.push(w.count()));
        assert_eq!(extra.len(), plain.len());
        for (a, b) in extra.iter().zip(&plain) {
            assert_eq!(*a, b + 1);
        }
    }

    /// Windows with gaps between them are left to the planner.
    #[test]
    fn disjoint_windows_do_not_slide() {
        let errors = ErrorSet::default();
        let (mut tiers, _) = traffic(3);
        let slide = Slide { window: 60, errors: &errors, layout: Layout::default() };
        let mut refs: Vec<&mut MemTier> = tiers.iter_mut().collect();
        let n = slide.run(&mut refs, &[T0 + 600, T0 + 720], &mut |_, _, _| {}, &mut |_, _| {});
        assert_eq!(n, 0);
    }

    /// Issue 10, item 2: the slide stops before the first window that
    /// meets a damaged piece of its level (the caller plans the rest).
    #[test]
    fn the_slide_stops_before_damage() {
        let errors = ErrorSet::default();
        let (mut tiers, _) = traffic(5);
        tiers[1].mark_damaged(1, T0 + 4800, T0 + 4860);
        let points: Vec<u64> = (0..50).map(|k| T0 + 3600 + k * 60).collect();
        let slide = Slide { window: 600, errors: &errors, layout: Layout::default() };
        let mut refs: Vec<&mut MemTier> = tiers.iter_mut().collect();
        let mut damaged = 0;
        let n = slide.run(&mut refs, &points, &mut |_, _, _| {}, &mut |_, w| {
            damaged += w.damaged_s();
        });
        // Windows ending at or before the damaged minute's start.
        assert_eq!((n, damaged), (21, 0));
    }
}
