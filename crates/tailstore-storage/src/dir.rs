//! A store directory: the writer lock, appending and flushing, scanning
//! every segment at open, integrity reports, and retention by whole files.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::chunk::{encode_chunk, Chunk};
use crate::codec::StoredInterval;
use crate::error::Error;
use crate::mmap::Map;
use crate::segment::{
    bucket_len_s, parse_segment_name, scan_segment, segment_header, segment_name, Damage,
    SEGMENT_HEADER_LEN,
};

/// Name of the writer lock file.
pub const LOCK_FILE: &str = "tailstore.lock";

/// When flushed chunks are `fsync`ed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// On every flush: a flushed interval survives power loss.
    Always,
    /// At most this often: a flushed interval survives a process crash; power
    /// loss can take what was flushed since the last `fsync`.
    Interval(Duration),
    /// Never (the OS writes back when it likes): survives a process crash only.
    Never,
}

/// How the writer encodes and syncs.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    /// `fsync` policy (default: every 1 s).
    pub fsync: FsyncPolicy,
    /// zstd level for chunk payloads (default 3).
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { fsync: FsyncPolicy::Interval(Duration::from_secs(1)), zstd_level: 3 }
    }
}

/// What a directory scan (or `check`) found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Segment files read.
    pub segments: usize,
    /// Chunks that passed every check.
    pub chunks_ok: usize,
    /// Intervals in those chunks.
    pub intervals: usize,
    /// Damaged regions (torn tails, flipped bits, bad headers), each skipped.
    pub damaged: Vec<Damage>,
    /// Chunks OK that follow a damaged region in their file (found again by
    /// resynchronising on the chunk magic).
    pub recovered: usize,
    /// Bytes in segment files.
    pub bytes: u64,
}

impl Report {
    /// True when nothing was damaged.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// Every valid chunk of a directory, with the level of its segment.
#[derive(Debug, Default)]
pub struct DirScan {
    /// `(level, chunk)` in file-name then file order.
    pub chunks: Vec<(u8, Chunk)>,
    /// What was read and what was damaged.
    pub report: Report,
}

fn segment_files(dir: &Path) -> Result<Vec<(u8, u64, PathBuf)>, Error> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read directory", dir)(e)),
    };
    for entry in rd {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name();
        if let Some((level, bucket)) = name.to_str().and_then(parse_segment_name) {
            out.push((level, bucket, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every segment of `dir` through a memory map, validating every
/// chunk, for a layout of `layout_len` buckets. Damage is reported, not an
/// error; a segment of a newer format version is an error.
pub fn scan_dir(dir: &Path, layout_len: usize) -> Result<DirScan, Error> {
    let mut out = DirScan::default();
    for (level, _, path) in segment_files(dir)? {
        let file = match File::open(&path) {
            Ok(f) => f,
            // Removed by retention between listing and opening.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open", &path)(e)),
        };
        let map = Map::open(&file, &path)?;
        let scan = scan_segment(map.bytes(), &path, level, layout_len)?;
        out.report.segments += 1;
        out.report.bytes += map.bytes().len() as u64;
        out.report.chunks_ok += scan.chunks.len();
        out.report.damaged.extend(scan.damage);
        out.report.recovered += scan.recovered;
        for (_, chunk) in scan.chunks {
            out.report.intervals += chunk.intervals.len();
            out.chunks.push((level, chunk));
        }
    }
    Ok(out)
}

/// Checks a directory: chunks OK, damaged (with file, offset, reason and
/// bytes skipped), and recovered (OK chunks after damage). Opens nothing for
/// writing and takes no lock, so it runs on a live store.
pub fn check(dir: &Path, layout_len: usize) -> Result<Report, Error> {
    Ok(scan_dir(dir, layout_len)?.report)
}

struct SegFile {
    file: File,
    pending: Vec<u8>,
    synced: bool,
    last_used: u64,
}

/// The single writer of a directory: holds the lock, appends chunks.
pub struct Writer {
    dir: PathBuf,
    _lock: File,
    opts: WriterOptions,
    files: HashMap<(u8, u64), SegFile>,
    last_fsync: Instant,
    clock: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Most segment files kept open at once (late data may touch old buckets).
const MAX_OPEN: usize = 32;

impl Writer {
    /// Creates `dir` if needed and takes its writer lock.
    pub fn open(dir: &Path, opts: WriterOptions) -> Result<Writer, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(Error::io("open", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = lock.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(Error::Locked {
                    path: dir.to_path_buf(),
                    pid: if pid.is_empty() { "unknown".into() } else { pid.to_string() },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", &lock_path)(e)),
        }
        lock.set_len(0).map_err(Error::io("truncate", &lock_path))?;
        writeln!(lock, "{}", std::process::id()).map_err(Error::io("write", &lock_path))?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            _lock: lock,
            opts,
            files: HashMap::new(),
            last_fsync: Instant::now(),
            clock: 0,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn seg(&mut self, level: u8, bucket: u64) -> Result<&mut SegFile, Error> {
        self.clock += 1;
        if !self.files.contains_key(&(level, bucket)) {
            if self.files.len() >= MAX_OPEN {
                self.close_least_used()?;
            }
            let path = self.dir.join(segment_name(level, bucket));
            let file = open_for_append(&path, level)?;
            self.files.insert(
                (level, bucket),
                SegFile { file, pending: Vec::new(), synced: true, last_used: 0 },
            );
        }
        let clock = self.clock;
        // Inserted just above when missing.
        let seg = self.files.get_mut(&(level, bucket)).expect("segment present");
        seg.last_used = clock;
        Ok(seg)
    }

    fn close_least_used(&mut self) -> Result<(), Error> {
        let Some((&key, _)) = self.files.iter().min_by_key(|(_, s)| s.last_used) else {
            return Ok(());
        };
        let mut seg = self.files.remove(&key).expect("key from the map");
        let path = self.dir.join(segment_name(key.0, key.1));
        write_pending(&mut seg, &path)?;
        if !seg.synced {
            seg.file.sync_data().map_err(Error::io("fsync", &path))?;
        }
        Ok(())
    }

    /// Queues intervals of `series` at `level` (one chunk per time bucket);
    /// they reach the file at the next [`Writer::flush`].
    pub fn append(
        &mut self,
        level: u8,
        series: &str,
        intervals: &[StoredInterval],
    ) -> Result<(), Error> {
        let mut by_bucket: Vec<(u64, Vec<StoredInterval>)> = Vec::new();
        for s in intervals {
            let b = s.interval.start_s - s.interval.start_s % bucket_len_s(level);
            match by_bucket.iter_mut().find(|e| e.0 == b) {
                Some(e) => e.1.push(s.clone()),
                None => by_bucket.push((b, vec![s.clone()])),
            }
        }
        let zl = self.opts.zstd_level;
        for (bucket, ivs) in by_bucket {
            // Split batches whose payload would pass the 64 MiB chunk limit.
            for part in ivs.chunks(4096) {
                let bytes = encode_chunk(series, part, zl).ok_or_else(|| Error::Corrupt {
                    path: self.dir.clone(),
                    offset: 0,
                    reason: format!("series name of {} bytes is longer than 65 535", series.len()),
                })?;
                self.seg(level, bucket)?.pending.extend_from_slice(&bytes);
            }
        }
        Ok(())
    }

    /// Writes everything queued, one `write` per file, then `fsync`s as the
    /// policy says. What a crash can lose is what was not yet flushed.
    pub fn flush(&mut self) -> Result<(), Error> {
        let dir = self.dir.clone();
        for (&(level, bucket), seg) in &mut self.files {
            write_pending(seg, &dir.join(segment_name(level, bucket)))?;
        }
        let due = match self.opts.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(d) => self.last_fsync.elapsed() >= d,
            FsyncPolicy::Never => false,
        };
        if due {
            for (&(level, bucket), seg) in &mut self.files {
                if !seg.synced {
                    let path = dir.join(segment_name(level, bucket));
                    seg.file.sync_data().map_err(Error::io("fsync", &path))?;
                    seg.synced = true;
                }
            }
            self.last_fsync = Instant::now();
        }
        Ok(())
    }

    /// Removes, by unlink, every segment of `level` whose bucket ends at or
    /// before `before_s`. Returns how many files were removed.
    pub fn remove_before(&mut self, level: u8, before_s: u64) -> Result<usize, Error> {
        let mut n = 0;
        for (l, bucket, path) in segment_files(&self.dir)? {
            if l == level && bucket + bucket_len_s(level) <= before_s {
                self.files.remove(&(l, bucket));
                match std::fs::remove_file(&path) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &path)(e)),
                }
            }
        }
        Ok(n)
    }
}

fn write_pending(seg: &mut SegFile, path: &Path) -> Result<(), Error> {
    if !seg.pending.is_empty() {
        seg.file.write_all(&seg.pending).map_err(Error::io("write", path))?;
        seg.pending.clear();
        seg.synced = false;
    }
    Ok(())
}

/// Opens a segment for appending, writing the header of a new one. A file
/// whose header is torn or damaged is renamed aside (never rewritten) and a
/// fresh one started, so later appends are not lost behind a bad header.
fn open_for_append(path: &Path, level: u8) -> Result<File, Error> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len == 0 {
        file.write_all(&segment_header(level)).map_err(Error::io("write", path))?;
        return Ok(file);
    }
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    let ok = len >= SEGMENT_HEADER_LEN as u64
        && (&file).read_exact(&mut head).is_ok()
        && head == segment_header(level);
    if ok {
        return Ok(file);
    }
    drop(file);
    let mut n = 0;
    let aside = loop {
        let p = path.with_extension(format!("seg.damaged-{n}"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    std::fs::rename(path, &aside).map_err(Error::io("rename aside", path))?;
    open_for_append(path, level)
}
