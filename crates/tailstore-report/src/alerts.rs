//! The alert section of a view (with `Report::rules`): a timeline of each
//! rule's pending and firing spans from a backtest over the report's range,
//! the episodes that meet the view, and the SLO table at the range's end.

use std::fmt::Write as _;

use tailstore::format::{fmt_float, fmt_percent};
use tailstore_rules::{Backtest, Episode, SloStatus};

use crate::collect::View;
use crate::html::{esc, span_text, utc};
use crate::svg::{f, Frame, Panel, Scale};

/// Episodes listed per view at most (the timeline shows them all).
const MAX_LISTED: usize = 200;

/// Rows of the timeline at most: past it, only the rules with an episode
/// in the view get one.
const MAX_ROWS: usize = 16;

/// What the alert section shows: the rules' names in file order, their
/// backtest over the report's range, and the SLOs at its end.
pub(crate) struct Alerts {
    /// Where the rules came from (a path), for the page.
    pub source: String,
    /// Every rule's name, in the file's order (its own, then each SLO's
    /// burn-rate alerts).
    pub rules: Vec<String>,
    pub backtest: Backtest,
    pub slos: Vec<SloStatus>,
}

/// Whether episode `e` meets `[a, b)`.
fn meets(e: &Episode, a: u64, b: u64) -> bool {
    e.pending_at < b && e.resolved_at.is_none_or(|r| r > a)
}

/// The series an episode is about, for the page.
fn series_of(e: &Episode) -> String {
    let labels = &e.labels;
    labels.get("series").or_else(|| labels.get("slo")).cloned().unwrap_or_default()
}

/// The alert section of view `v`.
pub(crate) fn section(out: &mut String, vi: usize, v: &View, a: &Alerts) {
    let frame = Frame { t_lo: v.first_t - v.step_s, t_hi: v.last_t };
    let (lo, hi) = (frame.t_lo, frame.t_hi);
    let in_view: Vec<&Episode> = a.backtest.episodes.iter().filter(|e| meets(e, lo, hi)).collect();
    let mut rows: Vec<&str> = a.rules.iter().map(String::as_str).collect();
    for e in &in_view {
        if !rows.contains(&e.rule.as_str()) {
            rows.push(&e.rule);
        }
    }
    if rows.len() > MAX_ROWS {
        rows.retain(|r| in_view.iter().any(|e| e.rule == *r));
    }
    let fired = in_view.iter().filter(|e| e.firing_at.is_some()).count();
    let _ = write!(
        out,
        r#"<h2>Alerts</h2><p class="note">The rules of {} ({} rules), evaluated every {} over the report's range as a backtest; {} episodes meet this view, {fired} of them fired.</p>"#,
        esc(&a.source),
        a.rules.len(),
        span_text(a.backtest.interval_s),
        in_view.len()
    );
    if !rows.is_empty() {
        timeline(out, frame, &rows, &in_view);
    }
    episodes(out, vi, &in_view);
    slo_table(out, &a.slos);
}

/// One row per rule: pending spans amber, firing spans red.
fn timeline(out: &mut String, frame: Frame, rows: &[&str], episodes: &[&Episode]) {
    let n = rows.len();
    let mut panel = Panel::new(frame, Scale::Linear { top: f(n as u64) }, "alert timeline");
    let centres: Vec<f64> = (0..n).map(|i| f((n - 1 - i) as u64) + 0.5).collect();
    // Row `i` (from the top) is labelled with its number; the legend names it.
    panel.axes(&centres, |y| {
        let from_top = f(n as u64) - 0.5 - y;
        format!("{}", from_top.round() + 1.0)
    });
    let (lo, hi) = (f(frame.t_lo), f(frame.t_hi));
    let clip = |a: u64, b: Option<u64>| (f(a).max(lo), b.map_or(hi, |b| f(b).min(hi)));
    // Classes of the heatmap's palette: 2 (amber) pending, 5 (red) firing.
    let mut cells: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); 6];
    for e in episodes {
        let Some(i) = rows.iter().position(|r| *r == e.rule) else { continue };
        let y0 = f((n - 1 - i) as u64) + 0.2;
        let (y0, y1) = (y0, y0 + 0.6);
        let (p0, p1) = clip(e.pending_at, e.firing_at.or(e.resolved_at));
        if p1 > p0 {
            cells[2].push((p0, p1, y0, y1));
        }
        if let Some(fa) = e.firing_at {
            let (f0, f1) = clip(fa, e.resolved_at);
            if f1 > f0 {
                cells[5].push((f0, f1, y0, y1));
            }
        }
    }
    panel.cells(&cells);
    let mut legend = String::from(
        r#"<span class="sw" style="background:#fdbb5c"></span>pending <span class="sw" style="background:#cf3a2b"></span>firing · "#,
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(legend, "{} {} ", i + 1, esc(r));
        if i + 1 < rows.len() {
            legend.push_str("· ");
        }
    }
    let _ = write!(
        out,
        r#"<div class="grid"><figure class="panel"><figcaption>Alert timeline</figcaption>{}<div class="legend">{legend}</div></figure></div>"#,
        panel.finish()
    );
}

fn episodes(out: &mut String, vi: usize, episodes: &[&Episode]) {
    if episodes.is_empty() {
        out.push_str(r#"<p class="note">No alert was pending or firing in this view.</p>"#);
        return;
    }
    let _ = write!(
        out,
        r#"<table class="ep" id="v{vi}-alerts"><thead><tr><th>alert</th><th>series</th><th>pending at</th><th>firing at</th><th>resolved at</th><th>value</th><th>summary</th></tr></thead><tbody>"#
    );
    let when = |t: Option<u64>| t.map_or_else(|| "-".to_owned(), |t| format!("{} UTC", utc(t)));
    for e in episodes.iter().take(MAX_LISTED) {
        let _ = write!(
            out,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if e.firing_at.is_some() { r#" class="fired""# } else { "" },
            esc(&e.rule),
            esc(&series_of(e)),
            when(Some(e.pending_at)),
            when(e.firing_at),
            when(e.resolved_at),
            e.value.map_or_else(|| "-".to_owned(), significant),
            esc(&e.summary)
        );
    }
    out.push_str("</tbody></table>");
    if episodes.len() > MAX_LISTED {
        let _ = write!(
            out,
            r#"<p class="note">The first {MAX_LISTED} of {} episodes.</p>"#,
            episodes.len()
        );
    }
}

/// A condition's value to four significant digits (`5.606`, `13.55`,
/// `0.001234`), as a person reads it; the backtest's JSON has it whole.
fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return fmt_float(v);
    }
    #[expect(clippy::cast_possible_truncation, reason = "log10 of a finite f64 is within ±330")]
    let mag = v.abs().log10().floor() as i32;
    let decimals = usize::try_from((3 - mag).max(0)).unwrap_or(0);
    format!("{v:.decimals$}")
}

fn slo_table(out: &mut String, slos: &[SloStatus]) {
    if slos.is_empty() {
        return;
    }
    out.push_str(r#"<h2>SLOs</h2><table class="ep slo"><thead><tr><th>SLO</th><th>objective %</th><th>period</th><th>requests</th><th>SLI %</th><th>budget left %</th><th>burn rates</th><th>budget ran out</th></tr></thead><tbody>"#);
    let pct = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| fmt_percent(v / 100.0, 3));
    for s in slos {
        let burns: Vec<String> = s
            .burn_rates
            .iter()
            .map(|(w, r)| {
                format!(
                    "{}: {}",
                    span_text(*w),
                    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
                )
            })
            .collect();
        let _ = write!(
            out,
            r#"<tr data-slo="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td data-budget="{}">{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&s.name),
            esc(&s.name),
            fmt_float(s.objective_pct),
            span_text(s.period_s),
            s.total,
            pct(s.sli_pct),
            s.budget_remaining_pct.map_or_else(|| "null".to_owned(), fmt_float),
            pct(s.budget_remaining_pct),
            esc(&burns.join(" · ")),
            s.exhausted_at.map_or_else(|| "-".to_owned(), |t| format!("{} UTC", utc(t)))
        );
    }
    out.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_keep_four_significant_digits() {
        assert_eq!(super::significant(5.605_687_295), "5.606");
        assert_eq!(super::significant(13.550_135), "13.55");
        assert_eq!(super::significant(1234.6), "1235");
        assert_eq!(super::significant(0.001_234_56), "0.001235");
        assert_eq!(super::significant(0.0), "0.0");
        assert_eq!(super::significant(-2.5), "-2.500");
    }
}
