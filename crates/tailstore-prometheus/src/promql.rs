//! The Prometheus HTTP API's query side, answered from the store: `PromQL`
//! parsed with the `promql-parser` crate, evaluated over the exact windows
//! of the store (no I/O: a store and a request in, a JSON answer out).
//!
//! The metrics are those the exposition ([`Exposition`]) serves, under its
//! naming preset: the latency histogram (`_bucket{le}`, `_sum`, `_count`)
//! and the request counter by status, per series; and the store's gauges.
//! See `docs/PROMQL.md` for the subset, the window semantics and the
//! mapping of the guide's container metrics.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self as pp, Expr, LabelModifier, VectorMatchCardinality};
use serde_json::{json, Value};
use tailstore::{GaugeStats, Selector, SeriesKind, Store, WindowStats};

use crate::encode::Exposition;
use crate::format::Names;

/// Most points of one series a range query answers (Prometheus's limit).
pub const MAX_POINTS: u64 = 11_000;
/// Most samples one query may compute (points × series).
pub const MAX_SAMPLES: u64 = 5_000_000;
/// Most store queries one API query may run (a sliding range query counts
/// once; a planned window per point and series counts once each).
pub const MAX_STORE_QUERIES: u64 = 200_000;
/// How far back an instant selector of a gauge looks for its last value
/// (Prometheus's default lookback delta), seconds.
pub const LOOKBACK_S: u64 = 300;
/// Latest time accepted, unix seconds (2554-07-21, the store's limit).
const MAX_TIME_S: f64 = 18_446_744_073.0;

/// Gauge name the guide's `container_cpu_usage_seconds_total` is read from
/// when the store holds it (percent of the container's CPU quota).
const CPU_CONTAINER: &str = "container_cpu_percent";
/// The fallback (percent of one core, the process's own CPU time).
const CPU_PROCESS: &str = "process_cpu_percent";
/// The cAdvisor counter name the guide queries.
const CPU_SECONDS: &str = "container_cpu_usage_seconds_total";

/// The error of a query, in Prometheus's `errorType` classes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromqlError {
    /// The request or the expression is malformed, or outside the subset
    /// tailstore answers (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The expression is valid but its evaluation failed, e.g. a
    /// many-to-many match (HTTP 422, `execution`).
    #[error("{0}")]
    Execution(String),
    /// Reading the store failed (HTTP 500, `internal`).
    #[error("reading the store: {0}")]
    Store(#[from] tailstore::Error),
}

impl PromqlError {
    /// Prometheus's `errorType` for this error.
    #[must_use]
    pub fn error_type(&self) -> &'static str {
        match self {
            PromqlError::BadData(_) => "bad_data",
            PromqlError::Execution(_) => "execution",
            PromqlError::Store(_) => "internal",
        }
    }

    /// The HTTP status Prometheus answers this error with.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            PromqlError::BadData(_) => 400,
            PromqlError::Execution(_) => 422,
            PromqlError::Store(_) => 500,
        }
    }

    /// The answer's body: `{"status":"error","errorType":…,"error":…}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut msg = self.to_string();
        let mut src = std::error::Error::source(self);
        while let Some(c) = src {
            let _ = write!(msg, ": {c}");
            src = c.source();
        }
        json!({"status": "error", "errorType": self.error_type(), "error": msg})
    }
}

fn bad(msg: impl Into<String>) -> PromqlError {
    PromqlError::BadData(msg.into())
}

/// A label set, sorted by name; empty values are absent (as in Prometheus).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Labels(Vec<(String, String)>);

impl Labels {
    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    fn with(mut self, name: &str, value: &str) -> Labels {
        self.0.retain(|(k, _)| k != name);
        if !value.is_empty() {
            let at = self.0.partition_point(|(k, _)| k.as_str() < name);
            self.0.insert(at, (name.to_string(), value.to_string()));
        }
        self
    }

    fn without(&self, names: &[&str]) -> Labels {
        Labels(self.0.iter().filter(|(k, _)| !names.contains(&k.as_str())).cloned().collect())
    }

    fn only(&self, names: &[&str]) -> Labels {
        Labels(self.0.iter().filter(|(k, _)| names.contains(&k.as_str())).cloned().collect())
    }

    /// The labels a `by (...)` / `without (...)` grouping keeps.
    fn group(&self, g: &Grouping) -> Labels {
        match g {
            Grouping::By(names) => self.only(&strs(names)),
            Grouping::Without(names) => {
                let mut n = strs(names);
                n.push("__name__");
                self.without(&n)
            }
        }
    }

    fn to_json(&self) -> Value {
        Value::Object(self.0.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[derive(Clone, Debug)]
enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    fn keeps(&self, label: &str) -> bool {
        match self {
            Grouping::By(n) => n.iter().any(|x| x == label),
            Grouping::Without(n) => label != "__name__" && !n.iter().any(|x| x == label),
        }
    }
}

/// The store-backed metric families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fam {
    Bucket,
    Count,
    Sum,
    Requests,
}

/// Where a cell's numbers come from.
#[derive(Clone, Debug)]
enum Src {
    /// Request series of the store, merged exactly.
    Store { fam: Fam, names: Vec<String>, first_s: u64, end_s: u64 },
    /// One gauge of the store.
    Gauge { name: String },
}

/// The window a cell reads at a point whose window ends at second `e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Win {
    /// `[e - secs, e)`; `rate` divides by the window's seconds.
    Range { secs: u64, rate: bool },
    /// A counter's value at `e`: everything since the series' first second.
    Cumulative,
    /// A gauge's last value in `[e - LOOKBACK_S, e)`.
    Lookback,
}

/// `*_over_time` of a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Over {
    Avg,
    Min,
    Max,
    Last,
    Count,
    Sum,
}

/// What a cell computes from its window.
#[derive(Clone, Debug)]
enum Red {
    /// Classic buckets at the given bound indices (`nb` = `+Inf`), one
    /// value each, or their sum when collapsed.
    Buckets { les: Vec<usize>, collapse: bool },
    /// Requests with a latency.
    Count,
    /// Sum of latencies, seconds.
    Sum,
    /// Requests whose status matches, per status (`expand`) or summed.
    Requests { status: Vec<Matcher>, expand: Option<Vec<u16>> },
    /// The exact quantile of the merged histogram, seconds.
    Quantile(f64),
    /// A gauge's last value (instant selector).
    GaugeLast,
    /// A gauge over the window.
    GaugeOver(Over),
    /// The guide's CPU counter: the mean CPU percentage / 100 (× window for
    /// `increase`).
    Cpu { increase: bool },
}

/// A group of series whose numbers come from one store query per point.
#[derive(Clone, Debug)]
struct Cell {
    src: Src,
    win: Win,
    red: Red,
    /// The labels without the expanded `le`/`status`.
    base: Labels,
    /// One label set per value.
    outs: Vec<Arc<Labels>>,
}

#[derive(Clone, Debug)]
struct Leaf {
    cells: Vec<Cell>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

impl BinOp {
    fn parse(s: &str) -> Option<BinOp> {
        Some(match s {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "%" => BinOp::Mod,
            "^" => BinOp::Pow,
            "==" => BinOp::Eq,
            "!=" => BinOp::Ne,
            ">" => BinOp::Gt,
            "<" => BinOp::Lt,
            ">=" => BinOp::Ge,
            "<=" => BinOp::Le,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le)
    }

    /// The arithmetic result, or for a comparison whether it holds (1/0).
    fn apply(self, a: f64, b: f64) -> f64 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Mod => a % b,
            BinOp::Pow => a.powf(b),
            #[expect(clippy::float_cmp, reason = "PromQL's == compares floats exactly")]
            BinOp::Eq => t(a == b),
            #[expect(clippy::float_cmp, reason = "PromQL's != compares floats exactly")]
            BinOp::Ne => t(a != b),
            BinOp::Gt => t(a > b),
            BinOp::Lt => t(a < b),
            BinOp::Ge => t(a >= b),
            BinOp::Le => t(a <= b),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MathFn {
    Abs,
    Ceil,
    Floor,
    Round,
    Sqrt,
    Exp,
    Ln,
    Log2,
    Log10,
}

impl MathFn {
    fn parse(s: &str) -> Option<MathFn> {
        Some(match s {
            "abs" => MathFn::Abs,
            "ceil" => MathFn::Ceil,
            "floor" => MathFn::Floor,
            "round" => MathFn::Round,
            "sqrt" => MathFn::Sqrt,
            "exp" => MathFn::Exp,
            "ln" => MathFn::Ln,
            "log2" => MathFn::Log2,
            "log10" => MathFn::Log10,
            _ => return None,
        })
    }

    fn apply(self, v: f64) -> f64 {
        match self {
            MathFn::Abs => v.abs(),
            MathFn::Ceil => v.ceil(),
            MathFn::Floor => v.floor(),
            // Prometheus rounds half up (toward +Inf).
            MathFn::Round => (v + 0.5).floor(),
            MathFn::Sqrt => v.sqrt(),
            MathFn::Exp => v.exp(),
            MathFn::Ln => v.ln(),
            MathFn::Log2 => v.log2(),
            MathFn::Log10 => v.log10(),
        }
    }
}

/// The compiled expression.
#[derive(Clone, Debug)]
enum Node {
    Num(f64),
    Time,
    Leaf(usize),
    Neg(Box<Node>),
    Bin { op: BinOp, lhs: Box<Node>, rhs: Box<Node>, bool_: bool, on: Option<Grouping> },
    Agg { op: AggOp, by: Grouping, inner: Box<Node> },
    Math { f: MathFn, inner: Box<Node> },
    Scalar(Box<Node>),
    Vector(Box<Node>),
}

impl Node {
    fn is_scalar(&self) -> bool {
        match self {
            Node::Num(_) | Node::Time | Node::Scalar(_) => true,
            Node::Neg(n) | Node::Math { inner: n, .. } => n.is_scalar(),
            Node::Bin { lhs, rhs, .. } => lhs.is_scalar() && rhs.is_scalar(),
            Node::Leaf(_) | Node::Agg { .. } | Node::Vector(_) => false,
        }
    }
}

/// One evaluated sample.
#[derive(Clone, Debug)]
struct Sample {
    labels: Arc<Labels>,
    v: f64,
}

enum Val {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// The API over a store: which metrics, under which names, with which
/// limits. Built from the exposition `/metrics` serves, so the API answers
/// over exactly the series and buckets a scrape shows.
#[derive(Clone, Debug)]
pub struct PromqlApi {
    names: Names,
    /// `(floor(le) ns, le as text)` of the finite bounds.
    bounds: Vec<(u64, String)>,
    selector: Selector,
    gauge_labels: Labels,
}

/// A request series of the store, as the API sees it.
struct StoreSeries {
    name: String,
    first_s: u64,
    end_s: u64,
}

/// What one query compiles against.
struct Ctx<'a> {
    api: &'a PromqlApi,
    store: &'a Store,
    series: Vec<StoreSeries>,
    gauges: Vec<String>,
    statuses: HashMap<String, Vec<u16>>,
    leaves: Vec<Leaf>,
    warnings: Vec<String>,
    /// Listing series (`/api/v1/series`, labels): every metric is
    /// selectable bare, the CPU counter included.
    listing: bool,
}

/// A metric the API answers.
#[derive(Clone, Debug)]
enum Metric {
    Store(Fam),
    Gauge(String),
    Cpu(String),
}

impl PromqlApi {
    /// The API over what `exposition` serves: its naming preset, its `le`
    /// bounds and its series selector. Gauges carry no label but their name
    /// (see [`PromqlApi::gauge_labels`]).
    #[must_use]
    pub fn new(exposition: &Exposition) -> PromqlApi {
        PromqlApi {
            names: exposition.names(),
            bounds: exposition.bounds_ns_text(),
            selector: exposition.series_selector().clone(),
            gauge_labels: Labels::default(),
        }
    }

    /// Labels every gauge carries, e.g. `[("pod", "model-fraud-7d9f")]`,
    /// so that selectors written for cAdvisor's metrics
    /// (`container_memory_usage_bytes{pod=~"model-.*"}`) select this
    /// process's gauges.
    #[must_use]
    pub fn gauge_labels(mut self, labels: &[(String, String)]) -> PromqlApi {
        let mut l = Labels::default();
        for (k, v) in labels {
            l = l.with(k, v);
        }
        self.gauge_labels = l;
        self
    }

    fn ctx<'a>(&'a self, store: &'a Store) -> Ctx<'a> {
        let mut series = Vec::new();
        let mut gauges = Vec::new();
        for info in store.series_info() {
            match info.kind {
                SeriesKind::Requests => {
                    if let Some((first_s, end_s)) = info.bounds_s {
                        if self.selector.matches(&info.name) {
                            series.push(StoreSeries { name: info.name, first_s, end_s });
                        }
                    }
                }
                SeriesKind::Gauge => gauges.push(info.name),
                _ => {}
            }
        }
        Ctx {
            api: self,
            store,
            series,
            gauges,
            statuses: HashMap::new(),
            listing: false,
            leaves: Vec::new(),
            warnings: vec![],
        }
    }

    /// `/api/v1/query`: `expr` evaluated at `at`. Returns the answer's
    /// `data` (`resultType`, `result`) and warnings.
    ///
    /// # Errors
    ///
    /// [`PromqlError::BadData`] for a malformed or unsupported expression or
    /// time; [`PromqlError::Execution`] when evaluation fails;
    /// [`PromqlError::Store`] when the store cannot be read.
    pub fn query(
        &self,
        store: &Store,
        expr: &str,
        at: SystemTime,
    ) -> Result<(Value, Vec<String>), PromqlError> {
        let t = time_ms(at)?;
        let mut cx = self.ctx(store);
        let node = cx.compile_top(expr)?;
        let (vals, warnings) = cx.evaluate(&node, &[t])?;
        let result = match vals.into_iter().next() {
            Some(Val::Scalar(v)) => {
                json!({"resultType": "scalar", "result": [ts_json(t), fmt_value(v)]})
            }
            Some(Val::Vector(mut samples)) => {
                check_unique(&samples)?;
                samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                let r: Vec<Value> = samples
                    .iter()
                    .map(|s| json!({"metric": s.labels.to_json(), "value": [ts_json(t), fmt_value(s.v)]}))
                    .collect();
                json!({"resultType": "vector", "result": r})
            }
            None => json!({"resultType": "vector", "result": []}),
        };
        Ok((result, warnings))
    }

    /// `/api/v1/query_range`: `expr` at `start`, `start + step`, … up to
    /// `end`; a matrix.
    ///
    /// # Errors
    ///
    /// As [`PromqlError::BadData`] also for a non-positive step, an end
    /// before the start, and more than [`MAX_POINTS`] points.
    pub fn query_range(
        &self,
        store: &Store,
        expr: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<(Value, Vec<String>), PromqlError> {
        let (t0, t1) = (time_ms(start)?, time_ms(end)?);
        let step_ns = step.as_nanos();
        if step_ns == 0 {
            return Err(bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if t1 < t0 {
            return Err(bad("end timestamp must not be before start time"));
        }
        let n = u128::from(t1 - t0) * 1_000_000 / step_ns + 1;
        if n > u128::from(MAX_POINTS) {
            return Err(bad(format!(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the \
                 query resolution (?step=XX) (this query asks for {n} points)"
            )));
        }
        // n <= MAX_POINTS and each offset <= t1 - t0: the casts are exact.
        let points: Vec<u64> = (0..n)
            .map(|k| t0 + u64::try_from(k * step_ns / 1_000_000).unwrap_or(u64::MAX))
            .collect();
        let mut cx = self.ctx(store);
        let node = cx.compile_top(expr)?;
        let (vals, warnings) = cx.evaluate(&node, &points)?;
        let mut series: HashMap<Arc<Labels>, Vec<Value>> = HashMap::new();
        for (t, v) in points.iter().zip(vals) {
            match v {
                Val::Scalar(x) => series
                    .entry(Arc::new(Labels::default()))
                    .or_default()
                    .push(json!([ts_json(*t), fmt_value(x)])),
                Val::Vector(samples) => {
                    check_unique(&samples)?;
                    for s in samples {
                        series
                            .entry(s.labels)
                            .or_default()
                            .push(json!([ts_json(*t), fmt_value(s.v)]));
                    }
                }
            }
        }
        let mut series: Vec<(Arc<Labels>, Vec<Value>)> = series.into_iter().collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let r: Vec<Value> = series
            .into_iter()
            .map(|(l, values)| json!({"metric": l.to_json(), "values": values}))
            .collect();
        Ok((json!({"resultType": "matrix", "result": r}), warnings))
    }

    /// `/api/v1/series`: the label sets of the series that the selectors
    /// `matches` pick (at least one), among those with data in
    /// `[start, end]` (when given).
    ///
    /// # Errors
    ///
    /// [`PromqlError::BadData`] when no selector is given or one is not a
    /// plain vector selector; [`PromqlError::Store`] when the store cannot
    /// be read.
    pub fn series(
        &self,
        store: &Store,
        matches: &[String],
        range: (Option<SystemTime>, Option<SystemTime>),
    ) -> Result<Value, PromqlError> {
        if matches.is_empty() {
            return Err(bad("no match[] parameter provided"));
        }
        let sets = self.label_sets(store, matches, range)?;
        Ok(Value::Array(sets.iter().map(Labels::to_json).collect()))
    }

    /// `/api/v1/labels`: the label names of the series `matches` picks (of
    /// every series when empty), sorted.
    ///
    /// # Errors
    ///
    /// As [`PromqlApi::series`], but no selector is fine.
    pub fn labels(
        &self,
        store: &Store,
        matches: &[String],
        range: (Option<SystemTime>, Option<SystemTime>),
    ) -> Result<Value, PromqlError> {
        let sets = self.label_sets(store, matches, range)?;
        let mut names: Vec<&str> =
            sets.iter().flat_map(|l| l.0.iter().map(|(k, _)| k.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        Ok(json!(names))
    }

    /// `/api/v1/label/<name>/values`: the values of label `name` among the
    /// series `matches` picks (every series when empty), sorted.
    ///
    /// # Errors
    ///
    /// As [`PromqlApi::labels`]; also a label name that is not valid.
    pub fn label_values(
        &self,
        store: &Store,
        name: &str,
        matches: &[String],
        range: (Option<SystemTime>, Option<SystemTime>),
    ) -> Result<Value, PromqlError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !valid {
            return Err(bad(format!("invalid label name: {name:?}")));
        }
        let sets = self.label_sets(store, matches, range)?;
        let mut values: Vec<&str> =
            sets.iter().map(|l| l.get(name)).filter(|v| !v.is_empty()).collect();
        values.sort_unstable();
        values.dedup();
        Ok(json!(values))
    }

    /// `/api/v1/metadata`: type, help and unit of each metric family
    /// served (of `metric` only, when given), as Prometheus lists them.
    #[must_use]
    pub fn metadata(&self, store: &Store, metric: Option<&str>) -> Value {
        let cx = self.ctx(store);
        let h = self.names.histogram();
        let mut out = serde_json::Map::new();
        let mut add = |name: &str, ty: &str, help: &str, unit: &str| {
            if metric.is_none_or(|m| m == name) {
                out.insert(name.to_string(), json!([{"type": ty, "help": help, "unit": unit}]));
            }
        };
        add(h, "histogram", "Request latency, from tailstore's exact HDR histograms.", "seconds");
        let counter = if self.names.counter_typed() { "counter" } else { "unknown" };
        let family = if self.names.counter_typed() {
            self.names.counter()
        } else {
            self.names.counter_sample()
        };
        add(family, counter, "Requests by status code.", "");
        for (name, m) in cx.metrics() {
            match m {
                Metric::Gauge(_) => add(&name, "gauge", "A gauge of the tailstore store.", ""),
                Metric::Cpu(src) => add(
                    &name,
                    "counter",
                    &format!("CPU seconds, answered under rate() from the gauge {src}."),
                    "seconds",
                ),
                Metric::Store(_) => {}
            }
        }
        Value::Object(out)
    }

    /// `/api/v1/status/buildinfo`.
    #[must_use]
    pub fn buildinfo() -> Value {
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "tailstore",
            "buildDate": "",
            "goVersion": "none (tailstore, Rust)",
        })
    }

    /// Every series the API knows (or those `matches` picks), as label sets.
    fn label_sets(
        &self,
        store: &Store,
        matches: &[String],
        (start, end): (Option<SystemTime>, Option<SystemTime>),
    ) -> Result<Vec<Labels>, PromqlError> {
        let start_s = start.map(time_ms).transpose()?.map(|t| t / 1000);
        let end_s = end.map(time_ms).transpose()?.map(|t| t.div_ceil(1000));
        let mut cx = self.ctx(store);
        cx.listing = true;
        // Series with data in [start, end] (inclusive, whole seconds).
        cx.series.retain(|s| {
            start_s.is_none_or(|a| s.end_s > a) && end_s.is_none_or(|b| s.first_s <= b)
        });
        let selectors: Vec<pp::VectorSelector> = if matches.is_empty() {
            vec![pp::VectorSelector::new(None, promql_parser::label::Matchers::empty())]
        } else {
            matches
                .iter()
                .map(|m| match pp::parse(m).map_err(|e| bad(format!("match[] {m:?}: {e}")))? {
                    Expr::VectorSelector(vs) => Ok(vs),
                    _ => Err(bad(format!("match[] {m:?} is not a series selector"))),
                })
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for vs in &selectors {
            for cell in cx.select(vs, true, None)? {
                out.extend(cell.outs.iter().map(|l| (**l).clone()));
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Unix milliseconds of `t`, checked to lie in the store's range.
fn time_ms(t: SystemTime) -> Result<u64, PromqlError> {
    let d = t.duration_since(UNIX_EPOCH).map_err(|_| bad("times before 1970 are not supported"))?;
    if d.as_secs_f64() > MAX_TIME_S {
        return Err(bad("time is after 2554-07-21, the store's last second"));
    }
    Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A timestamp as Prometheus writes it: float seconds (`1764547200`,
/// `1764547200.5`).
fn ts_json(t_ms: u64) -> Value {
    if t_ms.is_multiple_of(1000) {
        json!(t_ms / 1000)
    } else {
        #[expect(clippy::cast_precision_loss, reason = "ms below 2^53: exact")]
        let s = t_ms as f64 / 1000.0;
        json!(s)
    }
}

/// A sample value as Prometheus writes it (Go's `FormatFloat(v, 'f', -1)`,
/// `NaN`, `+Inf`, `-Inf`).
#[must_use]
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn check_unique(samples: &[Sample]) -> Result<(), PromqlError> {
    let mut seen: Vec<&Labels> = samples.iter().map(|s| &*s.labels).collect();
    seen.sort();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(PromqlError::Execution(
            "vector cannot contain metrics with the same labelset".into(),
        ));
    }
    Ok(())
}

fn unsupported(what: impl std::fmt::Display) -> PromqlError {
    bad(format!(
        "unsupported by tailstore: {what} (supported: see docs/PROMQL.md: rate, increase, \
         histogram_quantile, sum/avg/min/max/count/group by|without, arithmetic and comparisons, \
         *_over_time of gauges)"
    ))
}

/// Longest query text, bytes.
pub const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most operators and brackets outside string literals, and deepest
/// bracket nesting, of a query: parsing and evaluating recurse, and these
/// bounds keep that recursion far inside a thread's stack.
pub const MAX_QUERY_OPERATORS: usize = 256;
/// Deepest nesting of brackets.
pub const MAX_QUERY_DEPTH: usize = 128;

/// Refuses a query too long or too deeply nested to evaluate safely.
fn check_shape(expr: &str) -> Result<(), PromqlError> {
    if expr.len() > MAX_QUERY_BYTES {
        return Err(bad(format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
    }
    let (mut ops, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                ops += 1;
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' => ops += 1,
            _ => {}
        }
    }
    if deepest > MAX_QUERY_DEPTH {
        return Err(bad(format!(
            "the query nests {deepest} brackets deep (at most {MAX_QUERY_DEPTH})"
        )));
    }
    if ops > MAX_QUERY_OPERATORS {
        return Err(bad(format!(
            "the query has {ops} operators and brackets (at most {MAX_QUERY_OPERATORS})"
        )));
    }
    Ok(())
}

/// Whole seconds of a range, or an error naming it.
fn whole_secs(d: Duration, what: &str) -> Result<u64, PromqlError> {
    if d.subsec_nanos() != 0 || d.is_zero() {
        return Err(bad(format!(
            "{what}: the range must be a positive whole number of seconds (tailstore's windows are \
             whole seconds)"
        )));
    }
    Ok(d.as_secs())
}

impl Ctx<'_> {
    fn compile_top(&mut self, expr: &str) -> Result<Node, PromqlError> {
        if expr.trim().is_empty() {
            return Err(bad("empty query"));
        }
        check_shape(expr)?;
        let e = pp::parse(expr).map_err(|e| bad(format!("parse error: {e}")))?;
        let n = self.compile(&e)?;
        if let Expr::MatrixSelector(_) = e {
            return Err(unsupported("a range vector as the result"));
        }
        Ok(n)
    }

    fn leaf(&mut self, cells: Vec<Cell>) -> Node {
        self.leaves.push(Leaf { cells });
        Node::Leaf(self.leaves.len() - 1)
    }

    fn compile(&mut self, e: &Expr) -> Result<Node, PromqlError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Node::Num(n.val)),
            Expr::Paren(p) => self.compile(&p.expr),
            Expr::Unary(u) => Ok(Node::Neg(Box::new(self.compile(&u.expr)?))),
            Expr::StringLiteral(_) => Err(unsupported("a string literal")),
            Expr::Subquery(_) => Err(unsupported("subqueries")),
            Expr::Extension(_) => Err(unsupported("extension expressions")),
            Expr::MatrixSelector(_) => {
                Err(unsupported("a range vector outside rate(), increase() or *_over_time()"))
            }
            Expr::VectorSelector(vs) => {
                let cells = self.select(vs, true, None)?;
                Ok(self.leaf(cells))
            }
            Expr::Binary(b) => {
                let op_s = b.op.to_string();
                let op = BinOp::parse(&op_s)
                    .ok_or_else(|| unsupported(format!("the binary operator {op_s:?}")))?;
                let (mut bool_, mut on) = (false, None);
                if let Some(m) = &b.modifier {
                    bool_ = m.return_bool;
                    match &m.card {
                        VectorMatchCardinality::OneToOne => {}
                        _ => return Err(unsupported("group_left / group_right")),
                    }
                    if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                        return Err(unsupported("fill modifiers"));
                    }
                    on = m.matching.as_ref().map(|lm| match lm {
                        LabelModifier::Include(l) => Grouping::By(l.labels.clone()),
                        LabelModifier::Exclude(l) => Grouping::Without(l.labels.clone()),
                    });
                }
                let lhs = self.compile(&b.lhs)?;
                let rhs = self.compile(&b.rhs)?;
                if op.is_comparison() && lhs.is_scalar() && rhs.is_scalar() && !bool_ {
                    return Err(bad("comparisons between scalars must use BOOL modifier"));
                }
                Ok(Node::Bin { op, lhs: Box::new(lhs), rhs: Box::new(rhs), bool_, on })
            }
            Expr::Aggregate(a) => {
                let op_s = a.op.to_string();
                let op = match op_s.as_str() {
                    "sum" => AggOp::Sum,
                    "avg" => AggOp::Avg,
                    "min" => AggOp::Min,
                    "max" => AggOp::Max,
                    "count" => AggOp::Count,
                    "group" => AggOp::Group,
                    _ => return Err(unsupported(format!("the aggregation {op_s}"))),
                };
                if a.param.is_some() {
                    return Err(unsupported(format!("{op_s} with a parameter")));
                }
                let by = match &a.modifier {
                    None => Grouping::By(vec![]),
                    Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
                };
                let inner = self.compile(&a.expr)?;
                if inner.is_scalar() {
                    return Err(bad(format!("expected type instant vector in aggregation {op_s}")));
                }
                if op == AggOp::Sum {
                    if let Node::Leaf(i) = inner {
                        if let Some(cells) = fuse(&self.leaves[i].cells, &by) {
                            self.leaves[i].cells = cells;
                            return Ok(Node::Leaf(i));
                        }
                    }
                }
                Ok(Node::Agg { op, by, inner: Box::new(inner) })
            }
            Expr::Call(c) => self.call(c),
        }
    }

    fn call(&mut self, c: &pp::Call) -> Result<Node, PromqlError> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| -> Result<&Expr, PromqlError> {
            args.get(i).map(|b| &**b).ok_or_else(|| bad(format!("{name}: missing argument {i}")))
        };
        match name {
            "rate" | "increase" => {
                if let Expr::Subquery(_) = arg(0)? {
                    return Err(unsupported("subqueries"));
                }
                let Expr::MatrixSelector(ms) = arg(0)? else {
                    return Err(bad(format!("{name}: expected a range vector selector")));
                };
                let secs = whole_secs(ms.range, &format!("{name}(…[{}])", ms.range.as_secs()))?;
                let win = Win::Range { secs, rate: name == "rate" };
                let cells = self.select(&ms.vs, false, Some((win, name)))?;
                Ok(self.leaf(cells))
            }
            "avg_over_time" | "min_over_time" | "max_over_time" | "last_over_time"
            | "count_over_time" | "sum_over_time" => {
                let Expr::MatrixSelector(ms) = arg(0)? else {
                    return Err(bad(format!("{name}: expected a range vector selector")));
                };
                let secs = whole_secs(ms.range, name)?;
                let win = Win::Range { secs, rate: false };
                let cells = self.select(&ms.vs, name == "last_over_time", Some((win, name)))?;
                Ok(self.leaf(cells))
            }
            "histogram_quantile" => {
                let Expr::NumberLiteral(q) = arg(0)? else {
                    return Err(unsupported(
                        "histogram_quantile with a quantile that is not a number",
                    ));
                };
                let inner = self.compile(arg(1)?)?;
                let msg = "histogram_quantile over anything but rate()/increase() of a latency \
                           _bucket family (optionally summed by le and other labels)";
                let Node::Leaf(i) = inner else { return Err(unsupported(msg)) };
                let mut cells = Vec::new();
                for cell in &self.leaves[i].cells {
                    let Src::Store { fam: Fam::Bucket, .. } = cell.src else {
                        return Err(unsupported(msg));
                    };
                    let Red::Buckets { les, collapse: false } = &cell.red else {
                        // Summed over le: Prometheus finds no le label and
                        // answers nothing.
                        continue;
                    };
                    if les.len() != self.api.bounds.len() + 1 {
                        return Err(unsupported(
                            "histogram_quantile over a subset of the le buckets",
                        ));
                    }
                    let base = cell.base.without(&["__name__"]);
                    cells.push(Cell {
                        src: cell.src.clone(),
                        win: cell.win,
                        red: Red::Quantile(q.val),
                        outs: vec![Arc::new(base.clone())],
                        base,
                    });
                }
                Ok(self.leaf(cells))
            }
            "scalar" => {
                let inner = self.compile(arg(0)?)?;
                Ok(Node::Scalar(Box::new(inner)))
            }
            "vector" => {
                let inner = self.compile(arg(0)?)?;
                Ok(Node::Vector(Box::new(inner)))
            }
            "time" => Ok(Node::Time),
            _ => match MathFn::parse(name) {
                Some(f) if args.len() == 1 => {
                    let inner = self.compile(arg(0)?)?;
                    Ok(Node::Math { f, inner: Box::new(inner) })
                }
                _ => Err(unsupported(format!("the function {name}()"))),
            },
        }
    }

    /// The metrics the API answers, by name.
    fn metrics(&self) -> Vec<(String, Metric)> {
        let n = self.api.names;
        let h = n.histogram();
        let mut m = vec![
            (format!("{h}_bucket"), Metric::Store(Fam::Bucket)),
            (format!("{h}_count"), Metric::Store(Fam::Count)),
            (format!("{h}_sum"), Metric::Store(Fam::Sum)),
            (n.counter_sample().to_string(), Metric::Store(Fam::Requests)),
        ];
        for g in &self.gauges {
            m.push((g.clone(), Metric::Gauge(g.clone())));
        }
        let cpu =
            [CPU_CONTAINER, CPU_PROCESS].into_iter().find(|c| self.gauges.iter().any(|g| g == c));
        if let Some(c) = cpu {
            if !self.gauges.iter().any(|g| g == CPU_SECONDS) {
                m.push((CPU_SECONDS.to_string(), Metric::Cpu(c.to_string())));
            }
        }
        m
    }

    /// The statuses series `name` holds over its whole data (what a scrape
    /// lists), read once per query.
    fn statuses_of(
        &mut self,
        name: &str,
        (first_s, end_s): (u64, u64),
    ) -> Result<Vec<u16>, PromqlError> {
        if let Some(codes) = self.statuses.get(name) {
            return Ok(codes.clone());
        }
        let w =
            self.store.query(Selector::exact(name)).between(at_s(first_s), at_s(end_s)).run()?;
        let codes: Vec<u16> = w.status_counts().iter().map(|(c, _)| c).collect();
        self.statuses.insert(name.to_string(), codes.clone());
        Ok(codes)
    }

    /// The cells of a vector selector, one per series (per gauge), each
    /// with its `le`/`status` values expanded. `keep_name` keeps
    /// `__name__` in the labels; `func` is the range function around it.
    #[expect(clippy::too_many_lines, reason = "one selector, every family's labels")]
    fn select(
        &mut self,
        vs: &pp::VectorSelector,
        keep_name: bool,
        func: Option<(Win, &str)>,
    ) -> Result<Vec<Cell>, PromqlError> {
        if vs.offset.is_some() {
            return Err(unsupported("the offset modifier"));
        }
        if vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        if !vs.matchers.or_matchers.is_empty() {
            return Err(unsupported("`or` inside a selector"));
        }
        let mut matchers: Vec<Matcher> = vs.matchers.matchers.clone();
        if let Some(n) = &vs.name {
            if !matchers.iter().any(|m| m.name == "__name__") {
                matchers.push(Matcher::new(MatchOp::Equal, "__name__", n));
            }
        }
        let label = self.api.names.series_label();
        let nb = self.api.bounds.len();
        let mut cells = Vec::new();
        let mut any_metric = false;
        for (metric, kind) in self.metrics() {
            if !matchers.iter().filter(|m| m.name == "__name__").all(|m| m.is_match(&metric)) {
                continue;
            }
            any_metric = true;
            let name_labels = if keep_name {
                Labels::default().with("__name__", &metric)
            } else {
                Labels::default()
            };
            match kind {
                Metric::Store(fam) => {
                    let win = match func {
                        None => Win::Cumulative,
                        Some((w @ Win::Range { .. }, f)) if f == "rate" || f == "increase" => w,
                        Some((_, f)) => {
                            return Err(unsupported(format!(
                                "{f}() of {metric} (a counter: use rate() or increase())"
                            )))
                        }
                    };
                    let mut les: Vec<usize> = (0..=nb).collect();
                    let mut status: Vec<Matcher> = Vec::new();
                    let mut ok = true;
                    let mut series_m: Vec<&Matcher> = Vec::new();
                    for m in &matchers {
                        match m.name.as_str() {
                            "__name__" => {}
                            n if n == label => series_m.push(m),
                            "le" if fam == Fam::Bucket => {
                                les.retain(|&i| m.is_match(self.le_text(i)));
                            }
                            "status" if fam == Fam::Requests => status.push(m.clone()),
                            _ => ok &= m.is_match(""),
                        }
                    }
                    if !ok {
                        continue;
                    }
                    let chosen: Vec<(String, u64, u64)> = self
                        .series
                        .iter()
                        .filter(|s| series_m.iter().all(|m| m.is_match(&s.name)))
                        .map(|s| (s.name.clone(), s.first_s, s.end_s))
                        .collect();
                    for (name, first_s, end_s) in chosen {
                        let base = name_labels.clone().with(label, &name);
                        let red = match fam {
                            Fam::Bucket => Red::Buckets { les: les.clone(), collapse: false },
                            Fam::Count => Red::Count,
                            Fam::Sum => Red::Sum,
                            Fam::Requests => {
                                let mut codes = self.statuses_of(&name, (first_s, end_s))?;
                                codes.retain(|c| status.iter().all(|m| m.is_match(&c.to_string())));
                                Red::Requests { status: status.clone(), expand: Some(codes) }
                            }
                        };
                        let src = Src::Store { fam, names: vec![name], first_s, end_s };
                        cells.push(self.make_cell(src, win, red, base));
                    }
                }
                Metric::Gauge(ref g) | Metric::Cpu(ref g) => {
                    let (cpu, g) = (matches!(kind, Metric::Cpu(_)), g.clone());
                    let (win, red) = match func {
                        None if cpu && self.listing => (Win::Lookback, Red::GaugeLast),
                        None if cpu => {
                            return Err(unsupported(format!(
                                "{CPU_SECONDS} outside rate() or increase() (tailstore keeps CPU \
                                 percentages, not the cumulative counter)"
                            )))
                        }
                        None => (Win::Lookback, Red::GaugeLast),
                        Some((w, f)) if cpu && (f == "rate" || f == "increase") => {
                            (w, Red::Cpu { increase: f == "increase" })
                        }
                        Some((w, f)) if !cpu && f.ends_with("_over_time") => {
                            let over = match f {
                                "avg_over_time" => Over::Avg,
                                "min_over_time" => Over::Min,
                                "max_over_time" => Over::Max,
                                "last_over_time" => Over::Last,
                                "count_over_time" => Over::Count,
                                _ => Over::Sum,
                            };
                            (w, Red::GaugeOver(over))
                        }
                        Some((_, f)) => {
                            return Err(unsupported(format!(
                                "{f}() of {metric} (a gauge: use avg_over_time, min_over_time, \
                                 max_over_time, last_over_time, count_over_time, sum_over_time)"
                            )))
                        }
                    };
                    let mut base = name_labels.clone();
                    for (k, v) in &self.api.gauge_labels.0 {
                        base = base.with(k, v);
                    }
                    if !matchers
                        .iter()
                        .filter(|m| m.name != "__name__")
                        .all(|m| m.is_match(base.get(&m.name)))
                    {
                        continue;
                    }
                    let src = Src::Gauge { name: g };
                    cells.push(self.make_cell(src, win, red, base));
                }
            }
        }
        if !any_metric {
            let name = matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map_or_else(|| "{…}".to_string(), |m| m.value.clone());
            self.warnings.push(format!(
                "no metric {name:?} here: tailstore serves {}",
                self.metrics().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(cells)
    }

    fn le_text(&self, i: usize) -> &str {
        self.api.bounds.get(i).map_or("+Inf", |b| b.1.as_str())
    }

    fn make_cell(&self, src: Src, win: Win, red: Red, base: Labels) -> Cell {
        let outs = outs_of(&red, &base, &self.api.bounds);
        Cell { src, win, red, base, outs }
    }
}

fn at_s(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// The label sets of a cell's values.
fn outs_of(red: &Red, base: &Labels, bounds: &[(u64, String)]) -> Vec<Arc<Labels>> {
    match red {
        Red::Buckets { les, collapse: false } => les
            .iter()
            .map(|&i| {
                Arc::new(base.clone().with("le", bounds.get(i).map_or("+Inf", |b| b.1.as_str())))
            })
            .collect(),
        Red::Requests { expand: Some(codes), .. } => {
            codes.iter().map(|c| Arc::new(base.clone().with("status", &c.to_string()))).collect()
        }
        _ => vec![Arc::new(base.clone())],
    }
}

/// `sum by/without (…)` of store cells, merged into one cell per group so
/// that the group's histogram is merged exactly (and queried once). `None`
/// when the cells cannot be merged (gauges, several families).
fn fuse(cells: &[Cell], by: &Grouping) -> Option<Vec<Cell>> {
    let fam0 = match cells.first().map(|c| &c.src) {
        Some(Src::Store { fam, .. }) => *fam,
        _ => return None,
    };
    let mut groups: Vec<(Labels, Cell)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for c in cells {
        let Src::Store { fam, names, first_s, end_s } = &c.src else { return None };
        if *fam != fam0 {
            return None;
        }
        let key = c.base.group(by);
        let keep_exp = match fam0 {
            Fam::Bucket => by.keeps("le"),
            Fam::Requests => by.keeps("status"),
            Fam::Count | Fam::Sum => false,
        };
        let red = match &c.red {
            Red::Buckets { les, .. } => Red::Buckets { les: les.clone(), collapse: !keep_exp },
            Red::Requests { status, expand } => Red::Requests {
                status: status.clone(),
                expand: if keep_exp { expand.clone() } else { None },
            },
            r => r.clone(),
        };
        if let Some(&k) = index.get(&key) {
            {
                let g = &mut groups[k].1;
                if let Src::Store { names: gn, first_s: gf, end_s: ge, .. } = &mut g.src {
                    gn.extend(names.iter().cloned());
                    *gf = (*gf).min(*first_s);
                    *ge = (*ge).max(*end_s);
                }
                if let (
                    Red::Requests { expand: Some(a), .. },
                    Red::Requests { expand: Some(b), .. },
                ) = (&mut g.red, &red)
                {
                    a.extend(b.iter().copied());
                    a.sort_unstable();
                    a.dedup();
                }
            }
        } else {
            index.insert(key.clone(), groups.len());
            let src =
                Src::Store { fam: fam0, names: names.clone(), first_s: *first_s, end_s: *end_s };
            groups.push((key.clone(), Cell { src, win: c.win, red, base: key, outs: vec![] }));
        }
    }
    Some(groups.into_iter().map(|(_, c)| c).collect())
}

/// One cell's values at every point: presence, and `outs.len()` values each.
struct CellVals {
    present: Vec<bool>,
    vals: Vec<f64>,
    /// Per value, the first window end at which it exists (a status first
    /// seen in the data's second `x` exists from `x + 1` on, as a scrape
    /// then would have listed it); `None`: all values exist with the cell.
    from: Option<Vec<u64>>,
    /// Points whose window has seconds no intact stored piece covers.
    damaged_points: u64,
}

impl Ctx<'_> {
    /// Evaluates `node` at every point (unix ms).
    fn evaluate(
        mut self,
        node: &Node,
        points: &[u64],
    ) -> Result<(Vec<Val>, Vec<String>), PromqlError> {
        // Finish the fused cells' label sets.
        let bounds = self.api.bounds.clone();
        for leaf in &mut self.leaves {
            for c in &mut leaf.cells {
                if c.outs.is_empty() {
                    c.outs = outs_of(&c.red, &c.base, &bounds);
                }
            }
        }
        let total: u64 = self
            .leaves
            .iter()
            .flat_map(|l| l.cells.iter().map(|c| c.outs.len() as u64))
            .sum::<u64>()
            .saturating_mul(points.len() as u64);
        if total > MAX_SAMPLES {
            return Err(bad(format!(
                "query processing would load too many samples into memory ({total}, more than \
                 {MAX_SAMPLES}): select fewer series, or use a larger step"
            )));
        }
        // Each point's window ends at the first whole second at or after
        // it (as `tailstore query --last D --at T` does).
        let ends: Vec<u64> = points.iter().map(|t| t.div_ceil(1000)).collect();
        // Store queries: one sliding query per cell of a range window when
        // the points are whole seconds apart, else one per point.
        let slides = uniform(&ends);
        let queries: u64 = self
            .leaves
            .iter()
            .flat_map(|l| l.cells.iter())
            .map(|c| match (&c.src, c.win) {
                (Src::Store { .. }, Win::Range { .. }) if slides => 1,
                _ => points.len() as u64,
            })
            .sum();
        if queries > MAX_STORE_QUERIES {
            return Err(bad(format!(
                "the query needs {queries} store queries (at most {MAX_STORE_QUERIES}): select \
                 fewer series, use a larger step, or a whole-second step with rate()/increase()"
            )));
        }
        let mut values: Vec<Vec<CellVals>> = Vec::with_capacity(self.leaves.len());
        let mut damaged = 0;
        for leaf in &self.leaves {
            let mut lv = Vec::with_capacity(leaf.cells.len());
            for c in &leaf.cells {
                let cv = self.cell_values(c, &ends)?;
                damaged += cv.damaged_points;
                lv.push(cv);
            }
            values.push(lv);
        }
        if damaged > 0 {
            // As `tailstore query` warns (and exits 3): the answer covers
            // the intact seconds only.
            self.warnings.push(format!(
                "{damaged} windows have seconds that no intact stored piece covers (damaged \
                 segment files, see `tailstore check`): their numbers cover the other seconds only"
            ));
        }
        let mut out = Vec::with_capacity(points.len());
        for (k, &t) in points.iter().enumerate() {
            out.push(self.eval(node, k, t, &values)?);
        }
        Ok((out, self.warnings))
    }

    fn cell_values(&self, c: &Cell, ends: &[u64]) -> Result<CellVals, PromqlError> {
        let n = c.outs.len();
        let mut cv = CellVals {
            present: vec![false; ends.len()],
            vals: vec![f64::NAN; ends.len() * n],
            from: None,
            damaged_points: 0,
        };
        match &c.src {
            Src::Store { names, first_s, end_s, .. } => {
                let sel = if let [one] = names.as_slice() {
                    Selector::exact(one.as_str())
                } else {
                    let alt: Vec<String> = names.iter().map(|s| regex::escape(s)).collect();
                    Selector::regex(&alt.join("|"))
                        .map_err(|e| PromqlError::Store(tailstore::Error::Query(e)))?
                };
                if let Red::Requests { expand: Some(codes), .. } = &c.red {
                    cv.from = Some(self.first_seen(&sel, codes, (*first_s, *end_s), ends)?);
                }
                let bounds = &self.api.bounds;
                let mut put = |k: usize, w: &WindowStats| {
                    cv.present[k] = true;
                    cv.damaged_points += u64::from(w.damaged_s() > 0);
                    let vals = &mut cv.vals[k * n..(k + 1) * n];
                    reduce(&c.red, w, bounds, vals);
                    let f = scale_of(c.win, &c.red, w);
                    #[expect(clippy::float_cmp, reason = "1.0 exactly: nothing to scale")]
                    if f != 1.0 {
                        for v in vals.iter_mut() {
                            *v *= f;
                        }
                    }
                };
                match c.win {
                    Win::Range { secs, .. } => {
                        if uniform(ends) {
                            let (e0, step) = (ends[0], ends[1] - ends[0]);
                            let e_last = ends[ends.len() - 1];
                            self.store.query(sel).last(Duration::from_secs(secs)).range_with(
                                at_s(e0),
                                at_s(e_last),
                                Duration::from_secs(step),
                                |t, w| {
                                    let k = usize::try_from((t - e0) / step).unwrap_or(usize::MAX);
                                    if k < ends.len() && *first_s < t {
                                        put(k, w);
                                    }
                                },
                            )?;
                        } else {
                            for (k, &e) in ends.iter().enumerate() {
                                if *first_s < e {
                                    let w = self
                                        .store
                                        .query(sel.clone())
                                        .last(Duration::from_secs(secs))
                                        .ending_at(at_s(e))
                                        .run()?;
                                    put(k, &w);
                                }
                            }
                        }
                    }
                    Win::Cumulative | Win::Lookback => {
                        for (k, &e) in ends.iter().enumerate() {
                            if *first_s < e {
                                let w = self
                                    .store
                                    .query(sel.clone())
                                    .between(at_s(*first_s), at_s(e))
                                    .run()?;
                                put(k, &w);
                            }
                        }
                    }
                }
            }
            Src::Gauge { name } => {
                for (k, &e) in ends.iter().enumerate() {
                    let len = match c.win {
                        Win::Range { secs, .. } => secs,
                        Win::Lookback | Win::Cumulative => LOOKBACK_S,
                    };
                    let st = self
                        .store
                        .gauge_query(Selector::exact(name.as_str()))
                        .between(at_s(e.saturating_sub(len)), at_s(e))
                        .run()?;
                    if let Some(v) = gauge_value(&c.red, &st, len) {
                        cv.present[k] = true;
                        cv.vals[k * n] = v;
                    }
                }
            }
        }
        Ok(cv)
    }

    /// For each status of `codes`, the first window end at which the
    /// series of `sel` hold one: `C(x)`, the count in `[first, x)`, is 0 at
    /// `first` and positive at `end`; a binary search finds the smallest
    /// `x` where it is positive (one planned query per step), except for
    /// the statuses already there at the first point.
    fn first_seen(
        &self,
        sel: &Selector,
        codes: &[u16],
        (first, end): (u64, u64),
        ends: &[u64],
    ) -> Result<Vec<u64>, PromqlError> {
        let counts = |x: u64| -> Result<tailstore::StatusCounts, PromqlError> {
            Ok(self.store.query(sel.clone()).between(at_s(first), at_s(x)).run()?.status_counts())
        };
        let e0 = ends.iter().copied().min().unwrap_or(end).clamp(first, end);
        let at_e0 = counts(e0)?;
        let mut out = Vec::with_capacity(codes.len());
        for &code in codes {
            if at_e0.get(code) > 0 {
                out.push(first);
                continue;
            }
            let (mut lo, mut hi) = (e0, end);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if counts(mid)?.get(code) > 0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            out.push(hi);
        }
        Ok(out)
    }

    fn eval(
        &self,
        node: &Node,
        k: usize,
        t: u64,
        values: &[Vec<CellVals>],
    ) -> Result<Val, PromqlError> {
        Ok(match node {
            Node::Num(v) => Val::Scalar(*v),
            #[expect(clippy::cast_precision_loss, reason = "ms below 2^53: exact")]
            Node::Time => Val::Scalar(t as f64 / 1000.0),
            Node::Leaf(i) => {
                let mut out = Vec::new();
                for (c, cv) in self.leaves[*i].cells.iter().zip(&values[*i]) {
                    if !cv.present[k] {
                        continue;
                    }
                    let n = c.outs.len();
                    let end_s = t.div_ceil(1000);
                    for (j, (l, v)) in c.outs.iter().zip(&cv.vals[k * n..(k + 1) * n]).enumerate() {
                        if cv.from.as_ref().is_some_and(|f| f.get(j).is_some_and(|&x| x > end_s)) {
                            continue;
                        }
                        out.push(Sample { labels: Arc::clone(l), v: *v });
                    }
                }
                Val::Vector(out)
            }
            Node::Neg(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(-v),
                Val::Vector(s) => Val::Vector(
                    s.into_iter()
                        .map(|x| Sample { labels: drop_name(&x.labels), v: -x.v })
                        .collect(),
                ),
            },
            Node::Math { f, inner } => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(f.apply(v)),
                Val::Vector(s) => Val::Vector(
                    s.into_iter()
                        .map(|x| Sample { labels: drop_name(&x.labels), v: f.apply(x.v) })
                        .collect(),
                ),
            },
            Node::Scalar(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(v),
                Val::Vector(s) => Val::Scalar(if s.len() == 1 { s[0].v } else { f64::NAN }),
            },
            Node::Vector(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => {
                    Val::Vector(vec![Sample { labels: Arc::new(Labels::default()), v }])
                }
                v @ Val::Vector(_) => v,
            },
            Node::Bin { op, lhs, rhs, bool_, on } => {
                let a = self.eval(lhs, k, t, values)?;
                let b = self.eval(rhs, k, t, values)?;
                binary(*op, *bool_, on.as_ref(), a, b)?
            }
            Node::Agg { op, by, inner } => {
                let Val::Vector(s) = self.eval(inner, k, t, values)? else {
                    return Err(bad("expected an instant vector in an aggregation"));
                };
                Val::Vector(aggregate(*op, by, &s))
            }
        })
    }
}

/// Whether the window ends are evenly spaced, a whole step apart (so the
/// windows slide).
fn uniform(ends: &[u64]) -> bool {
    ends.len() > 1
        && ends[1] > ends[0]
        && ends.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(ends[1] - ends[0]))
}

#[expect(clippy::cast_precision_loss, reason = "counts below 2^53 are exact in f64")]
fn reduce(red: &Red, w: &WindowStats, bounds: &[(u64, String)], out: &mut [f64]) {
    match red {
        Red::Buckets { les, collapse } => {
            let at = |i: usize| -> f64 {
                match bounds.get(i) {
                    Some((ns, _)) => w.count_at_most(Duration::from_nanos(*ns)) as f64,
                    None => w.latency_count() as f64,
                }
            };
            if *collapse {
                out[0] = les.iter().map(|&i| at(i)).sum();
            } else {
                for (o, &i) in out.iter_mut().zip(les) {
                    *o = at(i);
                }
            }
        }
        Red::Count => out[0] = w.latency_count() as f64,
        Red::Sum => out[0] = w.accumulator().sum_ns() as f64 / 1e9,
        Red::Requests { status, expand } => {
            let counts = w.status_counts();
            match expand {
                Some(codes) => {
                    for (o, c) in out.iter_mut().zip(codes) {
                        *o = counts.get(*c) as f64;
                    }
                }
                None => {
                    out[0] = counts
                        .iter()
                        .filter(|(c, _)| status.iter().all(|m| m.is_match(&c.to_string())))
                        .map(|(_, n)| n as f64)
                        .sum();
                }
            }
        }
        Red::Quantile(q) => {
            out[0] = if q.is_nan() {
                f64::NAN
            } else if *q < 0.0 {
                f64::NEG_INFINITY
            } else if *q > 1.0 {
                f64::INFINITY
            } else {
                w.quantile(*q).map_or(f64::NAN, |d| d.as_nanos() as f64 / 1e9)
            };
        }
        Red::GaugeLast | Red::GaugeOver(_) | Red::Cpu { .. } => {}
    }
}

/// The factor of a cell's values at a point: `rate()` is the exact count
/// over the window's seconds (its covered part, as `tailstore query`'s
/// `rate_per_s`); `increase()` and a counter's value are the count itself.
fn scale_of(win: Win, red: &Red, w: &WindowStats) -> f64 {
    let (start, end) = w.bounds_s();
    match (win, red) {
        (_, Red::Quantile(_)) => 1.0,
        #[expect(clippy::cast_precision_loss, reason = "a window's seconds, far below 2^53")]
        (Win::Range { rate: true, .. }, _) if end > start => 1.0 / (end - start) as f64,
        _ => 1.0,
    }
}

fn gauge_value(red: &Red, st: &GaugeStats, len_s: u64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "counts and window seconds below 2^53")]
    match red {
        Red::GaugeLast | Red::GaugeOver(Over::Last) => st.last(),
        Red::GaugeOver(Over::Avg) => st.mean(),
        Red::GaugeOver(Over::Min) => st.min(),
        Red::GaugeOver(Over::Max) => st.max(),
        Red::GaugeOver(Over::Count) => (st.count() > 0).then(|| st.count() as f64),
        Red::GaugeOver(Over::Sum) => (st.count() > 0).then(|| st.sum()),
        Red::Cpu { increase } => {
            let cores = st.mean()? / 100.0;
            Some(if *increase { cores * len_s as f64 } else { cores })
        }
        _ => None,
    }
}

fn drop_name(l: &Arc<Labels>) -> Arc<Labels> {
    if l.get("__name__").is_empty() {
        Arc::clone(l)
    } else {
        Arc::new(l.without(&["__name__"]))
    }
}

#[expect(clippy::many_single_char_names, reason = "operands and sides: a, b, l, r, x, y")]
fn binary(
    op: BinOp,
    bool_: bool,
    on: Option<&Grouping>,
    a: Val,
    b: Val,
) -> Result<Val, PromqlError> {
    let cmp = op.is_comparison();
    // The value a sample pair gives, `None` when a comparison filters it out.
    let pick = |x: f64, y: f64, keep: f64| -> Option<f64> {
        let r = op.apply(x, y);
        if !cmp || bool_ {
            Some(r)
        } else if r > 0.5 {
            // A comparison gives exactly 1 (holds) or 0.
            Some(keep)
        } else {
            None
        }
    };
    let labels_of = |l: &Arc<Labels>| if cmp && !bool_ { Arc::clone(l) } else { drop_name(l) };
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(op.apply(x, y)),
        (Val::Vector(v), Val::Scalar(y)) => Val::Vector(
            v.into_iter()
                .filter_map(|s| {
                    pick(s.v, y, s.v).map(|r| Sample { labels: labels_of(&s.labels), v: r })
                })
                .collect(),
        ),
        (Val::Scalar(x), Val::Vector(v)) => Val::Vector(
            v.into_iter()
                .filter_map(|s| {
                    pick(x, s.v, s.v).map(|r| Sample { labels: labels_of(&s.labels), v: r })
                })
                .collect(),
        ),
        (Val::Vector(l), Val::Vector(r)) => {
            let sig = |x: &Labels| match on {
                None => x.without(&["__name__"]),
                Some(Grouping::By(names)) => x.only(&strs(names)),
                Some(Grouping::Without(names)) => {
                    let mut n = strs(names);
                    n.push("__name__");
                    x.without(&n)
                }
            };
            let mut right: HashMap<Labels, &Sample> = HashMap::new();
            for s in &r {
                if right.insert(sig(&s.labels), s).is_some() {
                    return Err(PromqlError::Execution(
                        "found duplicate series for the match group on the right hand-side of the \
                         operation: many-to-many matching not allowed"
                            .into(),
                    ));
                }
            }
            let mut seen: std::collections::HashSet<Labels> = std::collections::HashSet::new();
            let mut out = Vec::new();
            for s in &l {
                let key = sig(&s.labels);
                let Some(m) = right.get(&key) else { continue };
                if !seen.insert(key.clone()) {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit \
                         (group_left/group_right)"
                            .into(),
                    ));
                }
                let Some(v) = pick(s.v, m.v, s.v) else { continue };
                let labels = if cmp && !bool_ {
                    Arc::clone(&s.labels)
                } else if let Some(Grouping::By(_)) = on {
                    Arc::new(key)
                } else {
                    drop_name(&s.labels)
                };
                out.push(Sample { labels, v });
            }
            Val::Vector(out)
        }
    })
}

fn aggregate(op: AggOp, by: &Grouping, s: &[Sample]) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut acc: HashMap<Labels, (f64, u64)> = HashMap::new();
    for x in s {
        let key = x.labels.group(by);
        let e = acc.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            match op {
                AggOp::Min => (f64::INFINITY, 0),
                AggOp::Max => (f64::NEG_INFINITY, 0),
                _ => (0.0, 0),
            }
        });
        e.1 += 1;
        match op {
            AggOp::Sum | AggOp::Avg => e.0 += x.v,
            // As Prometheus: a NaN is replaced by any later value.
            AggOp::Min => {
                if e.1 == 1 || x.v < e.0 || e.0.is_nan() {
                    e.0 = x.v;
                }
            }
            AggOp::Max => {
                if e.1 == 1 || x.v > e.0 || e.0.is_nan() {
                    e.0 = x.v;
                }
            }
            AggOp::Count | AggOp::Group => {}
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (v, n) = acc[&key];
            #[expect(clippy::cast_precision_loss, reason = "a count of samples, far below 2^53")]
            let v = match op {
                AggOp::Sum | AggOp::Min | AggOp::Max => v,
                AggOp::Avg => v / n as f64,
                AggOp::Count => n as f64,
                AggOp::Group => 1.0,
            };
            Sample { labels: Arc::new(key), v }
        })
        .collect()
}

/// An answer of the API: the HTTP status and the JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiAnswer {
    /// HTTP status code (200, 400, 404, 422, 500).
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

impl ApiAnswer {
    fn ok(data: &Value, warnings: &[String]) -> ApiAnswer {
        let mut v = json!({"status": "success", "data": data});
        if !warnings.is_empty() {
            v["warnings"] = json!(warnings);
        }
        ApiAnswer { status: 200, body: v.to_string() }
    }

    fn err(e: &PromqlError) -> ApiAnswer {
        ApiAnswer { status: e.http_status(), body: e.to_json().to_string() }
    }
}

/// The endpoints [`PromqlApi::answer`] serves, under `/api/v1/`.
pub const ENDPOINTS: [&str; 7] = [
    "query",
    "query_range",
    "series",
    "labels",
    "label/<name>/values",
    "metadata",
    "status/buildinfo",
];

impl PromqlApi {
    /// Answers the request for `/api/v1/{endpoint}` with the decoded
    /// parameters (query string and form body together, see
    /// [`parse_form`]), `now` being the default evaluation time.
    #[must_use]
    pub fn answer(
        &self,
        store: &Store,
        endpoint: &str,
        params: &[(String, String)],
        now: SystemTime,
    ) -> ApiAnswer {
        match self.answer_inner(store, endpoint, params, now) {
            Ok(Some((data, warnings))) => ApiAnswer::ok(&data, &warnings),
            Ok(None) => ApiAnswer {
                status: 404,
                body: json!({
                    "status": "error",
                    "errorType": "not_found",
                    "error": format!(
                        "/api/v1/{endpoint} is not served by tailstore (it serves /api/v1/{})",
                        ENDPOINTS.join(", /api/v1/")
                    ),
                })
                .to_string(),
            },
            Err(e) => ApiAnswer::err(&e),
        }
    }

    fn answer_inner(
        &self,
        store: &Store,
        endpoint: &str,
        params: &[(String, String)],
        now: SystemTime,
    ) -> Result<Option<(Value, Vec<String>)>, PromqlError> {
        let one = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let matches: Vec<String> =
            params.iter().filter(|(n, _)| n == "match[]").map(|(_, v)| v.clone()).collect();
        let time = |k: &str| one(k).map(parse_time).transpose();
        let range = || -> Result<_, PromqlError> { Ok((time("start")?, time("end")?)) };
        let need = |k: &str| one(k).ok_or_else(|| bad(format!("missing parameter {k:?}")));
        Ok(Some(match endpoint {
            "query" => {
                let at = time("time")?.unwrap_or(now);
                self.query(store, need("query")?, at)?
            }
            "query_range" => {
                let start = parse_time(need("start")?)?;
                let end = parse_time(need("end")?)?;
                let step = parse_step(need("step")?)?;
                self.query_range(store, need("query")?, start, end, step)?
            }
            "series" => (self.series(store, &matches, range()?)?, vec![]),
            "labels" => (self.labels(store, &matches, range()?)?, vec![]),
            "status/buildinfo" => (PromqlApi::buildinfo(), vec![]),
            "metadata" => (self.metadata(store, one("metric")), vec![]),
            e => match e.strip_prefix("label/").and_then(|r| r.strip_suffix("/values")) {
                Some(name) => (self.label_values(store, name, &matches, range()?)?, vec![]),
                None => return Ok(None),
            },
        }))
    }
}

/// A time parameter: unix seconds (a fraction allowed) or RFC 3339.
///
/// # Errors
///
/// [`PromqlError::BadData`] naming the value.
pub fn parse_time(s: &str) -> Result<SystemTime, PromqlError> {
    let err = || bad(format!("cannot parse {s:?} to a valid timestamp"));
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !v.is_finite() || !(0.0..=MAX_TIME_S).contains(&v) {
            return Err(err());
        }
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(v));
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
#[expect(clippy::many_single_char_names, reason = "the date's fields: y, d, h, …")]
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if b[i + 3] != b':' {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let unix = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    let unix = u64::try_from(unix).ok()?;
    Some(UNIX_EPOCH + Duration::new(unix, nanos))
}

/// A `step`: seconds (a fraction allowed) or a duration (`15s`, `1m`).
///
/// # Errors
///
/// [`PromqlError::BadData`] naming the value.
pub fn parse_step(s: &str) -> Result<Duration, PromqlError> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !v.is_finite() || v <= 0.0 {
            return Err(bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if v > 1e12 {
            return Err(bad(format!("cannot parse {s:?} to a valid duration")));
        }
        return Ok(Duration::from_secs_f64(v));
    }
    promql_parser::util::parse_duration(s)
        .map_err(|e| bad(format!("cannot parse {s:?} to a valid duration: {e}")))
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a
/// POST body): `&`-separated `name=value`, `+` as space, `%XX` escapes.
/// Bytes that do not decode to UTF-8 are replaced.
#[must_use]
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "promql_tests.rs"]
mod tests;
