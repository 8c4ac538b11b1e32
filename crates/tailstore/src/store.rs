//! The store, its series handles, the background clock and the query builder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use tailstore_hist::{Accumulator, Clock, ErrorSet, Interval, Layout, Recorder, Sealed};
use tailstore_query::{
    plan, LevelCoverage, LevelSpec, MemTier, PieceRef, PieceRefs, PieceSource, Selector,
    WindowStats,
};
use tailstore_storage::{
    encode_interval, scan_dir, EncodedInterval, Loc, Report, Segments, StoredInterval, Writer,
    WriterOptions,
};

use crate::error::Error;
use crate::options::Options;

/// Receives every sealed interval: the hook persistence plugs into.
///
/// Called from a sealing thread, after the interval is visible to queries,
/// in ascending time order per series for sealed seconds. A forced seal
/// (`flush`, `compact`, drop) seals series in parallel, one thread per core:
/// the calls for one series still come from one thread, in order. `late` deltas are
/// additions to a second sealed earlier.
pub trait Sink: Send + Sync {
    /// One sealed one-second interval (or late delta) of `series`.
    fn sealed(&self, series: &str, interval: &Interval, late: bool);
}

/// A series and the time range it holds data for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The series name.
    pub name: String,
    /// First second and end (exclusive), unix seconds; `None` when empty.
    pub bounds_s: Option<(u64, u64)>,
}

/// Counters of a whole store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Series created.
    pub series: usize,
    /// Samples that arrived after their second was sealed (kept, as late deltas).
    pub late: u64,
    /// Samples dropped: older than retention in data time, or before 1970.
    pub rejected: u64,
    /// Newest data second seen (unix seconds), 0 before the first sample.
    pub newest_s: u64,
    /// Approximate bytes held by recorders and sealed history.
    pub memory_bytes: usize,
    /// Failed background writes or retention passes of a durable store (the
    /// next `flush()` returns the error).
    pub storage_errors: u64,
}

/// The data clock shared by every series of a store.
struct Timeline {
    /// Newest data second seen (max over samples; follows the wall clock
    /// once `record()` has been used).
    newest: AtomicU64,
    /// Coarse wall-clock second, published by the ticker.
    now_s: AtomicU64,
    live: AtomicBool,
    retention_s: u64,
    rejected_pre_epoch: AtomicU64,
}

impl Clock for Timeline {
    fn observe(&self, second: u64) -> u64 {
        self.newest.fetch_max(second, Relaxed).max(second)
    }

    fn retention_s(&self) -> u64 {
        self.retention_s
    }
}

fn wall_second() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

struct SeriesInner {
    name: Arc<str>,
    recorder: Recorder,
    tier: Mutex<MemTier>,
}

/// zstd level of payloads that zstd shrinks (the writer's default).
const ZSTD_LEVEL: i32 = 3;

/// A segment file not appended to for this long (and at least two spans of
/// its level) is closed: compacted if it took late deltas (its pieces
/// merged into one record each), and indexed. At drop, all are.
const CLOSE_IDLE: Duration = Duration::from_secs(60);

/// The durable side of a store opened with [`Store::open`].
struct Storage {
    writer: Writer,
    disk_levels: Vec<LevelSpec>,
    last_flush: std::time::Instant,
    /// The first background error not yet returned by `flush()`.
    error: Option<tailstore_storage::Error>,
    errors: u64,
}

impl Storage {
    /// Writes what is queued, then removes the files past retention, and
    /// closes the files idle for `idle` (compacting those that took late
    /// deltas, and writing their index).
    fn flush_and_expire(&mut self, newest: u64, idle: Duration) {
        let r = self.writer.flush();
        self.note(r);
        self.last_flush = std::time::Instant::now();
        let r = self.writer.close_idle(idle).map(|_| ());
        self.note(r);
        for (level, spec) in (0u8..).zip(self.disk_levels.clone()) {
            let r = self.writer.remove_before(level, spec.retained_from(newest)).map(|_| ());
            self.note(r);
        }
    }

    fn note(&mut self, r: Result<(), tailstore_storage::Error>) {
        if let Err(e) = r {
            self.errors += 1;
            self.error.get_or_insert(e);
        }
    }
}

struct Inner {
    opts: Options,
    /// Opened from a directory (retentions are the on-disk ones).
    durable: bool,
    storage: Option<Mutex<Storage>>,
    open_report: Option<Report>,
    timeline: Arc<Timeline>,
    series: RwLock<HashMap<Arc<str>, Arc<SeriesInner>>>,
    sinks: RwLock<Vec<Arc<dyn Sink>>>,
    stop: AtomicBool,
    /// Serialises seal passes (ticker, `seal_now`, queries do not seal).
    sealing: Mutex<u64>,
}

/// An embedded time-series store of request latencies and statuses.
///
/// Cloning is cheap and shares the store. Dropping the last clone stops the
/// background clock and, for a durable store, seals, flushes and closes
/// everything and releases the directory's lock before it returns (so the
/// same process can open the directory again at once, and a process that
/// exits right after loses nothing). [`Store::close`] does the same and
/// returns the final flush's error.
#[derive(Clone)]
pub struct Store {
    // Declared first so it drops first, while `inner` is still alive.
    ticker: Arc<TickerGuard>,
    inner: Arc<Inner>,
}

/// Owned by every `Store` clone; the last one to go stops the clock thread
/// and closes the store.
struct TickerGuard {
    inner: Weak<Inner>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl TickerGuard {
    /// Stops and joins the clock thread, then (durable store) seals
    /// everything and flushes, closing every file. Idempotent. Once it
    /// returns, no thread but the caller's holds the store, so dropping the
    /// caller's `Arc<Inner>` closes the writer and releases the lock.
    fn shutdown(&self) -> Result<(), Error> {
        let Some(inner) = self.inner.upgrade() else { return Ok(()) };
        if inner.stop.swap(true, Relaxed) {
            return Ok(());
        }
        if let Some(handle) = self.thread.lock().take() {
            // A sink that held the last handle and dropped it on the clock
            // thread itself must not join itself; that thread exits after
            // its pass since `stop` is set.
            if handle.thread().id() != std::thread::current().id() {
                handle.thread().unpark();
                // A panic of the clock thread already reached stderr; the
                // close goes on so that what was recorded is flushed.
                let _ = handle.join();
            }
        }
        if inner.storage.is_none() {
            return Ok(());
        }
        flush_inner(&inner, Duration::ZERO)
    }
}

impl Drop for TickerGuard {
    fn drop(&mut self) {
        // Drop cannot report: `Store::close` is the way to see this error.
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("stats", &self.stats()).finish()
    }
}

impl Store {
    /// A store that keeps everything in memory, with a background clock
    /// thread that publishes the current second and seals intervals.
    #[must_use]
    pub fn in_memory(opts: Options) -> Store {
        Store::build(opts, None, None, false)
    }

    /// Opens (creating if needed) the durable store in `dir` as its single
    /// writer: the history found there is loaded (damaged chunks are skipped
    /// and listed in [`Store::open_report`]), and from then on every sealed
    /// interval is appended and flushed every `flush_every` (default 1 s),
    /// on [`Store::flush`] and at drop.
    ///
    /// A second writer on the same directory gets [`Error::Storage`] naming
    /// the holder's pid.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the directory is locked by another writer,
    /// cannot be created, read or written (the index files and compactions
    /// of open included), or holds a segment of another format version or
    /// histogram layout than `opts`. Damaged chunks are not an error.
    pub fn open(dir: impl AsRef<std::path::Path>, opts: Options) -> Result<Store, Error> {
        let dir = dir.as_ref();
        let writer = Writer::open(
            dir,
            WriterOptions { fsync: opts.fsync, layout: opts.layout, ..WriterOptions::default() },
        )?;
        let scan = scan_dir(dir, &opts.layout)?;
        // Files holding late deltas from earlier runs are compacted now
        // (which indexes them); the others without a usable index (written
        // by a run that crashed) are indexed, so the next open reads less.
        // The tiers read the maps of the files as they were at the scan.
        let late_files: std::collections::BTreeSet<u32> =
            scan.records.iter().filter(|r| r.entry.late).map(|r| r.loc.file).collect();
        let mut todo: Vec<u32> = scan.unindexed.iter().chain(&late_files).copied().collect();
        todo.sort_unstable();
        todo.dedup();
        for f in todo {
            let Some((level, bucket, path)) = scan.segments.file(f) else { continue };
            let compacted = late_files.contains(&f)
                && tailstore_storage::compact_segment(
                    path,
                    level,
                    bucket,
                    &opts.layout,
                    ZSTD_LEVEL,
                )?;
            if !compacted {
                tailstore_storage::write_index(path, level, bucket, &opts.layout)?;
            }
        }
        let storage = Storage {
            writer,
            disk_levels: opts.levels(true),
            last_flush: std::time::Instant::now(),
            error: None,
            errors: 0,
        };
        Ok(Store::build(opts, Some(storage), Some(scan), true))
    }

    /// Opens a store directory read-only (no lock: any number of readers,
    /// while a writer appends), with the history flushed up to now. Samples
    /// recorded into it stay in memory.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when `dir` is not a directory or cannot be read,
    /// or holds a segment of another format version or histogram layout than
    /// `opts`. Damaged chunks are not an error.
    pub fn open_read_only(dir: impl AsRef<std::path::Path>, opts: Options) -> Result<Store, Error> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::Storage(tailstore_storage::Error::Io {
                op: "open store directory",
                path: dir.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }));
        }
        let scan = scan_dir(dir, &opts.layout)?;
        Ok(Store::build(opts, None, Some(scan), true))
    }

    fn build(
        opts: Options,
        storage: Option<Storage>,
        scan: Option<tailstore_storage::DirScan>,
        durable: bool,
    ) -> Store {
        let retention_s = opts.levels(durable)[0].retention_s;
        let timeline = Arc::new(Timeline {
            newest: AtomicU64::new(0),
            now_s: AtomicU64::new(wall_second()),
            live: AtomicBool::new(false),
            retention_s,
            rejected_pre_epoch: AtomicU64::new(0),
        });
        let (report, persist) = match scan {
            Some(scan) => {
                let report = scan.report.clone();
                (Some(report), Some(scan))
            }
            None => (None, None),
        };
        let inner = Arc::new(Inner {
            opts,
            durable,
            storage: storage.map(Mutex::new),
            open_report: report,
            timeline,
            series: RwLock::new(HashMap::new()),
            sinks: RwLock::new(Vec::new()),
            stop: AtomicBool::new(false),
            sealing: Mutex::new(0),
        });
        if let Some(scan) = persist {
            load(&inner, &scan);
        }
        let weak = Arc::downgrade(&inner);
        let tick = inner.opts.tick;
        let spawned = std::thread::Builder::new()
            .name("tailstore-clock".into())
            .spawn(move || ticker(&weak, tick));
        if spawned.is_err() {
            // Without a thread the clock still advances on every `seal_now`;
            // record() then uses the second of the last of those.
            inner.timeline.now_s.store(wall_second(), Relaxed);
        }
        let guard = Arc::new(TickerGuard {
            inner: Arc::downgrade(&inner),
            thread: Mutex::new(spawned.ok()),
        });
        Store { inner, ticker: guard }
    }

    /// Closes the store: like dropping it, but returns the error of the
    /// final seal and flush (which drop cannot report). When this is the
    /// last handle, the clock thread is stopped and joined, everything is
    /// sealed and flushed, every file is closed and indexed, and the
    /// directory's lock is released before `close` returns. When other
    /// clones remain, it flushes (returning that error) and drops this handle;
    /// the last clone closes the store.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]: the first write, `fsync`, compaction, index or
    /// retention error of a durable store not yet returned by
    /// [`Store::flush`]. Never for an in-memory store.
    pub fn close(self) -> Result<(), Error> {
        let Store { ticker, inner } = self;
        let result = match Arc::try_unwrap(ticker) {
            Ok(guard) => guard.shutdown(),
            Err(shared) => {
                let r = flush_inner(&inner, CLOSE_IDLE);
                drop(shared);
                r
            }
        };
        drop(inner);
        result
    }

    /// What opening found on disk: segments, chunks OK, damaged regions.
    /// `None` for an in-memory store.
    #[must_use]
    pub fn open_report(&self) -> Option<&Report> {
        self.inner.open_report.as_ref()
    }

    /// Seals everything recorded so far (the open seconds included; later
    /// samples for them become late deltas) and, for a durable store, writes
    /// and `fsync`s it per the policy. Returns the first background write
    /// error since the last call, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]: the first write, `fsync`, compaction or retention
    /// error of a durable store since the last `flush` or `compact`
    /// (background passes included). Never for an in-memory store.
    pub fn flush(&self) -> Result<(), Error> {
        flush_inner(&self.inner, CLOSE_IDLE)
    }

    /// Seals and flushes like [`Store::flush`], then compacts every segment
    /// file this store appended late deltas to (each piece merged into one
    /// record). The clock thread does this by itself for files idle for a
    /// minute, and drop does it for all. No-op for an in-memory store.
    ///
    /// # Errors
    ///
    /// As [`Store::flush`].
    pub fn compact(&self) -> Result<(), Error> {
        flush_inner(&self.inner, Duration::ZERO)
    }

    /// The handle of series `name`, created on first use. Keep it: recording
    /// through a handle takes no lock, looking a name up does.
    #[must_use]
    pub fn series(&self, name: &str) -> Series {
        if let Some(s) = self.inner.series.read().get(name) {
            return Series { inner: s.clone(), timeline: self.inner.timeline.clone() };
        }
        let mut map = self.inner.series.write();
        let s = map
            .entry(Arc::from(name))
            .or_insert_with(|| Arc::new(new_series(&self.inner, name, 0)))
            .clone();
        Series { inner: s, timeline: self.inner.timeline.clone() }
    }

    /// Names of all series, sorted.
    #[must_use]
    pub fn series_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.series.read().keys().map(ToString::to_string).collect();
        v.sort();
        v
    }

    /// Every series with the time range it has data for (sealed or not),
    /// sorted by name. Seals what is due first.
    #[must_use]
    pub fn series_info(&self) -> Vec<SeriesInfo> {
        seal_pass(&self.inner, false);
        let series: Vec<Arc<SeriesInner>> = self.inner.series.read().values().cloned().collect();
        let mut out: Vec<SeriesInfo> = series
            .iter()
            .map(|s| {
                let tier = s.tier.lock();
                let mut bounds = tier.time_bounds();
                for sec in s.recorder.unsealed_seconds() {
                    bounds = Some(match bounds {
                        Some((a, b)) => (a.min(sec), b.max(sec + 1)),
                        None => (sec, sec + 1),
                    });
                }
                SeriesInfo { name: s.name.to_string(), bounds_s: bounds }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The sealed pieces of series `name` at the rollup level whose piece
    /// length is `span_s` (1, 60 or 3600 with the default levels), starting in
    /// `[start_s, end_s)`, in time order: the stored intervals themselves, for
    /// export. Seals what is due first; the still-open seconds are not
    /// included. `None` when the series or the level does not exist.
    #[must_use]
    pub fn pieces(
        &self,
        name: &str,
        span_s: u32,
        start_s: u64,
        end_s: u64,
    ) -> Option<Vec<Interval>> {
        seal_pass(&self.inner, false);
        let s = self.inner.series.read().get(name).cloned()?;
        let mut tier = s.tier.lock();
        let level = tier.specs().iter().position(|l| l.span_s == span_s)?;
        Some(tier.pieces(level, start_s, end_s))
    }

    /// Starts a query over the series `selector` picks.
    #[must_use]
    pub fn query(&self, selector: Selector) -> Query<'_> {
        Query {
            store: self,
            selector,
            window: WindowSpec::Unset,
            errors: self.inner.opts.errors.clone(),
        }
    }

    /// Registers a sink for sealed intervals (e.g. persistence).
    pub fn add_sink(&self, sink: Arc<dyn Sink>) {
        self.inner.sinks.write().push(sink);
    }

    /// Seals now every second that is past the lateness window, instead of
    /// waiting for the clock thread.
    pub fn seal_now(&self) {
        seal_pass(&self.inner, false);
    }

    /// Store-wide counters.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let series = self.inner.series.read();
        let mut st = StoreStats {
            series: series.len(),
            newest_s: self.inner.timeline.newest.load(Relaxed),
            rejected: self.inner.timeline.rejected_pre_epoch.load(Relaxed),
            ..StoreStats::default()
        };
        if let Some(storage) = &self.inner.storage {
            st.storage_errors = storage.lock().errors;
        }
        for s in series.values() {
            let c = s.recorder.counters();
            st.late += c.late;
            st.rejected += c.rejected;
            st.memory_bytes += s.recorder.memory_bytes() + s.tier.lock().memory_bytes();
        }
        st
    }

    /// The options the store was built with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The histogram layout of every series (bucket indices of
    /// [`Interval::hist`] map to values through it).
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.inner.opts.layout
    }
}

/// Seals everything and, for a durable store, writes it, removes what is
/// past retention and closes the files idle for `idle` (every file with
/// zero: compact and close). Returns the first background error not yet
/// returned. [`Store::flush`], [`Store::compact`] and the close.
fn flush_inner(inner: &Inner, idle: Duration) -> Result<(), Error> {
    seal_pass(inner, true);
    if let Some(st) = &inner.storage {
        let mut st = st.lock();
        st.flush_and_expire(inner.timeline.newest.load(Relaxed), idle);
        if let Some(e) = st.error.take() {
            return Err(Error::Storage(e));
        }
    }
    Ok(())
}

/// The clock thread: publishes the coarse second, seals, flushes. It holds
/// only a weak reference between passes and is woken early (unparked) by
/// the closing store, which joins it.
fn ticker(weak: &Weak<Inner>, tick: Duration) {
    let mut last_newest = u64::MAX;
    let mut passes_since_seal = 0u32;
    loop {
        std::thread::park_timeout(tick);
        let Some(inner) = weak.upgrade() else { return };
        if inner.stop.load(Relaxed) {
            return;
        }
        let now = wall_second();
        inner.timeline.now_s.store(now, Relaxed);
        if inner.timeline.live.load(Relaxed) {
            inner.timeline.newest.fetch_max(now, Relaxed);
        }
        let newest = inner.timeline.newest.load(Relaxed);
        passes_since_seal += 1;
        // Seal when data time moved, and at least every ~second for idle
        // series. On the other ticks, drain the rings of live series (a
        // seal pass drains them too): a thread calling `record()` fewer
        // than ~25 000 times per second (its ring's 256 slots per 10 ms
        // tick) then never drains its own ring, so its calls never pay for
        // one.
        if newest != last_newest || u128::from(passes_since_seal) * tick.as_millis() >= 1000 {
            seal_pass(&inner, false);
            last_newest = newest;
            passes_since_seal = 0;
        } else {
            // Under the map's read lock, no copy of it: `drain_live` only
            // try-locks each series, so this is short even for thousands.
            for s in inner.series.read().values() {
                s.recorder.drain_live();
            }
        }
        if let Some(st) = &inner.storage {
            let mut st = st.lock();
            if st.last_flush.elapsed() >= inner.opts.flush_every {
                st.flush_and_expire(newest, CLOSE_IDLE);
            }
        }
    }
}

/// A durable store's tiers index its whole retained history (loaded at
/// open as cold references into the mapped segments, decoded when a query
/// first needs a piece), so the planner answers every window the files cover.
fn new_series(inner: &Inner, name: &str, sealed_below: u64) -> SeriesInner {
    SeriesInner {
        name: Arc::from(name),
        recorder: Recorder::new(inner.opts.layout, sealed_below, inner.timeline.clone()),
        tier: Mutex::new(MemTier::new(&inner.opts.levels(inner.durable))),
    }
}

/// The mapped segments as the tiers' source of cold pieces.
struct DiskSource(Arc<Segments>);

impl PieceSource for DiskSource {
    fn read(&self, r: PieceRef) -> Option<Interval> {
        self.0.read(Loc { file: r.file, offset: r.offset, len: r.len }).ok().map(|(iv, _)| iv)
    }
}

/// The stored parts of one piece, as the index lists them.
#[derive(Default)]
struct Parts {
    refs: PieceRefs,
    /// A complete (non-late) copy is among `refs` (rollup levels).
    base: bool,
    /// Some part is a late delta.
    late: bool,
}

/// Loads a directory index into the series' tiers, decoding almost nothing.
///
/// A second is the sum of its stored parts; a rollup piece is the last
/// complete (non-late) copy stored plus the late deltas after it. A rollup
/// span still covered by retained finer data is rebuilt from that data (and
/// re-persisted where the stored copy differs) only where the files may
/// disagree: no complete copy is stored (a crash between the writes of the
/// seconds and of their rollup), or a finer part is a late delta (a crash
/// between the writes of a delta and of its rollup deltas). Everything else
/// stays cold until read.
fn load(inner: &Inner, disk: &tailstore_storage::DirScan) {
    let levels = inner.opts.levels(inner.durable).len();
    let (newest, mut by_series) = group_records(&disk.records, levels);
    if by_series.is_empty() {
        return;
    }
    inner.timeline.newest.fetch_max(newest, Relaxed);
    let source: Arc<dyn PieceSource> = Arc::new(DiskSource(disk.segments.clone()));
    let mut names: Vec<Arc<str>> = by_series.keys().cloned().collect();
    names.sort();
    let mut scratch = Accumulator::new(inner.opts.layout);
    let mut map = inner.series.write();
    for name in names {
        let mut maps = by_series.remove(&name).expect("name listed from the map");
        let series = Arc::new(new_series(inner, &name, newest + 1));
        let mut tier = series.tier.lock();
        tier.set_source(source.clone());
        tier.advance(newest);
        let specs = tier.specs();
        let mut persist: Vec<(u8, Interval)> = Vec::new();
        // The finer level's starts and whether the files may disagree there.
        let mut finer_keys: Vec<(u64, bool)> = maps[0].iter().map(|(s, p)| (*s, p.late)).collect();
        let seconds = std::mem::take(&mut maps[0]).into_iter().map(|(s, p)| (s, p.refs)).collect();
        tier.load_cold_sorted(0, seconds);
        // Spans of the finer level rebuilt at this open: their rollups are
        // rebuilt too.
        let mut rebuilt_finer: Vec<u64> = Vec::new();
        // `k` indexes the levels, `level` is the same number for the writer.
        for (k, level) in (1..levels).zip(1u8..) {
            let span = u64::from(specs[k].span_s);
            let finer_from = specs[k - 1].retained_from(newest);
            let rebuild_from = finer_from.div_ceil(span) * span;
            let limit = (newest + 1) - (newest + 1) % span;
            let mut redo: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
            for &(start, late) in &finer_keys {
                let s = start - start % span;
                if s < rebuild_from || s >= limit {
                    continue;
                }
                let has_base =
                    maps[k].binary_search_by_key(&s, |p| p.0).is_ok_and(|i| maps[k][i].1.base);
                if late || !has_base {
                    redo.insert(s);
                }
            }
            for &start in &rebuilt_finer {
                let s = start - start % span;
                if s >= rebuild_from && s < limit {
                    redo.insert(s);
                }
            }
            let mut stored: HashMap<u64, PieceRefs> = HashMap::new();
            let mut next_keys: Vec<(u64, bool)> = Vec::new();
            let mut cold = Vec::new();
            for (start, parts) in std::mem::take(&mut maps[k]) {
                next_keys.push((start, parts.late || !parts.base));
                if redo.contains(&start) {
                    stored.insert(start, parts.refs);
                } else {
                    cold.push((start, parts.refs));
                }
            }
            tier.load_cold_sorted(k, cold);
            tier.set_built_until(k, limit);
            let mut rebuilt = Vec::new();
            for &start in &redo {
                let Some(piece) = tier.rebuild(k, start, &mut scratch) else { continue };
                rebuilt.push(start);
                // Compare with what is stored: persist only a difference.
                let mut old: Option<Interval> = None;
                for r in stored.get(&start).into_iter().flatten() {
                    if let Some(part) = source.read(*r) {
                        match &mut old {
                            Some(o) => o.merge(&part),
                            None => old = Some(part),
                        }
                    }
                }
                if old.as_ref() != Some(&piece) {
                    persist.push((level, piece));
                }
            }
            rebuilt_finer = rebuilt;
            finer_keys = next_keys;
        }
        drop(tier);
        if let Some(st) = &inner.storage {
            let mut st = st.lock();
            for (k, piece) in persist {
                let r =
                    st.writer.append(k, &name, &[StoredInterval { interval: piece, late: false }]);
                st.note(r);
            }
        }
        map.insert(name, series);
    }
}

/// Per series and level, `(start, late, ref)` of each record, in file order.
type Recs = Vec<(u64, bool, PieceRef)>;

/// Per series and level, each piece's start and parts, ascending by start.
type Grouped = HashMap<Arc<str>, Vec<Vec<(u64, Parts)>>>;

/// Groups a directory index's records by series and level, then by start
/// with a stable sort (a piece's records are all in one file, in the order
/// they were written), into each piece's [`Parts`], ascending by start.
/// Returns the newest second the records cover, and the groups.
fn group_records(records: &[tailstore_storage::Indexed], levels: usize) -> (u64, Grouped) {
    let mut newest = 0u64;
    let mut by_series: HashMap<Arc<str>, Vec<Recs>> = HashMap::new();
    let mut last: Option<(Arc<str>, usize)> = None;
    for rec in records {
        let level = usize::from(rec.level);
        if level >= levels {
            continue;
        }
        let span = u64::from(tailstore_storage::span_s(rec.level));
        newest = newest.max(rec.entry.start_s + span - 1);
        let r = PieceRef { file: rec.loc.file, offset: rec.loc.offset, len: rec.loc.len };
        let item = (rec.entry.start_s, rec.entry.late, r);
        // Runs of records of one series are common: skip the hash lookup.
        if let Some((name, _)) = &last {
            if Arc::ptr_eq(name, &rec.entry.series) {
                if let Some(v) = by_series.get_mut(name) {
                    v[level].push(item);
                    continue;
                }
            }
        }
        by_series
            .entry(rec.entry.series.clone())
            .or_insert_with(|| (0..levels).map(|_| Vec::new()).collect())[level]
            .push(item);
        last = Some((rec.entry.series.clone(), level));
    }
    // Per series and level: (start, parts), ascending by start.
    let grouped: Grouped = by_series
        .into_iter()
        .map(|(name, levels)| {
            let maps = levels
                .into_iter()
                .enumerate()
                .map(|(level, mut recs)| {
                    recs.sort_by_key(|r| r.0);
                    let mut out: Vec<(u64, Parts)> = Vec::with_capacity(recs.len());
                    for (start, late, r) in recs {
                        if out.last().is_none_or(|l| l.0 != start) {
                            out.push((start, Parts::default()));
                        }
                        let parts = &mut out.last_mut().expect("pushed above").1;
                        if level > 0 && !late {
                            parts.refs.clear();
                            parts.base = true;
                            parts.late = false;
                        }
                        parts.late |= late;
                        parts.refs.push(r);
                    }
                    out
                })
                .collect();
            (name, maps)
        })
        .collect();
    (newest, grouped)
}

/// Seals what is due (everything, with `force`), merges it into the tiers,
/// builds rollups, queues it for storage and hands it to the sinks.
fn seal_pass(inner: &Inner, force: bool) {
    let mut guard = inner.sealing.lock();
    // Keeps the coarse clock current even without the clock thread.
    inner.timeline.now_s.fetch_max(wall_second(), Relaxed);
    let newest = inner.timeline.newest.load(Relaxed);
    let (seal_below, live_seal_below) = if force {
        (newest + 1, newest + 1)
    } else {
        // Live samples carry the coarse clock's second: one second of grace
        // covers a writer that read the clock just before it ticked.
        (newest.saturating_sub(inner.opts.lateness_s()), newest.saturating_sub(1))
    };
    let series: Vec<Arc<SeriesInner>> = inner.series.read().values().cloned().collect();
    let sinks = inner.sinks.read().clone();
    let pass = Pass { inner, seal_below, live_seal_below, newest, force, sinks: &sinks };
    // A forced pass (flush, compact, drop) may have much to seal at once
    // (a replay's last lateness window): series go to one thread per core.
    // Regular passes stay on the clock thread, off the recorders' cores.
    let threads = if force {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(series.len())
    } else {
        1
    };
    if threads > 1 {
        std::thread::scope(|sc| {
            for k in 0..threads {
                let (pass, series) = (&pass, &series);
                sc.spawn(move || {
                    let mut scratch = Accumulator::new(inner.opts.layout);
                    for s in series.iter().skip(k).step_by(threads) {
                        pass.seal_series(s, &mut scratch);
                    }
                });
            }
        });
    } else {
        let mut scratch = Accumulator::new(inner.opts.layout);
        for s in &series {
            pass.seal_series(s, &mut scratch);
        }
    }
    *guard = seal_below;
}

/// One seal pass's bounds.
struct Pass<'a> {
    inner: &'a Inner,
    seal_below: u64,
    live_seal_below: u64,
    newest: u64,
    /// A flush, compact or close: late seconds are not held back.
    force: bool,
    sinks: &'a [Arc<dyn Sink>],
}

impl Pass<'_> {
    /// Seals one series: into its tier, its rollups, the writer's queue
    /// (encoded before the writer's lock is taken) and the sinks.
    fn seal_series(&self, s: &SeriesInner, scratch: &mut Accumulator) {
        let inner = self.inner;
        let durable = inner.storage.is_some();
        let mut persist: Vec<(usize, StoredInterval)> = Vec::new();
        let sealed: Sealed = {
            let mut tier = s.tier.lock();
            let sealed = s.recorder.seal(self.seal_below, self.live_seal_below, self.force);
            tier.advance(self.newest);
            // Sealed seconds, then late deltas, each batch into the tier at
            // once: one merge (and one stored delta) per rollup piece they
            // touch.
            for (ivs, late) in [(&sealed.seconds, false), (&sealed.late, true)] {
                let deltas = tier.insert_many(ivs, Some(&mut *scratch));
                if durable {
                    for iv in ivs {
                        persist.push((0, StoredInterval { interval: iv.clone(), late }));
                    }
                    for (k, d) in deltas {
                        persist.push((k, StoredInterval { interval: d, late: true }));
                    }
                }
            }
            // `seal_below` never exceeds what the recorder sealed for this
            // series (a live-only series seals further, up to `live_seal_below`).
            for (k, piece) in tier.roll_up(self.seal_below, scratch) {
                if durable {
                    persist.push((k, StoredInterval { interval: piece, late: false }));
                }
            }
            sealed
        };
        if let (Some(st), false) = (&inner.storage, persist.is_empty()) {
            let layout = inner.opts.layout;
            let mut batches: [Vec<EncodedInterval>; 3] = Default::default();
            let mut failed = 0u64;
            for (level, p) in &persist {
                match encode_interval(&p.interval, p.late, &layout, ZSTD_LEVEL) {
                    Some(e) => batches[(*level).min(2)].push(e),
                    None => failed += 1,
                }
            }
            let mut st = st.lock();
            if failed > 0 {
                let path = st.writer.dir().to_path_buf();
                st.note(Err(tailstore_storage::Error::Encode {
                    path,
                    series: s.name.to_string(),
                    reason: format!("{failed} intervals too large to encode"),
                }));
            }
            for (level, batch) in (0u8..).zip(&batches) {
                if !batch.is_empty() {
                    let r = st.writer.append_encoded(level, &s.name, batch);
                    st.note(r);
                }
            }
        }
        for sink in self.sinks {
            for iv in &sealed.seconds {
                sink.sealed(&s.name, iv, false);
            }
            for iv in &sealed.late {
                sink.sealed(&s.name, iv, true);
            }
        }
    }
}

/// A cheap, cloneable handle to one series; `Send + Sync`.
#[derive(Clone)]
pub struct Series {
    inner: Arc<SeriesInner>,
    timeline: Arc<Timeline>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series").field("name", &self.inner.name).finish_non_exhaustive()
    }
}

#[inline]
fn duration_ns(d: Duration) -> u64 {
    // Saturates past ~584 years; the layout clamps far below that anyway.
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Series {
    /// The series name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Records one request that took `latency` and answered `status`, at the
    /// current second of the store's coarse clock. No lock, no allocation
    /// (after this thread's first records), no clock read.
    #[inline]
    pub fn record(&self, latency: Duration, status: u16) {
        let tl = &*self.timeline;
        if !tl.live.load(Relaxed) {
            tl.live.store(true, Relaxed);
        }
        let second = tl.now_s.load(Relaxed);
        self.inner.recorder.record(false, second, duration_ns(latency), status);
    }

    /// Records one request at an explicit time (replays, benchmark harnesses):
    /// it lands in the second `floor(at)`, whatever the order of calls.
    #[inline]
    pub fn record_at(&self, at: SystemTime, latency: Duration, status: u16) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(d) => self.inner.recorder.record(true, d.as_secs(), duration_ns(latency), status),
            Err(_) => {
                self.timeline.rejected_pre_epoch.fetch_add(1, Relaxed);
            }
        }
    }

    /// Records one request at unix second `second` with a latency in ns: the
    /// allocation-free core of [`Series::record_at`].
    #[inline]
    pub fn record_at_unix(&self, second: u64, latency_ns: u64, status: u16) {
        self.inner.recorder.record(true, second, latency_ns, status);
    }

    /// Records a request whose latency is unknown (e.g. a load balancer's
    /// `-1`): it counts in rate, status and error ratio, not in quantiles.
    pub fn record_status_at(&self, at: SystemTime, status: u16) {
        match at.duration_since(UNIX_EPOCH) {
            Ok(d) => {
                self.inner.recorder.record_status_only(true, d.as_secs(), status);
            }
            Err(_) => {
                self.timeline.rejected_pre_epoch.fetch_add(1, Relaxed);
            }
        }
    }

    /// [`Series::record_status_at`] at unix second `second`.
    pub fn record_status_at_unix(&self, second: u64, status: u16) {
        self.inner.recorder.record_status_only(true, second, status);
    }

    /// Records many `(latency_ns, status)` samples of one unix second. The
    /// bucket indices are computed in one branch-free pass, then scattered.
    pub fn record_batch_at_unix(&self, second: u64, samples: &[(u64, u16)]) {
        self.inner.recorder.record_batch(second, samples);
    }

    /// Approximate bytes this series holds (recorder rings, unsealed seconds
    /// and history).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.inner.recorder.memory_bytes() + self.inner.tier.lock().memory_bytes()
    }

    /// Recorder-only bytes (the recording threads' rings and the unsealed
    /// seconds).
    #[must_use]
    pub fn recorder_bytes(&self) -> usize {
        self.inner.recorder.memory_bytes()
    }
}

enum WindowSpec {
    Unset,
    Between(SystemTime, SystemTime),
    Last(Duration, Option<SystemTime>),
}

/// A query being built: choose a window, optionally an error set, then [`Query::run`].
pub struct Query<'a> {
    store: &'a Store,
    selector: Selector,
    window: WindowSpec,
    errors: ErrorSet,
}

/// Unix seconds of the first second whose start is at or after `t`.
fn ceil_second(t: SystemTime, what: &'static str) -> Result<u64, Error> {
    let d = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Query(tailstore_query::Error::BeforeEpoch { what }))?;
    Ok(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

impl Query<'_> {
    /// The half-open window `[start, end)`. A second belongs to it when the
    /// second's start instant does, so whole-second bounds are exact.
    #[must_use]
    pub fn between(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.window = WindowSpec::Between(start, end);
        self
    }

    /// The sliding window of length `len` (rounded up to whole seconds)
    /// ending now, the current second included.
    #[must_use]
    pub fn last(mut self, len: Duration) -> Self {
        self.window = WindowSpec::Last(len, None);
        self
    }

    /// With [`Query::last`]: end the window at `end` instead of now.
    #[must_use]
    pub fn ending_at(mut self, end: SystemTime) -> Self {
        if let WindowSpec::Last(len, _) = self.window {
            self.window = WindowSpec::Last(len, Some(end));
        } else {
            self.window = WindowSpec::Last(Duration::ZERO, Some(end));
        }
        self
    }

    /// Counts these status codes as errors in this query.
    #[must_use]
    pub fn errors(mut self, errors: ErrorSet) -> Self {
        self.errors = errors;
        self
    }

    fn bounds(&self) -> Result<(u64, u64), Error> {
        let len_s = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        match self.window {
            WindowSpec::Unset => Err(Error::NoWindow),
            WindowSpec::Between(a, b) => {
                let (s, e) = (ceil_second(a, "window start")?, ceil_second(b, "window end")?);
                if a > b {
                    return Err(Error::Query(tailstore_query::Error::EndBeforeStart {
                        start_s: s,
                        end_s: e,
                    }));
                }
                Ok((s, e))
            }
            WindowSpec::Last(len, None) => {
                let end = wall_second() + 1;
                Ok((end.saturating_sub(len_s(len)), end))
            }
            WindowSpec::Last(len, Some(at)) => {
                let end = ceil_second(at, "window end")?;
                Ok((end.saturating_sub(len_s(len)), end))
            }
        }
    }

    /// A range query: one point per `step` from `start` to `end` (both
    /// included), each the window of [`Query::last`]'s length ending at that
    /// point, exactly as `.ending_at(t).run()` would answer it. Returns
    /// `(t, stats)` with `t` in unix seconds; each answer is compacted to
    /// the buckets it uses (see [`Query::range_with`] to stream instead).
    ///
    /// # Errors
    ///
    /// As [`Query::range_with`].
    pub fn range(
        self,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Vec<(u64, WindowStats)>, Error> {
        let mut out = Vec::new();
        self.range_with(start, end, step, |t, w| out.push((t, w.compact())))?;
        Ok(out)
    }

    /// [`Query::range`], handing each point to `f` in time order instead of
    /// keeping them (graphs and alert evaluation read a point and move on).
    ///
    /// When the points and the window are whole multiples of a rollup
    /// level's span (1 s always is) and that level covers every window, the
    /// answer slides: each piece is added when it enters the window and
    /// taken away when it leaves, with the exact extremes kept in monotonic
    /// queues, so the cost is one visit per piece, not one merge of the
    /// whole window per point. Other points are planned one by one. All the
    /// selected series' tiers stay locked while the sliding points are
    /// computed (sealing waits), so `f` should be quick.
    ///
    /// # Errors
    ///
    /// [`Error::BadRange`] when the window was not chosen with
    /// [`Query::last`], `step` is not a positive whole number of seconds, or
    /// there would be more than 1 000 000 points; [`Error::Query`] when
    /// `start` or `end` is before 1970 or `end` is before `start`.
    pub fn range_with(
        self,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
        mut f: impl FnMut(u64, &WindowStats),
    ) -> Result<(), Error> {
        const MAX_POINTS: u64 = 1_000_000;
        let WindowSpec::Last(len, _) = self.window else {
            return Err(Error::BadRange { reason: "choose the window with .last(len)".into() });
        };
        let window = len.as_secs() + u64::from(len.subsec_nanos() > 0);
        if step.subsec_nanos() != 0 || step.is_zero() {
            return Err(Error::BadRange {
                reason: "step must be a whole number of seconds".into(),
            });
        }
        let step = step.as_secs();
        let (t0, t1) = (ceil_second(start, "range start")?, ceil_second(end, "range end")?);
        if t1 < t0 {
            return Err(Error::Query(tailstore_query::Error::EndBeforeStart {
                start_s: t0,
                end_s: t1,
            }));
        }
        let n = (t1 - t0) / step + 1;
        if n > MAX_POINTS {
            return Err(Error::BadRange {
                reason: format!("{n} points, more than {MAX_POINTS}; use a larger step"),
            });
        }
        let points: Vec<u64> = (0..n).map(|k| t0 + k * step).collect();
        let inner = &self.store.inner;
        let mut targets = self.targets();
        // Locked in name order (two range queries cannot deadlock); seal
        // passes and single queries take one tier lock at a time.
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        let slid = {
            let mut tiers: Vec<_> = targets.iter().map(|s| s.tier.lock()).collect();
            let ctx = SlideCtx {
                targets: &targets,
                window,
                errors: &self.errors,
                layout: inner.opts.layout,
            };
            slide(&ctx, &mut tiers, &points, &mut f)
        };
        for &t in &points[slid..] {
            let q = Query {
                store: self.store,
                selector: self.selector.clone(),
                window: WindowSpec::Last(Duration::from_secs(window), Some(secs_to_time(t))),
                errors: self.errors.clone(),
            };
            f(t, &q.run()?);
        }
        Ok(())
    }

    /// The series the selector picks.
    fn targets(&self) -> Vec<Arc<SeriesInner>> {
        let map = self.store.inner.series.read();
        match self.selector.as_exact() {
            Some(name) => map.get(name).cloned().into_iter().collect(),
            None => map.values().filter(|s| self.selector.matches(&s.name)).cloned().collect(),
        }
    }

    /// Runs the query.
    ///
    /// # Errors
    ///
    /// [`Error::NoWindow`] when no window was chosen; [`Error::Query`] when
    /// a window bound is before 1970 or the end is before the start.
    pub fn run(self) -> Result<WindowStats, Error> {
        let (start_s, end_s) = self.bounds()?;
        let inner = &self.store.inner;
        let targets = self.targets();
        let mut acc = Accumulator::new(inner.opts.layout);
        let mut covered_start = start_s;
        let mut pieces = 0;
        for s in &targets {
            let mut tier = s.tier.lock();
            let cov = tier.coverage();
            let p = plan(&cov, start_s, end_s);
            for seg in &p.segments {
                pieces += tier.add_range(seg.level, seg.start_s, seg.end_s, &mut acc);
            }
            let from = p.uncovered.iter().map(|u| u.1).max().unwrap_or(start_s);
            covered_start = covered_start.max(from);
            // Still under the tier lock: nothing can move from unsealed to
            // sealed while we read both.
            s.recorder.read_unsealed(from, end_s, &mut acc);
        }
        Ok(WindowStats::new(acc, self.errors, start_s, end_s).with_plan_info(
            covered_start,
            targets.len(),
            pieces,
        ))
    }
}

fn secs_to_time(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// What a sliding range query reads and how it answers.
struct SlideCtx<'a> {
    targets: &'a [Arc<SeriesInner>],
    window: u64,
    errors: &'a ErrorSet,
    layout: Layout,
}

/// The sliding part of [`Query::range_with`]: answers the leading points
/// whose windows one rollup level covers completely, through `f`; returns
/// how many.
fn slide(
    ctx: &SlideCtx<'_>,
    tiers: &mut [parking_lot::MutexGuard<'_, MemTier>],
    points: &[u64],
    f: &mut dyn FnMut(u64, &WindowStats),
) -> usize {
    let window = ctx.window;
    let (Some(&t0), true) = (points.first(), window > 0) else { return 0 };
    let step = points.get(1).map_or(window, |t| t - t0);
    // Sliding pays when windows overlap.
    if step >= window || t0 < window {
        return 0;
    }
    let covs: Vec<Vec<LevelCoverage>> = tiers.iter().map(|t| t.coverage()).collect();
    let Some(cov) = covs.first() else { return 0 };
    // The coarsest level whose span divides the step, the window and the
    // points, and that every series has retained back to the first window.
    let choice = (0..cov.len()).rev().find(|&k| {
        let span = u64::from(cov[k].span_s);
        step.is_multiple_of(span)
            && window.is_multiple_of(span)
            && t0.is_multiple_of(span)
            && covs.iter().all(|c| c.get(k).is_some_and(|c| c.from_s <= t0 - window))
    });
    let Some(level) = choice else { return 0 };
    // Points whose window ends past a rollup's built edge are planned.
    let until = covs.iter().filter_map(|c| c.get(level)).map(|c| c.until_s).min().unwrap_or(0);
    let slid = points.iter().take_while(|&&t| t <= until).count();
    if slid == 0 {
        return 0;
    }
    let mut acc = Accumulator::new(ctx.layout);
    let mut unsealed = Accumulator::new(ctx.layout);
    // Monotonic queues of (slot start, extreme) for the window's min and max.
    let mut mins: std::collections::VecDeque<(u64, u64)> = std::collections::VecDeque::new();
    let mut maxs: std::collections::VecDeque<(u64, u64)> = std::collections::VecDeque::new();
    let mut added_to = t0 - window;
    let mut removed_to = t0 - window;
    let mut entering: Vec<(u64, u64, u64)> = Vec::new();
    let mut pieces = 0usize;
    for &t in &points[..slid] {
        let from = t - window;
        // The accumulator holds the pieces starting in [removed_to, added_to);
        // the window needs [from, t), and from < added_to (windows overlap).
        if removed_to < from {
            for tier in tiers.iter_mut() {
                pieces -= tier.for_each_piece(level, removed_to, from, |iv| acc.sub_interval(iv));
            }
            removed_to = from;
        }
        // Entering pieces; their extremes go to the queues slot by slot.
        entering.clear();
        for tier in tiers.iter_mut() {
            pieces += tier.for_each_piece(level, added_to.max(from), t, |iv| {
                acc.add_interval(iv);
                if !iv.hist.is_empty() {
                    entering.push((iv.start_s, iv.min_ns, iv.max_ns));
                }
            });
        }
        entering.sort_unstable_by_key(|e| e.0);
        for slot in entering.chunk_by(|a, b| a.0 == b.0) {
            let start = slot[0].0;
            let lo = slot.iter().map(|e| e.1).min().unwrap_or(u64::MAX);
            let hi = slot.iter().map(|e| e.2).max().unwrap_or(0);
            while mins.back().is_some_and(|b| b.1 >= lo) {
                mins.pop_back();
            }
            mins.push_back((start, lo));
            while maxs.back().is_some_and(|b| b.1 <= hi) {
                maxs.pop_back();
            }
            maxs.push_back((start, hi));
        }
        added_to = t;
        while mins.front().is_some_and(|f| f.0 < from) {
            mins.pop_front();
        }
        while maxs.front().is_some_and(|f| f.0 < from) {
            maxs.pop_front();
        }
        match (mins.front(), maxs.front()) {
            (Some(a), Some(b)) => acc.set_extremes(a.1, b.1),
            _ => acc.set_extremes(u64::MAX, 0),
        }
        // What the recorders still hold for the window (open seconds,
        // pending late deltas), as a planned query adds it.
        unsealed.clear();
        for s in ctx.targets {
            s.recorder.read_unsealed(from, t, &mut unsealed);
        }
        let answer = |a: Accumulator| {
            WindowStats::new(a, ctx.errors.clone(), from, t).with_plan_info(
                from,
                ctx.targets.len(),
                pieces,
            )
        };
        if unsealed.is_empty() {
            // Lend the running accumulator to the answer, then take it back.
            let stats = answer(std::mem::replace(&mut acc, Accumulator::empty_compact(ctx.layout)));
            f(t, &stats);
            acc = stats.into_accumulator();
        } else {
            let mut snap = acc.snapshot();
            snap.add_accumulator(&unsealed);
            f(t, &answer(snap));
        }
    }
    slid
}
