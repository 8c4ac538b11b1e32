//! `tailstore-storage`: durable storage of sealed intervals.
//!
//! Sealed intervals are grouped per series into chunks (a fixed header, the
//! series name, a zstd payload of canonical varints, a CRC-32C) appended to
//! one segment file per level and time bucket. Readers map segments with
//! memmap2 and validate every length, checksum and varint before use: a torn
//! or corrupt chunk is reported and skipped, never decoded into numbers, and
//! nothing here panics on file contents. `docs/FORMAT.md` specifies every byte.
//!
//! This crate is the only one in tailstore that contains `unsafe`: one block,
//! the memory map in `mmap.rs`, with its safety argument.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod chunk;
mod codec;
mod dir;
mod error;
mod mmap;
mod rc;
mod segment;

pub use chunk::{decode_chunk, encode_chunk, Chunk, ChunkError, HEADER_LEN};
pub use codec::{decode_payload, encode_payload, StoredInterval};
pub use dir::{check, scan_dir, DirScan, FsyncPolicy, Report, Writer, WriterOptions, LOCK_FILE};
pub use error::Error;
pub use segment::{
    bucket_len_s, scan_segment, segment_name, Damage, SegmentScan, FORMAT_VERSION, LEVELS,
};
