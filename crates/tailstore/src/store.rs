//! The store: its handle's public API (open, record through series
//! handles, query, flush, close) and the state every module shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tailstore_hist::{Interval, Layout};
use tailstore_query::Selector;
use tailstore_storage::{scan_dir, DirScan, Report, Writer, WriterOptions};

use crate::clock::{whole_seconds, TickerGuard, Timeline};
use crate::error::Error;
use crate::gauge::{new_gauge, Gauge, GaugeInner, GaugeQuery, DEFAULT_WARMUP};
use crate::options::Options;
use crate::query::{Query, WindowSpec};
use crate::recovery;
use crate::seal::{flush_inner, seal_one, seal_pass, Storage, CLOSE_IDLE};
use crate::series::{new_series, Series, SeriesInner};
use crate::sink::Sink;

/// What a series holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SeriesKind {
    /// Requests: latencies and statuses ([`Store::series`]).
    Requests,
    /// A gauge: values sampled over time ([`Store::gauge`]).
    Gauge,
}

impl SeriesKind {
    /// `"requests"` or `"gauge"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SeriesKind::Requests => "requests",
            SeriesKind::Gauge => "gauge",
        }
    }
}

/// A series and the time range it holds data for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SeriesInfo {
    /// The series name (request series and gauges have a name space each).
    pub name: String,
    /// Requests or a gauge.
    pub kind: SeriesKind,
    /// First second and end (exclusive), unix seconds; `None` when empty.
    pub bounds_s: Option<(u64, u64)>,
}

/// Counters of a whole store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Series created.
    pub series: usize,
    /// Gauges created.
    pub gauges: usize,
    /// Gauge values dropped for being NaN or infinite.
    pub invalid: u64,
    /// Samples that arrived after their second was sealed (kept, as late
    /// deltas), gauges' included.
    pub late: u64,
    /// Samples dropped: older than retention in data time, or before 1970.
    pub rejected: u64,
    /// Samples dropped for being dated further ahead of the wall clock than
    /// [`Options::max_future`] allows.
    pub future: u64,
    /// Lookups of a new series name refused because the store held
    /// [`Options::max_series`] series: their samples went to
    /// [`OVERFLOW_SERIES`].
    pub overflowed: u64,
    /// Newest data second seen (unix seconds), 0 before the first sample.
    pub newest_s: u64,
    /// Data time for retention (unix seconds), as of the last seal pass:
    /// the [`crate::RETENTION_SUPPORT`]-th newest distinct second that holds
    /// samples (the wall clock's, once `record()` is used). Retention keeps
    /// what is within each level's retention of it, so up to
    /// `SUPPORT - 1` stray seconds dated far ahead of the rest delete
    /// nothing.
    pub retention_newest_s: u64,
    /// Approximate bytes held by recorders and sealed history.
    pub memory_bytes: usize,
    /// Failed background writes or retention passes of a durable store (the
    /// next `flush()` returns the error).
    pub storage_errors: u64,
}

/// The entry `name` of a name map (series or gauges), created with `make`
/// on first use; past `cap` entries (0: none), a new name gets
/// [`OVERFLOW_SERIES`]'s entry and the lookup is counted in `overflowed`.
fn get_or_create<T>(
    map: &RwLock<HashMap<Arc<str>, Arc<T>>>,
    name: &str,
    (cap, elsewhere): (usize, usize),
    overflowed: &AtomicU64,
    make: impl FnOnce(&str) -> T,
) -> Arc<T> {
    if let Some(e) = map.read().get(name) {
        return e.clone();
    }
    let mut map = map.write();
    if let Some(e) = map.get(name) {
        return e.clone();
    }
    let name = if cap > 0 && map.len() + elsewhere >= cap {
        overflowed.fetch_add(1, Relaxed);
        OVERFLOW_SERIES
    } else {
        name
    };
    map.entry(Arc::from(name)).or_insert_with(|| Arc::new(make(name))).clone()
}

/// The names of a name map, sorted.
fn sorted_names<T>(map: &RwLock<HashMap<Arc<str>, Arc<T>>>) -> Vec<String> {
    let mut v: Vec<String> = map.read().keys().map(ToString::to_string).collect();
    v.sort();
    v
}

/// The series that takes the samples of new names once a store holds
/// [`Options::max_series`] series.
pub const OVERFLOW_SERIES: &str = "(overflow)";

/// Where a store's history lives.
enum Backing {
    /// In memory only.
    Memory,
    /// A directory read at open; nothing is written back.
    ReadOnly(DirScan),
    /// A directory this store is the single writer of.
    Writer(Box<Storage>, DirScan),
}

/// What every handle, the clock thread and the seal passes share.
pub(crate) struct Inner {
    pub(crate) opts: Options,
    /// Opened from a directory (retentions are the on-disk ones).
    pub(crate) durable: bool,
    pub(crate) storage: Option<Mutex<Storage>>,
    pub(crate) open_report: Option<Report>,
    pub(crate) timeline: Arc<Timeline>,
    pub(crate) series: RwLock<HashMap<Arc<str>, Arc<SeriesInner>>>,
    /// Series found at open and not used yet (see `recovery::load`): they
    /// become live, in `series`, when first used.
    pub(crate) cold: Mutex<crate::recovery::Cold>,
    /// Gauges: a name space of their own.
    pub(crate) gauges: RwLock<HashMap<Arc<str>, Arc<GaugeInner>>>,
    /// The process sampler's thread ([`Store::sample_process`]), joined at
    /// close.
    pub(crate) sampler: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) sinks: RwLock<Vec<Arc<dyn Sink>>>,
    pub(crate) stop: AtomicBool,
    /// See [`StoreStats::overflowed`].
    pub(crate) overflowed: AtomicU64,
    /// Serialises seal passes (ticker, `seal_now`, flushes; queries do not
    /// seal) and holds the bound every series is sealed below, as the last
    /// pass told the sinks.
    pub(crate) sealing: Mutex<u64>,
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
    pub(crate) ticker: Arc<TickerGuard>,
    pub(crate) inner: Arc<Inner>,
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
        Store::build(opts, Backing::Memory)
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
        recovery::tidy(&scan, &opts.layout)?;
        let storage = Storage {
            writer,
            disk_levels: opts.levels(true),
            last_flush: std::time::Instant::now(),
            error: None,
            errors: 0,
        };
        Ok(Store::build(opts, Backing::Writer(Box::new(storage), scan)))
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
        Ok(Store::build(opts, Backing::ReadOnly(scan)))
    }

    fn build(opts: Options, backing: Backing) -> Store {
        let (storage, scan) = match backing {
            Backing::Memory => (None, None),
            Backing::ReadOnly(scan) => (None, Some(scan)),
            Backing::Writer(storage, scan) => (Some(storage), Some(scan)),
        };
        let durable = scan.is_some();
        let timeline = Arc::new(Timeline::new(
            opts.levels(durable)[0].retention_s,
            whole_seconds(opts.max_future),
        ));
        let inner = Arc::new(Inner {
            opts,
            durable,
            storage: storage.map(|s| Mutex::new(*s)),
            open_report: scan.as_ref().map(|s| s.report.clone()),
            timeline,
            series: RwLock::new(HashMap::new()),
            cold: Mutex::new(crate::recovery::Cold::default()),
            gauges: RwLock::new(HashMap::new()),
            sampler: Mutex::new(None),
            sinks: RwLock::new(Vec::new()),
            stop: AtomicBool::new(false),
            overflowed: AtomicU64::new(0),
            sealing: Mutex::new(0),
        });
        if let Some(scan) = &scan {
            recovery::load(&inner, scan);
            recovery::load_gauges(&inner, scan);
        }
        let ticker = Arc::new(TickerGuard::start(&inner));
        Store { ticker, inner }
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
    ///
    /// Once the store holds [`Options::max_series`] series, a new name gets
    /// the handle of the overflow series [`OVERFLOW_SERIES`] instead (so a
    /// scanner's 200 000 distinct paths cost one series, not 200 000), and
    /// the lookup is counted in [`StoreStats::overflowed`]. Series loaded
    /// from disk are never dropped; the cap applies to new names.
    #[must_use]
    pub fn series(&self, name: &str) -> Series {
        let inner = &self.inner;
        // A live series is one read lock away, as before lazy loading; the
        // cold ones and the cap are looked at only for a name not live yet.
        if let Some(s) = inner.series.read().get(name) {
            return Series { inner: s.clone(), timeline: inner.timeline.clone() };
        }
        crate::recovery::warm(inner, name);
        // Series still cold count towards the cap as the live ones do.
        let cold = inner.cold.lock().map.len();
        let cap = (inner.opts.max_series, cold);
        let s =
            get_or_create(&inner.series, name, cap, &inner.overflowed, |n| new_series(inner, n, 0));
        Series { inner: s, timeline: inner.timeline.clone() }
    }

    /// Whether the store holds series `name` (one lookup, whatever the
    /// number of series).
    #[must_use]
    pub fn has_series(&self, name: &str) -> bool {
        self.inner.series.read().contains_key(name) || self.inner.cold.lock().map.contains_key(name)
    }

    /// Names of all series, sorted.
    #[must_use]
    pub fn series_names(&self) -> Vec<String> {
        let mut v = sorted_names(&self.inner.series);
        let cold = self.inner.cold.lock();
        if !cold.map.is_empty() {
            v.extend(cold.map.keys().map(ToString::to_string));
            v.sort();
        }
        v
    }

    /// Every series and gauge with its kind and the time range it has data
    /// for (sealed or not), sorted by name. Seals what is due first.
    #[must_use]
    pub fn series_info(&self) -> Vec<SeriesInfo> {
        crate::recovery::warm_matching(&self.inner, |_| true);
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
                SeriesInfo {
                    name: s.name.to_string(),
                    kind: SeriesKind::Requests,
                    bounds_s: bounds,
                }
            })
            .collect();
        let gauges: Vec<Arc<GaugeInner>> = self.inner.gauges.read().values().cloned().collect();
        for g in &gauges {
            let mut bounds = g.tier.lock().time_bounds();
            if let Some((a, b)) = g.recorder.unsealed_bounds() {
                bounds = Some(bounds.map_or((a, b), |(x, y)| (x.min(a), y.max(b))));
            }
            out.push(SeriesInfo {
                name: g.name.to_string(),
                kind: SeriesKind::Gauge,
                bounds_s: bounds,
            });
        }
        out.sort_by(|a, b| (&a.name, a.kind.as_str()).cmp(&(&b.name, b.kind.as_str())));
        out
    }

    /// The sealed pieces of series `name` at the rollup level whose piece
    /// length is `span_s` (1, 60 or 3600 with the default levels), starting in
    /// `[start_s, end_s)`, in time order: the stored intervals themselves, for
    /// export. Seals what is due of that series first (at its own cost, not
    /// the store's); the still-open seconds are not
    /// included. `None` when the series or the level does not exist.
    #[must_use]
    pub fn pieces(
        &self,
        name: &str,
        span_s: u32,
        start_s: u64,
        end_s: u64,
    ) -> Option<Vec<Interval>> {
        crate::recovery::warm(&self.inner, name);
        let s = self.inner.series.read().get(name).cloned()?;
        seal_one(&self.inner, &s);
        let mut tier = s.tier.lock();
        let level = tier.specs().iter().position(|l| l.span_s == span_s)?;
        Some(tier.pieces(level, start_s, end_s))
    }

    /// The handle of gauge `name`, created on first use (gauges and request
    /// series have a name space each; [`Options::max_series`] caps each,
    /// new gauge names past it set [`OVERFLOW_SERIES`]). Keep it: setting
    /// through a handle takes no lock, looking a name up does.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tailstore::{Options, Selector, Store};
    /// let store = Store::in_memory(Options::default());
    /// let g = store.gauge("process_resident_memory_bytes");
    /// g.set(812.0e6);
    /// let st = store
    ///     .gauge_query(Selector::exact("process_resident_memory_bytes"))
    ///     .last(Duration::from_secs(60))
    ///     .run()?;
    /// assert_eq!(st.last(), Some(812.0e6));
    /// # Ok::<(), tailstore::Error>(())
    /// ```
    ///
    /// A durable store ([`Store::open`]) persists its gauges (in gauge files,
    /// `docs/FORMAT.md` "Gauge files"), like its request series.
    #[must_use]
    pub fn gauge(&self, name: &str) -> Gauge {
        let inner = &self.inner;
        let g = get_or_create(
            &inner.gauges,
            name,
            (inner.opts.max_series, 0),
            &inner.overflowed,
            |n| new_gauge(inner, n),
        );
        Gauge { inner: g, timeline: inner.timeline.clone() }
    }

    /// Names of all gauges, sorted.
    #[must_use]
    pub fn gauge_names(&self) -> Vec<String> {
        sorted_names(&self.inner.gauges)
    }

    /// Starts the process sampler (idempotent: a second call changes
    /// nothing and returns false): one thread `tailstore-sampler` that,
    /// every `every` (at least 10 ms), sets from `/proc/self`
    ///
    /// * `process_cpu_percent`: CPU time (user + system, all threads) over
    ///   the interval, in percent of one core;
    /// * `process_resident_memory_bytes` (`VmRSS`);
    /// * `process_threads`;
    ///
    /// and, when the process runs in its own cgroup v2 (a container: the
    /// cgroup has a `memory.current`), `container_memory_usage_bytes`
    /// (`memory.current`), `container_memory_limit_bytes` (`memory.max`,
    /// unset when unlimited) and `container_cpu_percent` (`cpu.stat`'s
    /// `usage_usec` over the interval, in percent of the `cpu.max` quota
    /// when one is set, else of one core). CPU percentages start with the
    /// second sample. Files are opened once; a sample allocates nothing.
    /// A sample costs about 33 µs of CPU (0.003 % of a core at 1 s; see
    /// `docs/BENCHMARKS.md`).
    /// The thread stops, and is joined, when the store closes. Linux only:
    /// elsewhere the thread sets nothing.
    ///
    /// Returns whether this call started the sampler.
    #[expect(
        clippy::must_use_candidate,
        reason = "starting is the point; the result only says whether this call did"
    )]
    pub fn sample_process(&self, every: Duration) -> bool {
        let mut slot = self.inner.sampler.lock();
        if slot.is_some() || self.inner.stop.load(Relaxed) {
            return false;
        }
        let every = every.max(Duration::from_millis(10));
        let sampler = crate::sampler::ProcSampler::new(&|name| self.gauge(name));
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("tailstore-sampler".into())
            .spawn(move || crate::sampler::run(&weak, sampler, every));
        match spawned {
            Ok(handle) => {
                *slot = Some(handle);
                true
            }
            Err(_) => false,
        }
    }

    /// Starts a query over the gauges `selector` picks.
    #[must_use]
    pub fn gauge_query(&self, selector: Selector) -> GaugeQuery<'_> {
        GaugeQuery { store: self, selector, window: WindowSpec::Unset, warmup: DEFAULT_WARMUP }
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

    /// Registers a sink for sealed intervals and sealed bounds (see
    /// [`Sink`]: rule evaluators, exposition, mirrors).
    pub fn add_sink(&self, sink: Arc<dyn Sink>) {
        self.inner.sinks.write().push(sink);
    }

    /// Unregisters a sink added with [`Store::add_sink`] (the same `Arc`);
    /// false when it was not registered. A seal pass under way may still
    /// call it once more.
    pub fn remove_sink(&self, sink: &Arc<dyn Sink>) -> bool {
        let mut sinks = self.inner.sinks.write();
        let before = sinks.len();
        // Compares the data pointers only: one object, whatever the vtable.
        sinks.retain(|s| !std::ptr::addr_eq(Arc::as_ptr(s), Arc::as_ptr(sink)));
        sinks.len() < before
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
            series: series.len() + self.inner.cold.lock().map.len(),
            newest_s: self.inner.timeline.newest.load(Relaxed),
            retention_newest_s: self.inner.timeline.retention_newest(),
            rejected: self.inner.timeline.rejected_pre_epoch.load(Relaxed),
            overflowed: self.inner.overflowed.load(Relaxed),
            ..StoreStats::default()
        };
        if let Some(storage) = &self.inner.storage {
            st.storage_errors = storage.lock().errors;
        }
        drop(series);
        for g in self.inner.gauges.read().values() {
            let c = g.recorder.counters();
            st.gauges += 1;
            st.late += c.late;
            st.rejected += c.rejected;
            st.future += c.future;
            st.invalid += c.invalid;
            st.memory_bytes += g.recorder.memory_bytes() + g.tier.lock().memory_bytes();
        }
        let series = self.inner.series.read();
        for s in series.values() {
            let c = s.recorder.counters();
            st.late += c.late;
            st.rejected += c.rejected;
            st.future += c.future;
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
