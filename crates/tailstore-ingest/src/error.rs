//! The crate's two error types: [`Error`] for building a parser, and
//! [`LineError`] for one line that does not parse.

use std::fmt;

/// Why a [`Parser`](crate::Parser) could not be built, or a format name not
/// understood. Every message names the input that was wrong and why.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A format name that [`Format::from_str`](std::str::FromStr) does not know
    /// (the message lists [`FORMATS`](crate::FORMATS)).
    #[error("unknown format `{name}`: expected one of {names}", names = crate::format_names())]
    UnknownFormat {
        /// The name as given.
        name: String,
    },
    /// CSV was requested without its header line.
    #[error(
        "the CSV format needs the file's header line (its first line) to be passed to \
         Parser::new, and none was given"
    )]
    MissingHeader,
    /// The CSV header lacks a column the parser needs.
    #[error("CSV header `{header}` has no {field} column (expected one of {expected})")]
    MissingColumn {
        /// The role of the missing column: `time`, `series` or `status`.
        field: &'static str,
        /// The accepted column names.
        expected: String,
        /// The header line as given.
        header: String,
    },
    /// The CSV header line itself is malformed.
    #[error("CSV header `{header}` is malformed: {reason}")]
    BadHeader {
        /// The header line as given.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An nginx `log_format` definition that cannot be compiled.
    #[error("log format `{format}` cannot be used: {reason}")]
    BadLogFormat {
        /// The format definition as given.
        format: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A format that is not one request per line (an `HdrHistogram` interval
    /// log): it is read with [`HlogReader`](crate::HlogReader), not a `Parser`.
    #[error("format `{format}` is not one request per line; read it with HlogReader")]
    NotLineFormat {
        /// The format's name.
        format: String,
    },
    /// An nginx `log_format` definition lacks a variable the parser needs.
    #[error("log format `{format}` has no {what} variable (it needs one of {expected})")]
    MissingVariable {
        /// The format definition as given.
        format: String,
        /// What the variable would provide: `time`, `status`, `latency` or `series`.
        what: &'static str,
        /// The variables that would do.
        expected: &'static str,
    },
}

/// One line that could not be parsed. `reason` says what was wrong, quoting
/// the offending text (cut to 80 characters); callers add file and line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Why the line was rejected.
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for LineError {}

/// A [`LineError`] with this reason (the parsers' shorthand).
pub(crate) fn err(reason: String) -> LineError {
    LineError { reason }
}
