//! `tailstore replay`: read traffic files, parse in parallel, record into a store.
//!
//! One reader thread fills 1 MiB blocks that end at a line boundary and
//! sends them, numbered, over a bounded channel to one parser thread per
//! core. Each parser splits lines with `memchr` and parses them without
//! allocating (series names are borrowed from the line) into a list of
//! samples, in parallel with the others. Then it waits for its block's
//! turn ([`Turns`]): blocks are recorded one at a time in input order, each
//! followed by a seal pass (the store is opened with
//! [`tailstore::Options::manual_seal`]). Which samples are late or past
//! retention, which names become series (and which go to the overflow
//! series) and in what order are therefore decided by the input alone: the
//! same input gives the same summary and the same stored data on every run,
//! whatever the thread timing. Recording is a small part of the work (tens
//! of nanoseconds a sample against a few hundred to parse a line), so the
//! parsers still run in parallel for most of it.
//!
//! `HdrHistogram` interval logs are not one request per line: the reader
//! thread reads such a file whole and records each interval's samples
//! itself (`replay_hlog`), in its turn.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tailstore::{Series, Store, MAX_SERIES_NAME_LEN};
use tailstore_ingest::{
    detect, format_names, Format, HlogInterval, HlogReader, Parser, ParserOptions,
};

/// Bytes per block handed to a parser thread.
const BLOCK: usize = 1 << 20;
/// Bad lines printed on stderr.
const SHOWN_ERRORS: usize = 10;
/// Most samples one hlog bucket may hold. A bucket's count is recorded in
/// bulk (time independent of the count); the cap keeps a file's totals far
/// from any counter's range (2 000 buckets at the cap are 2^48 samples).
pub const HLOG_MAX_BUCKET: u64 = 100_000_000_000;
/// Longest hlog interval spread over seconds (one day).
const HLOG_MAX_SPAN_S: u64 = 86_400;

/// How `replay` reads `HdrHistogram` interval logs.
#[derive(Clone, Debug)]
pub struct HlogOptions {
    /// Nanoseconds per histogram value unit (1 for ns, 1000 for µs, ...).
    pub unit_ns: u64,
    /// Series of untagged intervals; `None`: the file name without
    /// `.gz`/`.zst` and `.hlog`.
    pub series: Option<String>,
}

/// A bad line: where and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadLine {
    /// Index of the file in the argument list.
    pub file: usize,
    /// 1-based line number.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// Counters of one replay.
#[derive(Debug, Default)]
pub struct Totals {
    /// Lines read (including blank and comment lines).
    pub lines: u64,
    /// Requests recorded.
    pub ingested: u64,
    /// Gauge samples recorded (JSON lines `{"gauge": …, "value": …}`).
    pub gauge_samples: u64,
    /// Lines that did not parse.
    pub bad: u64,
    /// Requests without a known latency (counted in rate/status only).
    pub unknown_latency: u64,
    /// First and last request second.
    pub first_ts: Option<u64>,
    /// Last request second.
    pub last_ts: Option<u64>,
    /// Distinct series recorded.
    pub series: usize,
    /// The first bad lines, in file and line order.
    pub errors: Vec<BadLine>,
    /// Distinct names the store refused for being past its series cap
    /// (`Options::max_series`): their requests are in the overflow series.
    pub overflowed: u64,
}

/// How far into its file (decompressed) a block reaches: the prefix
/// committed once it is recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Through {
    /// Bytes of the file up to the end of the block's last line.
    pub bytes: u64,
    /// Lines in those bytes.
    pub lines: u64,
    /// XXH3-128 of those bytes.
    pub hash: u128,
    /// Whether the file ends there.
    pub eof: bool,
}

/// What a replay recorded of one file.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileProgress {
    /// The prefix recorded (blocks are recorded in order, so a prefix).
    pub through: Through,
    /// Requests recorded from it in this run.
    pub requests: u64,
}

/// Where to begin each file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// From its first byte.
    Whole,
    /// After a prefix recorded by an earlier run.
    After(Through),
    /// Not at all (already in the store).
    Skip,
}

/// The outcome of [`replay`]: totals and per-file progress, also when
/// reading failed part-way (then `error` says why; everything read before
/// it was recorded).
#[derive(Debug)]
pub struct Replayed {
    /// Counters of the whole replay.
    pub totals: Totals,
    /// Per file (same order as the arguments).
    pub files: Vec<FileProgress>,
    /// The error that stopped reading, if any.
    pub error: Option<anyhow::Error>,
}

struct Block {
    /// Position in the input: blocks (and interval logs) record in this order.
    seq: u64,
    file: usize,
    /// Where the file stands once this block is recorded.
    through: Through,
    first_line: u64,
    parser: Arc<Parser>,
    /// A pooled buffer; the lines are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

#[derive(Default)]
struct WorkerTotals {
    lines: u64,
    ingested: u64,
    gauge_samples: u64,
    bad: u64,
    unknown_latency: u64,
    first_ts: Option<u64>,
    last_ts: Option<u64>,
    errors: Vec<BadLine>,
    series: Vec<String>,
    /// Names whose handle is the overflow series.
    overflowed: Vec<String>,
}

/// Opens a file (or `-` for stdin), decompressing gzip and zstd streams,
/// told by their magic bytes (so a compressed stdin, or a file named
/// without `.gz`, is read too).
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
    };
    decompressed(raw).with_context(|| format!("cannot read {}", path.display()))
}

/// `r`, decompressed when its first bytes are a gzip or zstd magic number.
fn decompressed(mut r: Box<dyn Read + Send>) -> std::io::Result<Box<dyn Read + Send>> {
    const GZIP: [u8; 2] = [0x1f, 0x8b];
    const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    // Up to 4 bytes, however a pipe hands them over.
    let mut head = Vec::with_capacity(4);
    r.by_ref().take(4).read_to_end(&mut head)?;
    let (gzip, zstd) = (head.starts_with(&GZIP), head.starts_with(&ZSTD));
    let whole = std::io::Cursor::new(head).chain(r);
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(whole))
    } else if zstd {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// Reads `r` into `buf[*filled..]` until the buffer is full or the input
/// ends. Returns false at the end of the input. The buffer's bytes are
/// initialised once when it is allocated and reused afterwards, so reading
/// costs no zeroing and no page faults.
fn fill(r: &mut dyn Read, buf: &mut [u8], filled: &mut usize, path: &Path) -> Result<bool> {
    while *filled < buf.len() {
        match r.read(&mut buf[*filled..]) {
            Ok(0) => return Ok(false),
            Ok(k) => *filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(true)
}

/// Block buffers go back to the reader once parsed.
struct Pool {
    tx: crossbeam_channel::Sender<Vec<u8>>,
    rx: crossbeam_channel::Receiver<Vec<u8>>,
}

impl Pool {
    fn get(&self) -> Vec<u8> {
        self.rx.try_recv().unwrap_or_else(|_| vec![0; BLOCK])
    }
}

fn lines_of(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i);
        let line = &bytes[pos..end];
        pos = end + 1;
        Some(line)
    })
}

/// What the reader decided for a file: its parser, and whether line 1 is a
/// header. With `say`, a guessed `log_format` is told on stderr.
fn parser_for(
    first: &[u8],
    format: Option<&Format>,
    opts: ParserOptions,
    (path, say): (&Path, bool),
) -> Result<(Arc<Parser>, bool)> {
    let sample: Vec<&[u8]> =
        lines_of(first).filter(|l| !l.iter().all(u8::is_ascii_whitespace)).take(20).collect();
    let format = match format {
        Some(f) => f.clone(),
        None => match detect(&sample) {
            Some(Format::LogFormat(def)) => {
                if say {
                    eprintln!(
                        "{}: no named format fits; read with the log_format its fields suggest: \
                         --log-format '{def}'",
                        path.display()
                    );
                }
                Format::LogFormat(def)
            }
            Some(f) => f,
            None if sample.is_empty() => Format::Jsonl, // empty file: nothing to parse
            None => match tailstore_ingest::suggest_log_format(&sample) {
                Some(def) => bail!(
                    "{}: cannot detect the format from its first lines; its first line's fields \
                     suggest --log-format '{def}' (rename the variables that are not what their \
                     shape says), or give --format ({})",
                    path.display(),
                    format_names()
                ),
                None => bail!(
                    "{}: cannot detect the format from its first lines; give --format ({}) or --log-format",
                    path.display(),
                    format_names()
                ),
            },
        },
    };
    if Parser::needs_header(&format) {
        let header = lines_of(first).next().unwrap_or(&[]);
        let p = Parser::new(&format, Some(header), opts)
            .with_context(|| format!("{}: bad CSV header", path.display()))?;
        Ok((Arc::new(p), true))
    } else {
        let p = Parser::new(&format, None, opts).with_context(|| path.display().to_string())?;
        Ok((Arc::new(p), false))
    }
}

/// Turns to record, handed out in input order (block numbers). A thread
/// that fails or panics stops the others instead of leaving them waiting.
#[derive(Default)]
struct Turns {
    next: std::sync::Mutex<u64>,
    cv: std::sync::Condvar,
    failed: std::sync::atomic::AtomicBool,
    /// Per file: what its recorded blocks reach (updated in their turns).
    progress: std::sync::Mutex<Vec<FileProgress>>,
}

impl Turns {
    /// Waits until `seq` may record; false once any thread has failed.
    fn wait(&self, seq: u64) -> bool {
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while *next != seq && !self.failed.load(Relaxed) {
            next = self.cv.wait(next).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        !self.failed.load(Relaxed)
    }

    /// Ends the turn of `seq`.
    fn done(&self, seq: u64) {
        *self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = seq + 1;
        self.cv.notify_all();
    }

    /// Notes, in the turn of the block that recorded them, `requests` of
    /// `file` recorded through `through`.
    fn recorded(&self, file: usize, through: Through, requests: u64) {
        let mut p = self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = p.get_mut(file) {
            f.through = through;
            f.requests += requests;
        }
    }

    fn fail(&self) {
        self.failed.store(true, Relaxed);
        // Taken so that no waiter misses the wake-up between its check and
        // its wait.
        drop(self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.cv.notify_all();
    }
}

/// Fails the turns if its thread unwinds (a panic), so no other thread
/// waits forever for a turn that will not come.
struct FailOnUnwind<'a>(&'a Turns);

impl Drop for FailOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail();
        }
    }
}

/// One parsed request waiting for its block's turn.
struct Staged {
    /// Index into the worker's series names and handles.
    series: usize,
    ts_s: u64,
    latency_ns: Option<u64>,
    status: u16,
}

/// A parser thread's series (or gauges): names in the order it met them,
/// and the handles, created in its blocks' turns (so in input order).
struct Known<H> {
    index: rustc_hash::FxHashMap<String, usize>,
    names: Vec<String>,
    handles: Vec<Option<H>>,
}

impl<H> Default for Known<H> {
    fn default() -> Self {
        Known { index: rustc_hash::FxHashMap::default(), names: Vec::new(), handles: Vec::new() }
    }
}

impl<H> Known<H> {
    fn index_of(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_owned());
        self.handles.push(None);
        self.index.insert(name.to_owned(), i);
        i
    }
}

impl Known<tailstore::Gauge> {
    /// The handle of gauge `i`, created on first use (in a turn).
    fn gauge(&mut self, store: &Store, i: usize) -> &tailstore::Gauge {
        let name = &self.names[i];
        self.handles[i].get_or_insert_with(|| store.gauge(name))
    }
}

impl Known<Series> {
    /// The handle of name `i`, created on first use (in a turn). Adds the
    /// name to `overflowed` when the store put it in the overflow series.
    fn get(&mut self, store: &Store, i: usize, overflowed: &mut Vec<String>) -> &Series {
        let name = &self.names[i];
        self.handles[i].get_or_insert_with(|| {
            let s = store.series(name);
            if s.name() == tailstore::OVERFLOW_SERIES && name != tailstore::OVERFLOW_SERIES {
                overflowed.push(name.clone());
            }
            s
        })
    }
}

fn work(
    store: &Store,
    rx: crossbeam_channel::Receiver<Block>,
    pool: &crossbeam_channel::Sender<Vec<u8>>,
    progress: &AtomicU64,
    turns: &Turns,
) -> WorkerTotals {
    let _unwind = FailOnUnwind(turns);
    let mut t = WorkerTotals::default();
    let mut series = Known::default();
    let mut staged: Vec<Staged> = Vec::new();
    // Gauges met by this worker, and the samples of a block: (gauge,
    // second, value).
    let mut gauges: Known<tailstore::Gauge> = Known::default();
    let mut staged_gauges: Vec<(usize, u64, f64)> = Vec::new();
    for block in rx {
        let bytes = &block.buf[block.start..block.end];
        staged.clear();
        staged_gauges.clear();
        for (line_no, line) in (block.first_line..).zip(lines_of(bytes)) {
            t.lines += 1;
            match block.parser.parse(line) {
                Ok(Some(r)) if r.series.is_empty() || r.series.len() > MAX_SERIES_NAME_LEN => {
                    t.bad += 1;
                    if t.errors.len() < SHOWN_ERRORS {
                        t.errors.push(BadLine {
                            file: block.file,
                            line: line_no,
                            reason: format!(
                                "a series name of {} bytes cannot be stored (1 to {MAX_SERIES_NAME_LEN} bytes)",
                                r.series.len()
                            ),
                        });
                    }
                }
                Ok(Some(r)) => {
                    staged.push(Staged {
                        series: series.index_of(&r.series),
                        ts_s: r.ts_s,
                        latency_ns: r.latency_ns,
                        status: r.status,
                    });
                    t.first_ts = Some(t.first_ts.map_or(r.ts_s, |f| f.min(r.ts_s)));
                    t.last_ts = Some(t.last_ts.map_or(r.ts_s, |l| l.max(r.ts_s)));
                }
                Ok(None) => {}
                Err(e) => {
                    // Not a request: a gauge line (JSON lines only)?
                    let reason = match block.parser.parse_gauge(line) {
                        Some(Ok(g)) if !g.gauge.is_empty() && g.gauge.len() <= MAX_SERIES_NAME_LEN => {
                            staged_gauges.push((gauges.index_of(&g.gauge), g.ts_s, g.value));
                            t.first_ts = Some(t.first_ts.map_or(g.ts_s, |f| f.min(g.ts_s)));
                            t.last_ts = Some(t.last_ts.map_or(g.ts_s, |l| l.max(g.ts_s)));
                            continue;
                        }
                        Some(Ok(g)) => format!(
                            "a gauge name of {} bytes cannot be stored (1 to {MAX_SERIES_NAME_LEN} bytes)",
                            g.gauge.len()
                        ),
                        Some(Err(ge)) => ge.reason,
                        None => e.reason,
                    };
                    t.bad += 1;
                    if t.errors.len() < SHOWN_ERRORS {
                        t.errors.push(BadLine { file: block.file, line: line_no, reason });
                    }
                }
            }
        }
        if !turns.wait(block.seq) {
            break;
        }
        for r in &staged {
            let s = series.get(store, r.series, &mut t.overflowed);
            if let Some(ns) = r.latency_ns {
                s.record_at_unix(r.ts_s, ns, r.status);
            } else {
                t.unknown_latency += 1;
                s.record_status_at_unix(r.ts_s, r.status);
            }
        }
        t.ingested += staged.len() as u64;
        for &(gi, ts_s, v) in &staged_gauges {
            gauges.gauge(store, gi).set_at_unix(ts_s, v);
        }
        t.gauge_samples += staged_gauges.len() as u64;
        store.seal_now();
        turns.recorded(block.file, block.through, staged.len() as u64);
        turns.done(block.seq);
        progress.fetch_add((block.end - block.start) as u64 + 1, Relaxed);
        // The reader may have stopped already: then the buffer is just freed.
        let _ = pool.send(block.buf);
    }
    t.series = series.names;
    t
}

/// The default series of a file's untagged hlog intervals: its name without
/// `.gz`/`.zst` and then `.hlog` (`jHiccup-2.0.1.logV0.hlog` ->
/// `jHiccup-2.0.1.logV0`); `hlog` for stdin.
fn hlog_series(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "hlog".into();
    }
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let name = [".gz", ".zst", ".zstd"].iter().find_map(|e| name.strip_suffix(e)).unwrap_or(&name);
    name.strip_suffix(".hlog").unwrap_or(name).to_owned()
}

/// How many of the `count` samples of one bucket, whose first sample is
/// number `first` of its interval, go to second `j` of the interval's `n`,
/// dealt round-robin: sample `k` goes to second `k mod n`. So every second
/// gets every bucket's values in proportion, the seconds' totals differ by
/// at most one, and the total is exact.
fn dealt(first: u64, count: u64, n: u64, j: u64) -> u64 {
    // The offset, from `first`, of the first sample that lands on `j`.
    let offset = (j + n - first % n) % n;
    if offset < count {
        (count - offset - 1) / n + 1
    } else {
        0
    }
}

/// Records one interval: every sample at status 0 ("unknown"), with the
/// bucket's median value. Returns the samples recorded and the seconds used.
///
/// Why the median: a bucket only says its samples lie in `lowest ..=
/// highest`. Its middle is within half a bucket of every one of them, where
/// `highest` (`value_iterated_to`) can be a whole bucket off. The store then
/// reports the middle of its own bucket holding that value, within 0.049 %
/// (`Layout::relative_error`) of it at 3 digits, so a quantile read back is
/// within 0.05 % of `HdrHistogram`'s `median_equivalent(value_at_quantile(q))`
/// over the same samples, plus the source histogram's own half-bucket
/// (0.05 % for 3-digit logs; jHiccup's 2-digit logs are 0.4 %).
fn record_hlog(
    store: &Store,
    known: &mut Known<Series>,
    overflowed: &mut Vec<String>,
    iv: &HlogInterval,
    default_series: &str,
    unit_ns: u64,
) -> std::result::Result<(u64, u64, u64), String> {
    if let Some(b) = iv.buckets.iter().find(|b| b.count > HLOG_MAX_BUCKET) {
        return Err(format!(
            "a bucket holds {} samples, above the replay cap of {HLOG_MAX_BUCKET} per bucket",
            b.count
        ));
    }
    // Whole seconds the interval covers, rounded, at least one: jHiccup's
    // 1.005 s intervals take one second each, 5 s intervals five.
    let n = (iv.length_ns.saturating_add(500_000_000) / 1_000_000_000).max(1);
    if n > HLOG_MAX_SPAN_S {
        return Err(format!("interval of {n} s is longer than {HLOG_MAX_SPAN_S} s"));
    }
    let first_s = iv.start_ns / 1_000_000_000;
    let name = iv.tag.as_deref().unwrap_or(default_series);
    if name.is_empty() || name.len() > MAX_SERIES_NAME_LEN {
        return Err(format!(
            "a series name of {} bytes cannot be stored (1 to {MAX_SERIES_NAME_LEN} bytes)",
            name.len()
        ));
    }
    let i = known.index_of(name);
    let s = known.get(store, i, overflowed);
    // Each bucket as (value, number of its first sample, count).
    let mut k = 0u64;
    let buckets: Vec<(u64, u64, u64)> = iv
        .buckets
        .iter()
        .map(|b| {
            let first = k;
            k += b.count;
            (b.median.saturating_mul(unit_ns), first, b.count)
        })
        .collect();
    // One call per second with all its buckets: a second's counts become
    // one part of it (one merge), whatever the number of buckets.
    let mut counts: Vec<(u64, u64)> = Vec::with_capacity(buckets.len());
    for j in 0..n {
        counts.clear();
        counts.extend(
            buckets.iter().map(|&(ns, first, c)| (ns, dealt(first, c, n, j))).filter(|c| c.1 > 0),
        );
        s.record_counts_at_unix(first_s + j, 0, &counts);
    }
    let last_s = first_s + (n - 1).min(k.saturating_sub(1));
    Ok((k, first_s, last_s))
}

/// Replays one interval log (already read into `bytes`), line by line on
/// this thread: logs are small (a histogram per second or minute).
/// Lines that begin before byte `skip` (committed by an earlier run) are
/// parsed for the log's state (start and base times) but not recorded.
fn replay_hlog(
    store: &Store,
    file: usize,
    path: &Path,
    bytes: &[u8],
    skip: u64,
    o: &HlogOptions,
) -> WorkerTotals {
    let default_series = o.series.clone().unwrap_or_else(|| hlog_series(path));
    let mut t = WorkerTotals::default();
    let mut known = Known::default();
    let mut reader = HlogReader::new();
    let mut pos = 0u64;
    for (line_no, line) in (1u64..).zip(lines_of(bytes)) {
        let at = pos;
        pos += line.len() as u64 + 1;
        if at < skip {
            // Only headers change the reader's state; intervals are skipped.
            if line.first() == Some(&b'#') {
                let _ = reader.parse_line(line);
            }
            continue;
        }
        t.lines += 1;
        let res = reader.parse_line(line).map_err(|e| e.to_string()).and_then(|iv| match iv {
            None => Ok(None),
            Some(iv) => {
                record_hlog(store, &mut known, &mut t.overflowed, &iv, &default_series, o.unit_ns)
                    .map(Some)
            }
        });
        match res {
            Ok(None | Some((0, _, _))) => {}
            Ok(Some((n, first, last))) => {
                t.ingested += n;
                t.first_ts = Some(t.first_ts.map_or(first, |f| f.min(first)));
                t.last_ts = Some(t.last_ts.map_or(last, |l| l.max(last)));
            }
            Err(reason) => {
                t.bad += 1;
                if t.errors.len() < SHOWN_ERRORS {
                    t.errors.push(BadLine { file, line: line_no, reason });
                }
            }
        }
    }
    t.series = known.names;
    t
}

/// Replays `files` into `store`, each from where `starts` says (one per
/// file; missing: whole). A read error stops reading but not recording:
/// what was read before it is recorded, and [`Replayed::error`] says why it
/// stopped.
///
/// # Errors
///
/// A parser thread panicked.
pub fn replay(
    store: &Store,
    files: &[PathBuf],
    starts: &[Start],
    format: Option<&Format>,
    opts: ParserOptions,
    hlog: &HlogOptions,
) -> Result<Replayed> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get).max(1);
    let (tx, rx) = crossbeam_channel::bounded::<Block>(threads * 2);
    let (pool_tx, pool_rx) = crossbeam_channel::unbounded::<Vec<u8>>();
    let pool = Pool { tx: pool_tx, rx: pool_rx };
    let progress = AtomicU64::new(0);
    let turns = Turns::default();
    let empty = Through { hash: xxhash_rust::xxh3::xxh3_128(&[]), ..Through::default() };
    *turns.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (0..files.len())
        .map(|i| FileProgress {
            through: match starts.get(i) {
                Some(Start::After(t)) => *t,
                _ => empty,
            },
            requests: 0,
        })
        .collect();
    let total_bytes: u64 = files
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total_bytes);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let (results, error) = std::thread::scope(|sc| -> Result<_> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let (progress, turns) = (&progress, &turns);
                let back = pool.tx.clone();
                sc.spawn(move || work(store, rx, &back, progress, turns))
            })
            .collect();
        drop(rx);
        let ticker = bar.as_ref().map(|b| {
            let b = b.clone();
            let progress = &progress;
            sc.spawn(move || {
                while !b.is_finished() {
                    b.set_position(progress.load(Relaxed));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
        });
        let feed = Feed { pool: &pool, tx: &tx, turns: &turns };
        let how = How { format, opts, hlog };
        let mut hlogs = Vec::new();
        let read = read_files(store, files, starts, &how, &feed, &mut hlogs);
        // Blocks sent before an error still record, in their turns.
        drop(tx);
        let mut out = Vec::new();
        for w in workers {
            out.push(w.join().map_err(|_| anyhow::anyhow!("a parser thread panicked"))?);
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if let Some(t) = ticker {
            let _ = t.join();
        }
        out.extend(hlogs);
        Ok((out, read.err()))
    })?;
    let files = std::mem::take(
        &mut *turns.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    Ok(Replayed { totals: merge(results), files, error })
}

/// Records a whole interval log (in its turn) and notes its progress.
fn hlog_turn(
    store: &Store,
    turns: &Turns,
    (fi, path): (usize, &Path),
    buf: &[u8],
    skip: u64,
    hlog: &HlogOptions,
) -> WorkerTotals {
    let t = replay_hlog(store, fi, path, buf, skip, hlog);
    store.seal_now();
    let lines = memchr::memchr_iter(b'\n', buf).count() as u64
        + u64::from(buf.last().is_some_and(|&b| b != b'\n'));
    let hash = xxhash_rust::xxh3::xxh3_128(buf);
    let through = Through { bytes: buf.len() as u64, lines, hash, eof: true };
    turns.recorded(fi, through, t.ingested);
    t
}

/// How the reader reads: the format (`None`: detect per file), the parser
/// options and the interval-log options.
#[derive(Clone, Copy)]
struct How<'a> {
    format: Option<&'a Format>,
    opts: ParserOptions,
    hlog: &'a HlogOptions,
}

/// Where the reader sends blocks, and the turns they record in.
#[derive(Clone, Copy)]
struct Feed<'a> {
    pool: &'a Pool,
    tx: &'a crossbeam_channel::Sender<Block>,
    turns: &'a Turns,
}

/// Reads the first block of every regular file and decides its parser, so
/// that an input that cannot be read or recognised stops the replay before
/// its first sample is recorded. Standard input and FIFOs are read once, so
/// they are checked when their turn comes.
///
/// # Errors
///
/// The first input that cannot be opened, read or recognised.
pub fn check_inputs(files: &[PathBuf], format: Option<&Format>, opts: ParserOptions) -> Result<()> {
    for path in files {
        if path.as_os_str() == "-" || std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            continue;
        }
        let mut input = open_input(path)?;
        let mut buf = vec![0u8; BLOCK];
        let mut filled = 0;
        fill(&mut *input, &mut buf, &mut filled, path)?;
        let first = &buf[..filled];
        let is_hlog = match format {
            Some(f) => *f == Format::Hlog,
            None => detect(&lines_of(first).take(20).collect::<Vec<_>>()) == Some(Format::Hlog),
        };
        if !is_hlog {
            parser_for(first, format, opts, (path, false))?;
        }
    }
    Ok(())
}

/// The reader thread's part of [`replay`]: reads every file in order, hands
/// line blocks to the parser threads over `tx` and replays interval logs
/// itself (each in its turn), returning their totals. Every byte read is
/// hashed, so each block carries the hash of its file's prefix; blocks that
/// end within a file's `Start::After` prefix are not sent.
#[expect(
    clippy::too_many_lines,
    reason = "one reader loop: detecting, cutting, hashing, skipping and sending share its buffers"
)]
fn read_files(
    store: &Store,
    files: &[PathBuf],
    starts: &[Start],
    how: &How<'_>,
    feed: &Feed<'_>,
    hlogs: &mut Vec<WorkerTotals>,
) -> Result<()> {
    let Feed { pool, tx, turns } = *feed;
    let How { format, opts, hlog } = *how;
    let mut seq = 0u64;
    for (fi, path) in files.iter().enumerate() {
        let skip = match starts.get(fi).copied().unwrap_or(Start::Whole) {
            Start::Skip => continue,
            Start::Whole => 0,
            Start::After(t) => t.bytes,
        };
        let mut input = open_input(path)?;
        let mut buf = pool.get();
        let mut filled = 0usize;
        let mut more = fill(&mut *input, &mut buf, &mut filled, path)?;
        let is_hlog = if let Some(f) = format {
            *f == Format::Hlog
        } else {
            let sample: Vec<&[u8]> = lines_of(&buf[..filled]).take(20).collect();
            detect(&sample) == Some(Format::Hlog)
        };
        if is_hlog {
            buf.truncate(filled);
            if more {
                input
                    .read_to_end(&mut buf)
                    .with_context(|| format!("reading {}", path.display()))?;
            }
            if !turns.wait(seq) {
                bail!("parser threads stopped early");
            }
            hlogs.push(hlog_turn(store, turns, (fi, path), &buf, skip, hlog));
            turns.done(seq);
            seq += 1;
            continue;
        }
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut parser: Option<Arc<Parser>> = None;
        let mut line_no = 1u64;
        let mut start = 0usize;
        // Stream offset of `buf[0]`.
        let mut base = 0u64;
        loop {
            if filled == 0 {
                break;
            }
            if parser.is_none() {
                let (p, header) = parser_for(&buf[..filled], format, opts, (path, true))?;
                if !p.has_latency() {
                    eprintln!(
                        "{}: this log format records no latency: its requests count in rate, \
                         errors and statuses, not in latency quantiles",
                        path.display()
                    );
                }
                if header {
                    start = memchr::memchr(b'\n', &buf[..filled]).map_or(filled, |i| i + 1);
                    line_no += 1;
                }
                parser = Some(p);
            }
            // Cut at the last newline; keep the tail for the next block.
            let cut = if more {
                match memchr::memrchr(b'\n', &buf[start..filled]) {
                    Some(i) => start + i + 1,
                    None if buf.len() < 256 << 20 => {
                        // A very long line: grow the buffer, read more.
                        let len = buf.len();
                        buf.resize(len * 2, 0);
                        more = fill(&mut *input, &mut buf, &mut filled, path)?;
                        continue;
                    }
                    None => bail!("{}: a line longer than 256 MiB", path.display()),
                }
            } else {
                filled
            };
            // Everything up to the cut, from the file's first byte (the
            // CSV header included), is hashed.
            hasher.update(&buf[..cut]);
            // Lines of an earlier run's prefix are counted, not sent: the
            // prefix ends at a line boundary.
            let from =
                usize::try_from(skip.saturating_sub(base)).unwrap_or(usize::MAX).clamp(start, cut);
            line_no += memchr::memchr_iter(b'\n', &buf[start..from]).count() as u64;
            let mut next = pool.get();
            let tail = filled - cut;
            if next.len() < tail {
                next.resize(tail.max(BLOCK), 0);
            }
            next[..tail].copy_from_slice(&buf[cut..filled]);
            let mut end = cut;
            if end > from && buf[end - 1] == b'\n' {
                end -= 1;
            }
            let eof = !more && tail == 0;
            if from < cut {
                let n_lines = memchr::memchr_iter(b'\n', &buf[from..end]).count() as u64 + 1;
                let through = Through {
                    bytes: base + cut as u64,
                    lines: line_no + n_lines - 1,
                    hash: hasher.digest128(),
                    eof,
                };
                let p = parser.clone().expect("set before the first block");
                let block = Block {
                    seq,
                    file: fi,
                    through,
                    first_line: line_no,
                    parser: p,
                    buf,
                    start: from,
                    end,
                };
                if tx.send(block).is_err() {
                    bail!("parser threads stopped early");
                }
                seq += 1;
                line_no += n_lines;
            } else {
                pool.tx.send(buf).ok();
            }
            base += cut as u64;
            buf = next;
            filled = tail;
            start = 0;
            if eof {
                break;
            }
            if more {
                more = fill(&mut *input, &mut buf, &mut filled, path)?;
            }
        }
    }
    Ok(())
}

/// Sums the workers' and interval logs' totals: series counted once, the
/// first [`SHOWN_ERRORS`] bad lines in file and line order.
fn merge(results: Vec<WorkerTotals>) -> Totals {
    let mut totals = Totals::default();
    let mut names: Vec<String> = Vec::new();
    let mut overflowed: Vec<String> = Vec::new();
    for w in results {
        totals.lines += w.lines;
        totals.ingested += w.ingested;
        totals.gauge_samples += w.gauge_samples;
        totals.bad += w.bad;
        totals.unknown_latency += w.unknown_latency;
        totals.first_ts = match (totals.first_ts, w.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        totals.last_ts = match (totals.last_ts, w.last_ts) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        totals.errors.extend(w.errors);
        names.extend(w.series);
        overflowed.extend(w.overflowed);
    }
    names.sort();
    names.dedup();
    totals.series = names.len();
    overflowed.sort();
    overflowed.dedup();
    totals.overflowed = overflowed.len() as u64;
    totals.errors.sort();
    totals.errors.truncate(SHOWN_ERRORS);
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gzip and zstd are told by their magic bytes, whatever the name (a
    /// compressed stdin too); other bytes, however short, pass unchanged.
    #[test]
    fn compressed_input_is_told_by_its_magic_bytes() {
        let text = b"line one\nline two\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &text).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&text[..], 1).unwrap();
        for (name, bytes) in [("gzip", gz), ("zstd", zst), ("plain", text.clone())] {
            let mut out = Vec::new();
            decompressed(Box::new(std::io::Cursor::new(bytes)))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, text, "{name}");
        }
        for short in [&b""[..], b"a", b"\x1f"] {
            let mut out = Vec::new();
            decompressed(Box::new(std::io::Cursor::new(short.to_vec())))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, short);
        }
    }

    #[test]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the seconds and offsets indexed here are below 100, so u64 -> usize is exact"
    )]
    fn deal_is_exact_and_even() {
        for (first, count, n) in
            [(0, 10, 1), (0, 10, 3), (7, 5, 3), (2, 1, 5), (0, 0, 4), (99, 1000, 63)]
        {
            let per: Vec<u64> = (0..n).map(|j| dealt(first, count, n, j)).collect();
            assert_eq!(per.iter().sum::<u64>(), count);
            // Oracle: sample k goes to second k mod n.
            let mut want = vec![0u64; n as usize];
            for k in first..first + count {
                want[(k % n) as usize] += 1;
            }
            assert_eq!(per, want, "{first} {count} {n}");
        }
    }

    #[test]
    fn hlog_series_names() {
        assert_eq!(hlog_series(Path::new("/x/jHiccup-2.0.1.logV0.hlog")), "jHiccup-2.0.1.logV0");
        assert_eq!(hlog_series(Path::new("a.hlog.gz")), "a");
        assert_eq!(hlog_series(Path::new("raw.log")), "raw.log");
        assert_eq!(hlog_series(Path::new("-")), "hlog");
    }
}
