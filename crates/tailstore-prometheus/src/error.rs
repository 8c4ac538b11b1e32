//! The crate's error.

use std::io;

/// The error of configuring or encoding an exposition (and, with the
/// `server` feature, of starting a server).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A naming preset that does not exist.
    #[error("unknown naming preset {name:?} (expected tailstore or ingress-nginx)")]
    UnknownNames {
        /// The name given.
        name: String,
    },
    /// Bucket bounds that are not finite, positive and strictly increasing.
    #[error("invalid bucket bounds: {reason}")]
    InvalidBuckets {
        /// What is wrong.
        reason: String,
    },
    /// Opening (again) or querying the store failed.
    #[error("reading the store")]
    Store(#[from] tailstore::Error),
    /// Writing the exposition (or binding, accepting, spawning a thread).
    #[error("{op}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Io { op, source }
    }
}
