//! The error types of `tailstore-storage`: [`Error`] for operations on a
//! store directory, [`ChunkError`] for one record that fails a check.

use std::path::PathBuf;

/// Errors from opening, reading and writing a store directory.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a file of the store failed. The OS error is the
    /// [`source`](std::error::Error::source) (print the chain, as `anyhow`'s
    /// `{:#}` does, to see it), not repeated in this message.
    #[error("{op} {path}")]
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
    /// An interval could not be encoded for writing (its payload would pass
    /// the 64 MiB a reader accepts); nothing of it was written. Not damage:
    /// the data on disk is intact.
    #[error("{path}: cannot encode series {series:?}: {reason}")]
    Encode {
        /// The store directory or the segment being written.
        path: PathBuf,
        /// The series of the interval.
        series: String,
        /// What could not be encoded.
        reason: String,
    },
    /// A series name that cannot be stored: empty, or longer than 65 535
    /// bytes.
    #[error("series name of {len} bytes cannot be stored: a name takes 1 to 65 535 bytes")]
    InvalidSeriesName {
        /// The name's length in bytes.
        len: usize,
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

/// Why a record was rejected: the first check that failed, with what was
/// found. Scans report it as the reason of a [`Damage`](crate::Damage);
/// [`Segments::read`](crate::Segments::read) returns it for a cold piece.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Fewer bytes are left than the smallest record takes.
    #[error("truncated record header: {available} bytes left, a record takes at least {min}")]
    TruncatedHeader {
        /// Bytes left from the record's start.
        available: usize,
        /// Bytes of the smallest record.
        min: usize,
    },
    /// The record's length runs past the end of the bytes (a torn write,
    /// or a damaged length).
    #[error(
        "record extends past the end of the file: it declares {needed} bytes, {available} are left"
    )]
    Truncated {
        /// Bytes the record declares, its header included.
        needed: u64,
        /// Bytes left from the record's start.
        available: usize,
    },
    /// The first byte is not the record magic.
    #[error("bad record magic {found:#04x} (expected {expected:#04x})")]
    BadMagic {
        /// The byte found.
        found: u8,
        /// The record magic.
        expected: u8,
    },
    /// The kind byte names no record kind.
    #[error("unknown record kind {0} (known: 1 series, 2 interval, 3 gauge)")]
    UnknownKind(u8),
    /// A varint of the record is truncated, non-canonical or over-long.
    #[error("bad varint ({field})")]
    BadVarint {
        /// The field it encodes.
        field: &'static str,
    },
    /// A declared length is over the 64 MiB a reader accepts.
    #[error("declared {what} of {len} bytes is larger than 64 MiB")]
    TooLarge {
        /// `record` or `payload` (decompressed).
        what: &'static str,
        /// The length declared.
        len: u64,
    },
    /// The record's CRC-32C does not match its bytes.
    #[error("checksum mismatch: the record says {expected:#010x}, its bytes give {found:#010x}")]
    Checksum {
        /// The CRC stored in the record.
        expected: u32,
        /// The CRC of the bytes it covers.
        found: u32,
    },
    /// A series name is empty or longer than 65 535 bytes.
    #[error("series name of {len} bytes: empty or longer than 65 535 bytes")]
    NameLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A series name is not UTF-8.
    #[error("series name is not UTF-8 (from byte {valid_up_to} of the name)")]
    NameNotUtf8 {
        /// Bytes of the name that are valid UTF-8.
        valid_up_to: usize,
    },
    /// An interval record's body ends before its flags byte.
    #[error("truncated interval flags")]
    MissingFlags,
    /// An interval record's flags byte has bits no version defines.
    #[error("unknown interval flag bits {flags:#04x}")]
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// The zstd frame of a payload does not decompress.
    #[error("zstd: {reason}")]
    Zstd {
        /// What zstd said.
        reason: String,
    },
    /// A zstd frame decompressed to another length than the record declares.
    #[error("decompressed length {found} differs from the record's {declared}")]
    DecompressedLength {
        /// The raw length the record declares.
        declared: usize,
        /// The length the frame decompressed to.
        found: usize,
    },
    /// The (decompressed) payload of an interval record does not decode.
    #[error("payload byte {offset}: {reason}")]
    BadPayload {
        /// Byte offset in the payload.
        offset: usize,
        /// What check failed.
        reason: &'static str,
    },
    /// A record that an index or a scan located is not inside the mapped file.
    #[error("record of {len} bytes at byte {offset} is past the end of the mapped file ({file_len} bytes)")]
    OutOfBounds {
        /// Its offset in the file.
        offset: u64,
        /// Its length.
        len: u32,
        /// Bytes of the mapped file.
        file_len: usize,
    },
    /// A located record is a series record, not an interval record.
    #[error("not an interval record")]
    NotInterval,
    /// A located record is not as long as its index entry says.
    #[error("record length {found} differs from the index ({indexed})")]
    LengthMismatch {
        /// The length in the index entry.
        indexed: u32,
        /// The length of the record there.
        found: usize,
    },
    /// A location names a segment file that the scan did not map.
    #[error("no such segment (file {file} of a scan of {files})")]
    NoSuchSegment {
        /// The file number asked for.
        file: u32,
        /// Files the scan mapped.
        files: usize,
    },
}
