//! `alerts` and `slo`: a rule file's backtest and SLO report over a store,
//! as a table or the `--json` contract.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};
use tailstore::Store;
use tailstore_rules::{backtest, slo_report, Backtest, Rules};

use crate::output::shown;
use crate::time::parse_time;
use crate::{open_store, unix_s};

#[derive(Args)]
pub struct AlertsArgs {
    /// Rule file (YAML: evaluation interval, rules, SLOs).
    #[arg(long)]
    rules: PathBuf,
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// First evaluation (unix seconds or RFC 3339; default: the first data,
    /// rounded up to the evaluation interval).
    #[arg(long)]
    start: Option<String>,
    /// Last evaluation at or before this (default: the end of the data,
    /// rounded up to the interval).
    #[arg(long)]
    end: Option<String>,
    /// One JSON object: start, end, interval and the alerts (one entry per episode).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SloArgs {
    /// Rule file (YAML) with `slos:`.
    #[arg(long)]
    rules: PathBuf,
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// End of each SLO's period (default: the end of the data).
    #[arg(long)]
    at: Option<String>,
    /// One JSON object: the time and one entry per SLO.
    #[arg(long)]
    json: bool,
}

fn load(rules: &Path, store: &Path) -> Result<(Rules, Store)> {
    // The rule file's error already names the file, line and column.
    let rules = Rules::from_path(rules)?;
    let store = open_store(store)?;
    Ok((rules, store))
}

/// First second and end (exclusive) of all the store's data.
fn data_bounds(store: &Store) -> Option<(u64, u64)> {
    store
        .series_info()
        .iter()
        .filter_map(|s| s.bounds_s)
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
}

fn time_arg(s: Option<&String>) -> Result<Option<u64>> {
    s.map(|s| parse_time(s).map(unix_s)).transpose()
}

fn rfc3339(s: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string()
}

fn num(v: Option<f64>) -> Value {
    v.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

pub fn cmd_alerts(args: &AlertsArgs) -> Result<ExitCode> {
    let (rules, store) = load(&args.rules, &args.store)?;
    let every = rules.evaluation_interval_s();
    let bounds = data_bounds(&store);
    let round_up = |s: u64| s.div_ceil(every).saturating_mul(every);
    let start = match (time_arg(args.start.as_ref())?, bounds) {
        (Some(s), _) => s,
        (None, Some((first, _))) => round_up(first),
        (None, None) => {
            bail!("store {} holds no data; give --start and --end", args.store.display())
        }
    };
    let end = match (time_arg(args.end.as_ref())?, bounds) {
        (Some(e), _) => e,
        (None, Some((_, end))) => round_up(end).max(start),
        (None, None) => {
            bail!("store {} holds no data; give --start and --end", args.store.display())
        }
    };
    if end < start {
        bail!("--end is before --start");
    }
    let names = store.series_names();
    for r in rules.rules() {
        if !names.iter().any(|n| r.selector().matches(n)) {
            eprintln!(
                "note: rule {:?}: series {:?} matches no series of the store",
                shown(r.name()),
                shown(r.series_text())
            );
        }
    }
    let bt = backtest(&store, &rules, start, end).context("backtest failed")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let alerts: Vec<Value> = bt
            .episodes
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("rule".into(), json!(e.rule));
                m.insert("labels".into(), json!(e.labels));
                m.insert("pending_at".into(), json!(e.pending_at));
                m.insert("firing_at".into(), json!(e.firing_at));
                m.insert("resolved_at".into(), json!(e.resolved_at));
                m.insert("value".into(), num(e.value));
                m.insert("summary".into(), json!(e.summary));
                m.insert("description".into(), json!(e.description));
                Value::Object(m)
            })
            .collect();
        let v = json!({"start": bt.start_s, "end": bt.end_s, "interval_s": bt.interval_s, "alerts": alerts});
        writeln!(out, "{v}")?;
    } else {
        write_table(&mut out, &rules, &bt)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The table: one line per episode, then per rule how often and how long it fired.
fn write_table(out: &mut impl Write, rules: &Rules, bt: &Backtest) -> Result<()> {
    writeln!(
        out,
        "{} evaluations every {} s from {} to {}",
        (bt.end_s - bt.start_s) / bt.interval_s + 1,
        bt.interval_s,
        rfc3339(bt.start_s),
        rfc3339(bt.end_s)
    )?;
    writeln!(
        out,
        "{:<20}  {:<20}  {:<20}  {:>10}  {:<32}  {:<24}  labels",
        "pending", "firing", "resolved", "value", "rule", "series"
    )?;
    for e in &bt.episodes {
        let others: Vec<String> = e
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "series")
            .map(|(k, v)| format!("{k}={}", shown(v)))
            .collect();
        let rules_rule = rules.rules().iter().find(|r| r.name() == e.rule);
        let value = match (e.value, rules_rule) {
            (Some(v), Some(r)) => r.condition().format_value(v),
            _ => "-".into(),
        };
        writeln!(
            out,
            "{:<20}  {:<20}  {:<20}  {:>10}  {:<32}  {:<24}  {}",
            rfc3339(e.pending_at),
            e.firing_at.map_or("-".into(), rfc3339),
            e.resolved_at.map_or(
                if e.firing_at.is_some() { "(firing)" } else { "(pending)" }.into(),
                rfc3339
            ),
            value,
            shown(&e.rule),
            shown(e.labels.get("series").map_or("", String::as_str)),
            others.join(",")
        )?;
    }
    writeln!(out)?;
    for s in bt.summary(rules) {
        let minutes = if s.firing_s % 60 == 0 {
            (s.firing_s / 60).to_string()
        } else {
            #[expect(clippy::cast_precision_loss, reason = "seconds far below 2^53")]
            let m = s.firing_s as f64 / 60.0;
            format!("{m:.1}")
        };
        writeln!(out, "{}: fired {} times, {minutes} minutes firing", shown(&s.rule), s.fired)?;
    }
    Ok(())
}

pub fn cmd_slo(args: &SloArgs) -> Result<ExitCode> {
    let (rules, store) = load(&args.rules, &args.store)?;
    if rules.slos().is_empty() {
        bail!("{}: no slos in the rule file", args.rules.display());
    }
    let at = match (time_arg(args.at.as_ref())?, data_bounds(&store)) {
        (Some(t), _) => t,
        (None, Some((_, end))) => end,
        (None, None) => bail!("store {} holds no data; give --at", args.store.display()),
    };
    let report = slo_report(&store, rules.slos(), at).context("SLO report failed")?;
    let window_key = |s: u64| match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => format!("{}m", s / 60),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let slos: Vec<Value> = report
            .iter()
            .map(|r| {
                let mut burn = Map::new();
                for &(len, b) in &r.burn_rates {
                    burn.insert(window_key(len), num(b));
                }
                let mut m = Map::new();
                m.insert("name".into(), json!(r.name));
                m.insert("objective".into(), num(Some(r.objective_pct)));
                m.insert("period_s".into(), json!(r.period_s));
                m.insert("total".into(), json!(r.total));
                m.insert("good".into(), json!(r.good));
                m.insert("sli_pct".into(), num(r.sli_pct));
                m.insert("budget_remaining_pct".into(), num(r.budget_remaining_pct));
                m.insert("burn_rate".into(), Value::Object(burn));
                m.insert("exhausted_at".into(), json!(r.exhausted_at));
                Value::Object(m)
            })
            .collect();
        writeln!(out, "{}", json!({"at": at, "slos": slos}))?;
    } else {
        writeln!(out, "SLOs over the periods ending at {}", rfc3339(at))?;
        let f2 = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let mut head = format!(
            "{:<20} {:>9} {:>7} {:>10} {:>10} {:>8} {:>9}",
            "slo", "objective", "period", "total", "good", "sli %", "budget %"
        );
        if let Some(r) = report.first() {
            for &(len, _) in &r.burn_rates {
                write!(head, " {:>8}", format!("burn {}", window_key(len)))?;
            }
        }
        writeln!(out, "{head}  exhausted at")?;
        for r in &report {
            let mut row = format!(
                "{:<20} {:>9} {:>7} {:>10} {:>10} {:>8} {:>9}",
                shown(&r.name),
                format!("{}%", r.objective_pct),
                window_key(r.period_s),
                r.total,
                r.good,
                f2(r.sli_pct),
                f2(r.budget_remaining_pct)
            );
            for &(_, b) in &r.burn_rates {
                write!(row, " {:>8}", f2(b))?;
            }
            writeln!(out, "{row}  {}", r.exhausted_at.map_or("-".into(), rfc3339))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
