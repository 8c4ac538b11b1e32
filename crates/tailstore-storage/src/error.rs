//! The error type of `tailstore-storage`.

use std::path::PathBuf;

/// Errors from opening, reading and writing a store directory.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a file of the store failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the writer lock.
    #[error("store {path} is locked by another writer (pid {pid}); open it read-only or stop that process")]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The pid written in the lock file, or `unknown`.
        pid: String,
    },
    /// A segment was written by a newer (or unknown) format version.
    #[error("{path}: format version {version} is not supported (this tailstore reads version {supported} only; version 1 was the unreleased 0.1 development format, newer ones need a newer tailstore)")]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// The version found.
        version: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// A segment was written with another histogram layout than the store
    /// is opened with.
    #[error("{path}: written with histogram layout {found}, opened with {wanted}; open the store with the layout it was written with")]
    LayoutMismatch {
        /// The segment file.
        path: PathBuf,
        /// The layout in the file.
        found: String,
        /// The layout asked for.
        wanted: String,
    },
    /// A chunk or segment header is damaged (reported by scans, never decoded).
    #[error("{path} at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset in the file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
