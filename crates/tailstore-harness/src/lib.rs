//! `tailstore-harness`: benchmark harnesses that do not hide queueing.
//!
//! A load generator that waits for each answer before sending the next
//! request (or that sends late when its threads are busy) stops measuring
//! exactly while the server stalls: the requests a stall delays are never
//! sent, so never counted, and the percentiles look fine. That is
//! *coordinated omission*. This crate records latencies into a
//! [`tailstore::Store`] so that stalls show:
//!
//! * [`OpenLoop`]: for harnesses that send on a schedule (wrk2 style).
//!   Request `i` is due at `start + i × interval` ([`Schedule`]); each
//!   response is recorded from its *intended* send time in series `NAME`,
//!   and from its actual send in `NAME:uncorrected` ([`UNCORRECTED_SUFFIX`]),
//!   both at the second of the intended send, so the two are queried side
//!   by side. Usable from many threads at once.
//! * [`ClosedLoop`]: for harnesses that cannot schedule, `HdrHistogram`'s
//!   `recordValueWithExpectedInterval`: a response slower than the expected
//!   interval adds the responses the stall hid ([`missing_values`]), with
//!   the same bucket counts as `hdrhistogram::Histogram::record_correct`.
//! * Outputs: the [`Summary`] table, `.hgrm` ([`write_hgrm`], Java's
//!   `outputPercentileDistribution` text, character for character) and
//!   `.hlog` interval logs ([`write_hlog`]) that `HdrHistogram`'s own tools
//!   (Java's `HistogramLogProcessor`, Python's `hdrh`) read.
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use tailstore::{Options, Store};
//! use tailstore_harness::{OpenLoop, Summary};
//!
//! let store = Store::in_memory(Options::default());
//! let t0 = SystemTime::now();
//! let run = OpenLoop::new(&store, "/predict", Duration::from_millis(2))?;
//! // A server that answers in 1 ms but stalls 30 ms on request 3: with one
//! // worker, requests 4.. are sent late, and only the corrected series sees it.
//! while let Some(slot) = run.next_slot(20) {
//!     run.call(slot, || {
//!         let ms = if slot.index() == 3 { 30 } else { 1 };
//!         std::thread::sleep(Duration::from_millis(ms));
//!         200
//!     });
//! }
//! let s = Summary::query(&store, "/predict", t0, SystemTime::now())?;
//! let worst_corrected = s.corrected().quantile(0.9).unwrap();
//! let worst_uncorrected = s.uncorrected().quantile(0.9).unwrap();
//! assert!(worst_corrected > Duration::from_millis(15));
//! assert!(worst_uncorrected < worst_corrected);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Precision and panics
//!
//! Latencies are stored in the store's layout (3 significant digits by
//! default, within 0.049 %); `.hgrm` and `.hlog` print and encode those
//! buckets. Nothing here panics on data: latencies past the layout's range
//! are clamped and counted as the store does, instants before their
//! reference count as 0, schedules saturate.
//!
//! # Features
//!
//! `hdr-tools` turns on the tests that check the outputs with
//! `HdrHistogram`'s Java and Python tools (`.ci/run` installs them).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod closed_loop;
mod error;
mod hgrm;
mod hlog;
mod open_loop;
mod schedule;
mod summary;

pub use closed_loop::{missing_values, ClosedLoop};
pub use error::Error;
pub use hgrm::{java_fixed, write_hgrm, write_hgrm_buckets, HgrmOptions};
pub use hlog::{collect, ordered, write_hlog, SeriesPieces};
pub use open_loop::{uncorrected_name, OpenLoop, Timing, UNCORRECTED_SUFFIX};
pub use schedule::{Schedule, Slot};
pub use summary::{pieces_per_second, Summary, SUMMARY_QUANTILES};
