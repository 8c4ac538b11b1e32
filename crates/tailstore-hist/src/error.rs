//! The error type of `tailstore-hist`.

/// Errors from building layouts, parsing error sets and building histograms.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A layout's digits or bounds are out of range.
    #[error("invalid histogram layout: {reason}")]
    InvalidLayout {
        /// What is wrong with the parameters.
        reason: &'static str,
    },
    /// An error-set specification such as `"4xx|5xx"` could not be parsed.
    #[error(
        "invalid status set {spec:?}: {reason} (expected codes or classes like \"400|429|5xx\")"
    )]
    InvalidStatusSet {
        /// The specification as given.
        spec: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Histogram pairs are malformed: [`SparseHist::from_sorted`](crate::SparseHist::from_sorted)
    /// was given bucket indices that are not ascending.
    #[error("corrupt histogram at pair {offset}: {reason}")]
    Corrupt {
        /// Position of the offending `(index, count)` pair in the input.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// Two histograms with different layouts were combined.
    #[error("layout mismatch: histograms with different layouts cannot be merged")]
    LayoutMismatch,
}
