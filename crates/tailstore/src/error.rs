//! The facade's error type.

/// Errors of the `tailstore` facade.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query could not be built or run (bad regex, window, quantile).
    #[error(transparent)]
    Query(#[from] tailstore_query::Error),
    /// A histogram layout or status set is invalid.
    #[error(transparent)]
    Hist(#[from] tailstore_hist::Error),
    /// Reading or writing the store directory failed.
    #[error(transparent)]
    Storage(#[from] tailstore_storage::Error),
    /// `run()` was called before choosing a window with `between` or `last`.
    #[error("query has no window: call .between(start, end) or .last(duration) before .run()")]
    NoWindow,
    /// A range query's parameters are unusable.
    #[error("range query: {reason}")]
    BadRange {
        /// What is wrong.
        reason: String,
    },
}
