//! The query builder: a selector, a window, an error set; single answers
//! planned over the rollup levels and range answers that slide.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore_hist::{Accumulator, ErrorSet};
use tailstore_query::{Selector, Slide, WindowStats};

use crate::clock::{secs_to_time, wall_second, whole_seconds};
use crate::error::Error;
use crate::series::SeriesInner;
use crate::store::Store;

/// Most points one range query answers ([`Query::range`]); the CLI's
/// `query-range` applies the same limit.
pub const MAX_RANGE_POINTS: u64 = 1_000_000;

pub(crate) enum WindowSpec {
    Unset,
    Between(SystemTime, SystemTime),
    Last(Duration, Option<SystemTime>),
}

/// A query being built: choose a window, optionally an error set, then [`Query::run`].
pub struct Query<'a> {
    pub(crate) store: &'a Store,
    pub(crate) selector: Selector,
    pub(crate) window: WindowSpec,
    pub(crate) errors: ErrorSet,
}

/// Unix seconds of the first second whose start is at or after `t`.
fn ceil_second(t: SystemTime, what: &'static str) -> Result<u64, Error> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Query(tailstore_query::Error::BeforeEpoch { what }))?;
    Ok(whole_seconds(d))
}

impl Query<'_> {
    /// The half-open window `[start, end)`. A second belongs to it when the
    /// second's start instant does, so whole-second bounds are exact.
    #[must_use]
    pub fn between(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.window = WindowSpec::Between(start, end);
        self
    }

    /// The sliding window of length `len` (rounded up to whole seconds)
    /// ending now, the current second included.
    #[must_use]
    pub fn last(mut self, len: Duration) -> Self {
        self.window = WindowSpec::Last(len, None);
        self
    }

    /// With [`Query::last`]: end the window at `end` instead of now.
    #[must_use]
    pub fn ending_at(mut self, end: SystemTime) -> Self {
        if let WindowSpec::Last(len, _) = self.window {
            self.window = WindowSpec::Last(len, Some(end));
        } else {
            self.window = WindowSpec::Last(Duration::ZERO, Some(end));
        }
        self
    }

    /// Counts these status codes as errors in this query.
    #[must_use]
    pub fn errors(mut self, errors: ErrorSet) -> Self {
        self.errors = errors;
        self
    }

    fn bounds(&self) -> Result<(u64, u64), Error> {
        window_bounds(&self.window)
    }

    /// A range query: one point per `step` from `start` to `end` (both
    /// included), each the window of [`Query::last`]'s length ending at that
    /// point, exactly as `.ending_at(t).run()` would answer it. Returns
    /// `(t, stats)` with `t` in unix seconds; each answer is compacted to
    /// the buckets it uses (see [`Query::range_with`] to stream instead).
    ///
    /// # Errors
    ///
    /// As [`Query::range_with`].
    pub fn range(
        self,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<(u64, WindowStats)>, Error> {
        let mut out = Vec::new();
        self.range_with(start, end, step, |t, w| out.push((t, w.compact())))?;
        Ok(out)
    }

    /// [`Query::range`], handing each point to `f` in time order instead of
    /// keeping them (graphs and alert evaluation read a point and move on).
    ///
    /// When the points and the window are whole multiples of a rollup
    /// level's span (1 s always is) and that level covers every window, the
    /// answer slides: each piece is added when it enters the window and
    /// taken away when it leaves, with the exact extremes kept in monotonic
    /// queues, so the cost is one visit per piece, not one merge of the
    /// whole window per point. Other points are planned one by one. All the
    /// selected series' tiers stay locked while the sliding points are
    /// computed (sealing waits), so `f` should be quick.
    ///
    /// # Errors
    ///
    /// [`Error::BadRange`] when the window was not chosen with
    /// [`Query::last`], `step` is not a positive whole number of seconds, or
    /// there would be more than [`MAX_RANGE_POINTS`] points; [`Error::Query`] when
    /// `start` or `end` is before 1970 or `end` is before `start`.
    pub fn range_with(
        self,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
        mut f: impl FnMut(u64, &WindowStats),
    ) -> Result<(), Error> {
        let WindowSpec::Last(len, _) = self.window else {
            return Err(Error::BadRange { reason: "choose the window with .last(len)".into() });
        };
        let window = whole_seconds(len);
        if step.subsec_nanos() != 0 || step.is_zero() {
            return Err(Error::BadRange {
                reason: "step must be a whole number of seconds".into(),
            });
        }
        let step = step.as_secs();
        let (t0, t1) = (ceil_second(start, "range start")?, ceil_second(end, "range end")?);
        if t1 < t0 {
            return Err(Error::Query(tailstore_query::Error::EndBeforeStart {
                start_s: t0,
                end_s: t1,
            }));
        }
        let n = (t1 - t0) / step + 1;
        if n > MAX_RANGE_POINTS {
            return Err(Error::BadRange {
                reason: format!("{n} points, more than {MAX_RANGE_POINTS}; use a larger step"),
            });
        }
        let points: Vec<u64> = (0..n).map(|k| t0 + k * step).collect();
        let inner = &self.store.inner;
        let mut targets = self.targets();
        // Locked in name order (two range queries cannot deadlock); seal
        // passes and single queries take one tier lock at a time.
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        let slid = {
            let mut tiers: Vec<_> = targets.iter().map(|s| s.tier.lock()).collect();
            let slide = Slide { window, errors: &self.errors, layout: inner.opts.layout };
            // Still under the tier locks: nothing moves from unsealed to
            // sealed while a point reads both.
            let mut unsealed = |from: u64, to: u64, acc: &mut Accumulator| {
                for s in &targets {
                    s.recorder.read_unsealed(from, to, acc);
                }
            };
            slide.run(&mut tiers, &points, &mut unsealed, &mut f)
        };
        for &t in &points[slid..] {
            let q = Query {
                store: self.store,
                selector: self.selector.clone(),
                window: WindowSpec::Last(Duration::from_secs(window), Some(secs_to_time(t))),
                errors: self.errors.clone(),
            };
            f(t, &q.run()?);
        }
        Ok(())
    }

    /// The series the selector picks.
    fn targets(&self) -> Vec<Arc<SeriesInner>> {
        let inner = &self.store.inner;
        match self.selector.as_exact() {
            Some(name) => crate::recovery::warm(inner, name),
            None => crate::recovery::warm_matching(inner, |n| self.selector.matches(n)),
        }
        let map = self.store.inner.series.read();
        match self.selector.as_exact() {
            Some(name) => map.get(name).cloned().into_iter().collect(),
            None => map.values().filter(|s| self.selector.matches(&s.name)).cloned().collect(),
        }
    }

    /// Runs the query.
    ///
    /// A stored piece that is damaged (found so when the store was opened,
    /// or when the query decodes it) is left out, and its span is answered
    /// from the finer levels the store still retains intact, so the answer
    /// stays exact there; the seconds that no intact piece covers are
    /// reported by [`WindowStats::damaged_s`].
    ///
    /// # Errors
    ///
    /// [`Error::NoWindow`] when no window was chosen; [`Error::Query`] when
    /// a window bound is before 1970 or the end is before the start.
    pub fn run(self) -> Result<WindowStats, Error> {
        let (start_s, end_s) = self.bounds()?;
        let inner = &self.store.inner;
        let targets = self.targets();
        let mut acc = Accumulator::new(inner.opts.layout);
        let mut covered_start = start_s;
        let mut pieces = 0;
        let mut damaged = Vec::new();
        for s in &targets {
            let mut tier = s.tier.lock();
            // Planned around damaged pieces: finer intact levels cover
            // them, and what nothing intact covers is reported.
            let mut c = tier.add_window(start_s, end_s, &mut acc);
            pieces += c.pieces;
            covered_start = covered_start.max(c.covered_from);
            damaged.append(&mut c.damaged);
            // Still under the tier lock: nothing can move from unsealed to
            // sealed while we read both.
            s.recorder.read_unsealed(c.covered_from, end_s, &mut acc);
        }
        Ok(WindowStats::new(acc, self.errors, start_s, end_s)
            .with_plan_info(covered_start, targets.len(), pieces)
            .with_damaged(damaged))
    }
}

/// The unix seconds `[start, end)` of a window.
pub(crate) fn window_bounds(window: &WindowSpec) -> Result<(u64, u64), Error> {
    match *window {
        WindowSpec::Unset => Err(Error::NoWindow),
        WindowSpec::Between(a, b) => {
            let (s, e) = (ceil_second(a, "window start")?, ceil_second(b, "window end")?);
            if a > b {
                return Err(Error::Query(tailstore_query::Error::EndBeforeStart {
                    start_s: s,
                    end_s: e,
                }));
            }
            Ok((s, e))
        }
        WindowSpec::Last(len, None) => {
            let end = wall_second() + 1;
            Ok((end.saturating_sub(whole_seconds(len)), end))
        }
        WindowSpec::Last(len, Some(at)) => {
            let end = ceil_second(at, "window end")?;
            Ok((end.saturating_sub(whole_seconds(len)), end))
        }
    }
}
