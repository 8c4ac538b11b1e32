//! The page: escaping, times, the panels of a selection, the endpoint
//! table, the time-range presets, and the one small inline script.

use std::fmt::Write as _;
use std::time::Duration;

use tailstore::format::{fmt_ms, fmt_ms_full, fmt_percent, fmt_rate, ms_f64};
use tailstore::WindowStats;

use crate::alerts::{self, Alerts};
use crate::collect::{edge_ns, GaugeLine, Point, View, BANDS_PER_DECADE, QUANTILES};
use crate::svg::{f, nice_top, Frame, Line, Panel, Scale};

/// Text from data (series names, patterns) as HTML and SVG text or
/// attribute values: `& < > " '` as entities; control characters, which
/// HTML cannot carry as text (not even as references), written visibly
/// as Rust escapes (`\n`, `\u{1b}`), as the CLI's tables write them.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC, proleptic Gregorian).
#[expect(
    clippy::many_single_char_names,
    reason = "the published algorithm's names (z, era, doe, yoe, doy, mp, d, m, y)"
)]
pub(crate) fn utc(t: u64) -> String {
    let (days, rem) = (t / 86_400, t % 86_400);
    // Days to civil date (H. Hinnant's algorithm), with u64 arithmetic:
    // `t` below 2^64 s keeps every intermediate far below 2^64.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A length in the largest unit it reaches, whole when it is a multiple
/// (`5 s`, `10 min`, `1 h`, `7 d`) and to one decimal otherwise (`2.0 d`).
pub(crate) fn span_text(s: u64) -> String {
    for (unit, name) in [(86_400, "d"), (3600, "h"), (60, "min")] {
        if s >= unit {
            return if s.is_multiple_of(unit) {
                format!("{} {name}", s / unit)
            } else {
                format!("{:.1} {name}", f(s) / f(unit))
            };
        }
    }
    format!("{s} s")
}

/// The most frequent statuses, `200:901 404:99` (as the CLI's tables).
pub(crate) fn top_statuses(w: &WindowStats, n: usize) -> String {
    let mut st: Vec<(u16, u64)> = w.status_counts().iter().collect();
    st.sort_by_key(|e| std::cmp::Reverse(e.1));
    st.iter().take(n).map(|(c, k)| format!("{c}:{k}")).collect::<Vec<_>>().join(" ")
}

const P_COLOURS: [&str; 3] = ["#1f77b4", "#e8950c", "#c62828"];
const P_TARGETS_MS: [f64; 3] = [100.0, 300.0, 500.0];
const ERROR_TARGET_PERCENT: f64 = 1.0;
/// Heatmap colours, fewest requests first (also in `STYLE`, as the
/// classes `h0` … `h7`).
const HEAT: [&str; 8] =
    ["#fff3c4", "#fde08b", "#fdbb5c", "#f98e3f", "#ec5f2f", "#cf3a2b", "#a0202d", "#66102b"];

fn status_colour(code: u16, nth_of_class: usize) -> &'static str {
    const OK: [&str; 3] = ["#43a047", "#81c784", "#1b5e20"];
    const REDIRECT: [&str; 2] = ["#1e88e5", "#90caf9"];
    const CLIENT: [&str; 4] = ["#fb8c00", "#ffcc80", "#e65100", "#fdd835"];
    const SERVER: [&str; 4] = ["#e53935", "#f48fb1", "#8e0000", "#ab47bc"];
    let pick = |p: &[&'static str]| p[nth_of_class % p.len()];
    match code {
        200..=299 => pick(&OK),
        300..=399 => pick(&REDIRECT),
        400..=499 => pick(&CLIENT),
        500..=599 => pick(&SERVER),
        _ => "#9e9e9e",
    }
}

/// A latency axis label from a value in ms: `0.25 ms`, `10 ms`, `1000 ms`.
fn ms_label(v_ms: f64) -> String {
    let decimals = if v_ms >= 1.0 {
        0
    } else if v_ms >= 0.1 {
        1
    } else if v_ms >= 0.01 {
        2
    } else {
        3
    };
    format!("{} ms", fmt_ms(Some(Duration::from_secs_f64(v_ms.max(0.0) / 1e3)), decimals))
}

/// Decimals that show a tick step of `top / 4` without repeating labels.
fn decimals_for(top: f64) -> usize {
    if top >= 40.0 {
        0
    } else if top >= 4.0 {
        1
    } else {
        2
    }
}

fn figure(out: &mut String, title: &str, svg: &str, legend: &str) {
    let _ = write!(
        out,
        r#"<figure class="panel"><figcaption>{title}</figcaption>{svg}<div class="legend">{legend}</div></figure>"#
    );
}

fn swatch(colour: &str, label: &str) -> String {
    format!(r#"<span class="sw" style="background:{colour}"></span>{} "#, esc(label))
}

/// The one-line numbers of a selection over the whole view.
fn stat_line(w: &WindowStats) -> String {
    let q = w.quantiles(&QUANTILES);
    format!(
        "{} requests · {} req/s · {} % errors · P50 {} ms · P95 {} ms · P99 {} ms · max {} ms",
        w.count(),
        fmt_rate(w.rate_per_sec(), 2),
        fmt_percent(w.error_ratio().unwrap_or(0.0), 2),
        fmt_ms(q[0], 1),
        fmt_ms(q[1], 1),
        fmt_ms(q[2], 1),
        fmt_ms(w.max(), 1)
    )
}

/// The five panels of one selection (all endpoints, or one) in a view;
/// `hover`: tooltips per point on the line charts.
pub(crate) fn panels(out: &mut String, v: &View, points: &[Point], hover: bool) {
    let step = v.step_s;
    let frame = Frame { t_lo: v.first_t - step, t_hi: v.last_t };
    // A point is drawn at the middle of its window.
    let xs: Vec<f64> = points.iter().map(|p| f(p.t) - f(step) / 2.0).collect();
    let when = |p: &Point| format!("{} – {} UTC", utc(p.t - step), &utc(p.t)[11..]);
    out.push_str(r#"<div class="grid">"#);

    // Request rate.
    let top = nice_top(points.iter().map(|p| p.rate_per_min).fold(0.0, f64::max), 1.0);
    let mut panel = Panel::new(frame, Scale::Linear { top }, "request rate, requests per minute");
    let dec = decimals_for(top);
    panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_rate(x, dec));
    panel.line(&Line {
        colour: "#3949ab",
        values: xs.iter().zip(points).map(|(x, p)| (*x, Some(p.rate_per_min))).collect(),
    });
    if hover {
        let cols: Vec<_> = points
            .iter()
            .map(|p| {
                let text = format!(
                    "{} · {} req/min ({} requests)",
                    when(p),
                    fmt_rate(p.rate_per_min, 1),
                    p.count
                );
                (p.t - step, p.t, text)
            })
            .collect();
        panel.hover(&cols);
    }
    figure(out, "Request rate (req/min)", &panel.finish(), &swatch("#3949ab", "req/min"));

    // Error rate.
    let max_pct = points.iter().filter_map(|p| p.error_ratio).fold(0.0, f64::max) * 100.0;
    let top = nice_top(max_pct, 2.0 * ERROR_TARGET_PERCENT);
    let mut panel = Panel::new(frame, Scale::Linear { top }, "error rate, percent");
    let dec = decimals_for(top);
    panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_percent(x / 100.0, dec));
    panel.threshold(ERROR_TARGET_PERCENT, "#c62828", "target 1 %", 0);
    panel.line(&Line {
        colour: "#c62828",
        values: xs
            .iter()
            .zip(points)
            .map(|(x, p)| (*x, p.error_ratio.map(|r| r * 100.0)))
            .collect(),
    });
    if hover {
        let cols: Vec<_> = points
            .iter()
            .map(|p| {
                let e = p.error_ratio.map_or("-".to_owned(), |r| fmt_percent(r, 2));
                (p.t - step, p.t, format!("{} · {e} % errors", when(p)))
            })
            .collect();
        panel.hover(&cols);
    }
    figure(
        out,
        "Error rate (%)",
        &panel.finish(),
        &format!("{}{}", swatch("#c62828", "errors %"), "(dashed: the 1 % target)"),
    );

    latency_panel(out, frame, &xs, points, step, hover.then_some(&when));
    status_panel(out, frame, &xs, points, step, hover.then_some(&when));
    heatmap_panel(out, frame, v, points);
    out.push_str("</div>");
}

/// What a gauge measures, told by its name: CPU percent, bytes of memory,
/// MiB of memory, or anything else.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GaugeKind {
    CpuPercent,
    MemoryBytes,
    MemoryMib,
    Other,
}

fn gauge_kind(name: &str) -> GaugeKind {
    let n = name.to_ascii_lowercase();
    if n.contains("cpu") && (n.contains("percent") || n.ends_with("_pct")) {
        GaugeKind::CpuPercent
    } else if n.contains("memory") && n.ends_with("_bytes") && !n.contains("limit") {
        GaugeKind::MemoryBytes
    } else if n.contains("memory") && (n.ends_with("_mb") || n.ends_with("_mib")) {
        GaugeKind::MemoryMib
    } else {
        GaugeKind::Other
    }
}

const GAUGE_COLOURS: [&str; 4] = ["#3949ab", "#00897b", "#8e24aa", "#f4511e"];

/// The gauge panels of a view: CPU usage (%) with the guide's 80 % (sustained
/// target) and 90 % (alert) lines; memory (MiB) with each gauge's growth per
/// hour and restarts; one panel per other gauge (its mean per step).
fn gauge_panels(out: &mut String, v: &View) {
    let step = v.step_s;
    let frame = Frame { t_lo: v.first_t - step, t_hi: v.last_t };
    let cpu: Vec<&GaugeLine> =
        v.gauges.iter().filter(|g| gauge_kind(&g.name) == GaugeKind::CpuPercent).collect();
    let mem: Vec<(&GaugeLine, f64)> = v
        .gauges
        .iter()
        .filter_map(|g| match gauge_kind(&g.name) {
            GaugeKind::MemoryBytes => Some((g, 1.0 / 1_048_576.0)),
            GaugeKind::MemoryMib => Some((g, 1.0)),
            _ => None,
        })
        .collect();
    out.push_str(r#"<div class="grid">"#);
    if !cpu.is_empty() {
        let lines: Vec<(&GaugeLine, f64)> = cpu.iter().map(|g| (*g, 1.0)).collect();
        let top = nice_top(peak(&lines), 100.0);
        let mut panel = Panel::new(frame, Scale::Linear { top }, "CPU usage, percent");
        let dec = decimals_for(top);
        panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_float_dec(x, dec));
        panel.threshold(80.0, "#e8950c", "target < 80 %", 1);
        panel.threshold(90.0, "#c62828", "alert > 90 %", 0);
        let legend = gauge_lines(&mut panel, step, &lines, |g| {
            format!(
                "mean {} %",
                g.stats.mean().map_or_else(|| "-".to_owned(), |m| fmt_float_dec(m, 1))
            )
        });
        figure(out, "CPU usage (%)", &panel.finish(), &legend);
    }
    if !mem.is_empty() {
        let top = nice_top(peak(&mem), 1.0);
        let mut panel = Panel::new(frame, Scale::Linear { top }, "memory, MiB");
        let dec = decimals_for(top);
        panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_float_dec(x, dec));
        let legend = gauge_lines(&mut panel, step, &mem, |g| {
            let scale =
                if gauge_kind(&g.name) == GaugeKind::MemoryBytes { 1.0 / 1_048_576.0 } else { 1.0 };
            let growth = g
                .stats
                .growth_pct_per_hour()
                .map_or_else(|| "-".to_owned(), |x| format!("{x:+.2}"));
            let restarts = g.stats.restarts_s().len();
            format!(
                "last {} MiB · growth {growth} %/h · {restarts} restart{}",
                g.stats.last().map_or_else(|| "-".to_owned(), |l| fmt_float_dec(l * scale, 1)),
                if restarts == 1 { "" } else { "s" }
            )
        });
        figure(out, "Memory (MiB)", &panel.finish(), &legend);
    }
    for g in v.gauges.iter().filter(|g| gauge_kind(&g.name) == GaugeKind::Other) {
        let lines = [(g, 1.0)];
        let top = nice_top(peak(&lines), 1.0);
        let mut panel = Panel::new(frame, Scale::Linear { top }, &format!("gauge {}", g.name));
        let dec = decimals_for(top);
        panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_float_dec(x, dec));
        let legend = gauge_lines(&mut panel, step, &lines, |g| {
            format!(
                "min {} · mean {} · max {} · last {}",
                g.stats.min().map_or_else(|| "-".to_owned(), |x| fmt_float_dec(x, 2)),
                g.stats.mean().map_or_else(|| "-".to_owned(), |x| fmt_float_dec(x, 2)),
                g.stats.max().map_or_else(|| "-".to_owned(), |x| fmt_float_dec(x, 2)),
                g.stats.last().map_or_else(|| "-".to_owned(), |x| fmt_float_dec(x, 2)),
            )
        });
        figure(out, &format!("{} (mean per step)", esc(&g.name)), &panel.finish(), &legend);
    }
    out.push_str("</div>");
}

/// The largest mean of `lines` (each scaled), 0 when none.
fn peak(lines: &[(&GaugeLine, f64)]) -> f64 {
    lines
        .iter()
        .flat_map(|(g, k)| g.points.iter().filter_map(move |p| p.1.map(|m| m * k)))
        .fold(0.0, f64::max)
}

/// Draws each gauge's mean per step (scaled) and returns the legend, with
/// `note` per gauge. Negative values sit on the axis (the scales start at 0).
fn gauge_lines(
    panel: &mut Panel,
    step: u64,
    lines: &[(&GaugeLine, f64)],
    note: impl Fn(&GaugeLine) -> String,
) -> String {
    let mut legend = String::new();
    for (i, (g, k)) in lines.iter().enumerate() {
        let colour = GAUGE_COLOURS[i % GAUGE_COLOURS.len()];
        panel.line(&Line {
            colour,
            values: g.points.iter().map(|p| (f(p.0) - f(step) / 2.0, p.1.map(|m| m * k))).collect(),
        });
        let _ = write!(legend, "{}({}) ", swatch(colour, &g.name), esc(&note(g)));
    }
    if lines.iter().any(|(g, _)| g.stats.damaged_s() > 0) {
        legend.push_str("· some seconds have no intact stored piece (see tailstore check)");
    }
    legend
}

/// `x` with `dec` decimals, as the tables write it.
fn fmt_float_dec(x: f64, dec: usize) -> String {
    format!("{x:.dec$}")
}

/// P50/P95/P99 on a log scale, with the guide's targets.
fn latency_panel(
    out: &mut String,
    frame: Frame,
    xs: &[f64],
    points: &[Point],
    step: u64,
    hover: Option<&dyn Fn(&Point) -> String>,
) {
    // Latency percentiles, log scale, with the guide's targets.
    let ms: Vec<[Option<f64>; 3]> =
        points.iter().map(|p| [0, 1, 2].map(|i| p.q[i].map(ms_f64))).collect();
    let all = ms.iter().flatten().flatten().copied();
    let (lo_ms, hi_ms) = all.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let lo = lo_ms.clamp(0.001, 100.0).log10().floor();
    let hi = hi_ms.max(600.0).log10().ceil();
    let scale = Scale::Log { lo, hi };
    let mut panel = Panel::new(frame, scale, "latency percentiles P50, P95, P99, milliseconds");
    let mut decades = vec![10f64.powf(lo)];
    while let Some(last) = decades.last().copied().filter(|v| v.log10() < hi - 0.5) {
        decades.push(last * 10.0);
    }
    panel.axes(&decades, ms_label);
    for ((target, colour), (name, slot)) in
        P_TARGETS_MS.iter().zip(P_COLOURS).zip([("P50", 2), ("P95", 1), ("P99", 0)])
    {
        panel.threshold(*target, colour, &format!("{name} target {target} ms"), slot);
    }
    for (i, colour) in P_COLOURS.iter().enumerate() {
        panel.line(&Line { colour, values: xs.iter().zip(&ms).map(|(x, m)| (*x, m[i])).collect() });
    }
    if let Some(when) = hover {
        let cols: Vec<_> = points
            .iter()
            .map(|p| {
                let text = format!(
                    "{} · P50 {} ms · P95 {} ms · P99 {} ms",
                    when(p),
                    fmt_ms(p.q[0], 1),
                    fmt_ms(p.q[1], 1),
                    fmt_ms(p.q[2], 1)
                );
                (p.t - step, p.t, text)
            })
            .collect();
        panel.hover(&cols);
    }
    let legend = format!(
        "{}{}{}(dashed: the targets 100 / 300 / 500 ms)",
        swatch(P_COLOURS[0], "P50"),
        swatch(P_COLOURS[1], "P95"),
        swatch(P_COLOURS[2], "P99")
    );
    figure(out, "Latency P50 / P95 / P99 (ms, log scale)", &panel.finish(), &legend);
}

/// Status codes stacked: the six commonest codes, the rest as `other`.
fn status_panel(
    out: &mut String,
    frame: Frame,
    xs: &[f64],
    points: &[Point],
    step: u64,
    hover: Option<&dyn Fn(&Point) -> String>,
) {
    let mut totals: Vec<(u16, u64)> = Vec::new();
    for p in points {
        for (code, n) in &p.status {
            match totals.iter_mut().find(|e| e.0 == *code) {
                Some(e) => e.1 += n,
                None => totals.push((*code, *n)),
            }
        }
    }
    totals.sort_by_key(|e| (std::cmp::Reverse(e.1), e.0));
    let mut shown: Vec<u16> = totals.iter().take(6).map(|e| e.0).collect();
    shown.sort_unstable();
    let other = totals.len() > shown.len();
    let per_min = |n: u64| f(n) * 60.0 / f(step);
    let mut layers: Vec<(String, &str, Vec<f64>)> = Vec::new();
    let mut nth = [0usize; 6];
    for code in &shown {
        let class = usize::from(*code / 100).min(5);
        let colour = status_colour(*code, nth[class]);
        nth[class] += 1;
        let values = points
            .iter()
            .map(|p| p.status.iter().find(|e| e.0 == *code).map_or(0.0, |e| per_min(e.1)))
            .collect();
        layers.push((code.to_string(), colour, values));
    }
    if other {
        let values = points
            .iter()
            .map(|p| per_min(p.status.iter().filter(|e| !shown.contains(&e.0)).map(|e| e.1).sum()))
            .collect();
        layers.push(("other".to_owned(), "#9e9e9e", values));
    }
    let max = points.iter().map(|p| per_min(p.count)).fold(0.0, f64::max);
    let top = nice_top(max, 1.0);
    let mut panel = Panel::new(frame, Scale::Linear { top }, "status codes, requests per minute");
    let dec = decimals_for(top);
    panel.axes(&[0.0, top / 4.0, top / 2.0, top * 0.75, top], |x| fmt_rate(x, dec));
    panel.stacked(xs, &layers);
    if let Some(when) = hover {
        let cols: Vec<_> = points
            .iter()
            .map(|p| {
                let mut st = p.status.clone();
                st.sort_by_key(|e| std::cmp::Reverse(e.1));
                let list: Vec<String> =
                    st.iter().take(5).map(|(c, n)| format!("{c}: {n}")).collect();
                (p.t - step, p.t, format!("{} · {}", when(p), list.join(" · ")))
            })
            .collect();
        panel.hover(&cols);
    }
    let legend: String = layers.iter().map(|(label, colour, _)| swatch(colour, label)).collect();
    figure(out, "Status codes (req/min, stacked)", &panel.finish(), &legend);
}

/// Time x latency band, colour = requests in the cell (8 classes on a log
/// scale of the largest cell).
fn heatmap_panel(out: &mut String, frame: Frame, v: &View, points: &[Point]) {
    let bands = &v.bands;
    let per = f64::from(BANDS_PER_DECADE);
    let band_count = i32::try_from(bands.len()).unwrap_or(i32::MAX);
    let lo = f64::from(bands.k0) / per;
    let hi = f64::from(bands.k0.saturating_add(band_count)) / per;
    let scale = Scale::Log { lo, hi };
    let max = points.iter().flat_map(|p| p.bands.iter().map(|b| b.1)).max().unwrap_or(0);
    let ln_max = f(max).ln_1p();
    let mut cells: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); HEAT.len()];
    for p in points {
        for (band, n) in &p.bands {
            if *n == 0 {
                continue;
            }
            // ceil(8 * ln(1 + n) / ln(1 + max)) - 1, in [0, 7].
            let level = (f(*n).ln_1p() / ln_max * 8.0).ceil().clamp(1.0, 8.0);
            let class = HEAT.len().min(level_index(level)).saturating_sub(1);
            let (v0, v1) = (
                f(bands.edges_ns[*band]) / 1e6,
                f(bands.edges_ns.get(band + 1).copied().unwrap_or(bands.edges_ns[*band])) / 1e6,
            );
            cells[class].push((f(p.t - v.step_s), f(p.t), v0, v1));
        }
    }
    let mut panel =
        Panel::new(frame, scale, "latency heatmap, requests per time step and latency band");
    let ticks: Vec<f64> = (bands.k0..=bands.k0.saturating_add(band_count))
        .filter(|k| k % BANDS_PER_DECADE == 0)
        .map(|k| f(edge_ns(k)) / 1e6)
        .collect();
    let ticks = if ticks.is_empty() {
        vec![f(bands.edges_ns[0]) / 1e6, f(bands.edges_ns[bands.len()]) / 1e6]
    } else {
        ticks
    };
    panel.axes(&ticks, ms_label);
    panel.cells(&cells);
    let mut legend = String::new();
    for c in HEAT {
        let _ = write!(legend, r#"<span class="sw" style="background:{c}"></span>"#);
    }
    let _ = write!(
        legend,
        " 1 … {max} requests per cell (log colour scale); {BANDS_PER_DECADE} bands per ×10 of latency, from the exact histograms"
    );
    figure(out, "Latency heatmap (requests per step and latency band)", &panel.finish(), &legend);
}

/// `level` (a whole number in [1, 8]) as an index.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the caller clamps level to [1, 8]"
)]
fn level_index(level: f64) -> usize {
    level as usize
}

/// The per-endpoint table of view `vi`.
pub(crate) fn table(out: &mut String, vi: usize, v: &View) {
    let _ = write!(
        out,
        r#"<table class="ep" id="v{vi}-table" data-start="{}" data-end="{}"><thead><tr><th>endpoint</th><th>count</th><th>req/s</th><th>err %</th><th>P50 ms</th><th>P95 ms</th><th>P99 ms</th><th>max ms</th><th>top statuses</th></tr></thead><tbody>"#,
        v.start_s, v.end_s
    );
    for (j, e) in v.endpoints.iter().enumerate() {
        let name = if e.points.is_some() {
            format!(r##"<a href="#v{vi}-e{j}">{}</a>"##, esc(&e.name))
        } else {
            esc(&e.name)
        };
        row(out, &format!(r#" data-series="{}""#, esc(&e.name)), &name, &e.total);
    }
    if v.endpoints.len() > 1 {
        row(out, r#" class="all""#, "(all)", &v.total);
    }
    out.push_str("</tbody></table>");
}

fn row(out: &mut String, attrs: &str, name: &str, w: &WindowStats) {
    let q = w.quantiles(&QUANTILES);
    let _ = write!(
        out,
        "<tr{attrs}><td>{name}</td><td>{}</td><td>{}</td><td>{}</td>",
        w.count(),
        fmt_rate(w.rate_per_sec(), 2),
        fmt_percent(w.error_ratio().unwrap_or(0.0), 2)
    );
    for (d, key) in q.iter().chain([w.max()].iter()).zip(["p50", "p95", "p99", "max"]) {
        // The full value is the number `query --json` gives (same formatter).
        let full = d.map_or("null".to_owned(), fmt_ms_full);
        let _ = write!(out, r#"<td data-{key}-ms="{full}">{}</td>"#, fmt_ms(*d, 1));
    }
    let _ = write!(out, "<td>{}</td></tr>", esc(&top_statuses(w, 3)));
}

const STYLE: &str = "path.h0{fill:#fff3c4}path.h1{fill:#fde08b}path.h2{fill:#fdbb5c}path.h3{fill:#f98e3f}path.h4{fill:#ec5f2f}path.h5{fill:#cf3a2b}path.h6{fill:#a0202d}path.h7{fill:#66102b}\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}\
header{background:#1d2330;color:#fff;padding:12px 20px}header h1{font-size:18px;margin:0 0 4px}header p{margin:2px 0;color:#c9ced8}\
nav button{font:inherit;margin:6px 6px 0 0;padding:3px 10px;border:1px solid #8892a6;border-radius:4px;background:#2b3345;color:#fff;cursor:pointer}nav button.on{background:#3f6fd8;border-color:#3f6fd8}\
main{padding:8px 20px 24px}h2{font-size:16px;margin:18px 0 6px}.note{color:#556;margin:4px 0}.stat{font-weight:600;margin:4px 0 8px}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}\
.panel{margin:0;background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px}figcaption{font-weight:600;margin-bottom:4px}\
svg{width:100%;height:auto;display:block}.grid path.grid{stroke:#e6e9ef;stroke-width:1;fill:none}path.axis{stroke:#9aa3b2;fill:none}\
path.thr{stroke-dasharray:6 4;stroke-width:1.3;fill:none}text{font-size:11px;fill:#5a6374}text.yl{text-anchor:end}text.xl{text-anchor:middle}text.tl{text-anchor:end;font-size:10px}\
polyline.ln{fill:none;stroke-width:1.6;stroke-linejoin:round}.hov rect{fill:transparent}.hov rect:hover{fill:rgba(40,60,120,.10)}\
.legend{font-size:12px;color:#445;margin-top:4px}.sw{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;border-radius:2px;vertical-align:-1px}\
table.ep{border-collapse:collapse;background:#fff;width:100%;font-variant-numeric:tabular-nums}table.ep th,table.ep td{padding:4px 8px;border-bottom:1px solid #e3e6ec;text-align:right}\
table.ep th:first-child,table.ep td:first-child,table.ep th:last-child,table.ep td:last-child{text-align:left}table.ep tr.all{font-weight:600}table.ep tr.fired td:first-child{color:#c62828;font-weight:600}\
.endpoint{border-top:2px solid #dde1e8;margin-top:18px}#err{background:#c62828;color:#fff;padding:6px 20px}";

/// The inline script: errors are written into the page (`#err`, and
/// `data-error` on `<body>`) so a headless check can see them; the
/// buttons switch views, and so does a link to `#v1` (or into it, `#v1-e2`);
/// `data-ready` marks that the script ran.
const SCRIPT: &str = "window.onerror=function(m){var e=document.getElementById('err');e.hidden=false;e.textContent='script error: '+m;document.body.setAttribute('data-error','1')};\
(function(){var bs=document.querySelectorAll('nav button'),vs=document.querySelectorAll('section.view');\
function show(id){if(!document.getElementById(id))return;vs.forEach(function(v){v.hidden=v.id!==id});\
bs.forEach(function(o){o.className=o.getAttribute('data-view')===id?'on':''})}\
bs.forEach(function(b){b.addEventListener('click',function(){show(b.getAttribute('data-view'))})});\
function fromHash(){var m=/^#(v[0-9]+)/.exec(location.hash);if(m)show(m[1])}\
window.addEventListener('hashchange',fromHash);fromHash();document.body.setAttribute('data-ready','1')})();";

/// What the page header says.
pub(crate) struct Header<'a> {
    pub title: &'a str,
    pub selection: &'a str,
    pub series: usize,
}

/// The whole page.
pub(crate) fn page(h: &Header<'_>, views: &[View], alerts: Option<&Alerts>) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>{STYLE}</style></head><body><div id="err" hidden></div><header><h1>{}</h1>"#,
        esc(h.title),
        esc(h.title)
    );
    if let Some(v) = views.first() {
        let _ = write!(
            out,
            "<p>{} series ({}) · data {} – {} UTC · made by tailstore {}</p>",
            h.series,
            esc(h.selection),
            utc(v.start_s),
            utc(v.end_s),
            env!("CARGO_PKG_VERSION")
        );
    }
    out.push_str("<nav>Time range: ");
    for (i, v) in views.iter().enumerate() {
        let _ = write!(
            out,
            r#"<button type="button" data-view="v{i}"{}>{}</button>"#,
            if i == 0 { r#" class="on""# } else { "" },
            esc(&v.label)
        );
    }
    out.push_str("</nav></header><main>");
    for (i, v) in views.iter().enumerate() {
        view(&mut out, i, v, alerts);
    }
    let _ = writeln!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}

fn view(out: &mut String, vi: usize, v: &View, alerts: Option<&Alerts>) {
    let points = v.points.len();
    let _ = write!(
        out,
        r#"<section class="view" id="v{vi}" data-start="{}" data-end="{}" data-step="{}"{}><p class="note">{} – {} UTC ({}). Step {}: each point is the {} window ending at it ({points} points; windows are aligned to the step, so the first and last may reach outside the range).</p>"#,
        v.start_s,
        v.end_s,
        v.step_s,
        if vi == 0 { "" } else { " hidden" },
        utc(v.start_s),
        utc(v.end_s),
        span_text(v.end_s - v.start_s),
        span_text(v.step_s),
        span_text(v.step_s)
    );
    let _ = write!(
        out,
        r#"<h2>All selected endpoints</h2><p class="stat">{}</p>"#,
        stat_line(&v.total)
    );
    panels(out, v, &v.points, true);
    if !v.gauges.is_empty() {
        out.push_str("<h2>CPU and memory</h2>");
        gauge_panels(out, v);
    }
    if let Some(a) = alerts {
        alerts::section(out, vi, v, a);
    }
    out.push_str("<h2>Endpoints</h2>");
    table(out, vi, v);
    let drilled = v.endpoints.iter().filter(|e| e.points.is_some()).count();
    if drilled < v.endpoints.len() {
        let _ = write!(
            out,
            r#"<p class="note">Panels for the {drilled} busiest endpoints; the others are in the table only.</p>"#
        );
    }
    for (j, e) in v.endpoints.iter().enumerate() {
        let Some(points) = &e.points else { continue };
        let _ = write!(
            out,
            r##"<section class="endpoint" id="v{vi}-e{j}"><h2>{}</h2><p class="stat">{} · <a href="#v{vi}-table">back to the table</a></p>"##,
            esc(&e.name),
            stat_line(&e.total)
        );
        panels(out, v, points, false);
        out.push_str("</section>");
    }
    out.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            esc(r#"<a href="x">&'b'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;b&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("a\nb\u{1b}[2J\0"), "a\\nb\\u{1b}[2J\\u{0}");
        assert_eq!(esc("/models/ü"), "/models/ü");
        // Oracle: no output of any char can open a tag, end an attribute
        // or hold a control character.
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let e = esc(&c.to_string());
            assert!(!e.contains(['<', '>', '"', '\'']), "{c:?}: {e}");
            assert!(!e.chars().any(char::is_control), "{c:?}: {e}");
            assert!(!e.contains('&') || e.starts_with('&') && e.ends_with(';'), "{c:?}: {e}");
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_764_547_200), "2025-12-01 00:00:00");
        assert_eq!(utc(951_782_400 + 86_399), "2000-02-29 23:59:59");
        assert_eq!(utc(4_107_542_400), "2100-03-01 00:00:00");
        // Oracle: day by day from 1970, the civil calendar advanced naively.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for day in 0..200_000u64 {
            assert_eq!(utc(day * 86_400 + 3661)[..10], format!("{y:04}-{m:02}-{d:02}"));
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
            d += 1;
            if d > len[usize::try_from(m - 1).unwrap()] {
                (d, m) = (1, m + 1);
                if m > 12 {
                    (m, y) = (1, y + 1);
                }
            }
        }
    }

    #[test]
    fn spans_and_labels() {
        assert_eq!(span_text(5), "5 s");
        assert_eq!(span_text(600), "10 min");
        assert_eq!(span_text(3600), "1 h");
        assert_eq!(span_text(7 * 86_400), "7 d");
        assert_eq!(span_text(90), "1.5 min");
        assert_eq!(span_text(59), "59 s");
        assert_eq!(span_text(0), "0 s");
        assert_eq!(span_text(172_771), "2.0 d");
        assert_eq!(ms_label(100.0), "100 ms");
        assert_eq!(ms_label(0.1), "0.1 ms");
        assert_eq!(ms_label(0.001), "0.001 ms");
        assert_eq!(ms_label(2.5119), "3 ms");
    }
}
