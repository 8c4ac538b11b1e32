//! `.hlog`: `HdrHistogram`'s interval log, one histogram per stored piece.
//! (The writer behind `tailstore export --format hlog`, moved here so a
//! harness writes the same file.)

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogWriterBuilder, IntervalLogWriterError, Tag,
};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use tailstore::{Interval, Layout, Store};

use crate::error::Error;

/// One series' pieces, in time order.
#[derive(Clone, Debug)]
pub struct SeriesPieces {
    /// Series name.
    pub name: String,
    /// Its sealed pieces of the chosen level.
    pub pieces: Vec<Interval>,
}

/// The sealed pieces of `names` at the level of `span_s`-second pieces,
/// starting in `[start_s, end_s)` ([`Store::pieces`]; a series or level
/// the store does not hold has none).
#[must_use]
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
#[must_use]
pub fn ordered(all: &[SeriesPieces]) -> Vec<(&str, &Interval)> {
    let mut v: Vec<(&str, &Interval)> =
        all.iter().flat_map(|s| s.pieces.iter().map(move |p| (s.name.as_str(), p))).collect();
    v.sort_by(|a, b| (a.1.start_s, a.0).cmp(&(b.1.start_s, b.0)));
    v
}

fn log_err<E: std::fmt::Display>(e: IntervalLogWriterError<E>) -> Error {
    match e {
        IntervalLogWriterError::IoError(e) => Error::Io(e),
        IntervalLogWriterError::SerializeError(e) => Error::Encode(e.to_string()),
    }
}

/// Writes an interval log and returns the number of histograms written:
/// format 1.3 headers (`StartTime` and `BaseTime` = the first piece's
/// start, `MaxValueDivisor` 10^6 so `Interval_Max` is in ms as jHiccup
/// writes it), then one V2 + DEFLATE histogram per piece with a latency
/// (values in ns, 3 significant digits, 1 ns ..= the layout's highest
/// value), timestamps relative to `BaseTime`. With `tagged`, each line
/// carries `Tag=<series>`. Pieces without a latency (status-only requests)
/// have no histogram and are left out.
///
/// Each bucket's samples are encoded at its middle value kept inside the
/// piece's exact min and max (as queries report it), which lands in the
/// same 3-digit bucket: `HdrHistogram`'s readers see the store's counts.
///
/// # Errors
///
/// [`Error::BadTag`] when `tagged` and a series name holds `,`, space, CR
/// or LF (nothing is written then); [`Error::Io`] and [`Error::Encode`]
/// when writing fails.
pub fn write_hlog(
    mut out: &mut dyn Write,
    all: &[SeriesPieces],
    layout: &Layout,
    tagged: bool,
) -> Result<usize, Error> {
    let pieces: Vec<(&str, &Interval)> =
        ordered(all).into_iter().filter(|(_, p)| !p.hist.is_empty()).collect();
    if tagged {
        if let Some((name, _)) = pieces.iter().find(|(n, _)| Tag::new(n).is_none()) {
            return Err(Error::BadTag { name: (*name).to_owned() });
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
        .map_err(|e| Error::Histogram(format!("{e:?}")))?;
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
        .map_err(log_err)?;
    }
    Ok(pieces.len())
}
