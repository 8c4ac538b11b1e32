//! SLOs: the status report (totals, SLI, budget, burn rates, when the budget
//! ran out) and the four multi-window burn-rate alerts each SLO generates.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{Store, WindowStats};

use crate::condition::{Compare, Condition, Metric, WindowSource};
use crate::duration::fmt_s;
use crate::error::Error;
use crate::file::{Rule, Slo};

/// The windows of the report's burn rates, seconds: 5m, 30m, 1h, 2h, 6h, 1d, 3d.
pub const BURN_WINDOWS_S: [u64; 7] = [300, 1_800, 3_600, 7_200, 21_600, 86_400, 259_200];

/// The SRE workbook's multi-window burn-rate alerts: (long window, short
/// window, burn factor, severity).
pub const BURN_ALERTS: [(u64, u64, f64, &str); 4] = [
    (3_600, 300, 14.4, "page"),
    (21_600, 1_800, 6.0, "page"),
    (86_400, 7_200, 3.0, "ticket"),
    (259_200, 21_600, 1.0, "ticket"),
];

/// The four burn-rate alert rules of `slo`: both windows' burn rate above
/// the factor, and at least `min_requests` requests in the long window.
pub(crate) fn burn_rules(slo: &Slo) -> Result<Vec<Rule>, String> {
    let budget = slo.budget();
    BURN_ALERTS
        .iter()
        .map(|&(long, short, factor, severity)| {
            let mut all = vec![
                Compare::burn(slo.sli, budget, long, factor),
                Compare::burn(slo.sli, budget, short, factor),
            ];
            if slo.min_requests > 0 {
                all.push(Compare::at_least(Metric::Requests, long, slo.min_requests));
            }
            let (l, s) = (fmt_s(long), fmt_s(short));
            let labels = BTreeMap::from([
                ("slo".to_string(), slo.name.clone()),
                ("severity".to_string(), severity.to_string()),
            ]);
            let summary = format!(
                "SLO {}: error budget burning {factor}x too fast over {l} and {s}",
                slo.name
            );
            let description = format!(
                "Burn rate over {l} is {{{{ $value }}}}x (objective {}% over {})",
                slo.objective_pct,
                fmt_s(slo.period_s)
            );
            Rule::new_generated(
                format!("SLO {} burn {factor}x {l}/{s}", slo.name),
                slo.series.clone(),
                Condition::all_of(all),
                labels,
                [("summary", &summary), ("description", &description)],
                slo.errors.clone(),
            )
        })
        .collect()
}

/// The state of one SLO over the period ending at `at_s`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SloStatus {
    /// The SLO's name.
    pub name: String,
    /// Objective, percent.
    pub objective_pct: f64,
    /// Period, seconds.
    pub period_s: u64,
    /// End of the period (exclusive), unix seconds.
    pub at_s: u64,
    /// Requests counted by the SLI in the period (all requests for
    /// availability; those with a latency for a latency SLI).
    pub total: u64,
    /// Good requests among them.
    pub good: u64,
    /// `100 × good / total`; `None` without requests.
    pub sli_pct: Option<f64>,
    /// `100 × (1 − (bad/total) / (1 − objective/100))`, negative when
    /// overspent; `None` without requests.
    pub budget_remaining_pct: Option<f64>,
    /// `(window_s, burn rate)` for each of [`BURN_WINDOWS_S`] ending at
    /// `at_s`: the window's `bad/total ÷ (1 − objective/100)`, `None` for an
    /// empty window.
    pub burn_rates: Vec<(u64, Option<f64>)>,
    /// When the period's budget ran out: the end of the first minute (from
    /// the period's start) after which the bad requests so far exceed
    /// `(1 − objective/100) × total`; `None` while budget remains.
    pub exhausted_at: Option<u64>,
}

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

#[expect(clippy::cast_precision_loss, reason = "request counts as f64, exact below 2^53")]
fn f(n: u64) -> f64 {
    n as f64
}

fn window(store: &Store, slo: &Slo, len_s: u64, end_s: u64) -> Result<WindowStats, Error> {
    let mut q = store.query(slo.series.selector.clone());
    if let Some(e) = &slo.errors {
        q = q.errors(e.clone());
    }
    Ok(q.last(Duration::from_secs(len_s)).ending_at(at(end_s)).run()?)
}

/// Bad requests per window of `step_s` ending at each `start + k·step ≤ end`.
fn bad_per_step(
    store: &Store,
    slo: &Slo,
    first_end_s: u64,
    last_end_s: u64,
    step_s: u64,
) -> Result<Vec<(u64, u64)>, Error> {
    let mut q = store.query(slo.series.selector.clone());
    if let Some(e) = &slo.errors {
        q = q.errors(e.clone());
    }
    let mut out = Vec::new();
    q.last(Duration::from_secs(step_s)).range_with(
        at(first_end_s),
        at(last_end_s),
        Duration::from_secs(step_s),
        |t, w| out.push((t, slo.sli.total_bad(w).1)),
    )?;
    Ok(out)
}

/// The status of every SLO of `slos` over its period ending at `at_s`.
///
/// # Errors
///
/// [`Error::Store`] when the store refuses a query (a time before 1970).
pub fn slo_report(store: &Store, slos: &[Slo], at_s: u64) -> Result<Vec<SloStatus>, Error> {
    slos.iter().map(|slo| slo_status(store, slo, at_s)).collect()
}

fn slo_status(store: &Store, slo: &Slo, at_s: u64) -> Result<SloStatus, Error> {
    let w = window(store, slo, slo.period_s, at_s)?;
    let (total, bad) = slo.sli.total_bad(&w as &dyn WindowSource);
    let budget = slo.budget();
    let bad_ratio = (total > 0).then(|| f(bad) / f(total));
    let burn_rates = BURN_WINDOWS_S
        .iter()
        .map(|&len| {
            let w = window(store, slo, len, at_s)?;
            let (t, b) = slo.sli.total_bad(&w);
            Ok((len, (t > 0).then(|| f(b) / f(t) / budget)))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let allowed = budget * f(total);
    let exhausted_at =
        if total > 0 && f(bad) > allowed { exhausted(store, slo, at_s, allowed)? } else { None };
    Ok(SloStatus {
        name: slo.name.clone(),
        objective_pct: slo.objective_pct,
        period_s: slo.period_s,
        at_s,
        total,
        good: total - bad,
        sli_pct: bad_ratio.map(|r| 100.0 * (1.0 - r)),
        budget_remaining_pct: bad_ratio.map(|r| 100.0 * (1.0 - r / budget)),
        burn_rates,
        exhausted_at,
    })
}

/// The end of the first minute of the period after which the bad requests
/// so far exceed `allowed`: hours first, then the minutes of that hour.
fn exhausted(store: &Store, slo: &Slo, at_s: u64, allowed: f64) -> Result<Option<u64>, Error> {
    let start = at_s.saturating_sub(slo.period_s);
    // The period is a whole number of hours (checked at load).
    let mut so_far = 0u64;
    for (t, bad) in bad_per_step(store, slo, start + 3_600, at_s, 3_600)? {
        if f(so_far + bad) > allowed {
            for (m, bad) in bad_per_step(store, slo, t - 3_600 + 60, t, 60)? {
                so_far += bad;
                if f(so_far) > allowed {
                    return Ok(Some(m));
                }
            }
            // Unreachable in exact arithmetic (the minutes add up to the
            // hour); answer the hour's end rather than nothing.
            return Ok(Some(t));
        }
        so_far += bad;
    }
    Ok(None)
}
