//! The error of the harness crate.

/// What can go wrong building a harness or writing its outputs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schedule or a correction needs a positive interval.
    #[error("the expected interval between requests must be positive (got 0)")]
    ZeroInterval,
    /// A series name an `HdrHistogram` log tag cannot hold.
    #[error("series {name:?} cannot be an hlog tag (tags cannot contain ',', ' ', CR or LF)")]
    BadTag {
        /// The series name.
        name: String,
    },
    /// The histogram the interval log is encoded from could not be built.
    #[error("building the interval log's histogram: {0}")]
    Histogram(String),
    /// A histogram could not be encoded into the interval log.
    #[error("encoding a histogram of the interval log: {0}")]
    Encode(String),
    /// The store could not answer a query.
    #[error("querying the store")]
    Query(#[from] tailstore::Error),
    /// Writing the output failed.
    #[error("writing the output")]
    Io(#[from] std::io::Error),
}
