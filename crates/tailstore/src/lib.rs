//! tailstore: an embedded time-series store with a native quantile engine,
//! for monitoring model-serving endpoints from inside the process.
//!
//! Record every request's latency and status through a [`Series`] handle
//! (lock-free, allocation-free, a few nanoseconds), then ask for P50/P95/P99,
//! request rate, error ratio and status breakdown over any window.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tailstore::{Options, Selector, Store};
//!
//! let store = Store::in_memory(Options::default());
//! let s = store.series("/models/fraud-v2/predict");
//! for i in 0..1_000u64 {
//!     s.record(Duration::from_micros(20_000 + i * 40), if i % 50 == 0 { 503 } else { 200 });
//! }
//! let w = store.query(Selector::regex("/models/fraud-.*")?).last(Duration::from_secs(60)).run()?;
//! assert_eq!(w.count(), 1_000);
//! assert_eq!(w.errors(), 20);
//! let p99 = w.quantile(0.99).unwrap(); // exact answer: 59.56 ms; error <= 0.05 %
//! assert!(p99 > Duration::from_micros(59_520) && p99 < Duration::from_micros(59_600));
//! # Ok::<(), tailstore::Error>(())
//! ```
//!
//! # Semantics
//!
//! * A request belongs to the second `floor(ts)`. Windows are whole seconds,
//!   half-open `[start, end)`; a second is in the window when its start instant is.
//! * A query sees every sample recorded before the call, the still-open
//!   second included.
//! * Quantiles are the nearest-rank sample `ceil(q * N)`, reported as the
//!   middle of its bucket clamped to the exact min/max: within 0.049 % at the
//!   default 3 significant digits ([`Layout::relative_error`]).
//! * `record_at` samples up to `lateness` (default 10 s, data time) behind the
//!   newest go into their own open second; older ones become late deltas of
//!   their second (counted in [`StoreStats::late`], never lost); only samples
//!   older than retention are rejected ([`StoreStats::rejected`]).
//! * Retention is measured from *data time for retention*
//!   ([`StoreStats::retention_newest_s`]): the [`RETENTION_SUPPORT`]-th newest
//!   distinct second that holds samples (the wall clock's once `record()` is
//!   used), as of the last seal pass. A handful of stray samples dated far
//!   ahead of the rest (a mis-set clock, one bad log line) therefore never
//!   deletes stored data.
//! * Gauges ([`Store::gauge`], [`Gauge::set`]) keep per second the exact
//!   count, min, max, sum and last of values sampled over time, with the same
//!   rollups, lateness and retention; queried with [`Store::gauge_query`] into
//!   [`GaugeStats`] (growth per hour, restarts). [`Store::sample_process`]
//!   sets the process's CPU, memory and threads. A durable store persists
//!   them in gauge files (`docs/FORMAT.md`, version 3).
//! * Nothing panics on data: latencies above the layout's range are clamped
//!   and counted, status codes >= 1000 are recorded as 0 and counted.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
mod error;
mod gauge;
mod options;
mod query;
mod recovery;
mod sampler;
mod seal;
mod series;
mod sink;
mod store;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

pub use error::Error;
/// Number formatters shared by every output (tables, CSV, JSON, and the
/// report and exposition layers): milliseconds, percentages, rates, floats
/// written as `serde_json` writes them, quantile keys.
pub mod format {
    pub use tailstore_query::{
        fmt_float, fmt_ms, fmt_ms_full, fmt_percent, fmt_rate, ms_f64, quantile_key,
    };
}
pub use gauge::{Gauge, GaugeQuery, DEFAULT_WARMUP};
pub use options::Options;
pub use query::{Query, MAX_RANGE_POINTS};
pub use series::Series;
pub use sink::Sink;
pub use store::{SeriesInfo, SeriesKind, Store, StoreStats, OVERFLOW_SERIES};
/// The error of histogram layouts and status sets, as [`Error::Hist`] wraps it.
pub use tailstore_hist::Error as HistError;
/// Distinct seconds holding samples that data time for retention needs
/// (see the crate's semantics).
pub use tailstore_hist::SUPPORT as RETENTION_SUPPORT;
pub use tailstore_hist::{ErrorSet, Interval, Layout, StatusCounts};
/// The error of selectors, windows and quantiles, as [`Error::Query`] wraps it.
pub use tailstore_query::Error as QueryError;
pub use tailstore_query::{GaugeStats, Selector, WindowStats};
/// The error of the store directory, as [`Error::Storage`] wraps it.
pub use tailstore_storage::Error as StorageError;
/// Longest series name a durable store can hold, in bytes (names are 1 to
/// this many bytes; an in-memory store takes any).
pub use tailstore_storage::MAX_NAME_LEN as MAX_SERIES_NAME_LEN;
pub use tailstore_storage::{check, is_store, Damage, FsyncPolicy, Report};
