//! Conditions: `METRIC[WINDOW] OP NUMBER` comparisons joined by `and` / `or`,
//! the metrics they read, and their three-valued evaluation.

use std::fmt;
use std::time::Duration;

use tailstore::WindowStats;

use crate::duration::{fmt_s, parse_s};

/// The default window of a metric written without one (like the guide's
/// `rate(...[5m])`).
pub const DEFAULT_WINDOW_S: u64 = 300;

/// A request metric a condition can compare, in the guide's names and units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// `error_rate`: percent of the window's requests whose status is in the
    /// error set; no value for an empty window.
    ErrorRate,
    /// `latency_p50`, seconds; no value without a latency sample.
    LatencyP50,
    /// `latency_p95`, seconds.
    LatencyP95,
    /// `latency_p99`, seconds.
    LatencyP99,
    /// `latency_p999`, seconds.
    LatencyP999,
    /// `request_rate`: requests per second over the window; 0 when empty.
    RequestRate,
    /// `requests_per_min`: requests per minute over the window; 0 when empty.
    RequestsPerMin,
    /// `requests`: the window's request count; 0 when empty.
    Requests,
    /// `cpu_percent`: the mean of the CPU gauge over the window (percent of
    /// one core, or of the container's quota): `container_cpu_percent` when
    /// the store holds it, else `process_cpu_percent` (a rule's `series:`
    /// naming a gauge the store holds reads that one); no value without a
    /// sample in the window.
    CpuPercent,
    /// `memory_mb`: the last value of the memory gauge in the window, in MiB
    /// (`container_memory_usage_bytes`, else `process_resident_memory_bytes`).
    MemoryMb,
    /// `memory_growth_pct_per_hour`: the memory gauge's robust growth over
    /// the window (`GaugeStats::growth_pct_per_hour`: after the last restart
    /// and its warmup).
    MemoryGrowthPctPerHour,
}

impl Metric {
    const ALL: [(&'static str, Metric); 11] = [
        ("error_rate", Metric::ErrorRate),
        ("latency_p50", Metric::LatencyP50),
        ("latency_p95", Metric::LatencyP95),
        ("latency_p99", Metric::LatencyP99),
        ("latency_p999", Metric::LatencyP999),
        ("request_rate", Metric::RequestRate),
        ("requests_per_min", Metric::RequestsPerMin),
        ("requests", Metric::Requests),
        ("cpu_percent", Metric::CpuPercent),
        ("memory_mb", Metric::MemoryMb),
        ("memory_growth_pct_per_hour", Metric::MemoryGrowthPctPerHour),
    ];

    /// Whether the metric reads a gauge (CPU, memory), not request series.
    #[must_use]
    pub fn is_gauge(self) -> bool {
        matches!(self, Metric::CpuPercent | Metric::MemoryMb | Metric::MemoryGrowthPctPerHour)
    }

    /// The name rule files use.
    #[must_use]
    pub fn name(self) -> &'static str {
        Metric::ALL.iter().find(|(_, m)| *m == self).map_or("?", |(n, _)| n)
    }

    /// The unit its values are in (`%`, `s`, `req/s`, `req/min`, `requests`).
    #[must_use]
    pub fn unit(self) -> &'static str {
        match self {
            Metric::ErrorRate | Metric::CpuPercent => "%",
            Metric::LatencyP50 | Metric::LatencyP95 | Metric::LatencyP99 | Metric::LatencyP999 => {
                "s"
            }
            Metric::RequestRate => "req/s",
            Metric::RequestsPerMin => "req/min",
            Metric::Requests => "requests",
            Metric::MemoryMb => "MiB",
            Metric::MemoryGrowthPctPerHour => "%/h",
        }
    }

    fn quantile(self) -> Option<f64> {
        match self {
            Metric::LatencyP50 => Some(0.5),
            Metric::LatencyP95 => Some(0.95),
            Metric::LatencyP99 => Some(0.99),
            Metric::LatencyP999 => Some(0.999),
            _ => None,
        }
    }
}

/// What a latency or availability SLO counts as a good request.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Sli {
    /// Good: the status is not in the error set; total: every request.
    Availability,
    /// Good: a known latency of at most this many nanoseconds (counted from
    /// the histogram, see [`WindowSource::count_at_most`]); total: requests
    /// with a known latency.
    LatencyAtMost(u64),
}

impl Sli {
    /// `(total, bad)` requests of a window.
    pub(crate) fn total_bad(self, w: &dyn WindowSource) -> (u64, u64) {
        match self {
            Sli::Availability => (w.requests(), w.errors().min(w.requests())),
            Sli::LatencyAtMost(ns) => {
                let total = w.latency_count();
                (total, total - w.count_at_most(ns).min(total))
            }
        }
    }
}

/// What one comparison measures: a request metric, or an SLO's burn rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Measure {
    Metric(Metric),
    /// `bad / total / budget` (budget = 1 − objective), no value when empty.
    Burn {
        sli: Sli,
        budget: f64,
    },
}

/// The numbers of one window that conditions read: implemented by the
/// store's [`WindowStats`], so a live evaluator queries the store and hands
/// the answers over, and by the backtest's precomputed points.
pub trait WindowSource {
    /// The window's length in seconds (rates divide by it).
    fn window_s(&self) -> u64;
    /// Requests in the window.
    fn requests(&self) -> u64;
    /// Requests whose status is in the error set.
    fn errors(&self) -> u64;
    /// Requests with a known latency.
    fn latency_count(&self) -> u64;
    /// The latency at quantile `q`, seconds; `None` without a sample.
    fn quantile_s(&self, q: f64) -> Option<f64>;
    /// Requests with a known latency of at most `ns` nanoseconds: every such
    /// sample, plus those in the same histogram bucket above it (within
    /// 0.098 % at the default 3 digits).
    fn count_at_most(&self, ns: u64) -> u64;
    /// The value of a gauge metric ([`Metric::is_gauge`]) over the window;
    /// `None` without a sample (the default: a source without gauges).
    fn gauge(&self, metric: Metric) -> Option<f64> {
        let _ = metric;
        None
    }
}

impl WindowSource for WindowStats {
    fn window_s(&self) -> u64 {
        let (a, b) = self.bounds_s();
        b.saturating_sub(a)
    }
    fn requests(&self) -> u64 {
        self.count()
    }
    fn errors(&self) -> u64 {
        WindowStats::errors(self)
    }
    fn latency_count(&self) -> u64 {
        WindowStats::latency_count(self)
    }
    fn quantile_s(&self, q: f64) -> Option<f64> {
        self.quantile(q).map(|d| d.as_secs_f64())
    }
    fn count_at_most(&self, ns: u64) -> u64 {
        WindowStats::count_at_most(self, Duration::from_nanos(ns))
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "counts and window lengths as f64 for ratios and rates: exact below 2^53"
)]
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b as f64
}

impl Measure {
    /// The value over window `w` of length `window_s`; `None` is "no data".
    pub(crate) fn value(self, w: &dyn WindowSource, window_s: u64) -> Option<f64> {
        let len = window_s.max(1);
        match self {
            Measure::Metric(m) => match m {
                Metric::ErrorRate => {
                    let n = w.requests();
                    (n > 0).then(|| 100.0 * ratio(w.errors().min(n), n))
                }
                Metric::RequestRate => Some(ratio(w.requests(), len)),
                Metric::RequestsPerMin => Some(60.0 * ratio(w.requests(), len)),
                Metric::Requests => Some(ratio(w.requests(), 1)),
                Metric::LatencyP50
                | Metric::LatencyP95
                | Metric::LatencyP99
                | Metric::LatencyP999 => m.quantile().and_then(|q| w.quantile_s(q)),
                Metric::CpuPercent | Metric::MemoryMb | Metric::MemoryGrowthPctPerHour => {
                    w.gauge(m)
                }
            },
            Measure::Burn { sli, budget } => {
                let (total, bad) = sli.total_bad(w);
                (total > 0).then(|| ratio(bad, total) / budget)
            }
        }
    }

    pub(crate) fn quantile(self) -> Option<f64> {
        match self {
            Measure::Metric(m) => m.quantile(),
            Measure::Burn { .. } => None,
        }
    }

    pub(crate) fn threshold_ns(self) -> Option<u64> {
        match self {
            Measure::Burn { sli: Sli::LatencyAtMost(ns), .. } => Some(ns),
            _ => None,
        }
    }

    /// The value written for people: the metric's unit decides the decimals
    /// (`7.31` %, `2.153` s, `0.8` req/min, `14.40` burn).
    pub(crate) fn format(self, v: f64) -> String {
        match self {
            Measure::Metric(
                Metric::ErrorRate
                | Metric::RequestsPerMin
                | Metric::CpuPercent
                | Metric::MemoryGrowthPctPerHour,
            )
            | Measure::Burn { .. } => format!("{v:.2}"),
            Measure::Metric(Metric::MemoryMb) => format!("{v:.1}"),
            Measure::Metric(Metric::Requests) => format!("{v:.0}"),
            Measure::Metric(_) => format!("{v:.3}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::Metric(m) => m.name(),
            Measure::Burn { .. } => "burn_rate",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
            #[expect(clippy::float_cmp, reason = "`==` in a rule means exactly equal")]
            Op::Eq => a == b,
            #[expect(clippy::float_cmp, reason = "`!=` in a rule means not exactly equal")]
            Op::Ne => a != b,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// One comparison `METRIC[WINDOW] OP NUMBER`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Compare {
    pub(crate) measure: Measure,
    pub(crate) window_s: u64,
    op: Op,
    threshold: f64,
}

/// The truth of a condition at one evaluation (three-valued: a comparison
/// on a metric without a value is neither true nor false).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// It depends on a metric that has no value (an empty window's ratio or
    /// latency); the rule's `no_data` policy decides.
    NoData,
}

impl Truth {
    fn and(self, o: Truth) -> Truth {
        match (self, o) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::NoData,
        }
    }
    fn or(self, o: Truth) -> Truth {
        match (self, o) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::NoData,
        }
    }
}

/// A parsed condition: comparisons joined by `and` (binding tighter) and
/// `or`, evaluated in Kleene's three-valued logic (`false and no-data` is
/// false, `true or no-data` is true, otherwise no-data spreads).
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Or of ands.
    pub(crate) any: Vec<Vec<Compare>>,
}

impl Condition {
    /// Parses `METRIC[WINDOW] OP NUMBER` terms joined by `and` / `or`.
    /// The error says what is wrong and at which character (1-based).
    pub(crate) fn parse(text: &str) -> Result<Condition, String> {
        let tokens = tokenize(text)?;
        let mut any = vec![Vec::new()];
        let mut i = 0;
        loop {
            let (cmp, next) = parse_compare(&tokens, i, text)?;
            // `any` always has a last element: it starts with one and only grows.
            if let Some(all) = any.last_mut() {
                all.push(cmp);
            }
            i = next;
            match tokens.get(i) {
                None => break,
                Some(Tok { text: "and", .. }) => i += 1,
                Some(Tok { text: "or", .. }) => {
                    any.push(Vec::new());
                    i += 1;
                }
                Some(t) => {
                    return Err(format!(
                        "expected `and`, `or` or the end at character {} of the condition, \
                         found {:?}",
                        t.at, t.text
                    ))
                }
            }
        }
        Ok(Condition { any })
    }

    /// A condition built from comparisons that must all hold (the SLOs'
    /// burn-rate alerts).
    pub(crate) fn all_of(all: Vec<Compare>) -> Condition {
        Condition { any: vec![all] }
    }

    pub(crate) fn compares(&self) -> impl Iterator<Item = &Compare> {
        self.any.iter().flatten()
    }

    /// The distinct windows (seconds) the condition reads, ascending.
    #[must_use]
    pub fn windows_s(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.compares().map(|c| c.window_s).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Evaluates with a lookup by comparison: `value(i)` is the value of the
    /// i-th comparison in reading order.
    pub(crate) fn evaluate_with(
        &self,
        value: &mut dyn FnMut(usize, &Compare) -> Option<f64>,
    ) -> (Truth, Option<f64>) {
        let mut truth = Truth::False;
        let mut first = None;
        let mut k = 0;
        for all in &self.any {
            let mut t = Truth::True;
            for c in all {
                let v = value(k, c);
                if k == 0 {
                    first = v;
                }
                k += 1;
                t = t.and(match v {
                    None => Truth::NoData,
                    Some(v) if c.op.holds(v, c.threshold) => Truth::True,
                    Some(_) => Truth::False,
                });
            }
            truth = truth.or(t);
        }
        (truth, first)
    }

    /// Evaluates over store answers: `windows` holds, for each length of
    /// [`Condition::windows_s`], the window of that length ending at the
    /// evaluation time (a live evaluator's
    /// `store.query(sel).last(len).ending_at(t).run()`). A length missing
    /// from `windows` reads as no data.
    #[must_use]
    pub fn evaluate_windows(&self, windows: &[(u64, &dyn WindowSource)]) -> (Truth, Option<f64>) {
        self.evaluate_with(&mut |_, c| {
            let (_, w) = windows.iter().find(|(len, _)| *len == c.window_s)?;
            c.measure.value(*w, c.window_s)
        })
    }

    /// The measure of the first comparison (whose value is the alert's `$value`).
    pub(crate) fn first_measure(&self) -> Option<Measure> {
        self.compares().next().map(|c| c.measure)
    }

    /// Formats a value of the first comparison in its unit's decimals.
    #[must_use]
    pub fn format_value(&self, v: f64) -> String {
        self.first_measure().map_or_else(|| format!("{v}"), |m| m.format(v))
    }
}

impl Compare {
    pub(crate) fn burn(sli: Sli, budget: f64, window_s: u64, burn: f64) -> Compare {
        Compare { measure: Measure::Burn { sli, budget }, window_s, op: Op::Gt, threshold: burn }
    }

    #[expect(clippy::cast_precision_loss, reason = "a request count guard, far below 2^53")]
    pub(crate) fn at_least(metric: Metric, window_s: u64, n: u64) -> Compare {
        Compare { measure: Measure::Metric(metric), window_s, op: Op::Ge, threshold: n as f64 }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, all) in self.any.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            for (j, c) in all.iter().enumerate() {
                if j > 0 {
                    f.write_str(" and ")?;
                }
                write!(
                    f,
                    "{}[{}] {} {}",
                    c.measure.name(),
                    fmt_s(c.window_s),
                    c.op.text(),
                    c.threshold
                )?;
            }
        }
        Ok(())
    }
}

struct Tok<'a> {
    text: &'a str,
    /// 1-based character position in the condition.
    at: usize,
}

fn tokenize(text: &str) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while let Some(&(pos, c)) = chars.get(i) {
        let start = i;
        let end_of = |j: usize| chars.get(j).map_or(text.len(), |p| p.0);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '+' {
            while chars.get(i).is_some_and(|p| p.1.is_ascii_alphanumeric() || "_.-+".contains(p.1))
            {
                i += 1;
            }
        } else if c == '[' {
            while chars.get(i).is_some_and(|p| p.1 != ']') {
                i += 1;
            }
            if chars.get(i).is_none() {
                return Err(format!("`[` at character {} has no closing `]`", start + 1));
            }
            i += 1;
        } else if "<>=!".contains(c) {
            i += 1;
            if chars.get(i).is_some_and(|p| p.1 == '=') {
                i += 1;
            }
        } else {
            return Err(format!("unexpected {c:?} at character {} of the condition", start + 1));
        }
        out.push(Tok { text: &text[pos..end_of(i)], at: start + 1 });
    }
    Ok(out)
}

fn parse_compare(toks: &[Tok<'_>], mut i: usize, text: &str) -> Result<(Compare, usize), String> {
    let known = || Metric::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let Some(name) = toks.get(i) else {
        return Err(if text.trim().is_empty() {
            "empty condition".to_string()
        } else {
            "the condition ends where a metric was expected".to_string()
        });
    };
    let metric = match Metric::ALL.iter().find(|(n, _)| *n == name.text) {
        Some((_, m)) => *m,
        None => {
            return Err(format!(
                "unknown metric {:?} at character {} of the condition (known: {})",
                name.text,
                name.at,
                known()
            ))
        }
    };
    i += 1;
    let mut window_s = DEFAULT_WINDOW_S;
    if let Some(t) = toks.get(i).filter(|t| t.text.starts_with('[')) {
        let inner = &t.text[1..t.text.len() - 1];
        window_s = parse_s(inner).map_err(|e| format!("{e} at character {}", t.at))?;
        if window_s == 0 {
            return Err(format!("window {inner:?} at character {}: must be positive", t.at));
        }
        i += 1;
    }
    let op = match toks.get(i).map(|t| t.text) {
        Some(">") => Op::Gt,
        Some(">=") => Op::Ge,
        Some("<") => Op::Lt,
        Some("<=") => Op::Le,
        Some("==") => Op::Eq,
        Some("!=") => Op::Ne,
        other => {
            return Err(format!(
                "expected a comparison (>, >=, <, <=, ==, !=) after {}, found {}",
                name.text,
                other.map_or("the end".to_string(), |t| format!("{t:?}"))
            ))
        }
    };
    i += 1;
    let Some(num) = toks.get(i) else {
        return Err(format!("expected a number after `{}`", op.text()));
    };
    let threshold: f64 =
        num.text.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            format!("expected a number at character {}, found {:?}", num.at, num.text)
        })?;
    Ok((Compare { measure: Measure::Metric(metric), window_s, op, threshold }, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let c = Condition::parse("error_rate > 5").unwrap();
        assert_eq!(c.to_string(), "error_rate[5m] > 5");
        let c = Condition::parse("latency_p99[10m]>=2 and request_rate[1m] > 0.5 or requests < 3")
            .unwrap();
        assert_eq!(
            c.to_string(),
            "latency_p99[10m] >= 2 and request_rate[1m] > 0.5 or requests[5m] < 3"
        );
        assert_eq!(c.windows_s(), vec![60, 300, 600]);
        for (bad, says) in [
            ("error_ratio > 5", "unknown metric \"error_ratio\" at character 1"),
            ("error_rate[5q] > 5", "unknown unit"),
            ("error_rate[5m > 5", "no closing"),
            ("error_rate > five", "expected a number at character 14"),
            ("error_rate 5", "expected a comparison"),
            ("error_rate > 5 and", "ends where a metric"),
            ("error_rate > 5 xor latency_p99 > 1", "expected `and`"),
            ("", "empty condition"),
            ("error_rate[0s] > 1", "must be positive"),
        ] {
            let e = Condition::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn kleene_logic() {
        use Truth::{False as F, NoData as N, True as T};
        for (a, b, and, or) in
            [(T, T, T, T), (T, F, F, T), (F, N, F, N), (T, N, N, T), (N, N, N, N), (F, F, F, F)]
        {
            assert_eq!(a.and(b), and);
            assert_eq!(b.and(a), and);
            assert_eq!(a.or(b), or);
            assert_eq!(b.or(a), or);
        }
    }
}
