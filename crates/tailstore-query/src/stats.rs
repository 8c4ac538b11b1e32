//! The answer to a window query.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore_hist::{Accumulator, ErrorSet, StatusCounts};

use crate::error::Error;

/// Statistics of one window: counts, rate, error ratio, latency quantiles.
///
/// The window is whole seconds, half-open: `[start, end)`. When a part of
/// the requested window is older than every level's retention, [`start`]
/// moves forward past it and [`is_complete`] is false. Seconds of the window
/// that no intact stored piece covers (damaged files, with no finer level
/// retained intact) are counted in [`damaged_s`]: the answer is exact when
/// that is 0, and covers only the other seconds otherwise.
///
/// [`start`]: WindowStats::start
/// [`is_complete`]: WindowStats::is_complete
/// [`damaged_s`]: WindowStats::damaged_s
#[derive(Clone, Debug)]
pub struct WindowStats {
    pub(crate) acc: Accumulator,
    pub(crate) errors: ErrorSet,
    pub(crate) start_s: u64,
    pub(crate) end_s: u64,
    pub(crate) requested_start_s: u64,
    pub(crate) series: usize,
    pub(crate) pieces: usize,
    pub(crate) damaged_s: u64,
}

fn secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

impl WindowStats {
    /// Builds the statistics of an accumulated window.
    #[must_use]
    pub fn new(acc: Accumulator, errors: ErrorSet, start_s: u64, end_s: u64) -> WindowStats {
        WindowStats {
            acc,
            errors,
            start_s,
            end_s,
            requested_start_s: start_s,
            series: 0,
            pieces: 0,
            damaged_s: 0,
        }
    }

    /// Requests in the window (with or without a known latency).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.acc.requests()
    }

    /// Requests with a known latency (those the quantiles are over).
    #[must_use]
    pub fn latency_count(&self) -> u64 {
        self.acc.total()
    }

    /// Requests whose status is in the error set.
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.acc.errors(&self.errors)
    }

    /// `errors / count`, `None` for an empty window.
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "a ratio of two counts as f64: exact below 2^53 requests, and within one \
                  f64 rounding of the ratio above"
    )]
    pub fn error_ratio(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.errors() as f64 / n as f64)
    }

    /// Requests per second over the window's length (0 for a zero-length window).
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "a rate is a ratio of a count and a length as f64: exact below 2^53, and \
                  within one f64 rounding of the rate above"
    )]
    pub fn rate_per_sec(&self) -> f64 {
        let len = self.end_s.saturating_sub(self.start_s);
        if len == 0 {
            0.0
        } else {
            self.count() as f64 / len as f64
        }
    }

    /// The latency at quantile `q` (nearest rank, see `tailstore_hist::nearest_rank`),
    /// within 0.049 % of the exact sample at the default 3 digits. `None` when
    /// the window has no latency sample or `q` is not in `[0, 1]`.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.acc.quantile_ns(q).map(Duration::from_nanos)
    }

    /// Like [`WindowStats::quantile`], but an invalid `q` is an error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantile`] when `q` is not in `[0, 1]` (or is NaN).
    pub fn try_quantile(&self, q: f64) -> Result<Option<Duration>, Error> {
        if !(0.0..=1.0).contains(&q) {
            return Err(Error::InvalidQuantile { q });
        }
        Ok(self.quantile(q))
    }

    /// Requests with a known latency of at most `latency` (the good requests
    /// of a latency SLO), counted from the histogram: every sample
    /// `<= latency` is counted, and so are samples in `latency`'s own bucket
    /// above it (at most 0.098 % slower at the default 3 digits, see
    /// `Accumulator::count_at_most`). Exact below the minimum and at or above
    /// the maximum.
    #[must_use]
    pub fn count_at_most(&self, latency: Duration) -> u64 {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.acc.count_at_most(ns)
    }

    /// Several quantiles in one pass; invalid entries answer `None`.
    #[must_use]
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<Duration>> {
        let mut out = vec![None; qs.len()];
        self.acc.quantiles_ns(qs, &mut out);
        out.into_iter().map(|v| v.map(Duration::from_nanos)).collect()
    }

    /// Exact smallest latency.
    #[must_use]
    pub fn min(&self) -> Option<Duration> {
        self.acc.min_ns().map(Duration::from_nanos)
    }

    /// Exact largest latency (after clamping to the layout's range).
    #[must_use]
    pub fn max(&self) -> Option<Duration> {
        self.acc.max_ns().map(Duration::from_nanos)
    }

    /// Exact mean latency.
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the mean of non-negative latencies that are each at most u64::MAX ns lies \
                  in [0, u64::MAX]; the float-to-int cast saturates anyway"
    )]
    pub fn mean(&self) -> Option<Duration> {
        self.acc.mean_ns().map(|ns| Duration::from_nanos(ns.round() as u64))
    }

    /// Requests per status code.
    #[must_use]
    pub fn status_counts(&self) -> StatusCounts {
        self.acc.status_counts()
    }

    /// Latencies above the layout's highest value (clamped to it).
    #[must_use]
    pub fn clamped(&self) -> u64 {
        self.acc.clamped()
    }

    /// Status values of 1000 or more, recorded as status 0.
    #[must_use]
    pub fn invalid_status(&self) -> u64 {
        self.acc.invalid_status()
    }

    /// Start of the window actually covered.
    #[must_use]
    pub fn start(&self) -> SystemTime {
        secs(self.start_s)
    }

    /// End of the window (exclusive).
    #[must_use]
    pub fn end(&self) -> SystemTime {
        secs(self.end_s)
    }

    /// Start and end, unix seconds.
    #[must_use]
    pub fn bounds_s(&self) -> (u64, u64) {
        (self.start_s, self.end_s)
    }

    /// False when part of the requested window was past every retention.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.start_s == self.requested_start_s
    }

    /// Seconds of the window (after [`WindowStats::start`]) that no intact
    /// stored piece covers, in any of the merged series: a stored piece
    /// there is damaged (its file failed a checksum, at open or when it was
    /// read) and no finer level retains that span intact. 0 when the answer
    /// is whole; otherwise counts, quantiles and extremes cover the other
    /// seconds only (the rate still divides by the whole window).
    #[must_use]
    pub fn damaged_s(&self) -> u64 {
        self.damaged_s
    }

    /// Number of series merged.
    #[must_use]
    pub fn series(&self) -> usize {
        self.series
    }

    /// Number of stored pieces merged (a measure of the plan's cost).
    #[must_use]
    pub fn pieces(&self) -> usize {
        self.pieces
    }

    /// The underlying accumulator (for advanced use: custom quantile sets).
    #[must_use]
    pub fn accumulator(&self) -> &Accumulator {
        &self.acc
    }
}
