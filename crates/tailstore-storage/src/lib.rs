//! `tailstore-storage`: durable storage of sealed intervals.
//!
//! Sealed intervals are stored one per record (a magic byte, the length, a
//! CRC-32C, the series id from the file's dictionary of series records, and
//! a payload of canonical varints and a range-coded histogram, zstd where
//! that is smaller) appended to one segment file per level and time bucket. Readers map segments with
//! memmap2 and validate every length, checksum and varint before use: a torn
//! or corrupt chunk is reported and skipped, never decoded into numbers, and
//! nothing here panics on file contents. `docs/FORMAT.md` specifies every byte.
//!
//! This crate is the only one in tailstore that contains `unsafe`: one block,
//! the memory map in `mmap.rs`, with its safety argument.
//!
//! # Features
//!
//! * `unstable-internals` (off by default): the module `internals`, with the
//!   record codec (`parse_record`, `encode_series_record`, …) and the
//!   segment scanner, for the fuzz targets, their seed generator and the
//!   corruption tests. It carries no semver promise: it may change in any
//!   release. Users of tailstore need none of it.
#![deny(missing_docs)]
#![deny(unsafe_code)]
// Decoders of hostile bytes from disk: no unchecked index, slice or unwrap
// (tests may use them).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::indexing_slicing))]

mod chunk;
mod codec;
mod dir;
mod error;
mod index;
mod mmap;
mod rc;
mod segment;
mod varint;

pub use chunk::{encode_interval, EncodedInterval, MAX_NAME_LEN};
pub use codec::StoredInterval;
pub use dir::{
    check, compact_segment, is_store, scan_dir, write_index, DirScan, FsyncPolicy, Indexed, Loc,
    Lost, Report, Segments, Writer, WriterOptions,
};
pub use error::{ChunkError, Error};
pub use segment::{
    bucket_len_s, gauge_segment_name, segment_name, span_s, Damage, Entry, GaugePiece,
    FORMAT_VERSION, GAUGE_FORMAT_VERSION, LEVELS,
};

/// The record codec and the segment scanner, for fuzz targets, the seed
/// generator and crash and corruption tests that build or take apart files
/// by hand. Only with the feature `unstable-internals`, with no semver
/// promise: anything here may change or go in any release.
#[cfg(feature = "unstable-internals")]
pub mod internals {
    pub use crate::chunk::{
        decode_interval, encode_gauge_record, encode_interval_record, encode_series_record,
        parse_record, Record,
    };
    pub use crate::codec::{decode_varint_pairs, encode_varint_pairs};
    pub use crate::segment::{scan_gauge_segment, scan_segment, GaugeScan, SegmentScan};

    /// The header bytes of a new gauge file of `level` (for tools and tests
    /// that build gauge files by hand).
    #[must_use]
    pub fn gauge_header_bytes(level: u8) -> Vec<u8> {
        crate::segment::gauge_header(level).to_vec()
    }

    /// The header bytes of a new segment file of `level` for `layout` (for
    /// tools and tests that build segment files by hand).
    #[must_use]
    pub fn segment_header_bytes(level: u8, layout: &tailstore_hist::Layout) -> Vec<u8> {
        crate::segment::segment_header(level, layout).to_vec()
    }
}
