//! Gauges: the handle users set values through, a gauge's recorder and
//! tier, its seal, and the gauge query builder.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tailstore_hist::{Clock, GaugeAgg, GaugeRecorder};
use tailstore_query::{GaugeStats, GaugeTier, Selector};

use crate::clock::{whole_seconds, Timeline};
use crate::error::Error;
use crate::query::{window_bounds, WindowSpec};
use crate::store::{Inner, Store};

/// One gauge: the recorder of its unsealed seconds and the tier of its
/// sealed pieces.
pub(crate) struct GaugeInner {
    pub(crate) name: Arc<str>,
    pub(crate) recorder: GaugeRecorder,
    pub(crate) tier: Mutex<GaugeTier>,
}

/// A new gauge of `inner`.
pub(crate) fn new_gauge(inner: &Inner, name: &str) -> GaugeInner {
    new_gauge_from(inner, name, 0)
}

/// A new gauge of `inner` whose seconds below `sealed_below` count as
/// sealed (stored by an earlier run: a value set there is a late delta).
pub(crate) fn new_gauge_from(inner: &Inner, name: &str, sealed_below: u64) -> GaugeInner {
    let clock: Arc<dyn Clock> = inner.timeline.clone();
    GaugeInner {
        name: Arc::from(name),
        recorder: GaugeRecorder::new(sealed_below, clock),
        tier: Mutex::new(GaugeTier::new(&inner.opts.levels(inner.durable))),
    }
}

/// A gauge piece to persist: `(level, start, aggregates, late delta)`.
pub(crate) type GaugePersist = (u8, u64, GaugeAgg, bool);

impl GaugeInner {
    /// Seals what is due into the tier and builds the rollups; with
    /// `persist`, pushes what a durable store writes: sealed seconds, late
    /// seconds and the rollup deltas they make (late deltas), and the
    /// rollup pieces built.
    pub(crate) fn seal(
        &self,
        seal_below: u64,
        live_seal_below: u64,
        retained: u64,
        mut persist: Option<&mut Vec<GaugePersist>>,
    ) {
        let mut tier = self.tier.lock();
        let sealed = self.recorder.seal(seal_below, live_seal_below);
        tier.advance(retained);
        let mut log = Vec::new();
        for (batch, late) in [(&sealed.seconds, false), (&sealed.late, true)] {
            for (second, agg) in batch {
                log.clear();
                tier.insert_logged(*second, agg, persist.is_some().then_some(&mut log));
                if let Some(out) = persist.as_deref_mut() {
                    for &(k, start, a) in &log {
                        out.push((level_u8(k), start, a, late || k > 0));
                    }
                }
            }
        }
        log.clear();
        tier.roll_up_logged(sealed.below, persist.is_some().then_some(&mut log));
        if let Some(out) = persist {
            out.extend(log.iter().map(|&(k, start, a)| (level_u8(k), start, a, false)));
        }
    }
}

/// A tier level as the writer's level number (there are three).
fn level_u8(k: usize) -> u8 {
    u8::try_from(k).unwrap_or(u8::MAX)
}

/// A cheap, cloneable handle to one gauge; `Send + Sync`.
///
/// A gauge keeps, per second, the exact count, min, max, sum and last of
/// the values set, rolled up to minutes and hours with the store's
/// retentions. Setting takes no lock and allocates nothing (after a
/// thread's first value): each thread appends to its own ring of 64 values,
/// drained by seal passes and queries (or by the thread itself, under a
/// mutex, when it fills first).
#[derive(Clone)]
pub struct Gauge {
    pub(crate) inner: Arc<GaugeInner>,
    pub(crate) timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

impl Gauge {
    /// The gauge's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Sets `v` at the current second of the store's coarse clock (like
    /// [`crate::Series::record`]). NaN and infinities are dropped and
    /// counted in [`crate::StoreStats::invalid`].
    #[inline]
    pub fn set(&self, v: f64) {
        let tl = &*self.timeline;
        if !tl.live.load(Relaxed) {
            tl.live.store(true, Relaxed);
        }
        self.inner.recorder.set(false, tl.now_s.load(Relaxed), v);
    }

    /// Sets `v` at an explicit time (replays, tests): it lands in the
    /// second `floor(at)`, with the lateness, retention and `max_future`
    /// rules of [`crate::Series::record_at`].
    #[inline]
    pub fn set_at(&self, at: SystemTime, v: f64) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(d) => self.inner.recorder.set(true, d.as_secs(), v),
            Err(_) => {
                self.timeline.rejected_pre_epoch.fetch_add(1, Relaxed);
            }
        }
    }

    /// [`Gauge::set_at`] at unix second `second`.
    #[inline]
    pub fn set_at_unix(&self, second: u64, v: f64) {
        self.inner.recorder.set(true, second, v);
    }
}

/// Default of [`GaugeQuery::warmup`]: five minutes.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(300);

/// A gauge query being built: choose a window, then [`GaugeQuery::run`].
pub struct GaugeQuery<'a> {
    pub(crate) store: &'a Store,
    pub(crate) selector: Selector,
    pub(crate) window: WindowSpec,
    pub(crate) warmup: Duration,
}

impl GaugeQuery<'_> {
    /// The half-open window `[start, end)` (whole seconds, as
    /// [`crate::Query::between`]).
    #[must_use]
    pub fn between(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.window = WindowSpec::Between(start, end);
        self
    }

    /// The window of length `len` ending now, the current second included.
    #[must_use]
    pub fn last(mut self, len: Duration) -> Self {
        self.window = WindowSpec::Last(len, None);
        self
    }

    /// With [`GaugeQuery::last`]: end the window at `end` instead of now.
    #[must_use]
    pub fn ending_at(mut self, end: SystemTime) -> Self {
        let len = if let WindowSpec::Last(len, _) = self.window { len } else { Duration::ZERO };
        self.window = WindowSpec::Last(len, Some(end));
        self
    }

    /// How long after a restart is left out of
    /// [`GaugeStats::growth_pct_per_hour`] (model initialisation; default
    /// [`DEFAULT_WARMUP`], rounded up to whole seconds).
    #[must_use]
    pub fn warmup(mut self, warmup: Duration) -> Self {
        self.warmup = warmup;
        self
    }

    /// Runs the query: the exact aggregates of the selected gauges (usually
    /// one) over the window, from the fewest sealed pieces (the coarsest
    /// level that covers exactly, the edges from finer ones) plus what is
    /// not sealed yet, and the points growth and restarts are found on
    /// (see [`GaugeStats`]).
    ///
    /// # Errors
    ///
    /// [`Error::NoWindow`] when no window was chosen; [`Error::Query`] when
    /// a window bound is before 1970 or the end is before the start.
    pub fn run(self) -> Result<GaugeStats, Error> {
        let (start_s, end_s) = window_bounds(&self.window)?;
        let targets: Vec<Arc<GaugeInner>> = {
            let map = self.store.inner.gauges.read();
            match self.selector.as_exact() {
                Some(name) => map.get(name).cloned().into_iter().collect(),
                None => map.values().filter(|g| self.selector.matches(&g.name)).cloned().collect(),
            }
        };
        let step_s = GaugeStats::point_s_for(end_s - start_s);
        let mut agg = GaugeAgg::EMPTY;
        let mut covered = start_s;
        let mut damaged_s = 0u64;
        // Per target: (covered start, unsealed seconds), and the points'
        // aggregates, summed over the targets.
        let first = start_s - start_s % step_s;
        let n_points = usize::try_from((end_s.max(first) - first).div_ceil(step_s)).unwrap_or(0);
        let mut points = vec![GaugeAgg::EMPTY; n_points];
        for g in &targets {
            let tier = g.tier.lock();
            let (from, _, damaged) = tier.add_window(start_s, end_s, &mut agg);
            covered = covered.max(from);
            damaged_s += damaged;
            let mut unsealed: Vec<(u64, GaugeAgg)> = Vec::new();
            // Under the tier lock: nothing moves from unsealed to sealed
            // between the two reads.
            g.recorder.read_unsealed(from, end_s, |s, a| unsealed.push((s, *a)));
            for (_, a) in &unsealed {
                agg.merge(a);
            }
            for (k, p) in points.iter_mut().enumerate() {
                let a = (first + k as u64 * step_s).max(from);
                let b = (first + (k as u64 + 1) * step_s).min(end_s);
                if a >= b {
                    continue;
                }
                tier.add_window(a, b, p);
                let lo = unsealed.partition_point(|u| u.0 < a);
                for (_, u) in unsealed[lo..].iter().take_while(|u| u.0 < b) {
                    p.merge(u);
                }
            }
        }
        let points: Vec<(u64, f64)> = points
            .iter()
            .enumerate()
            .filter_map(|(k, p)| Some((first + k as u64 * step_s, p.mean()?)))
            .collect();
        Ok(GaugeStats::new(agg, covered, end_s, points, step_s, whole_seconds(self.warmup))
            .with_damaged_s(damaged_s))
    }
}
