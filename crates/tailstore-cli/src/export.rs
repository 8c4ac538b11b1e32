//! `tailstore export`: a store's sealed pieces as an `HdrHistogram` interval
//! log or as CSV, one interval (row) per piece.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Result};
use tailstore::format::{fmt_float, fmt_ms_full};
use tailstore::{Layout, Selector, Store};
use tailstore_harness::ordered;
pub use tailstore_harness::{collect, SeriesPieces};

/// The CSV header; one row per piece follows.
pub const CSV_HEADER: &str =
    "start,span_s,series,count,errors,error_ratio,min_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms";

/// Quantiles of the CSV columns.
const CSV_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Writes the interval log of `all` ([`tailstore_harness::write_hlog`]:
/// format 1.3, one V2 + DEFLATE histogram per piece with a latency, tagged
/// with its series when `tagged`).
pub fn write_hlog(
    out: &mut dyn Write,
    all: &[SeriesPieces],
    layout: &Layout,
    tagged: bool,
) -> Result<usize> {
    match tailstore_harness::write_hlog(out, all, layout, tagged) {
        Ok(n) => Ok(n),
        Err(tailstore_harness::Error::BadTag { name }) => bail!(
            "series {name:?} cannot be an hlog tag (tags cannot contain ',', ' ', CR or LF); \
             export it alone with --series"
        ),
        Err(e) => Err(e.into()),
    }
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
