//! The error type of `tailstore-query`.

/// Errors in building or running a query.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A selector regex does not compile (the regex engine's explanation is
    /// the [`source`](std::error::Error::source)).
    #[error("invalid series regex {pattern:?}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// The regex engine's explanation.
        #[source]
        source: regex::Error,
    },
    /// The window ends before it starts.
    #[error("window ends before it starts: start {start_s} s > end {end_s} s (unix seconds)")]
    EndBeforeStart {
        /// Start, unix seconds.
        start_s: u64,
        /// End, unix seconds.
        end_s: u64,
    },
    /// A quantile outside `[0, 1]` (or NaN) was asked for.
    #[error("quantile {q} is outside [0, 1] (quantiles are fractions: 0.99, not 99)")]
    InvalidQuantile {
        /// The value given.
        q: f64,
    },
    /// A time before 1970 (unix second 0) was given.
    #[error("time is before the unix epoch: {what}")]
    BeforeEpoch {
        /// Which bound.
        what: &'static str,
    },
}
