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

use promql_parser::label::Matcher;
use promql_parser::parser::{self as pp, Expr};
use serde_json::{json, Value};
use tailstore::{Selector, SeriesKind, Store};

use crate::encode::Exposition;
use crate::format::Names;

mod compile;
mod eval;
mod http;

pub use http::{parse_form, parse_step, parse_time, ApiAnswer, ENDPOINTS};

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

/// Unix second `s` as a time.
fn at_s(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
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

#[cfg(test)]
mod tests;
