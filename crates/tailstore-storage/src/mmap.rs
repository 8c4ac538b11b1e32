//! The one place that maps files. The map call is the crate's only `unsafe`.
#![expect(
    unsafe_code,
    reason = "memory-mapping a segment file is unsafe by contract; see SAFETY below"
)]

use std::fs::File;
use std::path::Path;

use crate::error::Error;

/// A read-only map of a segment file's first `len()` bytes.
pub struct Map {
    map: Option<memmap2::Mmap>,
}

impl Map {
    /// Maps `file` (opened read-only from `path`) as it is now.
    pub fn open(file: &File, path: &Path) -> Result<Map, Error> {
        let len = file.metadata().map_err(Error::io("stat", path))?.len();
        if len == 0 {
            // Mapping an empty file fails on some systems; nothing to read.
            return Ok(Map { map: None });
        }
        // SAFETY: the map is only ever read through `&[u8]`, and the bytes it
        // covers are never changed or removed while it is alive: tailstore's
        // writer only appends to segment files and never rewrites, truncates
        // or shrinks one (docs/FORMAT.md, "What a crash can lose"); retention
        // deletes whole files by unlink, and compaction writes a new file and
        // renames it over the old name, both of which keep the old inode, and
        // so the mapped bytes, alive for existing maps. The map covers the length seen at this instant;
        // bytes appended later are outside it. A process outside tailstore
        // truncating the file would break this (SIGBUS), as for any mapped file.
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(Error::io("mmap", path))?;
        Ok(Map { map: Some(map) })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
