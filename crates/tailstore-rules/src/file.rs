//! Rule files: the YAML as written, checked into [`Rules`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use tailstore::{ErrorSet, Selector};

use crate::condition::{Condition, Sli};
use crate::duration::{parse_ms, parse_s};
use crate::error::Error;
use crate::slo::burn_rules;
use crate::state::NoData;
use crate::template::Template;

/// The default `evaluation_interval`: one minute.
pub const DEFAULT_INTERVAL_S: u64 = 60;

/// A checked rule file: the evaluation interval, the alert rules (the
/// file's own, then each SLO's four burn-rate alerts) and the SLOs.
#[derive(Clone, Debug)]
pub struct Rules {
    interval_s: u64,
    #[expect(clippy::struct_field_names, reason = "the file's `rules:`, by its own name")]
    rules: Vec<Rule>,
    slos: Vec<Slo>,
}

/// One alert rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) series: SeriesSpec,
    pub(crate) condition: Condition,
    pub(crate) for_s: u64,
    pub(crate) keep_firing_for_s: u64,
    pub(crate) per_series: bool,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, Template>,
    pub(crate) no_data: NoData,
    pub(crate) errors: Option<ErrorSet>,
}

/// One service level objective.
#[derive(Clone, Debug)]
pub struct Slo {
    pub(crate) name: String,
    pub(crate) series: SeriesSpec,
    pub(crate) objective_pct: f64,
    pub(crate) sli: Sli,
    pub(crate) period_s: u64,
    pub(crate) min_requests: u64,
    pub(crate) errors: Option<ErrorSet>,
}

/// A `series:` field: the text as written and the selector it means.
#[derive(Clone, Debug)]
pub(crate) struct SeriesSpec {
    pub(crate) text: String,
    pub(crate) selector: Selector,
}

impl SeriesSpec {
    fn all() -> SeriesSpec {
        SeriesSpec { text: ".*".into(), selector: Selector::all() }
    }

    /// A regex (anchored) when the text has a regex operator other than `.`
    /// (one of `\ ^ $ * + ? ( ) [ ] { } |`), else the exact name.
    fn parse(text: &str) -> Result<SeriesSpec, String> {
        let selector = if text.contains(|c| "\\^$*+?()[]{}|".contains(c)) {
            Selector::regex(text).map_err(|e| format!("bad series regex: {e}"))?
        } else {
            Selector::exact(text)
        };
        Ok(SeriesSpec { text: text.to_string(), selector })
    }
}

impl Rules {
    /// Parses and checks a rule file's text; errors name `<string>` as the file.
    ///
    /// # Errors
    ///
    /// [`Error::Rules`] with the line (and column where known) and what is
    /// wrong: YAML syntax, an unknown field, metric or unit, a bad duration,
    /// template, regex or objective, a duplicate rule name.
    pub fn from_yaml(text: &str) -> Result<Rules, Error> {
        Rules::from_yaml_named(text, "<string>")
    }

    /// [`Rules::from_yaml`], naming `file` in errors.
    ///
    /// # Errors
    ///
    /// As [`Rules::from_yaml`].
    pub fn from_yaml_named(text: &str, file: &str) -> Result<Rules, Error> {
        let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(file, text, &e))?;
        check(raw, text, file)
    }

    /// Reads and parses the rule file at `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read; otherwise as [`Rules::from_yaml`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Rules, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Rules::from_yaml_named(&text, &path.display().to_string())
    }

    /// Seconds between evaluations.
    #[must_use]
    pub fn evaluation_interval_s(&self) -> u64 {
        self.interval_s
    }

    /// Every alert rule: the file's, in order, then each SLO's four
    /// burn-rate alerts.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The SLOs, in file order.
    #[must_use]
    pub fn slos(&self) -> &[Slo] {
        &self.slos
    }
}

impl Rule {
    /// The rule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `series:` selector as written (`.*` when absent).
    #[must_use]
    pub fn series_text(&self) -> &str {
        &self.series.text
    }

    /// The selector of `series:`.
    #[must_use]
    pub fn selector(&self) -> &Selector {
        &self.series.selector
    }

    /// The condition.
    #[must_use]
    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// `for`, seconds.
    #[must_use]
    pub fn for_s(&self) -> u64 {
        self.for_s
    }

    /// `keep_firing_for`, seconds.
    #[must_use]
    pub fn keep_firing_for_s(&self) -> u64 {
        self.keep_firing_for_s
    }

    /// Whether `group_by: series` makes one instance per matching series.
    #[must_use]
    pub fn per_series(&self) -> bool {
        self.per_series
    }

    /// The `labels:` (an instance adds `series`).
    #[must_use]
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The no-data policy.
    #[must_use]
    pub fn no_data(&self) -> NoData {
        self.no_data
    }

    /// The rule's own error set (`errors:`), if it has one; otherwise the
    /// store's applies.
    #[must_use]
    pub fn errors(&self) -> Option<&ErrorSet> {
        self.errors.as_ref()
    }

    /// The labels of the instance for `series` (the rule's labels and `series`).
    #[must_use]
    pub fn instance_labels(&self, series: &str) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.insert("series".into(), series.to_string());
        l
    }

    /// Annotation `key` rendered with `value` and `labels` (empty when the
    /// rule has no such annotation).
    #[must_use]
    pub fn annotation(
        &self,
        key: &str,
        value: Option<f64>,
        labels: &BTreeMap<String, String>,
    ) -> String {
        let v = value.map_or_else(|| "-".to_string(), |v| self.condition.format_value(v));
        self.annotations.get(key).map(|t| t.render(&v, labels)).unwrap_or_default()
    }

    /// Every annotation rendered with `value` and `labels`.
    #[must_use]
    pub fn annotations(
        &self,
        value: Option<f64>,
        labels: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        self.annotations.keys().map(|k| (k.clone(), self.annotation(k, value, labels))).collect()
    }

    pub(crate) fn new_generated(
        name: String,
        series: SeriesSpec,
        condition: Condition,
        labels: BTreeMap<String, String>,
        annotations: [(&str, &str); 2],
        errors: Option<ErrorSet>,
    ) -> Result<Rule, String> {
        let annotations = annotations
            .into_iter()
            .map(|(k, t)| Ok((k.to_string(), Template::parse(t)?)))
            .collect::<Result<_, String>>()?;
        Ok(Rule {
            name,
            series,
            condition,
            for_s: 0,
            keep_firing_for_s: 0,
            per_series: false,
            labels,
            annotations,
            no_data: NoData::Ok,
            errors,
        })
    }
}

impl Slo {
    /// The SLO's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `series:` selector as written.
    #[must_use]
    pub fn series_text(&self) -> &str {
        &self.series.text
    }

    /// The selector of `series:`.
    #[must_use]
    pub fn selector(&self) -> &Selector {
        &self.series.selector
    }

    /// The objective, percent of good requests.
    #[must_use]
    pub fn objective_pct(&self) -> f64 {
        self.objective_pct
    }

    /// What counts as good.
    #[must_use]
    pub fn sli(&self) -> Sli {
        self.sli
    }

    /// The period the budget is over, seconds.
    #[must_use]
    pub fn period_s(&self) -> u64 {
        self.period_s
    }

    /// Fewest requests in an alert's long window for it to fire.
    #[must_use]
    pub fn min_requests(&self) -> u64 {
        self.min_requests
    }

    /// The SLO's own error set, if it has one.
    #[must_use]
    pub fn errors(&self) -> Option<&ErrorSet> {
        self.errors.as_ref()
    }

    /// The error budget as a fraction of requests: `1 − objective/100`.
    #[must_use]
    pub fn budget(&self) -> f64 {
        1.0 - self.objective_pct / 100.0
    }
}

// ---- The YAML as written -------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    evaluation_interval: Option<Secs>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    slos: Vec<RawSlo>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    series: Option<Series>,
    condition: Cond,
    #[serde(default, rename = "for")]
    for_: Option<Secs>,
    #[serde(default)]
    keep_firing_for: Option<Secs>,
    #[serde(default)]
    group_by: Option<GroupBy>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, Tpl>,
    #[serde(default)]
    no_data: Option<NoDataRaw>,
    #[serde(default)]
    errors: Option<Errors>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    name: String,
    #[serde(default)]
    series: Option<Series>,
    objective: f64,
    sli: SliRaw,
    period: Secs,
    #[serde(default)]
    min_requests: u64,
    #[serde(default)]
    errors: Option<Errors>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum GroupBy {
    Series,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum NoDataRaw {
    Ok,
    Alerting,
    KeepState,
}

/// A string field parsed when it is read, so that its error carries the
/// field's line and column.
fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    // The YAML parser places a custom error at the start of the enclosing
    // mapping; the raw text rides along after a separator so that
    // `yaml_error` can find the field's own line and column.
    parse(&s).map_err(|m| de::Error::custom(format!("{m}{RAW}{s}")))
}

/// Separates a field error's message from the field's raw text.
const RAW: char = '\u{1}';

macro_rules! parsed_field {
    ($name:ident, $t:ty, $parse:expr) => {
        struct $name($t);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                parsed(d, $parse).map($name)
            }
        }
    };
}

parsed_field!(Secs, u64, parse_s);
parsed_field!(Cond, Condition, Condition::parse);
parsed_field!(Tpl, Template, Template::parse);
parsed_field!(Series, SeriesSpec, SeriesSpec::parse);
parsed_field!(Errors, ErrorSet, |s: &str| ErrorSet::parse(s)
    .map_err(|e| format!("bad error set {s:?}: {e}")));
parsed_field!(SliRaw, Sli, parse_sli);

/// `availability`, or `latency < 500ms` / `latency <= 500ms` (both mean at
/// most the threshold: the histogram cannot tell them apart).
fn parse_sli(s: &str) -> Result<Sli, String> {
    let t = s.trim();
    if t == "availability" {
        return Ok(Sli::Availability);
    }
    let rest = t.strip_prefix("latency").map(str::trim_start);
    let thr = rest.and_then(|r| r.strip_prefix("<=").or_else(|| r.strip_prefix('<')));
    match thr {
        Some(d) => {
            let ms = parse_ms(d)?;
            if ms == 0 {
                return Err(format!("sli {t:?}: the latency threshold must be positive"));
            }
            Ok(Sli::LatencyAtMost(ms.saturating_mul(1_000_000)))
        }
        None => Err(format!("unknown sli {t:?}: expected `availability` or `latency < 500ms`")),
    }
}

fn yaml_error(file: &str, text: &str, e: &serde_yaml_ng::Error) -> Error {
    let loc = e.location();
    let mut message = e.to_string();
    if let Some(l) = &loc {
        for suffix in [
            format!(" at line {} column {}", l.line(), l.column()),
            format!(" at position {}", l.index()),
        ] {
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
        }
    }
    let (mut line, mut column) = (
        loc.as_ref().map(serde_yaml_ng::Location::line),
        loc.as_ref().map(serde_yaml_ng::Location::column),
    );
    if let Some((msg, raw)) = message.split_once(RAW) {
        // The field's value, searched from the enclosing mapping's line on.
        let first = raw.lines().next().unwrap_or_default();
        let from = line.unwrap_or(1);
        let found = (!first.trim().is_empty())
            .then(|| {
                text.lines()
                    .enumerate()
                    .skip(from - 1)
                    .find_map(|(i, l)| l.find(first).map(|c| (i + 1, l[..c].chars().count() + 1)))
            })
            .flatten();
        if let Some((l, c)) = found {
            (line, column) = (Some(l), Some(c));
        }
        message = msg.to_string();
    }
    Error::Rules { file: file.to_string(), line, column, message }
}

/// The 1-based line of the `name:` field holding `name`, at or after line `from`.
fn line_of_name(text: &str, name: &str, from: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches('-').trim_start();
            t.starts_with("name:") && t.contains(name)
        })
        .map(|(i, _)| i + 1)
}

/// The 1-based line of the first occurrence of `needle` at or after line `from`.
fn line_of(text: &str, needle: &str, from: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
}

/// Where a rule file is read from, for errors.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn err(&self, line: Option<usize>, message: String) -> Error {
        Error::Rules { file: self.file.to_string(), line, column: None, message }
    }
}

fn check(raw: RawFile, text: &str, file: &str) -> Result<Rules, Error> {
    let src = Source { text, file };
    let interval_s = raw.evaluation_interval.map_or(DEFAULT_INTERVAL_S, |s| s.0);
    if interval_s == 0 {
        return Err(src.err(
            line_of(text, "evaluation_interval", 1),
            "evaluation_interval must be positive".into(),
        ));
    }
    let mut rules = Vec::new();
    let mut names = HashSet::new();
    let mut cursor = 1;
    for r in raw.rules {
        let at = line_of_name(text, &r.name, cursor);
        cursor = at.map_or(cursor, |l| l + 1);
        if !names.insert(r.name.clone()) {
            return Err(src.err(at, format!("rule {:?}: a second rule with this name", r.name)));
        }
        rules.push(check_rule(r, &src, at)?);
    }
    let mut slos = Vec::new();
    let mut slo_names = HashSet::new();
    for s in raw.slos {
        let at = line_of_name(text, &s.name, cursor);
        cursor = at.map_or(cursor, |l| l + 1);
        let slo_name = s.name.clone();
        let slo_err = |m: String| src.err(at, format!("slo {slo_name:?}: {m}"));
        if !slo_names.insert(s.name.clone()) {
            return Err(slo_err("a second SLO with this name".into()));
        }
        let slo = check_slo(s).map_err(&slo_err)?;
        for r in burn_rules(&slo).map_err(&slo_err)? {
            if !names.insert(r.name.clone()) {
                return Err(slo_err(format!("its alert {:?} has the name of a rule", r.name)));
            }
            rules.push(r);
        }
        slos.push(slo);
    }
    Ok(Rules { interval_s, rules, slos })
}

/// One rule as written, checked; `at` is the line of its name.
fn check_rule(r: RawRule, src: &Source<'_>, at: Option<usize>) -> Result<Rule, Error> {
    if r.labels.contains_key("series") {
        return Err(src.err(
            at,
            format!(
                "rule {:?}: label `series` is set by the engine (the series, or the selector \
                 as written)",
                r.name
            ),
        ));
    }
    let mut known: Vec<&str> = r.labels.keys().map(String::as_str).collect();
    known.push("series");
    for t in r.annotations.values() {
        if let Some(l) = t.0.labels().find(|l| !known.contains(l)) {
            let line = line_of(src.text, &format!("$labels.{l}"), at.unwrap_or(1));
            return Err(src.err(
                line,
                format!(
                    "rule {:?}: bad template: {{{{ $labels.{l} }}}} is not a label of the rule \
                     (it has: {})",
                    r.name,
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(Rule {
        name: r.name,
        series: r.series.map_or_else(SeriesSpec::all, |s| s.0),
        condition: r.condition.0,
        for_s: r.for_.map_or(0, |s| s.0),
        keep_firing_for_s: r.keep_firing_for.map_or(0, |s| s.0),
        per_series: r.group_by.is_some(),
        labels: r.labels,
        annotations: r.annotations.into_iter().map(|(k, t)| (k, t.0)).collect(),
        no_data: match r.no_data {
            None | Some(NoDataRaw::Ok) => NoData::Ok,
            Some(NoDataRaw::Alerting) => NoData::Alerting,
            Some(NoDataRaw::KeepState) => NoData::KeepState,
        },
        errors: r.errors.map(|e| e.0),
    })
}

/// One SLO as written, checked.
fn check_slo(s: RawSlo) -> Result<Slo, String> {
    if !(s.objective > 0.0 && s.objective < 100.0) {
        return Err(format!(
            "objective {} is not a percentage strictly between 0 and 100",
            s.objective
        ));
    }
    if s.period.0 == 0 || !s.period.0.is_multiple_of(3600) {
        return Err("period must be a positive whole number of hours (e.g. 30d)".into());
    }
    Ok(Slo {
        name: s.name,
        series: s.series.map_or_else(SeriesSpec::all, |x| x.0),
        objective_pct: s.objective,
        sli: s.sli.0,
        period_s: s.period.0,
        min_requests: s.min_requests,
        errors: s.errors.map(|e| e.0),
    })
}
