//! `tailstore-hist`: the histogram engine of tailstore.
//!
//! * [`Layout`]: HDR log-linear buckets, 1-5 significant digits, values in ns.
//! * [`Recorder`]: the lock-free per-series recorder. Each recording thread
//!   owns a ring, so a record is two relaxed stores and a release store: no
//!   lock, no read-modify-write, no allocation, no clock read, in any order
//!   of seconds; rings are drained into per-second accumulators in batches.
//! * [`Interval`] / [`SparseHist`]: sealed, sparse one-second (or rollup)
//!   histograms with status counts and exact min/max/sum.
//! * [`Accumulator`]: the dense merge target of queries, with the quantile scan.
//!
//! # Precision
//!
//! A quantile `q` over `N` samples is the sample at nearest rank
//! `max(1, ceil(q * N))` ([`nearest_rank`]). The reported value is the middle
//! of that sample's bucket, clamped into the exact `[min, max]`, so it differs
//! from the exact sorted-sample answer by at most half a bucket:
//! [`Layout::relative_error`] (0.049 % at 3 digits) for values at or above
//! the layout's lowest value, and less than one unit (1 ns by default) below it.
//!
//! # Panics and clamping
//!
//! Nothing here panics on data. Latencies above the layout's highest value
//! are clamped to it and counted (`Interval::clamped`); status codes of 1000
//! or more are recorded as 0 and counted (`Interval::invalid_status`);
//! bucket counts that wrap carry, and status counts that could overflow are
//! spilled first.
//!
//! ```
//! use tailstore_hist::{Accumulator, Layout};
//! let layout = Layout::default();
//! let mut acc = Accumulator::new(layout);
//! for us in 1..=100u64 {
//!     acc.add_bucket(layout.index(us * 1_000), 1);
//!     acc.add_extremes(us * 1_000, us * 1_000, u128::from(us * 1_000));
//! }
//! let p99 = acc.quantile_ns(0.99).unwrap() as f64; // exact answer: 99 000 ns
//! assert!((p99 - 99_000.0).abs() / 99_000.0 <= layout.relative_error());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dense;
mod error;
mod gauge;
mod layout;
mod newest;
mod open;
mod piecemap;
mod recorder;
mod sparse;
mod status;
mod sync;
mod token;

pub use dense::{nearest_rank, Accumulator};
pub use error::Error;
pub use gauge::{
    GaugeAgg, GaugeCounters, GaugeRecorder, GaugeSealed, SHARD_SLOTS as GAUGE_SHARD_SLOTS,
};
pub use layout::Layout;
pub use newest::{NewestSeconds, SUPPORT};
pub use piecemap::{Iter as PieceIter, IterMut as PieceIterMut, PieceMap};
pub use recorder::{Clock, Recorder, RecorderCounters, Sealed};
pub use sparse::{Interval, SparseHist};
pub use status::{clamp_status, ErrorSet, StatusCounts, STATUS_CODES};
