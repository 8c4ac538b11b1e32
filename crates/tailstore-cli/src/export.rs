//! `tailstore export`: a store's sealed pieces as an `HdrHistogram` interval
//! log or as CSV, one interval (row) per piece.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use tailstore::format::{fmt_float, fmt_ms_full};
use tailstore::{Interval, Layout, Selector, Store};

/// The CSV header; one row per piece follows.
pub const CSV_HEADER: &str =
    "start,span_s,series,count,errors,error_ratio,min_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms";

/// Quantiles of the CSV columns.
const CSV_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// One series' pieces, in time order.
pub struct SeriesPieces {
    /// Series name.
    pub name: String,
    /// Its sealed pieces of the chosen level.
    pub pieces: Vec<Interval>,
}

/// The pieces of `names` at level `span_s`, starting in `[start_s, end_s)`.
pub fn collect(
    store: &Store,
    names: Vec<String>,
    span_s: u32,
    start_s: u64,
    end_s: u64,
) -> Vec<SeriesPieces> {
    names
        .into_iter()
        .map(|name| {
            let pieces = store.pieces(&name, span_s, start_s, end_s).unwrap_or_default();
            SeriesPieces { name, pieces }
        })
        .collect()
}

/// Every piece of every series, ordered by start, then series name.
fn ordered(all: &[SeriesPieces]) -> Vec<(&str, &Interval)> {
    let mut v: Vec<(&str, &Interval)> =
        all.iter().flat_map(|s| s.pieces.iter().map(move |p| (s.name.as_str(), p))).collect();
    v.sort_by(|a, b| (a.1.start_s, a.0).cmp(&(b.1.start_s, b.0)));
    v
}

fn io_err<E: std::fmt::Display>(e: IntervalLogWriterError<E>) -> anyhow::Error {
    match e {
        IntervalLogWriterError::IoError(e) => anyhow::Error::from(e),
        IntervalLogWriterError::SerializeError(e) => anyhow!("serializing a histogram: {e}"),
    }
}

/// Writes an interval log: format 1.3 headers (`StartTime` and `BaseTime` =
/// the first piece's start, `MaxValueDivisor` 10^6 so `Interval_Max` is in
/// ms as jHiccup writes it), then one V2 + DEFLATE histogram per piece with
/// a latency (values in ns, 3 significant digits, 1 ns ..= the layout's
/// highest value), timestamps relative to `BaseTime`. With `tagged`, each
/// line carries `Tag=<series>`; a name `HdrHistogram` tags cannot hold (`,`,
/// space, CR, LF) is an error. Pieces without a latency (status-only
/// requests) have no histogram and are left out.
pub fn write_hlog(
    mut out: &mut dyn Write,
    all: &[SeriesPieces],
    layout: &Layout,
    tagged: bool,
) -> Result<usize> {
    let pieces: Vec<(&str, &Interval)> =
        ordered(all).into_iter().filter(|(_, p)| !p.hist.is_empty()).collect();
    if tagged {
        if let Some((name, _)) = pieces.iter().find(|(n, _)| Tag::new(n).is_none()) {
            bail!(
                "series {name:?} cannot be an hlog tag (tags cannot contain ',', ' ', CR or LF); \
                 export it alone with --series"
            );
        }
    }
    let base_s = pieces.first().map_or(0, |(_, p)| p.start_s);
    let base = UNIX_EPOCH + Duration::from_secs(base_s);
    let mut serializer = V2DeflateSerializer::new();
    let mut w = IntervalLogWriterBuilder::new()
        .add_comment(&format!("[Logged with tailstore {}]", env!("CARGO_PKG_VERSION")))
        .add_comment("[Histogram log format version 1.3]")
        .with_start_time(base)
        .with_base_time(base)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut out, &mut serializer)?;
    let mut h = Histogram::<u64>::new_with_bounds(1, layout.highest_ns().max(2), 3)
        .context("building the export histogram")?;
    for (name, p) in &pieces {
        h.reset();
        for (idx, count) in p.hist.iter() {
            // The bucket's middle, kept inside the exact min/max as queries
            // report it; it lands in the same 3-digit bucket.
            let v = layout.median_equivalent(idx).clamp(p.min_ns, p.max_ns.max(p.min_ns));
            h.saturating_record_n(v, count);
        }
        let tag = if tagged { Tag::new(name) } else { None };
        w.write_histogram(
            &h,
            Duration::from_secs(p.start_s - base_s),
            Duration::from_secs(u64::from(p.span_s)),
            tag,
        )
        .map_err(io_err)?;
    }
    Ok(pieces.len())
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, quote or newline.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A number cell, as `query --json` writes the number; empty when absent.
fn cell<T>(v: Option<T>, fmt: fn(T) -> String) -> String {
    v.map_or_else(String::new, fmt)
}

/// Writes [`CSV_HEADER`] and one row per piece: unix start second, length,
/// series, request count, errors (the store's error set), error ratio,
/// min/P50/P90/P99/P99.9/max/mean in ms, each computed by the same query
/// code as `tailstore query --json` over `[start, start + span_s)` of that
/// series (empty cells where the piece has no latency).
pub fn write_csv(out: &mut dyn Write, store: &Store, all: &[SeriesPieces]) -> Result<usize> {
    writeln!(out, "{CSV_HEADER}")?;
    let pieces = ordered(all);
    for (name, p) in &pieces {
        let a = UNIX_EPOCH + Duration::from_secs(p.start_s);
        let w = store
            .query(Selector::exact(*name))
            .between(a, a + Duration::from_secs(u64::from(p.span_s)))
            .run()?;
        let q = w.quantiles(&CSV_QUANTILES);
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            p.start_s,
            p.span_s,
            csv_field(name),
            w.count(),
            w.errors(),
            cell(w.error_ratio(), fmt_float),
            cell(w.min(), fmt_ms_full),
            cell(q[0], fmt_ms_full),
            cell(q[1], fmt_ms_full),
            cell(q[2], fmt_ms_full),
            cell(q[3], fmt_ms_full),
            cell(w.max(), fmt_ms_full),
            cell(w.mean(), fmt_ms_full),
        )?;
    }
    Ok(pieces.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("/a/b"), "/a/b");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
