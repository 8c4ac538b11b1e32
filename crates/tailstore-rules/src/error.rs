//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong loading rules or evaluating them over a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule file that does not parse or does not make sense: the file, the
    /// line and column (1-based, when known) and what is wrong.
    #[error("{}: {message}", location(file, *line, *column))]
    Rules {
        /// The file's name as given (or `<string>` for text).
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// What is wrong, in a sentence.
        message: String,
    },
    /// A rule file could not be read.
    #[error("cannot read rule file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An evaluation range that cannot be evaluated (end before start,
    /// too many points).
    #[error("bad evaluation range: {reason}")]
    BadRange {
        /// Why.
        reason: String,
    },
    /// A thread (the live evaluator's or its Alertmanager sender's) could
    /// not be spawned.
    #[error("cannot start a thread")]
    Thread {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Alertmanager options that cannot work (a URL that is not `http://`).
    #[error("alertmanager: {reason}")]
    Alertmanager {
        /// Why.
        reason: String,
    },
    /// The store refused a query.
    #[error("store query failed")]
    Store(#[from] tailstore::Error),
}

fn location(file: &str, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
    }
}
