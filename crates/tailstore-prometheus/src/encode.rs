//! The encoders: a store's series as a histogram family and a counter
//! family, in text 0.0.4, `OpenMetrics` 1.0 or protobuf (`crate::protobuf`).
//! No I/O but the writer given.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use tailstore::format::fmt_float;
use tailstore::{Selector, SeriesKind, StatusCounts, Store};

use crate::error::Error;
use crate::format::{Format, Names};

/// One `le` bound: its value and its two spellings, made once per
/// configuration so a scrape formats no float per bucket.
#[derive(Clone, Debug)]
struct Bound {
    seconds: f64,
    /// `floor(le)` in ns: a sample of `ns` nanoseconds is `<= le`.
    ns: u64,
    /// Text 0.0.4 (`client_golang`'s `FormatFloat(v, 'g', -1)` style: `1`, `0.005`).
    text: String,
    /// `OpenMetrics` canonical form (`1.0`, `0.005`).
    om: String,
}

impl Bound {
    fn new(seconds: f64) -> Bound {
        let x = seconds * 1e9;
        let r = x.round();
        // A bound in seconds is rarely exact in binary (0.005 s): the
        // product lands within an ulp of the whole ns it means.
        let ns_f = if (x - r).abs() <= 1e-6 * r.max(1.0) { r } else { x.floor() };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "ns_f is a whole, non-negative number (bounds are checked to be finite \
                      and >= 0); the float-to-int cast saturates above u64::MAX"
        )]
        let ns = ns_f as u64;
        let om = fmt_float(seconds);
        let text = om.strip_suffix(".0").unwrap_or(&om).to_string();
        Bound { seconds, ns, text, om }
    }
}

/// What one scrape wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scrape {
    /// Series exposed (selected and holding data).
    pub series: usize,
    /// Sample lines written (protobuf: `Metric` messages, one per series'
    /// histogram, per status counter, per gauge and per alert).
    pub samples: usize,
}

/// An alert that is pending or firing (from the rules a model server
/// evaluates live, e.g. `tailstore_rules::LiveEvaluator::states`), exposed
/// as Prometheus's own `ALERTS` series:
/// `ALERTS{alertname, alertstate="pending"|"firing", <labels>} 1`, so that
/// dashboards and silences written for Prometheus's rules see tailstore's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveAlert {
    /// The rule's name (`alertname`).
    pub alertname: String,
    /// The alert's labels (the rule's, and the series it is about); names
    /// that are not label names are made into ones (as [`metric_name`]
    /// does, without `:`), and `alertname`, `alertstate` and names starting
    /// with `__` are left out.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Firing (else pending).
    pub firing: bool,
}

/// A label name from any text: `[a-zA-Z_][a-zA-Z0-9_]*`, other characters
/// as `_`.
fn label_name(name: &str) -> String {
    metric_name(name).replace(':', "_")
}

/// One gauge's last value, under its metric name.
struct GaugeRow {
    /// The gauge's name as a metric name (see [`metric_name`]).
    name: String,
    value: f64,
}

/// A gauge's name as a metric name: itself when it is one
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`), else with every other character as `_`
/// (and a leading `_` before a digit).
#[must_use]
pub fn metric_name(gauge: &str) -> String {
    let mut s: String = gauge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// The numbers of one series over its retained data.
struct Row {
    label: String,
    /// The series name, unescaped (protobuf).
    name: String,
    /// The row's non-empty HDR buckets in the scrape's table (protobuf only).
    hdr: std::ops::Range<usize>,
    created_s: u64,
    count: u64,
    sum_ns: u128,
    statuses: StatusCounts,
}

/// The exposition of a store: which series, under which names, with which
/// bucket bounds. Configure, then [`Exposition::encode`] per scrape.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tailstore::{Options, Store};
/// use tailstore_prometheus::{Exposition, Format, Names};
///
/// let store = Store::in_memory(Options::default().keep_everything());
/// let s = store.series("/models/fraud-v2/predict");
/// let t0 = 1_764_547_200;
/// for (i, ms) in [3u64, 8, 40, 120, 900].into_iter().enumerate() {
///     let at = UNIX_EPOCH + Duration::from_secs(t0 + i as u64);
///     s.record_at(at, Duration::from_millis(ms), if ms > 500 { 504 } else { 200 });
/// }
/// let mut out = Vec::new();
/// Exposition::new(Names::ingress_nginx()).encode(&store, Format::text(), &mut out)?;
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.contains(
///     "nginx_ingress_controller_request_duration_seconds_bucket{path=\"/models/fraud-v2/predict\",le=\"0.05\"} 3\n"
/// ));
/// assert!(text.contains("nginx_ingress_controller_requests{path=\"/models/fraud-v2/predict\",status=\"504\"} 1\n"));
/// # Ok::<(), tailstore_prometheus::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Exposition {
    names: Names,
    bounds: Vec<Bound>,
    selector: Selector,
}

impl Exposition {
    /// Every series of the store, under `names`, with the preset's default
    /// buckets ([`Names::default_buckets`]).
    #[must_use]
    pub fn new(names: Names) -> Exposition {
        Exposition {
            names,
            bounds: names.default_buckets().iter().map(|&s| Bound::new(s)).collect(),
            selector: Selector::all(),
        }
    }

    /// The `le` bounds, in seconds (the `+Inf` bucket is always added; a
    /// trailing `+Inf` here is accepted and ignored).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBuckets`] when a bound is NaN, negative, infinite
    /// (but a last `+Inf`), or not greater than the one before.
    pub fn buckets(mut self, bounds_s: &[f64]) -> Result<Exposition, Error> {
        let finite = match bounds_s.split_last() {
            Some((last, rest)) if *last == f64::INFINITY => rest,
            _ => bounds_s,
        };
        let mut prev: Option<f64> = None;
        for &b in finite {
            if !b.is_finite() || b < 0.0 {
                return Err(Error::InvalidBuckets {
                    reason: format!("{b} is not a finite, non-negative number of seconds"),
                });
            }
            if prev.is_some_and(|p| b <= p) {
                return Err(Error::InvalidBuckets {
                    reason: format!("{b} does not increase on the bound before it"),
                });
            }
            prev = Some(b);
        }
        self.bounds = finite.iter().map(|&s| Bound::new(s)).collect();
        Ok(self)
    }

    /// Only the series `selector` picks (default: every series).
    #[must_use]
    pub fn selector(mut self, selector: Selector) -> Exposition {
        self.selector = selector;
        self
    }

    /// The naming preset.
    #[must_use]
    pub fn names(&self) -> Names {
        self.names
    }

    /// The `le` bounds, seconds (without `+Inf`).
    #[must_use]
    pub fn bucket_bounds(&self) -> Vec<f64> {
        self.bounds.iter().map(|b| b.seconds).collect()
    }

    /// The finite bounds as `(floor(le) in ns, le as the text format writes it)`.
    pub(crate) fn bounds_ns_text(&self) -> Vec<(u64, String)> {
        self.bounds.iter().map(|b| (b.ns, b.text.clone())).collect()
    }

    /// The series selector.
    pub(crate) fn series_selector(&self) -> &Selector {
        &self.selector
    }

    /// Writes the exposition of `store` in `format` to `out`.
    ///
    /// Each selected series that holds data is queried once over its whole
    /// retained data (`[first second, end)`): one planned query, so the cost
    /// is O(series × (pieces + buckets)); the buckets are written from one
    /// table of counts allocated per scrape, with no allocation per bucket.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when a query fails; [`Error::Io`] when `out` does.
    pub fn encode(
        &self,
        store: &Store,
        format: Format,
        out: &mut impl Write,
    ) -> Result<Scrape, Error> {
        self.encode_with_alerts(store, format, &[], out)
    }

    /// [`Exposition::encode`], with the `ALERTS` family of `alerts` (see
    /// [`ActiveAlert`]) after the store's families.
    ///
    /// # Errors
    ///
    /// As [`Exposition::encode`].
    pub fn encode_with_alerts(
        &self,
        store: &Store,
        format: Format,
        alerts: &[ActiveAlert],
        out: &mut impl Write,
    ) -> Result<Scrape, Error> {
        let nb = self.bounds.len();
        let mut rows = Vec::new();
        let mut gauges: Vec<GaugeRow> = Vec::new();
        let mut cum: Vec<u64> = Vec::new();
        let mut hdr: Vec<(u32, u64)> = Vec::new();
        for info in store.series_info() {
            let Some((start_s, end_s)) = info.bounds_s else { continue };
            if info.kind == SeriesKind::Gauge {
                // The last value set: the newest second holding one.
                let st = store
                    .gauge_query(Selector::exact(info.name.as_str()))
                    .between(
                        UNIX_EPOCH + Duration::from_secs(end_s.saturating_sub(1).max(start_s)),
                        UNIX_EPOCH + Duration::from_secs(end_s),
                    )
                    .run()?;
                if let Some(value) = st.last() {
                    let name = metric_name(&info.name);
                    // Two gauges whose names map to one metric: the first
                    // (by name) is exposed, not a duplicate family.
                    if !gauges.iter().any(|g| g.name == name) && !self.names.reserves(&name) {
                        gauges.push(GaugeRow { name, value });
                    }
                }
                continue;
            }
            if !self.selector.matches(&info.name) {
                continue;
            }
            let w = store
                .query(Selector::exact(info.name.as_str()))
                .between(
                    UNIX_EPOCH + Duration::from_secs(start_s),
                    UNIX_EPOCH + Duration::from_secs(end_s),
                )
                .run()?;
            cum.extend(self.bounds.iter().map(|b| w.count_at_most(Duration::from_nanos(b.ns))));
            let from = hdr.len();
            if format.is_protobuf() {
                hdr.extend(w.accumulator().nonzero());
            }
            rows.push(Row {
                label: escape_label_value(&info.name),
                name: info.name.clone(),
                hdr: from..hdr.len(),
                created_s: start_s,
                count: w.latency_count(),
                sum_ns: w.accumulator().sum_ns(),
                statuses: w.status_counts(),
            });
        }
        let mut samples = 0usize;
        if format.is_protobuf() {
            let tables = (cum.as_slice(), hdr.as_slice(), store.layout());
            self.write_protobuf(&rows, tables, (&gauges, alerts), &mut samples, out)
        } else {
            self.write(format, &rows, &cum, nb, (&gauges, alerts), &mut samples, out)
        }
        .map_err(Error::io("writing the exposition"))?;
        Ok(Scrape { series: rows.len(), samples })
    }

    #[expect(clippy::too_many_arguments, reason = "the parts of one scrape, written in order")]
    fn write(
        &self,
        format: Format,
        rows: &[Row],
        cum: &[u64],
        nb: usize,
        (gauges, alerts): (&[GaugeRow], &[ActiveAlert]),
        samples: &mut usize,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let om = format.is_openmetrics();
        let names = self.names;
        let h = names.histogram();
        let lbl = names.series_label();
        if om {
            writeln!(out, "# TYPE {h} histogram")?;
            writeln!(out, "# UNIT {h} seconds")?;
        }
        writeln!(
            out,
            "# HELP {h} Request latency, from tailstore's HDR histograms (bucket counts within \
             one HDR bucket of le), over the store's retained data."
        )?;
        if !om {
            writeln!(out, "# TYPE {h} histogram")?;
        }
        for (k, r) in rows.iter().enumerate() {
            let l = &r.label;
            for (b, c) in self.bounds.iter().zip(&cum[k * nb..(k + 1) * nb]) {
                let le = if om { &b.om } else { &b.text };
                writeln!(out, "{h}_bucket{{{lbl}=\"{l}\",le=\"{le}\"}} {c}")?;
            }
            writeln!(out, "{h}_bucket{{{lbl}=\"{l}\",le=\"+Inf\"}} {}", r.count)?;
            let sum = fmt_float(seconds_of_ns(r.sum_ns));
            if om {
                writeln!(out, "{h}_count{{{lbl}=\"{l}\"}} {}", r.count)?;
                writeln!(out, "{h}_sum{{{lbl}=\"{l}\"}} {sum}")?;
                writeln!(out, "{h}_created{{{lbl}=\"{l}\"}} {}", r.created_s)?;
                *samples += nb + 4;
            } else {
                writeln!(out, "{h}_sum{{{lbl}=\"{l}\"}} {sum}")?;
                writeln!(out, "{h}_count{{{lbl}=\"{l}\"}} {}", r.count)?;
                *samples += nb + 3;
            }
        }
        let (family, sample) = (names.counter(), names.counter_sample());
        let help = "Requests by status code, over the store's retained data.";
        if om {
            let ty = if names.counter_typed() { "counter" } else { "unknown" };
            let family = if names.counter_typed() { family } else { sample };
            writeln!(out, "# TYPE {family} {ty}")?;
            writeln!(out, "# HELP {family} {help}")?;
        } else {
            let ty = if names.counter_typed() { "counter" } else { "untyped" };
            writeln!(out, "# HELP {sample} {help}")?;
            writeln!(out, "# TYPE {sample} {ty}")?;
        }
        for r in rows {
            let l = &r.label;
            for (status, n) in r.statuses.iter() {
                writeln!(out, "{sample}{{{lbl}=\"{l}\",status=\"{status}\"}} {n}")?;
                *samples += 1;
                if om && names.counter_typed() {
                    writeln!(
                        out,
                        "{family}_created{{{lbl}=\"{l}\",status=\"{status}\"}} {}",
                        r.created_s
                    )?;
                    *samples += 1;
                }
            }
        }
        write_gauges_and_alerts(om, gauges, alerts, samples, out)?;
        if om {
            writeln!(out, "# EOF")?;
        }
        Ok(())
    }
}

impl Exposition {
    /// The protobuf exposition: the histogram family (classic buckets and
    /// a native histogram per series), the request counter, the gauges and
    /// `ALERTS`, each family one length-delimited `MetricFamily`. `samples`
    /// counts the `Metric` messages.
    fn write_protobuf(
        &self,
        rows: &[Row],
        (cum, hdr, layout): (&[u64], &[(u32, u64)], tailstore::Layout),
        (gauges, alerts): (&[GaugeRow], &[ActiveAlert]),
        samples: &mut usize,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        use crate::protobuf::{Encoder, HistogramData, COUNTER, GAUGE, HISTOGRAM};
        let names = self.names;
        let lbl = names.series_label();
        let nb = self.bounds.len();
        let mut e = Encoder::default();
        if !rows.is_empty() {
            e.begin_family(
                names.histogram(),
                "Request latency, from tailstore's HDR histograms: classic buckets (counts \
                 within one HDR bucket of le) and a native histogram (each sample within one \
                 native bucket of its own), over the store's retained data.",
                HISTOGRAM,
            );
            for (k, r) in rows.iter().enumerate() {
                e.begin_metric();
                e.label(lbl, &r.name);
                let mut classic = self
                    .bounds
                    .iter()
                    .map(|b| b.seconds)
                    .zip(cum[k * nb..(k + 1) * nb].iter().copied());
                e.histogram(
                    HistogramData {
                        count: r.count,
                        sum_s: seconds_of_ns(r.sum_ns),
                        created_s: r.created_s,
                        classic: &mut classic,
                        hdr: &hdr[r.hdr.clone()],
                    },
                    &layout,
                );
                e.end_metric();
                *samples += 1;
            }
            e.end_family(out)?;
            e.begin_family(
                names.counter_sample(),
                "Requests by status code, over the store's retained data.",
                COUNTER,
            );
            for r in rows {
                for (status, n) in r.statuses.iter() {
                    e.begin_metric();
                    e.label(lbl, &r.name);
                    e.label("status", &status.to_string());
                    #[expect(clippy::cast_precision_loss, reason = "counts below 2^53 are exact")]
                    e.counter(n as f64, r.created_s);
                    e.end_metric();
                    *samples += 1;
                }
            }
            e.end_family(out)?;
        }
        for g in gauges {
            e.begin_family(&g.name, "Last value set, from tailstore's gauges.", GAUGE);
            e.begin_metric();
            e.gauge(g.value);
            e.end_metric();
            *samples += 1;
            e.end_family(out)?;
        }
        if !alerts.is_empty() {
            e.begin_family("ALERTS", "Alerts pending or firing, from tailstore's rules.", GAUGE);
            for a in alerts {
                e.begin_metric();
                e.label("alertname", &a.alertname);
                e.label("alertstate", if a.firing { "firing" } else { "pending" });
                let mut seen: Vec<String> = Vec::new();
                for (k, v) in &a.labels {
                    let k = label_name(k);
                    if k == "alertname"
                        || k == "alertstate"
                        || k.starts_with("__")
                        || seen.contains(&k)
                    {
                        continue;
                    }
                    e.label(&k, v);
                    seen.push(k);
                }
                e.gauge(1.0);
                e.end_metric();
                *samples += 1;
            }
            e.end_family(out)?;
        }
        Ok(())
    }
}

/// One series at one backfill point.
struct BackfillRow {
    label: String,
    t_s: u64,
    count: u64,
    sum_ns: u128,
    statuses: StatusCounts,
}

impl Exposition {
    /// History for Prometheus's backfill (`promtool tsdb create-blocks-from
    /// openmetrics`): `OpenMetrics` text with a timestamp on every sample,
    /// one point per `step_s` seconds (on multiples of it) from each
    /// selected series' first retained second to `end_s`, each point the
    /// counts cumulated from that first second (as a scrape at that moment
    /// would have read them). Families are written whole, each series'
    /// points in time order, then `# EOF`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when a query fails; [`Error::Io`] when `out` does.
    pub fn backfill(
        &self,
        store: &Store,
        (start_s, end_s): (u64, u64),
        step_s: u64,
        out: &mut impl Write,
    ) -> Result<Scrape, Error> {
        let step_s = step_s.max(1);
        let nb = self.bounds.len();
        let mut rows: Vec<BackfillRow> = Vec::new();
        let mut cum: Vec<u64> = Vec::new();
        let mut series = 0usize;
        for info in store.series_info() {
            // First second and end (exclusive).
            let Some((first_s, data_end_s)) = info.bounds_s else { continue };
            if info.kind != SeriesKind::Requests || !self.selector.matches(&info.name) {
                continue;
            }
            series += 1;
            let label = escape_label_value(&info.name);
            let from = first_s.max(start_s);
            // The last point is the first multiple of the step at or after the
            // data's end, so it holds every request.
            let until = end_s.min(data_end_s.div_ceil(step_s).saturating_mul(step_s));
            let mut t = (from / step_s + 1) * step_s;
            while t <= until {
                let w = store
                    .query(Selector::exact(info.name.as_str()))
                    .between(
                        UNIX_EPOCH + Duration::from_secs(first_s),
                        UNIX_EPOCH + Duration::from_secs(t),
                    )
                    .run()?;
                cum.extend(self.bounds.iter().map(|b| w.count_at_most(Duration::from_nanos(b.ns))));
                rows.push(BackfillRow {
                    label: label.clone(),
                    t_s: t,
                    count: w.latency_count(),
                    sum_ns: w.accumulator().sum_ns(),
                    statuses: w.status_counts(),
                });
                t += step_s;
            }
        }
        let mut samples = 0usize;
        self.write_backfill(&rows, &cum, nb, &mut samples, out)
            .map_err(Error::io("writing the backfill"))?;
        Ok(Scrape { series, samples })
    }

    fn write_backfill(
        &self,
        rows: &[BackfillRow],
        cum: &[u64],
        nb: usize,
        samples: &mut usize,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let names = self.names;
        let h = names.histogram();
        let lbl = names.series_label();
        writeln!(out, "# TYPE {h} histogram")?;
        writeln!(out, "# UNIT {h} seconds")?;
        writeln!(out, "# HELP {h} Request latency, from tailstore's HDR histograms.")?;
        for (k, r) in rows.iter().enumerate() {
            let (l, t) = (&r.label, r.t_s);
            for (b, c) in self.bounds.iter().zip(&cum[k * nb..(k + 1) * nb]) {
                writeln!(out, "{h}_bucket{{{lbl}=\"{l}\",le=\"{}\"}} {c} {t}", b.om)?;
            }
            writeln!(out, "{h}_bucket{{{lbl}=\"{l}\",le=\"+Inf\"}} {} {t}", r.count)?;
            writeln!(out, "{h}_count{{{lbl}=\"{l}\"}} {} {t}", r.count)?;
            writeln!(out, "{h}_sum{{{lbl}=\"{l}\"}} {} {t}", fmt_float(seconds_of_ns(r.sum_ns)))?;
            *samples += nb + 3;
        }
        let (family, sample) = (names.counter(), names.counter_sample());
        let ty = if names.counter_typed() { "counter" } else { "unknown" };
        let family = if names.counter_typed() { family } else { sample };
        writeln!(out, "# TYPE {family} {ty}")?;
        writeln!(out, "# HELP {family} Requests by status code.")?;
        // Per series and status, in time order: rows are per series, then time.
        let mut k = 0;
        while k < rows.len() {
            let end = rows[k..]
                .iter()
                .position(|r| r.label != rows[k].label)
                .map_or(rows.len(), |n| k + n);
            let block = &rows[k..end];
            let mut statuses: Vec<u16> =
                block.iter().flat_map(|r| r.statuses.iter().map(|(s, _)| s)).collect();
            statuses.sort_unstable();
            statuses.dedup();
            for status in statuses {
                for r in block {
                    let n = r.statuses.iter().find(|(s, _)| *s == status).map(|(_, n)| n);
                    if let Some(n) = n {
                        writeln!(
                            out,
                            "{sample}{{{lbl}=\"{}\",status=\"{status}\"}} {n} {}",
                            r.label, r.t_s
                        )?;
                        *samples += 1;
                    }
                }
            }
            k = end;
        }
        writeln!(out, "# EOF")
    }
}

/// The gauge families (each gauge's last value, under its own name) and
/// the `ALERTS` family of a scrape.
fn write_gauges_and_alerts(
    om: bool,
    gauges: &[GaugeRow],
    alerts: &[ActiveAlert],
    samples: &mut usize,
    out: &mut impl Write,
) -> std::io::Result<()> {
    // Gauges (CPU, memory, …): the last value set, under the gauge's name.
    for g in gauges {
        let help = "Last value set, from tailstore's gauges.";
        if om {
            writeln!(out, "# TYPE {} gauge", g.name)?;
            writeln!(out, "# HELP {} {help}", g.name)?;
        } else {
            writeln!(out, "# HELP {} {help}", g.name)?;
            writeln!(out, "# TYPE {} gauge", g.name)?;
        }
        writeln!(out, "{} {}", g.name, fmt_float(g.value))?;
        *samples += 1;
    }
    if !alerts.is_empty() {
        let help = "Alerts pending or firing, from tailstore's rules.";
        if om {
            writeln!(out, "# TYPE ALERTS gauge")?;
            writeln!(out, "# HELP ALERTS {help}")?;
        } else {
            writeln!(out, "# HELP ALERTS {help}")?;
            writeln!(out, "# TYPE ALERTS gauge")?;
        }
        for a in alerts {
            let state = if a.firing { "firing" } else { "pending" };
            write!(
                out,
                "ALERTS{{alertname=\"{}\",alertstate=\"{state}\"",
                escape_label_value(&a.alertname)
            )?;
            let mut seen: Vec<String> = Vec::new();
            for (k, v) in &a.labels {
                let k = label_name(k);
                if k == "alertname" || k == "alertstate" || k.starts_with("__") || seen.contains(&k)
                {
                    continue;
                }
                write!(out, ",{k}=\"{}\"", escape_label_value(v))?;
                seen.push(k);
            }
            writeln!(out, "}} 1")?;
            *samples += 1;
        }
    }
    Ok(())
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a sum of latencies as f64 seconds, as every exposition of a float sum is: \
              exact below 2^53 ns (104 days of summed latency), within one f64 rounding above"
)]
fn seconds_of_ns(ns: u128) -> f64 {
    ns as f64 / 1e9
}

/// A label value as the text formats write it between quotes: `\` as `\\`,
/// `"` as `\"`, a line feed as `\n` (the three escapes both formats
/// define); every other character (valid UTF-8 by construction) as itself.
#[must_use]
pub fn escape_label_value(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailstore::{Layout, Options};

    const T0: u64 = 1_764_547_200;

    fn at(s: u64) -> std::time::SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn encode(store: &Store, e: &Exposition, f: Format) -> String {
        let mut out = Vec::new();
        e.encode(store, f, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The value of the sample line starting with `prefix ` (name and labels).
    fn value(text: &str, prefix: &str) -> Option<String> {
        text.lines().find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' ').map(str::to_string))
    }

    /// Gauges are exposed under their own (sanitized) names with the last
    /// value set, in both formats, and are never taken for request series.
    #[test]
    fn gauges_are_exposed_with_their_last_value() {
        let store = Store::in_memory(Options::default().keep_everything());
        store.series("/m/a").record_at(at(T0), Duration::from_millis(3), 200);
        let mem = store.gauge("process_resident_memory_bytes");
        mem.set_at_unix(T0, 1.0e8);
        mem.set_at_unix(T0 + 9, 2.5e8);
        mem.set_at_unix(T0 + 4, 9.0e8);
        store.gauge("gpu memory-used").set_at_unix(T0 + 2, 7.0);
        store.gauge("1st").set_at_unix(T0 + 2, -1.5);
        // A gauge whose name would shadow the request families is left out.
        store.gauge("tailstore_requests_total").set_at_unix(T0, 1.0);
        for f in [Format::text(), Format::openmetrics()] {
            let text = encode(&store, &Exposition::new(Names::tailstore()), f);
            assert_eq!(
                value(&text, "process_resident_memory_bytes").as_deref(),
                Some("250000000.0")
            );
            assert_eq!(value(&text, "gpu_memory_used").as_deref(), Some("7.0"));
            assert_eq!(value(&text, "_1st").as_deref(), Some("-1.5"));
            assert!(text.contains("# TYPE process_resident_memory_bytes gauge"), "{text}");
            assert!(
                !text.contains("process_resident_memory_bytes\""),
                "a gauge as a series: {text}"
            );
            assert_eq!(text.matches("tailstore_requests_total{").count(), 1, "{text}");
            assert!(!text.contains("tailstore_requests_total 1"), "{text}");
        }
        assert_eq!(metric_name("a.b/c"), "a_b_c");
        assert_eq!(metric_name(""), "_");
    }

    /// Active alerts become Prometheus's `ALERTS` series, their labels made
    /// into label names, in both formats (and promtool accepts them, see
    /// `tests/promtool.rs`).
    #[test]
    fn alerts_are_exposed_as_prometheus_alerts() {
        let store = Store::in_memory(Options::default().keep_everything());
        store.series("/m/a").record_at(at(T0), Duration::from_millis(3), 200);
        let alerts = [
            ActiveAlert {
                alertname: "High Error Rate".into(),
                labels: [
                    ("severity", "critical"),
                    ("series", "/m/\"a\""),
                    ("bad-key", "x"),
                    ("alertstate", "no"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
                firing: true,
            },
            ActiveAlert {
                alertname: "Low Traffic".into(),
                labels: std::collections::BTreeMap::default(),
                firing: false,
            },
        ];
        for f in [Format::text(), Format::openmetrics()] {
            let mut out = Vec::new();
            let scrape = Exposition::new(Names::tailstore())
                .encode_with_alerts(&store, f, &alerts, &mut out)
                .unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains(
                    "ALERTS{alertname=\"High Error Rate\",alertstate=\"firing\",bad_key=\"x\",series=\"/m/\\\"a\\\"\",severity=\"critical\"} 1\n"
                ),
                "{text}"
            );
            assert!(text.contains("ALERTS{alertname=\"Low Traffic\",alertstate=\"pending\"} 1\n"));
            assert_eq!(text.matches("# TYPE ALERTS gauge").count(), 1);
            assert!(scrape.samples > 2);
        }
        // Without alerts, no family.
        let text = encode(&store, &Exposition::new(Names::tailstore()), Format::text());
        assert!(!text.contains("ALERTS"));
    }

    /// A small store, every line of both formats written out by hand.
    #[test]
    fn golden_text_and_openmetrics() {
        let store = Store::in_memory(Options::default().keep_everything());
        let s = store.series("/m/a");
        // 1 ms, 2 ms, 7 ms, 30 ms, 2 s: every bound below is a bucket's
        // top or far from any sample, so the counts are the exact ones.
        for (i, (ms, st)) in
            [(1u64, 200u16), (2, 200), (7, 200), (30, 503), (2_000, 200)].into_iter().enumerate()
        {
            s.record_at(at(T0 + i as u64), Duration::from_millis(ms), st);
        }
        s.record_status_at(at(T0 + 9), 404);
        let e = Exposition::new(Names::tailstore()).buckets(&[0.005, 0.01, 1.0]).unwrap();
        let help_h = "# HELP tailstore_request_duration_seconds Request latency, from tailstore's \
                      HDR histograms (bucket counts within one HDR bucket of le), over the \
                      store's retained data.";
        let text = encode(&store, &e, Format::text());
        let want = format!(
            "{help_h}
# TYPE tailstore_request_duration_seconds histogram
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"0.005\"}} 2
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"0.01\"}} 3
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"1\"}} 4
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"+Inf\"}} 5
tailstore_request_duration_seconds_sum{{series=\"/m/a\"}} 2.04
tailstore_request_duration_seconds_count{{series=\"/m/a\"}} 5
# HELP tailstore_requests_total Requests by status code, over the store's retained data.
# TYPE tailstore_requests_total counter
tailstore_requests_total{{series=\"/m/a\",status=\"200\"}} 4
tailstore_requests_total{{series=\"/m/a\",status=\"404\"}} 1
tailstore_requests_total{{series=\"/m/a\",status=\"503\"}} 1
"
        );
        assert_eq!(text, want);
        let om = encode(&store, &e, Format::openmetrics());
        let want = format!(
            "# TYPE tailstore_request_duration_seconds histogram
# UNIT tailstore_request_duration_seconds seconds
{help_h}
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"0.005\"}} 2
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"0.01\"}} 3
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"1.0\"}} 4
tailstore_request_duration_seconds_bucket{{series=\"/m/a\",le=\"+Inf\"}} 5
tailstore_request_duration_seconds_count{{series=\"/m/a\"}} 5
tailstore_request_duration_seconds_sum{{series=\"/m/a\"}} 2.04
tailstore_request_duration_seconds_created{{series=\"/m/a\"}} {T0}
# TYPE tailstore_requests counter
# HELP tailstore_requests Requests by status code, over the store's retained data.
tailstore_requests_total{{series=\"/m/a\",status=\"200\"}} 4
tailstore_requests_created{{series=\"/m/a\",status=\"200\"}} {T0}
tailstore_requests_total{{series=\"/m/a\",status=\"404\"}} 1
tailstore_requests_created{{series=\"/m/a\",status=\"404\"}} {T0}
tailstore_requests_total{{series=\"/m/a\",status=\"503\"}} 1
tailstore_requests_created{{series=\"/m/a\",status=\"503\"}} {T0}
# EOF
"
        );
        assert_eq!(om, want);
    }

    /// Deterministic pseudo-random latencies (xorshift), log-spread from
    /// ~50 us to ~20 s, so every bound falls inside a populated HDR bucket.
    fn latencies(n: usize, mut x: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let exp = f64::from(u32::try_from(x % 1_000).unwrap()) / 1_000.0 * 5.6; // 10^0 .. 10^5.6
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a positive float below 2e10 ns"
                )]
                let ns = (50_000.0 * 10f64.powf(exp)) as u64 + (x >> 40) % 1_000;
                ns
            })
            .collect()
    }

    /// Every bucket against a sorted-sample oracle: at least the samples
    /// `<= le`, at most those in le's HDR bucket too, which is within
    /// 1/1024 of le at 3 digits.
    #[test]
    #[expect(
        clippy::cast_precision_loss,
        reason = "the oracle's sum as f64 seconds, compared within 1e-9 relative"
    )]
    fn buckets_are_exact_up_to_les_hdr_bucket() {
        let store = Store::in_memory(Options::default().keep_everything());
        let mut all = Vec::new();
        for (k, name) in ["/a", "/b\"q\\\n"].iter().enumerate() {
            let s = store.series(name);
            let mut lat = latencies(20_000, 0x9e37_79b9 + k as u64);
            for (i, ns) in lat.iter().enumerate() {
                s.record_at(at(T0 + (i as u64) / 100), Duration::from_nanos(*ns), 200);
            }
            lat.sort_unstable();
            all.push((escape_label_value(name), lat));
        }
        let bounds: Vec<f64> = INGRESS.iter().copied().chain([0.000_123_457, 0.002_048]).collect();
        let mut sorted_bounds = bounds.clone();
        sorted_bounds.sort_by(f64::total_cmp);
        let e = Exposition::new(Names::ingress_nginx()).buckets(&sorted_bounds).unwrap();
        let text = encode(&store, &e, Format::text());
        let layout = Layout::default();
        let mut inexact = 0;
        for (label, lat) in &all {
            for b in &e.bounds {
                let got: u64 = value(
                    &text,
                    &format!(
                        "nginx_ingress_controller_request_duration_seconds_bucket{{path=\"{label}\",le=\"{}\"}}",
                        b.text
                    ),
                )
                .unwrap()
                .parse()
                .unwrap();
                let idx = layout.index(b.ns);
                let top = layout.lowest_equivalent(idx) + layout.width(idx) - 1;
                let exact = lat.partition_point(|&v| v <= b.ns) as u64;
                let upper = lat.partition_point(|&v| v <= top) as u64;
                assert!(
                    exact <= got && got <= upper,
                    "le {} got {got} in [{exact}, {upper}]",
                    b.text
                );
                assert!((top - b.ns) * 1024 <= b.ns, "le {}'s bucket reaches {top}", b.text);
                inexact += usize::from(got != exact);
            }
            let count = value(
                &text,
                &format!(
                    "nginx_ingress_controller_request_duration_seconds_count{{path=\"{label}\"}}"
                ),
            );
            assert_eq!(count, Some(lat.len().to_string()));
            let sum_ns: u128 = lat.iter().map(|&v| u128::from(v)).sum();
            let sum: f64 = value(
                &text,
                &format!(
                    "nginx_ingress_controller_request_duration_seconds_sum{{path=\"{label}\"}}"
                ),
            )
            .unwrap()
            .parse()
            .unwrap();
            assert!((sum - sum_ns as f64 / 1e9).abs() <= 1e-9 * sum, "{sum}");
        }
        // With 20 000 samples per series some bound's bucket holds samples
        // above it, so the bound above is the one that matters, not vacuous.
        assert!(inexact > 0, "no bound fell inside a populated HDR bucket above it");
    }

    const INGRESS: [f64; 11] = crate::format::INGRESS_NGINX_BUCKETS;

    /// Counters only grow from one scrape to the next while the store
    /// keeps its data, and `_created` stays.
    #[test]
    fn counters_are_cumulative_and_monotonic() {
        let store = Store::in_memory(Options::default().keep_everything());
        let s = store.series("/m");
        let e = Exposition::new(Names::tailstore());
        let mut prev: Vec<(String, f64)> = Vec::new();
        for round in 0..4u64 {
            for i in 0..50u64 {
                let st = if i % 7 == 0 { 500 } else { 200 };
                s.record_at(at(T0 + round * 30 + i % 30), Duration::from_millis(1 + i * 13), st);
            }
            let om = encode(&store, &e, Format::openmetrics());
            let now: Vec<(String, f64)> = om
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    let (k, v) = l.rsplit_once(' ').unwrap();
                    (k.to_string(), v.parse().unwrap())
                })
                .collect();
            for (k, v) in &prev {
                let n = now.iter().find(|(k2, _)| k2 == k).map(|p| p.1);
                assert!(n.is_some_and(|n| n >= *v), "{k}: {v} -> {n:?}");
                if k.contains("_created") {
                    assert_eq!(n, Some(*v));
                }
            }
            assert_eq!(
                value(&om, "tailstore_requests_total{series=\"/m\",status=\"200\"}")
                    .map(|v| v.parse::<u64>().unwrap()),
                Some((round + 1) * 42)
            );
            prev = now;
        }
    }

    #[test]
    fn label_values_are_escaped_and_bad_buckets_refused() {
        assert_eq!(escape_label_value("a\\b\"c\nd\u{1b}é"), "a\\\\b\\\"c\\nd\u{1b}é");
        let e = Exposition::new(Names::tailstore());
        assert!(e.clone().buckets(&[0.1, 0.1]).is_err());
        assert!(e.clone().buckets(&[0.2, 0.1]).is_err());
        assert!(e.clone().buckets(&[f64::NAN]).is_err());
        assert!(e.clone().buckets(&[-1.0]).is_err());
        assert!(e.clone().buckets(&[f64::INFINITY, 1.0]).is_err());
        assert_eq!(e.clone().buckets(&[0.5, f64::INFINITY]).unwrap().bucket_bounds(), [0.5]);
        assert!(e.buckets(&[]).unwrap().bucket_bounds().is_empty());
    }

    #[test]
    fn le_spellings() {
        for (s, text, om, ns) in [
            (0.005, "0.005", "0.005", 5_000_000),
            (1.0, "1", "1.0", 1_000_000_000),
            (2.5, "2.5", "2.5", 2_500_000_000),
            (10.0, "10", "10.0", 10_000_000_000),
            (0.000_25, "0.00025", "0.00025", 250_000),
            (1e-10, "1e-10", "1e-10", 0),
        ] {
            let b = Bound::new(s);
            assert_eq!((b.text.as_str(), b.om.as_str(), b.ns), (text, om, ns), "{s}");
        }
    }

    /// The ingress-nginx preset in `OpenMetrics` keeps the counter's name
    /// (typed unknown); the empty store writes only the headers.
    #[test]
    fn ingress_nginx_openmetrics_and_empty_store() {
        let store = Store::in_memory(Options::default().keep_everything());
        let e = Exposition::new(Names::ingress_nginx());
        let om = encode(&store, &e, Format::openmetrics());
        assert!(om.contains("# TYPE nginx_ingress_controller_requests unknown\n"), "{om}");
        assert!(om.ends_with("# EOF\n"));
        assert_eq!(om.lines().filter(|l| !l.starts_with('#')).count(), 0);
        store.series("/x").record_at(at(T0), Duration::from_millis(3), 200);
        let om = encode(&store, &e, Format::openmetrics());
        assert!(om.contains("nginx_ingress_controller_requests{path=\"/x\",status=\"200\"} 1\n"));
        assert!(!om.contains("requests_created"));
        let sel = Exposition::new(Names::ingress_nginx()).selector(Selector::exact("/y"));
        let mut out = Vec::new();
        assert_eq!(sel.encode(&store, Format::text(), &mut out).unwrap().series, 0);
    }
}
