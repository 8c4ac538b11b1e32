//! Backtests: every rule evaluated at `start + k·interval` over stored
//! history, through sliding range queries, into episodes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, UNIX_EPOCH};

use tailstore::{ErrorSet, Selector, Store, MAX_RANGE_POINTS};

use crate::condition::{Measure, Metric, WindowSource};
use crate::error::Error;
use crate::file::{Rule, Rules};
use crate::state::{Evaluator, Transition};

/// One alert episode: from pending to inactive (reset or resolved).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Episode {
    /// The rule's name.
    pub rule: String,
    /// The rule's labels and `series` (the series, or the selector as
    /// written for a merged rule); SLO alerts carry `slo` and `severity`.
    pub labels: BTreeMap<String, String>,
    /// The evaluation that went pending, unix seconds.
    pub pending_at: u64,
    /// The evaluation that fired; `None` when it never did.
    pub firing_at: Option<u64>,
    /// The evaluation that resolved it (or, for an episode that never
    /// fired, reset it); `None` when still active at the end.
    pub resolved_at: Option<u64>,
    /// The condition's value at `firing_at`, else at `pending_at`.
    pub value: Option<f64>,
    /// The `summary` annotation rendered with `value` and `labels`.
    pub summary: String,
    /// The `description` annotation rendered the same way.
    pub description: String,
}

/// The result of [`backtest`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Backtest {
    /// First evaluation, unix seconds.
    pub start_s: u64,
    /// Last evaluation is at or before this, unix seconds.
    pub end_s: u64,
    /// Seconds between evaluations.
    pub interval_s: u64,
    /// Every episode, ordered by `pending_at`, then rule, then labels.
    pub episodes: Vec<Episode>,
}

/// Per rule: how many episodes fired, and for how many seconds in all.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleSummary {
    /// The rule's name.
    pub rule: String,
    /// Episodes that fired.
    pub fired: usize,
    /// Seconds spent firing (until resolved, or the backtest's end).
    pub firing_s: u64,
}

impl Backtest {
    /// One line per rule of `rules`, in their order: fired how often, how long.
    #[must_use]
    pub fn summary(&self, rules: &Rules) -> Vec<RuleSummary> {
        rules
            .rules()
            .iter()
            .map(|r| {
                let mut s = RuleSummary { rule: r.name.clone(), fired: 0, firing_s: 0 };
                for e in self.episodes.iter().filter(|e| e.rule == r.name) {
                    if let Some(f) = e.firing_at {
                        s.fired += 1;
                        s.firing_s += e.resolved_at.unwrap_or(self.end_s).saturating_sub(f);
                    }
                }
                s
            })
            .collect()
    }
}

/// What a column of values is over: one series, or a selection merged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Series(String),
    Merged(String),
    /// A gauge metric: the gauge it reads (`None`: the store holds none).
    Gauge(Option<String>, Metric),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ColumnKey {
    target: Target,
    window_s: u64,
    errors: Option<ErrorSet>,
}

/// The numbers of one target and window at every evaluation point.
struct Column {
    /// A gauge metric's gauge and metric, for a gauge column.
    gauge: Option<(Option<String>, Metric)>,
    /// A gauge column's value per point.
    gauge_values: Vec<Option<f64>>,
    selector: Selector,
    qs: Vec<f64>,
    thresholds_ns: Vec<u64>,
    /// (requests, errors, latency count) per point.
    counts: Vec<[u64; 3]>,
    /// `qs.len()` quantiles per point, seconds.
    quantiles: Vec<Option<f64>>,
    /// `thresholds_ns.len()` counts per point.
    at_most: Vec<u64>,
}

struct PointView<'a> {
    col: &'a Column,
    window_s: u64,
    k: usize,
}

impl WindowSource for PointView<'_> {
    fn window_s(&self) -> u64 {
        self.window_s
    }
    fn requests(&self) -> u64 {
        self.col.counts.get(self.k).map_or(0, |c| c[0])
    }
    fn errors(&self) -> u64 {
        self.col.counts.get(self.k).map_or(0, |c| c[1])
    }
    fn latency_count(&self) -> u64 {
        self.col.counts.get(self.k).map_or(0, |c| c[2])
    }
    #[expect(clippy::float_cmp, reason = "looks up the very quantile the column was built with")]
    fn quantile_s(&self, q: f64) -> Option<f64> {
        let i = self.col.qs.iter().position(|x| *x == q)?;
        self.col.quantiles.get(self.k * self.col.qs.len() + i).copied().flatten()
    }
    fn count_at_most(&self, ns: u64) -> u64 {
        let Some(i) = self.col.thresholds_ns.iter().position(|x| *x == ns) else { return 0 };
        self.col.at_most.get(self.k * self.col.thresholds_ns.len() + i).copied().unwrap_or(0)
    }
    fn gauge(&self, metric: Metric) -> Option<f64> {
        match &self.col.gauge {
            Some((_, m)) if *m == metric => self.col.gauge_values.get(self.k).copied().flatten(),
            _ => None,
        }
    }
}

/// One alert instance: a rule, its labels, and the column of each comparison.
struct Instance<'a> {
    rule: &'a Rule,
    labels: BTreeMap<String, String>,
    columns: Vec<usize>,
}

/// Evaluates every rule of `rules` at `start_s + k·interval` for every
/// `k` with `start_s + k·interval <= end_s`, each over `[t − window, t)` in
/// data time. Values come from one sliding range query per distinct
/// (series or selection, window, error set), not one query per point.
/// Every instance starts inactive at `start_s`. A `group_by: series` rule
/// has one instance per series its selector matches.
///
/// # Errors
///
/// [`Error::BadRange`] when `end_s < start_s` or there would be more than
/// [`MAX_RANGE_POINTS`] evaluations; [`Error::Store`] when the store refuses
/// a query.
pub fn backtest(store: &Store, rules: &Rules, start_s: u64, end_s: u64) -> Result<Backtest, Error> {
    let interval_s = rules.evaluation_interval_s();
    if end_s < start_s {
        return Err(Error::BadRange { reason: format!("end {end_s} is before start {start_s}") });
    }
    let n = (end_s - start_s) / interval_s + 1;
    if n > MAX_RANGE_POINTS {
        return Err(Error::BadRange {
            reason: format!("{n} evaluations, more than {MAX_RANGE_POINTS}"),
        });
    }
    let names = store.series_names();
    let gauge_names = store.gauge_names();
    let mut keys: HashMap<ColumnKey, usize> = HashMap::new();
    let mut columns: Vec<Column> = Vec::new();
    let mut instances = Vec::new();
    for rule in rules.rules() {
        let targets: Vec<(Target, Selector, String)> = if rule.per_series {
            names
                .iter()
                .filter(|n| rule.series.selector.matches(n))
                .map(|n| (Target::Series(n.clone()), Selector::exact(n.as_str()), n.clone()))
                .collect()
        } else {
            let t = rule.series.text.clone();
            vec![(Target::Merged(t.clone()), rule.series.selector.clone(), t)]
        };
        for (target, selector, series) in targets {
            let mut cols = Vec::new();
            for c in rule.condition.compares() {
                let gauge = match c.measure {
                    Measure::Metric(m) if m.is_gauge() => {
                        Some((crate::gauges::gauge_for(&gauge_names, &rule.series.text, m), m))
                    }
                    _ => None,
                };
                let key = ColumnKey {
                    target: match &gauge {
                        Some((g, m)) => Target::Gauge(g.clone(), *m),
                        None => target.clone(),
                    },
                    window_s: c.window_s,
                    errors: if gauge.is_some() { None } else { rule.errors.clone() },
                };
                let idx = *keys.entry(key).or_insert_with(|| {
                    columns.push(Column {
                        gauge: gauge.clone(),
                        gauge_values: Vec::new(),
                        selector: selector.clone(),
                        qs: Vec::new(),
                        thresholds_ns: Vec::new(),
                        counts: Vec::new(),
                        quantiles: Vec::new(),
                        at_most: Vec::new(),
                    });
                    columns.len() - 1
                });
                // `idx` was just handed out for this very vector.
                if let Some(col) = columns.get_mut(idx) {
                    if let Some(q) = c.measure.quantile() {
                        if !col.qs.contains(&q) {
                            col.qs.push(q);
                        }
                    }
                    if let Some(ns) = c.measure.threshold_ns() {
                        if !col.thresholds_ns.contains(&ns) {
                            col.thresholds_ns.push(ns);
                        }
                    }
                }
                cols.push(idx);
            }
            instances.push(Instance { rule, labels: rule.instance_labels(&series), columns: cols });
        }
    }
    // Fill every column with one range query.
    let mut order: Vec<(&ColumnKey, usize)> = keys.iter().map(|(k, v)| (k, *v)).collect();
    order.sort_by_key(|(_, v)| *v);
    for (key, idx) in order {
        let Some(col) = columns.get_mut(idx) else { continue };
        fill(store, key, col, start_s, end_s, interval_s)?;
    }
    let mut episodes = Vec::new();
    for inst in &instances {
        run_instance(inst, &columns, start_s, interval_s, n, &mut episodes);
    }
    episodes.sort_by(|a, b| {
        (a.pending_at, &a.rule, &a.labels).cmp(&(b.pending_at, &b.rule, &b.labels))
    });
    Ok(Backtest { start_s, end_s, interval_s, episodes })
}

fn fill(
    store: &Store,
    key: &ColumnKey,
    col: &mut Column,
    start_s: u64,
    end_s: u64,
    interval_s: u64,
) -> Result<(), Error> {
    if let Some((gauge, metric)) = &col.gauge {
        // One gauge query per point: gauges are few and cheap to read.
        let n = (end_s - start_s) / interval_s + 1;
        col.gauge_values = (0..n)
            .map(|k| {
                let t = start_s + k * interval_s;
                gauge
                    .as_deref()
                    .and_then(|g| crate::gauges::value(store, g, *metric, key.window_s, t))
            })
            .collect();
        return Ok(());
    }
    let mut q = store.query(col.selector.clone());
    if let Some(e) = &key.errors {
        q = q.errors(e.clone());
    }
    let qs = col.qs.clone();
    let thresholds = col.thresholds_ns.clone();
    let (counts, quantiles, at_most) = (&mut col.counts, &mut col.quantiles, &mut col.at_most);
    q.last(Duration::from_secs(key.window_s)).range_with(
        UNIX_EPOCH + Duration::from_secs(start_s),
        UNIX_EPOCH + Duration::from_secs(end_s),
        Duration::from_secs(interval_s),
        |_, w| {
            counts.push([w.count(), w.errors(), w.latency_count()]);
            if !qs.is_empty() {
                quantiles.extend(w.quantiles(&qs).into_iter().map(|d| d.map(|d| d.as_secs_f64())));
            }
            for &ns in &thresholds {
                at_most.push(w.count_at_most(Duration::from_nanos(ns)));
            }
        },
    )?;
    Ok(())
}

fn run_instance(
    inst: &Instance<'_>,
    columns: &[Column],
    start_s: u64,
    interval_s: u64,
    n: u64,
    out: &mut Vec<Episode>,
) {
    let rule = inst.rule;
    let mut ev = Evaluator::new(rule.for_s, rule.keep_firing_for_s, rule.no_data);
    let mut open: Option<Episode> = None;
    for (k, step) in (0..n).enumerate() {
        let t = start_s + step * interval_s;
        let (truth, value) = rule.condition.evaluate_with(&mut |i, c| {
            let col = inst.columns.get(i).and_then(|&ci| columns.get(ci))?;
            c.measure.value(&PointView { col, window_s: c.window_s, k }, c.window_s)
        });
        for e in ev.step(t, truth, value) {
            match e.transition {
                Transition::Pending => {
                    open = Some(Episode {
                        rule: rule.name.clone(),
                        labels: inst.labels.clone(),
                        pending_at: t,
                        firing_at: None,
                        resolved_at: None,
                        value: e.value,
                        summary: String::new(),
                        description: String::new(),
                    });
                }
                Transition::Firing => {
                    if let Some(o) = open.as_mut() {
                        o.firing_at = Some(t);
                        o.value = e.value;
                    }
                }
                Transition::Resolved | Transition::Reset => {
                    if let Some(mut o) = open.take() {
                        o.resolved_at = Some(t);
                        out.push(finish(rule, o));
                    }
                }
            }
        }
    }
    if let Some(o) = open {
        out.push(finish(rule, o));
    }
}

fn finish(rule: &Rule, mut e: Episode) -> Episode {
    e.summary = rule.annotation("summary", e.value, &e.labels);
    e.description = rule.annotation("description", e.value, &e.labels);
    e
}
