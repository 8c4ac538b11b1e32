//! What the page shows, computed from the store: the views (the whole span
//! and the presets the data covers), each view's step, and per selection the
//! points of one range query whose windows touch (so they slide).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{ErrorSet, GaugeStats, Layout, Selector, Store, WindowStats};

use crate::Error;

/// Most points a panel gets; the step is the first of [`STEPS_S`] that
/// keeps a view at or under it.
pub(crate) const MAX_POINTS: u64 = 180;

/// The steps a view may use (seconds): divisors of a minute, an hour and a
/// day, so that points fall on round times and, from a minute up, on the
/// store's minute and hour pieces (the range queries then slide over them).
pub(crate) const STEPS_S: [u64; 18] =
    [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];

/// The time-range presets of the guide's dashboard: label and length.
pub(crate) const PRESETS: [(&str, u64); 3] =
    [("Last 1 h", 3600), ("Last 24 h", 86_400), ("Last 7 d", 7 * 86_400)];

/// The quantiles the panels and the table show.
pub(crate) const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// Latency bands of the heatmap per factor of ten.
pub(crate) const BANDS_PER_DECADE: i32 = 5;

/// Endpoints that get panels of their own in a view (the busiest); every
/// endpoint gets a row in the table.
pub(crate) const MAX_DRILLED: usize = 20;

/// The step of a view of `span_s` seconds: the smallest of [`STEPS_S`]
/// that gives at most [`MAX_POINTS`] points, else whole days.
pub(crate) fn choose_step(span_s: u64) -> u64 {
    let span = span_s.max(1);
    STEPS_S
        .iter()
        .copied()
        .find(|s| span.div_ceil(*s) <= MAX_POINTS)
        .unwrap_or_else(|| span.div_ceil(MAX_POINTS).div_ceil(86_400) * 86_400)
}

pub(crate) fn secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// The heatmap's latency bands: edges at `10^(k / 5)` ms, from the band
/// holding the view's minimum to the one holding its maximum. A bucket of
/// the exact histogram belongs to the band its lowest value falls in, so
/// each band's count is exact at the histogram's precision.
pub(crate) struct Bands {
    /// `k` of the first edge (edge `i` is `10^((k0 + i) / 5)` ms).
    pub k0: i32,
    /// The edges in ns, ascending; one more than the bands.
    pub edges_ns: Vec<u64>,
    /// The bucket index of each edge.
    edge_idx: Vec<u32>,
}

/// `10^(k / BANDS_PER_DECADE)` ms in ns.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "k stays within [-30, 40] (1 ns to 10^8 ms), so the value is positive and far below 2^64"
)]
pub(crate) fn edge_ns(k: i32) -> u64 {
    (1e6 * 10f64.powf(f64::from(k) / f64::from(BANDS_PER_DECADE))).round() as u64
}

/// `floor(BANDS_PER_DECADE * log10(ns / 1e6))`, clamped to [-30, 40].
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "the value is clamped to [-30, 40] before the cast; ns below 2^53 are exact and above it 1 ulp does not move a band"
)]
fn band_k(ns: u64) -> i32 {
    let v = (f64::from(BANDS_PER_DECADE) * (ns.max(1) as f64 / 1e6).log10()).floor();
    v.clamp(-30.0, 40.0) as i32
}

impl Bands {
    pub(crate) fn new(layout: &Layout, min_ns: u64, max_ns: u64) -> Bands {
        let k0 = band_k(min_ns.max(1_000));
        let mut k1 = band_k(max_ns.max(1_000)) + 1;
        if k1 <= k0 {
            k1 = k0 + 1;
        }
        let edges_ns: Vec<u64> = (k0..=k1).map(edge_ns).collect();
        let edge_idx = edges_ns.iter().map(|e| layout.index(*e)).collect();
        Bands { k0, edges_ns, edge_idx }
    }

    /// Number of bands.
    pub(crate) fn len(&self) -> usize {
        self.edges_ns.len() - 1
    }

    /// The band of bucket `index`: the last edge at or below it (buckets
    /// below the first edge count in the first band, above the last in the
    /// last).
    pub(crate) fn band_of(&self, index: u32) -> usize {
        self.edge_idx.partition_point(|e| *e <= index).saturating_sub(1).min(self.len() - 1)
    }
}

/// One point of a panel: the window of one step ending at `t`.
pub(crate) struct Point {
    /// End of the window (exclusive), unix seconds.
    pub t: u64,
    pub count: u64,
    pub rate_per_min: f64,
    pub error_ratio: Option<f64>,
    pub q: [Option<Duration>; 3],
    pub status: Vec<(u16, u64)>,
    /// Requests per latency band, `(band, count)` for non-empty bands.
    pub bands: Vec<(usize, u64)>,
}

fn point(t: u64, w: &WindowStats, bands: &Bands) -> Point {
    let qs = w.quantiles(&QUANTILES);
    let mut per_band: Vec<(usize, u64)> = Vec::new();
    for (index, count) in w.accumulator().to_sparse().iter() {
        let b = bands.band_of(index);
        match per_band.last_mut() {
            Some((last, n)) if *last == b => *n += count,
            _ => per_band.push((b, count)),
        }
    }
    Point {
        t,
        count: w.count(),
        rate_per_min: w.rate_per_sec() * 60.0,
        error_ratio: w.error_ratio(),
        q: [qs[0], qs[1], qs[2]],
        status: w.status_counts().iter().collect(),
        bands: per_band,
    }
}

/// An endpoint of a view: its whole-view numbers (the table's row) and,
/// for the busiest, its points.
pub(crate) struct Endpoint {
    pub name: String,
    pub total: WindowStats,
    pub points: Option<Vec<Point>>,
}

/// One time range of the page.
pub(crate) struct View {
    pub label: String,
    pub start_s: u64,
    pub end_s: u64,
    pub step_s: u64,
    /// The ends of the first and last points' windows.
    pub first_t: u64,
    pub last_t: u64,
    pub bands: Bands,
    /// Every selected series merged.
    pub total: WindowStats,
    pub points: Vec<Point>,
    /// Endpoints with requests in the view, by name.
    pub endpoints: Vec<Endpoint>,
    /// The gauges with values in the view, by name.
    pub gauges: Vec<GaugeLine>,
}

/// One gauge of a view: its points (the values set in the window of one
/// step ending at `t`) and its numbers over the whole view.
pub(crate) struct GaugeLine {
    pub name: String,
    /// `(t, mean, max)` per point; `None` where no value was set.
    pub points: Vec<(u64, Option<f64>, Option<f64>)>,
    pub stats: GaugeStats,
}

/// What the views are computed with.
pub(crate) struct Source<'a> {
    pub store: &'a Store,
    pub selector: &'a Selector,
    pub names: &'a [String],
    pub errors: Option<&'a ErrorSet>,
    /// The store's gauges (CPU, memory, …: of the process, not of an
    /// endpoint, so all of them).
    pub gauges: &'a [String],
}

impl Source<'_> {
    fn window(&self, sel: Selector, start_s: u64, end_s: u64) -> Result<WindowStats, Error> {
        let mut q = self.store.query(sel);
        if let Some(e) = self.errors {
            q = q.errors(e.clone());
        }
        Ok(q.between(secs(start_s), secs(end_s)).run()?)
    }

    fn points(
        &self,
        sel: Selector,
        step_s: u64,
        (first_t, last_t): (u64, u64),
        bands: &Bands,
    ) -> Result<Vec<Point>, Error> {
        let mut q = self.store.query(sel);
        if let Some(e) = self.errors {
            q = q.errors(e.clone());
        }
        let step = Duration::from_secs(step_s);
        let mut out = Vec::new();
        q.last(step).range_with(secs(first_t), secs(last_t), step, |t, w| {
            out.push(point(t, w, bands));
        })?;
        Ok(out)
    }

    /// The view of `[start_s, end_s)`: its points are the windows of one
    /// step ending at the multiples of the step from the first after
    /// `start_s` to the first at or after `end_s` (so the first and last
    /// window may reach outside the range by less than a step).
    pub(crate) fn view(&self, label: String, start_s: u64, end_s: u64) -> Result<View, Error> {
        let step_s = choose_step(end_s - start_s);
        let first_t = (start_s / step_s + 1) * step_s;
        let last_t = end_s.div_ceil(step_s).max(1) * step_s;
        let last_t = last_t.max(first_t);
        let total = self.window(self.selector.clone(), start_s, end_s)?;
        let layout = self.store.layout();
        let bands = match (total.min(), total.max()) {
            (Some(lo), Some(hi)) => Bands::new(&layout, nanos(lo), nanos(hi)),
            _ => Bands::new(&layout, 1_000_000, 1_000_000),
        };
        let points = self.points(self.selector.clone(), step_s, (first_t, last_t), &bands)?;
        let mut endpoints = Vec::new();
        for name in self.names {
            let w = self.window(Selector::exact(name.as_str()), start_s, end_s)?;
            if w.count() > 0 {
                endpoints.push(Endpoint { name: name.clone(), total: w.compact(), points: None });
            }
        }
        // The busiest get panels of their own (ties by name).
        let mut by_count: Vec<usize> = (0..endpoints.len()).collect();
        by_count.sort_by_key(|i| std::cmp::Reverse(endpoints[*i].total.count()));
        for i in by_count.into_iter().take(MAX_DRILLED) {
            let sel = Selector::exact(endpoints[i].name.as_str());
            endpoints[i].points = Some(self.points(sel, step_s, (first_t, last_t), &bands)?);
        }
        let mut gauges = Vec::new();
        for name in self.gauges {
            if let Some(g) = self.gauge_line(name, start_s, end_s, step_s, (first_t, last_t))? {
                gauges.push(g);
            }
        }
        Ok(View {
            label,
            start_s,
            end_s,
            step_s,
            first_t,
            last_t,
            bands,
            total: total.compact(),
            points,
            endpoints,
            gauges,
        })
    }

    /// Gauge `name` over the view: `None` when it has no value there.
    fn gauge_line(
        &self,
        name: &str,
        start_s: u64,
        end_s: u64,
        step_s: u64,
        (first_t, last_t): (u64, u64),
    ) -> Result<Option<GaugeLine>, Error> {
        let q = || self.store.gauge_query(Selector::exact(name));
        let stats = q().between(secs(start_s), secs(end_s)).run()?;
        if stats.count() == 0 {
            return Ok(None);
        }
        let mut points = Vec::new();
        let mut t = first_t;
        while t <= last_t {
            let w = q().between(secs(t - step_s), secs(t)).run()?;
            points.push((t, w.mean(), w.max()));
            t += step_s;
        }
        Ok(Some(GaugeLine { name: name.to_owned(), points, stats }))
    }
}

/// A latency in whole ns, saturating (a `Duration` of the store is at most
/// the layout's range, far below `u64::MAX` ns).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_give_sensible_point_counts() {
        // Oracle: the definition, checked by brute force over spans.
        for span in (1..=40 * 86_400u64).step_by(97).chain([600, 3600, 86_400, 7 * 86_400]) {
            let s = choose_step(span);
            assert!(span.div_ceil(s) <= MAX_POINTS, "{span}: {s}");
            if let Some(pos) = STEPS_S.iter().position(|x| *x == s) {
                if pos > 0 {
                    assert!(span.div_ceil(STEPS_S[pos - 1]) > MAX_POINTS, "{span}: {s} not least");
                }
            } else {
                assert_eq!(s % 86_400, 0, "{span}: {s}");
            }
        }
        assert_eq!(choose_step(600), 5);
        assert_eq!(choose_step(3600), 30);
        assert_eq!(choose_step(86_400), 600);
        assert_eq!(choose_step(7 * 86_400), 3600);
        assert_eq!(choose_step(0), 1);
    }

    #[test]
    fn bands_cover_min_to_max_and_split_buckets_by_edge() {
        let layout = Layout::default();
        let b = Bands::new(&layout, 3_000_000, 2_500_000_000); // 3 ms .. 2.5 s
        assert_eq!(b.edges_ns[0], edge_ns(2)); // 2.51 ms <= 3 ms < 3.98 ms
        assert!(b.edges_ns[0] <= 3_000_000);
        assert!(*b.edges_ns.last().unwrap() > 2_500_000_000);
        assert_eq!(edge_ns(0), 1_000_000);
        assert_eq!(edge_ns(5), 10_000_000);
        assert_eq!(edge_ns(15), 1_000_000_000);
        // Oracle: a value's band is the last edge at or below its bucket's
        // lowest value, computed here from the edges by linear search.
        for v in (3_000_000u64..2_500_000_000).step_by(7_654_321) {
            let idx = layout.index(v);
            let low = layout.lowest_equivalent(idx);
            let want = b.edges_ns.iter().rposition(|e| layout.index(*e) <= idx).unwrap();
            assert_eq!(b.band_of(idx), want.min(b.len() - 1), "{v}");
            assert!(b.edges_ns[b.band_of(idx)] <= low.max(b.edges_ns[0]) + layout.width(idx));
        }
        // A single value still gets one band.
        let one = Bands::new(&layout, 5_000_000, 5_000_000);
        assert_eq!(one.len(), 1);
        assert_eq!(one.band_of(layout.index(5_000_000)), 0);
        // Zero latency is put in the band of 1 us.
        assert_eq!(Bands::new(&layout, 0, 0).edges_ns[0], edge_ns(-15));
    }
}
