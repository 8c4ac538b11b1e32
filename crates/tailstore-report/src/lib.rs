//! tailstore-report: one self-contained HTML file with the dashboard of a
//! tailstore store, for a person to open in a browser. No server, no
//! network: the charts are inline SVG, the styles inline CSS, and one small
//! inline script switches the time-range presets (tooltips are SVG
//! `<title>`s; the page reads fully without the script).
//!
//! Panels, titled like the monitoring guide's dashboard, for all selected
//! endpoints merged and for each of the busiest endpoints (linked from the
//! table): request rate (req/min), error rate (%, of the store's error set)
//! with the 1 % target, P50/P95/P99 (log scale) with the 100/300/500 ms
//! targets, status codes stacked, and a latency heatmap (time x latency
//! bands at five per factor of ten, counted from the exact histograms). A
//! table gives per endpoint count, req/s, err %, P50/P95/P99, max and the
//! top statuses over the view's whole range.
//!
//! When the store holds gauges (the process sampler's, or replayed ones):
//! CPU usage (%) with the guide's 80 % and 90 % lines, memory (MiB) with its
//! growth per hour and restarts, and a panel per other gauge. With
//! [`Report::rules`]: the alert timeline (each rule's pending and firing
//! spans, backtested over the range) with its episodes, and the SLO table
//! (budget remaining, burn rates) at the range's end.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tailstore::{Options, Selector, Store};
//! use tailstore_report::Report;
//!
//! let store = Store::in_memory(Options::default().keep_everything());
//! let s = store.series("/models/fraud-v2/predict");
//! for i in 0..600u64 {
//!     let at = UNIX_EPOCH + Duration::from_secs(1_764_547_200 + i);
//!     s.record_at(at, Duration::from_millis(20 + i % 50), if i % 40 == 0 { 503 } else { 200 });
//! }
//! let mut html = Vec::new();
//! let summary = Report::new(Selector::all()).render(&store, &mut html)?;
//! assert_eq!(summary.views[0].step_s, 5); // 10 minutes: 120 points of 5 s
//! assert!(String::from_utf8(html).unwrap().contains("Error rate (%)"));
//! # Ok::<(), tailstore_report::Error>(())
//! ```
//!
//! # Time ranges and steps
//!
//! The page has a view of the whole range (the selected series' data, or
//! the range asked for) and one per preset (last 1 h, 24 h, 7 d, ending at
//! the range's end) that is shorter than the range. Each view's step is the
//! smallest of 1 s, 2 s, 5 s, … 1 h, … 1 d that gives at most 180 points,
//! and each point is the window of one step ending at a multiple of the
//! step, computed by one range query per selection whose windows touch, so
//! the answer slides over the store's pieces (minute and hour pieces from a
//! step of 1 min up). The page states every view's step.
//!
//! # Numbers
//!
//! Every number is written with `tailstore::format`, the formatters of the
//! CLI's tables and `query --json`; the table's latency cells also carry the
//! value at full precision (`data-p99-ms` …), which is the number `query
//! --json` gives for the same window and series.
//!
//! # Panics and data
//!
//! Nothing here panics on data. Series names are user data: they are
//! escaped in text and attributes, and control characters are written as
//! visible escapes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod alerts;
mod collect;
mod html;
mod svg;

use std::io;

use tailstore::{ErrorSet, Selector, SeriesKind, Store};
use tailstore_rules::Rules;

/// The error of building a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The selector picks no series of the store.
    #[error("no series of the store matches the selection")]
    NoSeries,
    /// The time range holds no second (the selected series have no data,
    /// or the end is not after the start).
    #[error("the time range [{start_s}, {end_s}) is empty")]
    EmptyRange {
        /// Start, unix seconds.
        start_s: u64,
        /// End (exclusive), unix seconds.
        end_s: u64,
    },
    /// A query of the store failed.
    #[error("querying the store")]
    Store(#[from] tailstore::Error),
    /// Writing the page failed.
    #[error("writing the report")]
    Io(#[from] io::Error),
    /// Backtesting the rules, or their SLOs, failed.
    #[error("evaluating the rules")]
    Rules(#[from] tailstore_rules::Error),
}

/// The time range of a report.
#[derive(Clone, Copy, Debug)]
enum Range {
    /// The selected series' data.
    Whole,
    /// `[start, end)`, unix seconds.
    Between(u64, u64),
    /// The last `len` seconds of the selected series' data.
    Last(u64),
}

/// A report being configured: a selection, a time range, then
/// [`Report::render`].
#[derive(Clone, Debug)]
pub struct Report {
    selector: Selector,
    selection: String,
    range: Range,
    errors: Option<ErrorSet>,
    title: String,
    rules: Option<(Rules, String)>,
}

/// One time range of a written page.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViewInfo {
    /// The button's label (`Whole range (10 min)`, `Last 1 h`, …).
    pub label: String,
    /// Start, unix seconds.
    pub start_s: u64,
    /// End (exclusive), unix seconds.
    pub end_s: u64,
    /// The step between points, seconds.
    pub step_s: u64,
    /// Points per panel.
    pub points: usize,
}

/// What a written page holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Series selected.
    pub series: usize,
    /// The views, the whole range first.
    pub views: Vec<ViewInfo>,
    /// Bytes written.
    pub bytes: u64,
}

impl Report {
    /// A report of the series `selector` picks, over their whole data.
    #[must_use]
    pub fn new(selector: Selector) -> Report {
        Report {
            selector,
            selection: "all series".to_owned(),
            range: Range::Whole,
            errors: None,
            title: "tailstore report".to_owned(),
            rules: None,
        }
    }

    /// Adds the alert timeline and the SLO table of `rules` (named
    /// `source`, e.g. the file's path, in the page): every rule backtested
    /// over the range, every SLO at its end.
    #[must_use]
    pub fn rules(mut self, rules: Rules, source: impl Into<String>) -> Report {
        self.rules = Some((rules, source.into()));
        self
    }

    /// How the header names the selection (e.g. the regex given).
    #[must_use]
    pub fn selection_text(mut self, text: impl Into<String>) -> Report {
        self.selection = text.into();
        self
    }

    /// The range `[start_s, end_s)` (unix seconds) instead of the data's.
    #[must_use]
    pub fn between(mut self, start_s: u64, end_s: u64) -> Report {
        self.range = Range::Between(start_s, end_s);
        self
    }

    /// The last `len_s` seconds of the selected series' data (ending at
    /// their newest second, not at the wall clock: a report of a replayed
    /// log shows the log).
    #[must_use]
    pub fn last(mut self, len_s: u64) -> Report {
        self.range = Range::Last(len_s);
        self
    }

    /// Counts these status codes as errors (default: the store's set).
    #[must_use]
    pub fn errors(mut self, errors: ErrorSet) -> Report {
        self.errors = Some(errors);
        self
    }

    /// The page's title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Report {
        self.title = title.into();
        self
    }

    /// Computes the views and writes the page to `out` (one `write_all`).
    ///
    /// # Errors
    ///
    /// [`Error::NoSeries`] when the selector picks no series;
    /// [`Error::EmptyRange`] when the range has no second (or the selected
    /// series no data); [`Error::Store`] when a query fails;
    /// [`Error::Io`] when writing fails.
    pub fn render(&self, store: &Store, out: &mut impl io::Write) -> Result<Summary, Error> {
        let all = store.series_info();
        let gauges: Vec<String> =
            all.iter().filter(|i| i.kind == SeriesKind::Gauge).map(|i| i.name.clone()).collect();
        let infos: Vec<_> = all
            .into_iter()
            .filter(|i| i.kind == SeriesKind::Requests && self.selector.matches(&i.name))
            .collect();
        if infos.is_empty() {
            return Err(Error::NoSeries);
        }
        let data = infos.iter().filter_map(|i| i.bounds_s).fold(
            None,
            |acc: Option<(u64, u64)>, (a, b)| {
                Some(acc.map_or((a, b), |(x, y)| (x.min(a), y.max(b))))
            },
        );
        let (start_s, end_s) = match (self.range, data) {
            (Range::Between(s, e), _) => (s, e),
            (Range::Whole, Some(d)) => d,
            (Range::Last(len), Some((_, e))) => (e.saturating_sub(len), e),
            (_, None) => (0, 0),
        };
        if end_s <= start_s {
            return Err(Error::EmptyRange { start_s, end_s });
        }
        let names: Vec<String> = infos.into_iter().map(|i| i.name).collect();
        let source = collect::Source {
            store,
            selector: &self.selector,
            names: &names,
            errors: self.errors.as_ref(),
            gauges: &gauges,
        };
        let span = end_s - start_s;
        let mut views = vec![source.view(
            format!("Whole range ({})", html::span_text(span)),
            start_s,
            end_s,
        )?];
        for (label, len) in collect::PRESETS {
            if span > len {
                views.push(source.view(label.to_owned(), end_s - len, end_s)?);
            }
        }
        let alerts = match &self.rules {
            Some((rules, source)) => Some(alerts::Alerts {
                source: source.clone(),
                rules: rules.rules().iter().map(|r| r.name().to_owned()).collect(),
                backtest: tailstore_rules::backtest(store, rules, start_s, end_s)?,
                slos: tailstore_rules::slo_report(store, rules.slos(), end_s)?,
            }),
            None => None,
        };
        let header =
            html::Header { title: &self.title, selection: &self.selection, series: names.len() };
        let page = html::page(&header, &views, alerts.as_ref());
        out.write_all(page.as_bytes())?;
        Ok(Summary {
            series: names.len(),
            views: views
                .iter()
                .map(|v| ViewInfo {
                    label: v.label.clone(),
                    start_s: v.start_s,
                    end_s: v.end_s,
                    step_s: v.step_s,
                    points: v.points.len(),
                })
                .collect(),
            bytes: page.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use tailstore::format::fmt_ms_full;
    use tailstore::{Options, Selector, Store};
    use tailstore_rules::Rules;

    use super::*;

    const T0: u64 = 1_764_547_200; // 2025-12-01T00:00:00Z

    /// Names a log can carry: markup, quotes, an ampersand, control characters.
    const NASTY: [&str; 4] =
        ["<script>alert(1)</script>", "/a\"b'c&d", "/esc\u{1b}[2J\nnewline", "/models/plain"];

    fn store(seconds: u64) -> Store {
        let store = Store::in_memory(Options::default().keep_everything());
        for (k, name) in NASTY.iter().enumerate() {
            let s = store.series(name);
            for i in 0..seconds {
                let at = UNIX_EPOCH + Duration::from_secs(T0 + i);
                for j in 0..=(k as u64) {
                    let ms = 1 + (i * 7 + j * 13) % 400;
                    let status = if (i + j) % 37 == 0 { 503 } else { 200 };
                    s.record_at(at, Duration::from_micros(ms * 1000 + j), status);
                }
            }
        }
        store
    }

    fn render(store: &Store, r: &Report) -> (String, Summary) {
        let mut out = Vec::new();
        let s = r.render(store, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), s)
    }

    #[test]
    fn names_are_escaped_and_the_page_is_balanced() {
        let store = store(600);
        let (page, summary) = render(&store, &Report::new(Selector::all()).title("<b>&"));
        assert_eq!(summary.series, 4);
        assert_eq!(summary.bytes, page.len() as u64);
        assert_eq!(page.matches("<script").count(), 1, "only the page's own script");
        assert!(!page.contains("alert(1)</script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("/a&quot;b&#39;c&amp;d"));
        assert!(page.contains("/esc\\u{1b}[2J\\nnewline"));
        assert!(page.contains("<title>&lt;b&gt;&amp;</title>"));
        assert!(!page.chars().any(|c| c.is_control() && c != '\n'), "no raw control characters");
        assert_eq!(page.matches('\n').count(), 1, "one newline, at the end");
        for (open, close) in
            [("<svg", "</svg>"), ("<section", "</section>"), ("<table", "</table>")]
        {
            assert_eq!(page.matches(open).count(), page.matches(close).count(), "{open}");
        }
        // No address of any network: nothing to fetch.
        assert!(!page.contains("http:") && !page.contains("https:") && !page.contains("//"));
        // The heatmap classes the panels use are styled.
        for c in 0..8 {
            assert!(page.contains(&format!("path.h{c}{{fill:")), "h{c}");
        }
    }

    #[test]
    fn table_numbers_are_the_queries_numbers() {
        let store = store(600);
        let (page, summary) = render(&store, &Report::new(Selector::all()));
        let v = &summary.views[0];
        assert_eq!((v.start_s, v.end_s, v.step_s, v.points), (T0, T0 + 600, 5, 120));
        for name in NASTY {
            let w = store
                .query(Selector::exact(name))
                .between(collect::secs(T0), collect::secs(T0 + 600))
                .run()
                .unwrap();
            let p99 = fmt_ms_full(w.quantile(0.99).unwrap());
            let row = format!(r#"<tr data-series="{}">"#, html::esc(name));
            let at = page.find(&row).unwrap_or_else(|| panic!("{name}"));
            let rest = &page[at..];
            let cell = &rest[rest.find("data-p99-ms=\"").unwrap() + 13..];
            assert_eq!(&cell[..cell.find('"').unwrap()], p99, "{name}");
            assert!(rest.contains(&format!("<td>{}</td>", w.count())));
        }
    }

    #[test]
    fn points_equal_single_queries_and_bands_hold_every_latency() {
        let store = store(600);
        let sel = Selector::all();
        let names = store.series_names();
        let source = collect::Source {
            store: &store,
            selector: &sel,
            names: &names,
            errors: None,
            gauges: &[],
        };
        let v = source.view("w".into(), T0 + 7, T0 + 593).unwrap();
        assert_eq!((v.first_t, v.last_t, v.step_s), (T0 + 10, T0 + 595, 5));
        assert_eq!(v.points.len(), 118);
        for p in &v.points {
            // Oracle: the same window as one planned query.
            let w = store
                .query(Selector::all())
                .last(Duration::from_secs(5))
                .ending_at(collect::secs(p.t))
                .run()
                .unwrap();
            assert_eq!(p.count, w.count(), "{}", p.t);
            assert_eq!(p.q.to_vec(), w.quantiles(&collect::QUANTILES), "{}", p.t);
            assert_eq!(p.error_ratio, w.error_ratio());
            let in_bands: u64 = p.bands.iter().map(|b| b.1).sum();
            assert_eq!(in_bands, w.latency_count(), "{}", p.t);
            // Each band's count: the buckets between its edges, counted
            // independently with count_at_most (exact at the edges' buckets).
            for (band, n) in &p.bands {
                let hi = v.bands.edges_ns[band + 1];
                let lo = v.bands.edges_ns[*band];
                let below = |e: u64| {
                    let idx = store.layout().index(e);
                    if idx == 0 {
                        0
                    } else {
                        w.count_at_most(Duration::from_nanos(
                            store.layout().lowest_equivalent(idx) - 1,
                        ))
                    }
                };
                let last = *band + 1 == v.bands.len();
                let want = if last { w.latency_count() } else { below(hi) }
                    - if *band == 0 { 0 } else { below(lo) };
                assert_eq!(*n, want, "{} band {band}", p.t);
            }
        }
    }

    #[test]
    fn presets_appear_when_the_range_is_longer() {
        let store = Store::in_memory(Options::default().keep_everything());
        let s = store.series("/x");
        for i in (0..2 * 86_400).step_by(30) {
            s.record_at(collect::secs(T0 + i), Duration::from_millis(10), 200);
        }
        let (page, summary) = render(&store, &Report::new(Selector::all()));
        let labels: Vec<&str> = summary.views.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(labels, ["Whole range (2.0 d)", "Last 1 h", "Last 24 h"]);
        let steps: Vec<u64> = summary.views.iter().map(|v| v.step_s).collect();
        assert_eq!(steps, [1800, 30, 600]);
        assert!(summary.views.iter().all(|v| v.points <= 180 && v.points >= 60));
        assert_eq!(page.matches(r#"<section class="view""#).count(), 3);
        assert_eq!(page.matches(" hidden>").count(), 2 + 1, "two views and the error box");
        // --last: the end of the data, not the wall clock.
        let (_, summary) = render(&store, &Report::new(Selector::all()).last(3600));
        assert_eq!(summary.views.len(), 1);
        assert_eq!(summary.views[0].end_s, T0 + 2 * 86_400 - 30 + 1);
    }

    #[test]
    fn empty_selection_and_range_are_errors() {
        let store = store(10);
        let mut out = Vec::new();
        let none = Report::new(Selector::regex("/nothing.*").unwrap()).render(&store, &mut out);
        assert!(matches!(none, Err(Error::NoSeries)));
        let empty = Report::new(Selector::all()).between(T0 + 5, T0 + 5).render(&store, &mut out);
        assert!(matches!(empty, Err(Error::EmptyRange { .. })));
        assert!(out.is_empty());
        // A range without data is drawn (empty panels), not refused.
        let later = Report::new(Selector::all()).between(T0 + 1000, T0 + 2000);
        let (page, _) = render(&store, &later);
        assert!(page.contains("Request rate (req/min)"));
    }

    /// Gauges get the CPU and memory panels (and stay out of the endpoint
    /// table); rules get the alert timeline, whose episodes are the
    /// backtest's, and the SLO table, whose budget is `slo_report`'s.
    #[test]
    fn gauges_and_rules_add_their_panels_and_tables() {
        let store = Store::in_memory(Options::default().keep_everything());
        let s = store.series("/models/a/predict");
        let (cpu, mem) =
            (store.gauge("process_cpu_percent"), store.gauge("process_resident_memory_bytes"));
        for i in 0..7200u64 {
            let at = UNIX_EPOCH + Duration::from_secs(T0 + i);
            let burst = (3000..3900).contains(&i);
            for j in 0..4u64 {
                let status = if burst && j < 2 { 503 } else { 200 };
                s.record_at(at, Duration::from_millis(20 + (i + j) % 50), status);
            }
            #[expect(clippy::cast_precision_loss, reason = "small numbers")]
            let (c, m) = (40.0 + (i % 30) as f64, 500.0e6 + i as f64 * 20_000.0);
            cpu.set_at_unix(T0 + i, c);
            mem.set_at_unix(T0 + i, m);
        }
        let rules =
            Rules::from_yaml(include_str!("../../../examples/rules/model-endpoints.yaml")).unwrap();
        let (page, summary) = render(
            &store,
            &Report::new(Selector::all()).rules(rules.clone(), "model-endpoints.yaml"),
        );
        assert_eq!(summary.series, 1, "gauges are not endpoints");
        assert_eq!(page.matches("<tr data-series=").count(), summary.views.len());
        assert_eq!(
            page.matches("<figcaption>CPU usage (%)</figcaption>").count(),
            summary.views.len()
        );
        assert_eq!(
            page.matches("<figcaption>Memory (MiB)</figcaption>").count(),
            summary.views.len()
        );
        assert!(page.contains("target &lt; 80 %") && page.contains("alert &gt; 90 %"));
        // Memory grows 20 kB/s: about 14 %/h of 500 MB, said in the legend.
        let growth = store
            .gauge_query(Selector::exact("process_resident_memory_bytes"))
            .between(
                UNIX_EPOCH + Duration::from_secs(T0),
                UNIX_EPOCH + Duration::from_secs(T0 + 7200),
            )
            .run()
            .unwrap()
            .growth_pct_per_hour()
            .unwrap();
        assert!(page.contains(&format!("growth {growth:+.2} %/h")), "{growth}");
        // The alert section: the backtest's episodes, the error burst fired.
        let bt = tailstore_rules::backtest(&store, &rules, T0, T0 + 7200).unwrap();
        let fired: Vec<_> = bt.episodes.iter().filter(|e| e.firing_at.is_some()).collect();
        assert!(fired.iter().any(|e| e.rule == "High Error Rate"), "{:?}", bt.episodes);
        let v0 = &page[..page.find(r#"<section class="view" id="v1""#).unwrap_or(page.len())];
        assert_eq!(v0.matches(r#"<tr class="fired">"#).count(), fired.len());
        assert_eq!(v0.matches("<figcaption>Alert timeline</figcaption>").count(), 1);
        for st in tailstore_rules::slo_report(&store, rules.slos(), T0 + 7200).unwrap() {
            let budget =
                st.budget_remaining_pct.map_or("null".to_owned(), tailstore::format::fmt_float);
            assert!(
                v0.contains(&format!(r#"data-budget="{budget}""#)),
                "{}: budget {budget}",
                st.name
            );
        }
    }
}
