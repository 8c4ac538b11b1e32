//! A store directory: the writer lock, appending and flushing, indexing
//! every segment at open (headers and checksums, payloads decoded on
//! demand), integrity reports, and retention by whole files.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tailstore_hist::{Interval, Layout};

use crate::chunk::{
    encode_gauge_record, encode_interval, encode_interval_record, encode_series_record,
    frame_interval, EncodedInterval,
};
use crate::codec::StoredInterval;
use crate::error::{ChunkError, Error};
use crate::index::{decode_index, encode_index, index_hint, index_path};
use crate::mmap::Map;
use crate::segment::{
    bucket_len_s, check_header, gauge_header, gauge_segment_name, parse_gauge_segment_name,
    parse_segment_name, read_entry, scan_gauge_segment, scan_segment, segment_header, segment_name,
    span_s, Damage, Entry, GaugePiece, SEGMENT_HEADER_LEN,
};

/// Name of the file holding the writer's pid (the lock itself is on the
/// directory).
pub(crate) const LOCK_FILE: &str = "tailstore.lock";

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
    /// zstd level for payloads that zstd shrinks (default 3).
    pub zstd_level: i32,
    /// The histogram layout of the intervals (recorded in every segment header).
    pub layout: Layout,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            zstd_level: 3,
            layout: Layout::default(),
        }
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
    /// Segments opened from their index file (record headers not read
    /// again; `check` always reads everything).
    pub indexed: usize,
}

impl Report {
    /// True when nothing was damaged.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
    }
}

/// The mapped segments of a directory, for decoding indexed records on
/// demand. Maps stay valid while the writer appends (it never rewrites a
/// byte) and after retention unlinks a file.
pub struct Segments {
    layout: Layout,
    files: Vec<(u8, u64, PathBuf, Map)>,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments").field("files", &self.files.len()).finish_non_exhaustive()
    }
}

/// Where an indexed interval record is: a file of [`Segments`], an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    /// Index of the file in its [`Segments`].
    pub file: u32,
    /// Byte offset of the record.
    pub offset: u64,
    /// Bytes of the record.
    pub len: u32,
}

impl Segments {
    /// Decodes the interval record at `loc` (framing and CRC checked again).
    /// Returns the interval and whether it is a late delta.
    ///
    /// # Errors
    ///
    /// A [`ChunkError`] when `loc` names no file of these segments, or when
    /// the record there is not inside the file, is not an interval record of
    /// exactly `loc.len` bytes, fails a framing or checksum check, or its
    /// payload does not decode for the layout.
    pub fn read(&self, loc: Loc) -> Result<(Interval, bool), ChunkError> {
        let Some((level, bucket, _, map)) = self.files.get(loc.file as usize) else {
            return Err(ChunkError::NoSuchSegment { file: loc.file, files: self.files.len() });
        };
        read_entry(map.bytes(), *level, *bucket, loc.offset, loc.len, &self.layout)
    }

    /// The level, bucket and path of file `file`.
    #[must_use]
    pub fn file(&self, file: u32) -> Option<(u8, u64, &Path)> {
        self.files.get(file as usize).map(|f| (f.0, f.1, f.2.as_path()))
    }
}

/// One interval record found by a directory scan.
#[derive(Clone, Debug)]
pub struct Indexed {
    /// The level of its segment (0, 1, 2).
    pub level: u8,
    /// The record's header fields.
    pub entry: Entry,
    /// Where it is, for [`Segments::read`].
    pub loc: Loc,
}

/// A span of one level where a scan found damage: the pieces there (of one
/// series, or of any) may be missing or hold only part of their data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// The level of the damaged segment (0, 1, 2).
    pub level: u8,
    /// The series whose record was damaged, when the segment's index file
    /// names it; `None` when the damaged records are not known (no index
    /// matches the segment's length): then any series may have lost pieces
    /// anywhere in the segment's time bucket.
    pub series: Option<Arc<str>>,
    /// First second of the span (a multiple of the level's piece length).
    pub start_s: u64,
    /// End of the span, exclusive.
    pub end_s: u64,
}

/// What the damage of one scanned segment may have taken. Its index file,
/// when it is intact, no longer than the segment and lists every record the
/// scan still reads in the part it covers (so it describes this file, as
/// the writer left it before appending more), names the records whose bytes
/// meet a damaged region there: each a piece of its series. Damage that no
/// such index covers may have taken any piece of the file's time bucket,
/// of any series.
fn lost_pieces(
    path: &Path,
    len: u64,
    level: u8,
    bucket: u64,
    scan: &crate::segment::SegmentScan,
) -> Vec<Lost> {
    let whole_bucket =
        Lost { level, series: None, start_s: bucket, end_s: bucket + bucket_len_s(level) };
    let hint =
        std::fs::read(index_path(path)).ok().and_then(|ix| index_hint(&ix, len, level, bucket));
    let Some((indexed_len, entries)) = hint else { return vec![whole_bucket] };
    // Every record read in the indexed part must be one the index lists.
    let listed: std::collections::HashSet<(u64, u32, u64, &str)> =
        entries.iter().map(|e| (e.offset, e.len, e.start_s, &*e.series)).collect();
    let describes = scan
        .entries
        .iter()
        .filter(|e| e.offset + u64::from(e.len) <= indexed_len)
        .all(|e| listed.contains(&(e.offset, e.len, e.start_s, &*e.series)));
    // A region of 0 bytes (an empty file) meets what starts where it does.
    let region = |d: &Damage| (d.offset, d.offset + d.skipped.max(1));
    if !describes || scan.damage.iter().any(|d| region(d).1 > indexed_len) {
        return vec![whole_bucket];
    }
    let piece_s = u64::from(span_s(level));
    entries
        .iter()
        .filter(|e| {
            let end = e.offset + u64::from(e.len);
            scan.damage.iter().map(region).any(|(a, b)| a < end && b > e.offset)
        })
        .map(|e| Lost {
            level,
            series: Some(e.series.clone()),
            start_s: e.start_s,
            end_s: e.start_s + piece_s,
        })
        .collect()
}

/// The index of a directory: every valid interval record, by header, and
/// the mapped files to decode them from.
#[derive(Debug)]
pub struct DirScan {
    /// Every valid interval record, in file-name then file order.
    pub records: Vec<Indexed>,
    /// The mapped segment files.
    pub segments: Arc<Segments>,
    /// Files of [`DirScan::segments`] that have no usable index and no
    /// damage: the writer indexes them ([`write_index`]).
    pub unindexed: Vec<u32>,
    /// What was read and what was damaged.
    pub report: Report,
    /// Where the damage in [`DirScan::report`] may have taken pieces, per
    /// level (and series, when known): answers must not take the pieces
    /// found there as whole.
    pub lost: Vec<Lost>,
    /// Every valid gauge piece of the gauge files (`docs/FORMAT.md`,
    /// "Gauge files"), with its level, in file-name then file order.
    pub gauges: Vec<(u8, GaugePiece)>,
    /// Where damage in the gauge files may have taken gauge pieces: the
    /// whole time bucket of a damaged file, for every gauge.
    pub gauge_lost: Vec<Lost>,
}

/// The request and gauge segment files of `dir`: `(level, bucket, is a
/// gauge file, path)`, sorted.
fn all_segment_files(dir: &Path) -> Result<Vec<(u8, u64, bool, PathBuf)>, Error> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io("read directory", dir)(e)),
    };
    for entry in rd {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((level, bucket)) = parse_segment_name(name) {
            out.push((level, bucket, false, entry.path()));
        } else if let Some((level, bucket)) = parse_gauge_segment_name(name) {
            out.push((level, bucket, true, entry.path()));
        }
    }
    out.sort();
    Ok(out)
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

/// Indexes every segment of `dir` through a memory map: framing, checksum
/// and series of every record, without decoding payloads (those are decoded
/// when a query needs them, through [`DirScan::segments`]). Damage is
/// reported, not an error; a segment of another format version or layout
/// is an error.
///
/// # Errors
///
/// [`Error::Io`] when the directory cannot be listed or a segment cannot be
/// opened or mapped; [`Error::UnsupportedVersion`] or
/// [`Error::LayoutMismatch`] for a segment of another format version or
/// layout.
pub fn scan_dir(dir: &Path, layout: &Layout) -> Result<DirScan, Error> {
    scan(dir, layout, false).map(|(scan, _)| scan)
}

fn scan(dir: &Path, layout: &Layout, decode: bool) -> Result<(DirScan, Vec<Interval>), Error> {
    let mut report = Report::default();
    let mut records = Vec::new();
    let mut files = Vec::new();
    let mut intervals = Vec::new();
    let mut unindexed = Vec::new();
    let mut lost = Vec::new();
    for (level, bucket, path) in segment_files(dir)? {
        // Gone: removed by retention between listing and opening.
        let Some(map) = map_segment(&path)? else { continue };
        let bytes = map.bytes();
        #[expect(
            clippy::cast_possible_truncation,
            reason = "fewer than 2^32 segment files in one directory (each is an hour or more of data)"
        )]
        let file_ix = files.len() as u32;
        report.segments += 1;
        report.bytes += bytes.len() as u64;
        // A usable index spares reading every record (not for `check`).
        let from_index = if decode || check_header(bytes, &path, level, layout)?.is_err() {
            None
        } else {
            std::fs::read(index_path(&path))
                .ok()
                .and_then(|ix| decode_index(&ix, bytes, level, bucket))
        };
        let entries = if let Some((_, entries)) = from_index {
            report.indexed += 1;
            entries
        } else {
            let scan = scan_segment(bytes, &path, level, bucket, layout, decode)?;
            report.damaged.extend(scan.damage.iter().cloned());
            report.recovered += scan.recovered;
            if !scan.damage.is_empty() {
                lost.extend(lost_pieces(&path, bytes.len() as u64, level, bucket, &scan));
            }
            if scan.damage.is_empty() && !bytes.is_empty() {
                unindexed.push(file_ix);
            }
            intervals.extend(scan.intervals);
            scan.entries
        };
        report.chunks_ok += entries.len();
        report.intervals += entries.len();
        for entry in entries {
            let loc = Loc { file: file_ix, offset: entry.offset, len: entry.len };
            records.push(Indexed { level, entry, loc });
        }
        files.push((level, bucket, path, map));
    }
    let segments = Arc::new(Segments { layout: *layout, files });
    let (gauges, gauge_lost) = scan_gauge_files(dir, &mut report)?;
    Ok((DirScan { records, segments, unindexed, report, lost, gauges, gauge_lost }, intervals))
}

/// Every valid gauge piece with its level, and the spans damage may have
/// taken.
type GaugeFiles = (Vec<(u8, GaugePiece)>, Vec<Lost>);

/// Reads every gauge file of `dir` whole (they are small: one record of
/// about 45 bytes per gauge and piece), adding what it read and what was
/// damaged to `report`. A damaged file may have lost any piece of its time
/// bucket (gauge files have no index to say which).
fn scan_gauge_files(dir: &Path, report: &mut Report) -> Result<GaugeFiles, Error> {
    let mut pieces = Vec::new();
    let mut lost = Vec::new();
    for (level, bucket, gauge, path) in all_segment_files(dir)? {
        if !gauge {
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &path)(e)),
        };
        let scan = scan_gauge_segment(&bytes, &path, level, bucket)?;
        report.segments += 1;
        report.bytes += bytes.len() as u64;
        report.chunks_ok += scan.pieces.len();
        report.intervals += scan.pieces.len();
        report.recovered += scan.recovered;
        if !scan.damage.is_empty() {
            lost.push(Lost {
                level,
                series: None,
                start_s: bucket,
                end_s: bucket + bucket_len_s(level),
            });
        }
        report.damaged.extend(scan.damage);
        pieces.extend(scan.pieces.into_iter().map(|p| (level, p)));
    }
    Ok((pieces, lost))
}

/// Checks a directory: every record's framing, checksum and payload is
/// decoded. Reports records OK, damaged (with file, offset, reason and
/// bytes skipped), and recovered (OK records after damage). Opens nothing
/// for writing and takes no lock, so it runs on a live store.
///
/// # Errors
///
/// As [`scan_dir`]: I/O on the directory or a segment, or a segment of
/// another format version or layout. Damage is in the report.
pub fn check(dir: &Path, layout: &Layout) -> Result<Report, Error> {
    Ok(scan(dir, layout, true)?.0.report)
}

struct SegFile {
    file: File,
    pending: Vec<u8>,
    synced: bool,
    last_used: u64,
    /// Series ids defined in the file (read at open, or written since).
    ids: HashMap<Arc<str>, u64>,
    next_id: u64,
    /// A late delta was appended since the file was opened: compaction
    /// would merge it.
    late: bool,
    /// `Instant` of the last append.
    touched: Instant,
}

impl SegFile {
    /// The file's id of `series`, defined (a series record queued) the
    /// first time the file sees it.
    fn id_of(&mut self, series: &str) -> Result<u64, Error> {
        if let Some(id) = self.ids.get(series) {
            return Ok(*id);
        }
        let id = self.next_id;
        let rec = encode_series_record(id, series)
            .ok_or(Error::InvalidSeriesName { len: series.len() })?;
        self.pending.extend_from_slice(&rec);
        self.ids.insert(Arc::from(series), id);
        self.next_id += 1;
        Ok(id)
    }
}

/// The single writer of a directory: holds the lock, appends chunks.
pub struct Writer {
    dir: PathBuf,
    /// The directory, opened and `flock`ed for as long as the writer lives.
    _lock: File,
    opts: WriterOptions,
    /// Open segment files by `(level, bucket, gauge file)`: sorted, finer
    /// levels come first.
    files: HashMap<SegKey, SegFile>,
    last_fsync: Instant,
    clock: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// Whether `dir` holds a store: a writer's pid file, or a file named like a
/// segment (`L<level>-<bucket start>.seg`, see `docs/FORMAT.md`).
/// For tools that must not take another directory for an empty store.
#[must_use]
pub fn is_store(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == LOCK_FILE
                || crate::segment::parse_segment_name(&name).is_some()
                || parse_gauge_segment_name(&name).is_some()
        })
    })
}

/// How long opening waits for a writer lock that the lock file says this
/// very process holds (see [`take_lock`]).
const SAME_PROCESS_WAIT: Duration = Duration::from_secs(1);

/// Takes the directory's writer lock: `flock` (exclusive, non-blocking) on
/// the directory itself, which cannot be replaced under a live writer the
/// way a lock file can (deleting `tailstore.lock` would let a second writer
/// in, and two writers interleave series ids). The lock file only holds the
/// holder's pid, for the message.
///
/// The lock belongs to the open file description, and a child process
/// shares it from `fork` until its `exec` closes the descriptor
/// (close-on-exec). So a store closed and reopened by a process that also
/// spawns children (a test harness, a model server running tools) can find
/// its own released lock still held for the instant a child takes to
/// `exec`. When the lock file names this process, opening therefore retries
/// for up to [`SAME_PROCESS_WAIT`] before it reports [`Error::Locked`]; a
/// lock held by another process is reported at once.
fn take_lock(dir: &Path, lock_path: &Path) -> Result<File, Error> {
    let handle = File::open(dir).map_err(Error::io("open directory", dir))?;
    let started = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(handle),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", dir)(e)),
        }
        let mut pid = String::new();
        let _ = std::fs::File::open(lock_path).and_then(|mut f| f.read_to_string(&mut pid));
        let pid = pid.trim();
        let ours = pid.parse::<u32>().is_ok_and(|p| p == std::process::id());
        if !ours || started.elapsed() >= SAME_PROCESS_WAIT {
            return Err(Error::Locked {
                path: dir.to_path_buf(),
                pid: if pid.is_empty() { "unknown".into() } else { pid.to_string() },
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// An open segment file: `(level, bucket start, is a gauge file)`.
type SegKey = (u8, u64, bool);

/// The path of the segment file `key` in `dir`.
fn key_path(dir: &Path, (level, bucket, gauge): SegKey) -> PathBuf {
    dir.join(if gauge { gauge_segment_name(level, bucket) } else { segment_name(level, bucket) })
}

/// Most segment files kept open at once (late data may touch old buckets).
const MAX_OPEN: usize = 32;

impl Writer {
    /// Creates `dir` if needed and takes its writer lock. Leftovers of a
    /// compaction interrupted by a crash are removed (the segment they were
    /// to replace is intact).
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] when another process holds the lock (or another
    /// writer of this process, still after a second); [`Error::Io`]
    /// when the directory or the lock file cannot be created, opened, locked
    /// or written.
    pub fn open(dir: &Path, opts: WriterOptions) -> Result<Writer, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = take_lock(dir, &lock_path)?;
        std::fs::write(&lock_path, format!("{}\n", std::process::id()))
            .map_err(Error::io("write", &lock_path))?;
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_name().to_str().is_some_and(|n| n.ends_with(COMPACT_SUFFIX)) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
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
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn seg(&mut self, key: SegKey) -> Result<&mut SegFile, Error> {
        self.clock += 1;
        if !self.files.contains_key(&key) {
            if self.files.len() >= MAX_OPEN {
                self.close_least_used()?;
            }
            let path = key_path(&self.dir, key);
            let (level, bucket, gauge) = key;
            let (file, ids) = if gauge {
                open_gauge_for_append(&path, level, bucket)?
            } else {
                open_for_append(&path, level, bucket, &self.opts.layout)?
            };
            let next_id = ids.values().max().map_or(0, |m| m + 1);
            self.files.insert(
                key,
                SegFile {
                    file,
                    pending: Vec::new(),
                    synced: true,
                    last_used: 0,
                    ids,
                    next_id,
                    late: false,
                    touched: Instant::now(),
                },
            );
        }
        let clock = self.clock;
        // Inserted just above when missing.
        let seg = self.files.get_mut(&key).expect("segment present");
        seg.last_used = clock;
        Ok(seg)
    }

    fn close_least_used(&mut self) -> Result<(), Error> {
        let Some(key) = self.files.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) else {
            return Ok(());
        };
        let Some(mut seg) = self.files.remove(&key) else { return Ok(()) };
        let path = key_path(&self.dir, key);
        write_pending(&mut seg, &path)?;
        if !seg.synced && self.opts.fsync != FsyncPolicy::Never {
            seg.file.sync_data().map_err(Error::io("fsync", &path))?;
        }
        Ok(())
    }

    /// Queues intervals of `series` at `level` (one record each, in the
    /// file of its time bucket, after the series' definition the first
    /// time the file sees it); they reach the file at the next
    /// [`Writer::flush`].
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] for an interval too large to encode,
    /// [`Error::InvalidSeriesName`] for a series name that is empty or
    /// longer than 65 535 bytes; [`Error::Io`] (or a
    /// version or layout error) when a segment file cannot be opened, or
    /// another has to be closed to make room and cannot be written.
    pub fn append(
        &mut self,
        level: u8,
        series: &str,
        intervals: &[StoredInterval],
    ) -> Result<(), Error> {
        let (zl, layout) = (self.opts.zstd_level, self.opts.layout);
        let mut encoded = Vec::with_capacity(intervals.len());
        for s in intervals {
            encoded.push(encode_interval(&s.interval, s.late, &layout, zl).ok_or_else(|| {
                Error::Encode {
                    path: self.dir.clone(),
                    series: series.to_string(),
                    reason: format!(
                        "interval starting at {} too large to encode (payload over 64 MiB)",
                        s.interval.start_s
                    ),
                }
            })?);
        }
        self.append_encoded(level, series, &encoded)
    }

    /// [`Writer::append`] of intervals already encoded with
    /// [`encode_interval`] (for this writer's layout), so that the costly
    /// encoding can run outside whatever lock guards the writer.
    ///
    /// # Errors
    ///
    /// As [`Writer::append`], except for encoding.
    pub fn append_encoded(
        &mut self,
        level: u8,
        series: &str,
        intervals: &[EncodedInterval],
    ) -> Result<(), Error> {
        let span = u64::from(span_s(level));
        for enc in intervals {
            let bucket = enc.start_s - enc.start_s % bucket_len_s(level);
            let seg = self.seg((level, bucket, false))?;
            let id = seg.id_of(series)?;
            let slot = (enc.start_s - bucket) / span;
            seg.pending.extend_from_slice(&frame_interval(id, slot, enc));
            seg.late |= enc.is_late();
            seg.touched = Instant::now();
        }
        Ok(())
    }

    /// Queues pieces of gauge `series` at `level` (`(start, aggregates,
    /// late)`, one gauge record each, in the gauge file of its time bucket,
    /// after the series' definition the first time the file sees it); they
    /// reach the file at the next [`Writer::flush`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSeriesName`] for a name that is empty or longer than
    /// 65 535 bytes; [`Error::Encode`] for a piece that cannot be stored
    /// (no sample, a value not finite, `min <= last <= max` broken, or its
    /// last sample outside its span); [`Error::Io`] (or a version error)
    /// when a gauge file cannot be opened, or another has to be closed to
    /// make room and cannot be written.
    pub fn append_gauge(
        &mut self,
        level: u8,
        series: &str,
        pieces: &[(u64, tailstore_hist::GaugeAgg, bool)],
    ) -> Result<(), Error> {
        let span = u64::from(span_s(level));
        for (start_s, agg, late) in pieces {
            let bucket = start_s - start_s % bucket_len_s(level);
            let slot = (start_s - bucket) / span;
            let rec = (agg.last_s < start_s + span)
                .then(|| encode_gauge_record(0, slot, *start_s, agg, *late))
                .flatten()
                .ok_or_else(|| Error::Encode {
                    path: self.dir.clone(),
                    series: series.to_string(),
                    reason: format!("gauge piece starting at {start_s} cannot be stored: {agg:?}"),
                })?;
            let seg = self.seg((level, bucket, true))?;
            let id = seg.id_of(series)?;
            // Encoded with id 0 above to validate before any state changed;
            // framed again with the file's id (a few dozen bytes).
            let rec = if id == 0 {
                rec
            } else {
                encode_gauge_record(id, slot, *start_s, agg, *late).unwrap_or(rec)
            };
            seg.pending.extend_from_slice(&rec);
            seg.touched = Instant::now();
        }
        Ok(())
    }

    /// Writes everything queued, one `write` per file, then `fsync`s as the
    /// policy says. What a crash can lose is what was not yet flushed.
    ///
    /// Files are written finest level first: a rollup reaches its file only
    /// after the seconds it sums, so a crash between two writes leaves
    /// seconds without their rollup (rebuilt at open), never the reverse.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when a write or an `fsync` fails (what was written
    /// before stays written).
    pub fn flush(&mut self) -> Result<(), Error> {
        let dir = self.dir.clone();
        let mut segs: Vec<(&SegKey, &mut SegFile)> = self.files.iter_mut().collect();
        segs.sort_unstable_by_key(|(key, _)| **key);
        for (&key, seg) in segs {
            write_pending(seg, &key_path(&dir, key))?;
        }
        let due = match self.opts.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval(d) => self.last_fsync.elapsed() >= d,
            FsyncPolicy::Never => false,
        };
        if due {
            for (&key, seg) in &mut self.files {
                if !seg.synced {
                    let path = key_path(&dir, key);
                    seg.file.sync_data().map_err(Error::io("fsync", &path))?;
                    seg.synced = true;
                }
            }
            self.last_fsync = Instant::now();
        }
        Ok(())
    }

    /// Closes the segment files that have not been appended to for `idle`
    /// (and at least two of their level's spans, so that a file written
    /// once per span is not closed between two writes; all of them with
    /// `Duration::ZERO`): writes what is queued, compacts the ones that
    /// took late deltas (see [`compact_segment`]), and writes their index
    /// ([`write_index`]). Returns how many files were compacted.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when writing, syncing, compacting or indexing a file
    /// fails (the files closed before it stay closed), or a version or layout
    /// error from re-reading one.
    pub fn close_idle(&mut self, idle: Duration) -> Result<usize, Error> {
        let due: Vec<SegKey> = {
            let mut v: Vec<SegKey> = self
                .files
                .iter()
                .filter(|(k, f)| {
                    let span = Duration::from_secs(2 * u64::from(span_s(k.0)));
                    idle.is_zero() || f.touched.elapsed() >= idle.max(span)
                })
                .map(|(k, _)| *k)
                .collect();
            v.sort_unstable();
            v
        };
        let mut n = 0;
        for key in due {
            // Always Some: the keys were taken from the map just above.
            let Some(mut seg) = self.files.remove(&key) else { continue };
            let path = key_path(&self.dir, key);
            write_pending(&mut seg, &path)?;
            if !seg.synced && self.opts.fsync != FsyncPolicy::Never {
                seg.file.sync_data().map_err(Error::io("fsync", &path))?;
            }
            let late = seg.late;
            drop(seg);
            // Gauge files are small and scanned whole at open: no index,
            // no compaction (their late deltas merge as they load).
            if key.2 {
                continue;
            }
            // A compaction writes the new file's index itself.
            if late
                && compact_segment(&path, key.0, key.1, &self.opts.layout, self.opts.zstd_level)?
            {
                n += 1;
            } else {
                write_index(&path, key.0, key.1, &self.opts.layout)?;
            }
        }
        Ok(n)
    }

    /// Removes, by unlink, every segment of `level` (request and gauge
    /// files) whose bucket ends at or before `before_s`. Returns how many
    /// files were removed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory cannot be listed or a file cannot be
    /// removed (one already gone is not an error).
    pub fn remove_before(&mut self, level: u8, before_s: u64) -> Result<usize, Error> {
        let mut n = 0;
        for (l, bucket, gauge, path) in all_segment_files(&self.dir)? {
            if l == level && bucket + bucket_len_s(level) <= before_s {
                self.files.remove(&(l, bucket, gauge));
                match std::fs::remove_file(&path) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &path)(e)),
                }
                let _ = std::fs::remove_file(index_path(&path));
            }
        }
        Ok(n)
    }
}

/// Maps the segment at `path`; `None` when it is gone (removed by retention
/// meanwhile).
fn map_segment(path: &Path) -> Result<Option<Map>, Error> {
    match File::open(path) {
        Ok(f) => Map::open(&f, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path)(e)),
    }
}

/// Writes the index file of the segment at `path` (see `docs/FORMAT.md`,
/// "Index files"): beside it, renamed into place. A segment with damage gets
/// none (it is scanned, and its damage reported, at every open). Returns
/// whether an index was written.
///
/// # Errors
///
/// [`Error::Io`] when the segment cannot be opened or mapped or the index
/// cannot be written and renamed; a version or layout error from the scan.
pub fn write_index(path: &Path, level: u8, bucket: u64, layout: &Layout) -> Result<bool, Error> {
    let Some(map) = map_segment(path)? else { return Ok(false) };
    let bytes = map.bytes();
    let scan = scan_segment(bytes, path, level, bucket, layout, false)?;
    if !scan.damage.is_empty() {
        return Ok(false);
    }
    let Some(ix) = encode_index(bytes, level, &scan.series, &scan.entries) else {
        return Ok(false);
    };
    put_index(path, &ix)?;
    Ok(true)
}

/// Suffix of the temporary file a compaction writes before renaming it over
/// the segment.
const COMPACT_SUFFIX: &str = ".compacting";

/// Rewrites the segment at `path` with every piece merged into one record:
/// seconds summed, each rollup piece its last complete copy plus the deltas
/// after it, none late; series records first. The new file is written beside
/// it, `fsync`ed and renamed over it, so a crash leaves the old file or the
/// new one, and readers that mapped the old one keep reading it. A file with
/// damage is left as it is (its damage stays visible to `check`), as is one
/// with nothing to merge. Returns whether the file was rewritten.
///
/// Only the writer may call this (it holds the directory lock).
///
/// # Errors
///
/// [`Error::Io`] when the segment cannot be read or the new file cannot be
/// written, synced or renamed; [`Error::Encode`] when a piece does not
/// re-encode (or [`Error::InvalidSeriesName`] its series name); a version or
/// layout error from the scan.
pub fn compact_segment(
    path: &Path,
    level: u8,
    bucket: u64,
    layout: &Layout,
    zstd_level: i32,
) -> Result<bool, Error> {
    let Some(map) = map_segment(path)? else { return Ok(false) };
    let bytes = map.bytes();
    let scan = scan_segment(bytes, path, level, bucket, layout, true)?;
    if !scan.damage.is_empty() || bytes.len() < SEGMENT_HEADER_LEN {
        return Ok(false);
    }
    let mut pieces: std::collections::BTreeMap<(u64, Arc<str>), Interval> =
        std::collections::BTreeMap::new();
    let mut merged_any = false;
    for (entry, iv) in scan.entries.iter().zip(scan.intervals) {
        let key = (entry.start_s, entry.series.clone());
        merged_any |= entry.late;
        match pieces.get_mut(&key) {
            Some(p) if level == 0 || entry.late => {
                p.merge(&iv);
                merged_any = true;
            }
            Some(p) => {
                *p = iv;
                merged_any = true;
            }
            None => {
                pieces.insert(key, iv);
            }
        }
    }
    if !merged_any {
        return Ok(false);
    }
    let mut out = segment_header(level, layout).to_vec();
    let mut ids: HashMap<Arc<str>, u64> = HashMap::new();
    let mut names: Vec<&Arc<str>> = pieces.keys().map(|k| &k.1).collect();
    names.sort();
    names.dedup();
    for (id, name) in names.into_iter().enumerate() {
        let rec = encode_series_record(id as u64, name)
            .ok_or(Error::InvalidSeriesName { len: name.len() })?;
        out.extend_from_slice(&rec);
        ids.insert(name.clone(), id as u64);
    }
    let span_len = u64::from(span_s(level));
    // The new file's index, built as its records are laid out.
    let mut entries = Vec::with_capacity(pieces.len());
    for ((start, name), iv) in &pieces {
        #[expect(
            clippy::indexing_slicing,
            reason = "every name of `pieces` got an id in the loop just above"
        )]
        let id = ids[name];
        let rec =
            encode_interval_record(id, (start - bucket) / span_len, iv, false, layout, zstd_level)
                .ok_or_else(|| Error::Encode {
                    path: path.to_path_buf(),
                    series: name.to_string(),
                    reason: format!("interval starting at {start} too large to re-encode"),
                })?;
        entries.push(Entry {
            series: name.clone(),
            start_s: *start,
            late: false,
            offset: out.len() as u64,
            // A record is at most 64 MiB plus its frame.
            len: u32::try_from(rec.len()).unwrap_or(u32::MAX),
        });
        out.extend_from_slice(&rec);
    }
    let tmp = path.with_extension(format!("seg{COMPACT_SUFFIX}"));
    {
        let mut f = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        f.write_all(&out).map_err(Error::io("write", &tmp))?;
        // Before the rename: a power loss must not leave a renamed, empty file.
        f.sync_all().map_err(Error::io("fsync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    let series: HashMap<u64, Arc<str>> = ids.into_iter().map(|(name, id)| (id, name)).collect();
    if let Some(ix) = encode_index(&out, level, &series, &entries) {
        put_index(path, &ix)?;
    }
    Ok(true)
}

/// Writes `ix` as the index file of the segment at `path`, renamed into place.
fn put_index(path: &Path, ix: &[u8]) -> Result<(), Error> {
    let target = index_path(path);
    let tmp = target.with_extension(format!("idx{COMPACT_SUFFIX}"));
    std::fs::write(&tmp, ix).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, &target).map_err(Error::io("rename", &tmp))
}

fn write_pending(seg: &mut SegFile, path: &Path) -> Result<(), Error> {
    if !seg.pending.is_empty() {
        seg.file.write_all(&seg.pending).map_err(Error::io("write", path))?;
        seg.pending.clear();
        seg.synced = false;
    }
    Ok(())
}

/// [`open_for_append`] for a gauge file: created with its header in
/// place; an existing one's ids read; one with a torn or damaged header
/// renamed aside and a fresh one started.
fn open_gauge_for_append(
    path: &Path,
    level: u8,
    bucket: u64,
) -> Result<(File, HashMap<Arc<str>, u64>), Error> {
    if !path.exists() {
        return Ok((create_with_header(path, &gauge_header(level))?, HashMap::new()));
    }
    let mut file = open_append(path)?;
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes).map_err(Error::io("read", path))?;
    if bytes.is_empty() {
        file.write_all(&gauge_header(level)).map_err(Error::io("write", path))?;
        return Ok((file, HashMap::new()));
    }
    // Another version is an error here too, not damage.
    let scan = scan_gauge_segment(&bytes, path, level, bucket)?;
    if bytes.first_chunk::<SEGMENT_HEADER_LEN>() == Some(&gauge_header(level)) {
        let ids = scan.series.into_iter().map(|(id, name)| (name, id)).collect();
        return Ok((file, ids));
    }
    drop(file);
    set_aside(path)?;
    open_gauge_for_append(path, level, bucket)
}

/// Creates the segment (or gauge file) `path` with `header` in place,
/// written beside it and renamed over the name, so a crash never leaves an
/// empty file behind and an empty one is damage (see `scan_segment`); the
/// temporary name has compaction's suffix, so a leftover is removed at the
/// next writer open. Returns it opened for appending.
fn create_with_header(path: &Path, header: &[u8]) -> Result<File, Error> {
    let tmp = path.with_extension(format!("seg{COMPACT_SUFFIX}"));
    std::fs::write(&tmp, header).map_err(Error::io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("rename", &tmp))?;
    open_append(path)
}

/// Opens `path` for reading and appending.
fn open_append(path: &Path) -> Result<File, Error> {
    OpenOptions::new().read(true).append(true).open(path).map_err(Error::io("open", path))
}

/// Renames the segment (or gauge file) at `path` to the first free
/// `….seg.damaged-<n>`, so that a fresh one can start under its name.
fn set_aside(path: &Path) -> Result<(), Error> {
    let mut n = 0;
    let aside = loop {
        let p = path.with_extension(format!("seg.damaged-{n}"));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    std::fs::rename(path, &aside).map_err(Error::io("rename aside", path))
}

/// Opens a segment for appending, writing the header of a new one, and
/// reads the series ids an existing one defines. A file whose header is
/// torn or damaged is renamed aside (never rewritten) and a fresh one
/// started, so later appends are not lost behind a bad header.
fn open_for_append(
    path: &Path,
    level: u8,
    bucket: u64,
    layout: &Layout,
) -> Result<(File, HashMap<Arc<str>, u64>), Error> {
    if !path.exists() {
        // Just a header: nothing to read back or scan.
        return Ok((create_with_header(path, &segment_header(level, layout))?, HashMap::new()));
    }
    let mut file = open_append(path)?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len == 0 {
        // Reported as damage by the scan; the writer reuses the name.
        file.write_all(&segment_header(level, layout)).map_err(Error::io("write", path))?;
        return Ok((file, HashMap::new()));
    }
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes).map_err(Error::io("read", path))?;
    let ok = bytes.first_chunk::<SEGMENT_HEADER_LEN>() == Some(&segment_header(level, layout));
    if ok {
        // Ids are never reused within a file: a new series gets one above
        // every id the file defines (a damaged definition is lost for
        // reader and writer alike, so both see the same dictionary).
        let scan = scan_segment(&bytes, path, level, bucket, layout, false)?;
        let ids = scan.series.into_iter().map(|(id, name)| (name, id)).collect();
        return Ok((file, ids));
    }
    // Another version or layout is an error here too, not damage.
    scan_segment(&bytes, path, level, bucket, layout, false)?;
    drop(file);
    set_aside(path)?;
    let _ = std::fs::remove_file(index_path(path));
    open_for_append(path, level, bucket, layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailstore_hist::{SparseHist, StatusCounts};

    fn iv(start_s: u64, span_s: u32, n: u64, bucket: u32) -> Interval {
        let mut iv = Interval::empty(start_s, span_s);
        iv.hist = SparseHist::from_sorted([(bucket, n)]).unwrap();
        iv.status = StatusCounts::from_pairs([(200, n)]);
        iv.min_ns = u64::from(bucket);
        iv.max_ns = u64::from(bucket);
        iv.sum_ns = u128::from(bucket) * u128::from(n);
        iv
    }

    fn stored(interval: Interval, late: bool) -> StoredInterval {
        StoredInterval { interval, late }
    }

    /// `(level, start, series, requests)` of one piece.
    type Piece = (u8, u64, String, u64);

    /// Sums of every piece by the load rule, from a decoding scan; and the
    /// numbers of records and of late records.
    fn pieces(dir: &Path) -> (Vec<Piece>, usize, usize) {
        let (scan, ivs) = scan(dir, &Layout::default(), true).unwrap();
        let mut m: std::collections::BTreeMap<(u8, u64, String), u64> =
            std::collections::BTreeMap::new();
        let late = scan.records.iter().filter(|r| r.entry.late).count();
        for (r, iv) in scan.records.iter().zip(&ivs) {
            let e = m.entry((r.level, r.entry.start_s, r.entry.series.to_string())).or_default();
            if r.level > 0 && !r.entry.late {
                *e = 0;
            }
            *e += iv.requests();
        }
        let v = m.into_iter().map(|((l, s, n), c)| (l, s, n, c)).collect();
        (v, scan.records.len(), late)
    }

    /// The lock is on the directory: deleting the pid file under a live
    /// writer does not let a second one in; closing the first does.
    #[test]
    fn deleting_the_lock_file_does_not_let_a_second_writer_in() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
        std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        let t = Instant::now();
        let e = Writer::open(dir.path(), WriterOptions::default()).err().unwrap();
        assert!(matches!(e, Error::Locked { ref pid, .. } if pid == "unknown"), "{e}");
        // Not named by the pid file, so not waited for.
        assert!(t.elapsed() < SAME_PROCESS_WAIT, "{:?}", t.elapsed());
        drop(w);
        Writer::open(dir.path(), WriterOptions::default()).unwrap();
    }

    /// A segment emptied by a power loss is damage; the writer never
    /// leaves one (it creates each segment with its header in place).
    #[test]
    fn an_empty_segment_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
        w.append(0, "s", &[stored(iv(7_200, 1, 3, 5), false)]).unwrap();
        w.flush().unwrap();
        drop(w);
        let seg = dir.path().join(segment_name(0, 7_200));
        assert!(check(dir.path(), &Layout::default()).unwrap().is_clean());
        std::fs::write(&seg, b"").unwrap();
        let report = check(dir.path(), &Layout::default()).unwrap();
        assert!(!report.is_clean(), "an empty segment passed check");
        assert!(report.damaged[0].reason.contains("empty segment"), "{:?}", report.damaged);
        // Nothing else to see: no leftover of the writer's creation.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_none_or(|x| x != "idx"))
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    /// Gauge pieces go to gauge files: a reopened writer goes on with the
    /// file's dictionary, a torn header is renamed aside, pieces that cannot
    /// be stored are refused, retention removes gauge files too.
    #[test]
    fn gauge_files_append_reopen_set_aside_and_expire() {
        use tailstore_hist::GaugeAgg;
        let dir = tempfile::tempdir().unwrap();
        let agg =
            |v: f64, s: u64| GaugeAgg { count: 1, min: v, max: v, sum: v, last: v, last_s: s };
        let t = 7_200;
        {
            let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
            w.append_gauge(0, "a", &[(t, agg(1.0, t), false), (t + 1, agg(2.0, t + 1), false)])
                .unwrap();
            w.append_gauge(0, "b", &[(t, agg(3.0, t), false)]).unwrap();
            w.append_gauge(1, "a", &[(t, agg(1.5, t + 1), false)]).unwrap();
            // Not storable: a last second outside the span, a NaN, no sample.
            for bad in [agg(1.0, t + 1), agg(f64::NAN, t), GaugeAgg::EMPTY] {
                let r = w.append_gauge(0, "a", &[(t, bad, false)]);
                assert!(matches!(r, Err(Error::Encode { .. })), "{bad:?}: {r:?}");
            }
            w.flush().unwrap();
        }
        {
            let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
            w.append_gauge(0, "c", &[(t + 2, agg(4.0, t + 2), false)]).unwrap();
            w.append_gauge(0, "a", &[(t, agg(9.0, t), true)]).unwrap();
            w.flush().unwrap();
        }
        let scan = scan_dir(dir.path(), &Layout::default()).unwrap();
        assert!(scan.report.is_clean(), "{:?}", scan.report.damaged);
        let got: Vec<(u8, &str, u64, f64, bool)> = scan
            .gauges
            .iter()
            .map(|(l, p)| (*l, &*p.series, p.start_s, p.agg.sum, p.late))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "a", t, 1.0, false),
                (0, "a", t + 1, 2.0, false),
                (0, "b", t, 3.0, false),
                (0, "c", t + 2, 4.0, false),
                (0, "a", t, 9.0, true),
                (1, "a", t, 1.5, false),
            ]
        );
        // A torn header: damage for check, set aside by the next writer.
        let g0 = dir.path().join(gauge_segment_name(0, t));
        std::fs::write(&g0, &std::fs::read(&g0).unwrap()[..20]).unwrap();
        assert!(!check(dir.path(), &Layout::default()).unwrap().is_clean());
        {
            let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
            w.append_gauge(0, "a", &[(t + 5, agg(5.0, t + 5), false)]).unwrap();
            w.flush().unwrap();
            assert!(g0.with_extension("seg.damaged-0").exists());
            let scan = scan_dir(dir.path(), &Layout::default()).unwrap();
            assert!(scan.report.is_clean());
            assert_eq!(scan.gauges.iter().filter(|(l, _)| *l == 0).count(), 1);
            // Retention: the level-0 gauge file of that hour goes.
            assert_eq!(w.remove_before(0, t + 3_600).unwrap(), 1);
            assert!(!g0.exists());
        }
    }

    #[test]
    fn names_that_cannot_be_stored_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
        for name in [String::new(), "x".repeat(65_536)] {
            let e = w.append(0, &name, &[stored(iv(7_200, 1, 1, 5), false)]).unwrap_err();
            assert!(matches!(e, Error::InvalidSeriesName { len } if len == name.len()), "{e}");
        }
        w.append(0, &"x".repeat(65_535), &[stored(iv(7_200, 1, 1, 5), false)]).unwrap();
    }

    #[test]
    fn compaction_merges_late_deltas_and_keeps_every_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
        let t = 7_200;
        w.append(0, "a", &[stored(iv(t, 1, 3, 500), false), stored(iv(t + 1, 1, 1, 9), false)])
            .unwrap();
        w.append(0, "b", &[stored(iv(t, 1, 2, 700), false)]).unwrap();
        w.append(1, "a", &[stored(iv(t, 60, 4, 500), false)]).unwrap();
        // Late: a second again, deltas of the built minute, a newer complete copy.
        w.append(0, "a", &[stored(iv(t, 1, 5, 600), true)]).unwrap();
        w.append(1, "a", &[stored(iv(t, 60, 5, 600), true)]).unwrap();
        w.append(1, "b", &[stored(iv(t, 60, 2, 700), true)]).unwrap();
        w.flush().unwrap();
        let (before, n_before, late_before) = pieces(dir.path());
        assert_eq!((n_before, late_before), (7, 3));
        assert_eq!(w.close_idle(Duration::ZERO).unwrap(), 2);
        let (after, n_after, late_after) = pieces(dir.path());
        assert_eq!(after, before);
        assert_eq!((n_after, late_after), (5, 0));
        // The compaction indexed what it wrote: an open reads the index.
        let indexed = scan_dir(dir.path(), &Layout::default()).unwrap();
        assert_eq!((indexed.report.indexed, indexed.records.len()), (2, 5));
        // Appending after a compaction goes on with the new dictionary.
        w.append(0, "c", &[stored(iv(t + 2, 1, 1, 5), false)]).unwrap();
        w.append(0, "a", &[stored(iv(t + 3, 1, 1, 5), false)]).unwrap();
        w.flush().unwrap();
        let (again, n, _) = pieces(dir.path());
        assert_eq!(n, 7);
        assert!(
            again.contains(&(0, t + 2, "c".into(), 1))
                && again.contains(&(0, t + 3, "a".into(), 1))
        );
        assert!(check(dir.path(), &Layout::default()).unwrap().is_clean());
        // Nothing left to merge: not rewritten. A damaged file: left as it is.
        assert_eq!(w.close_idle(Duration::ZERO).unwrap(), 0);
        let seg = dir.path().join(segment_name(1, t));
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 1;
        std::fs::write(&seg, &bytes).unwrap();
        assert!(!compact_segment(&seg, 1, t - t % 86_400, &Layout::default(), 3).unwrap());
        assert_eq!(std::fs::read(&seg).unwrap(), bytes);
        // A compaction cut short by a crash leaves its temporary file: it is
        // ignored by readers and removed by the next writer.
        drop(w);
        let tmp = dir.path().join(format!("{}{COMPACT_SUFFIX}", segment_name(0, t)));
        std::fs::write(&tmp, b"half a file").unwrap();
        assert_eq!(pieces(dir.path()).1, 6, "the damaged record is the only one missing");
        let _w = Writer::open(dir.path(), WriterOptions::default()).unwrap();
        assert!(!tmp.exists());
    }
}
