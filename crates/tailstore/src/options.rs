//! Store configuration.

use std::time::Duration;

use tailstore_hist::{ErrorSet, Layout};
use tailstore_query::LevelSpec;
use tailstore_storage::{span_s, FsyncPolicy, LEVELS};

use crate::clock::whole_seconds;

// One retention option and one default per level of the scheme.
const _: () = assert!(LEVELS == 3);

/// Configuration of a [`Store`](crate::Store), built with chained setters.
///
/// ```
/// use std::time::Duration;
/// use tailstore::{ErrorSet, Layout, Options};
/// let opts = Options::default()
///     .layout(Layout::new(3, 1_000, 60_000_000_000)?) // 1 µs ..= 60 s, 3 digits
///     .lateness(Duration::from_secs(30))
///     .errors(ErrorSet::parse("5xx|429")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) layout: Layout,
    pub(crate) lateness: Duration,
    pub(crate) max_future: Duration,
    pub(crate) max_series: usize,
    pub(crate) retention_1s: Option<Duration>,
    pub(crate) retention_1m: Option<Duration>,
    pub(crate) retention_1h: Option<Duration>,
    pub(crate) errors: ErrorSet,
    pub(crate) tick: Duration,
    pub(crate) flush_every: Duration,
    pub(crate) fsync: FsyncPolicy,
    pub(crate) manual_seal: bool,
}

impl Default for Options {
    /// 3 digits over 1 µs ..= 1 h; lateness 10 s; samples up to 1 h ahead
    /// of the wall clock; at most 10 000 series; the guide's error set; a
    /// 10 ms clock tick. Retention of `Store::in_memory`: one-second
    /// intervals 1 h, minutes 48 h, hours 35 days; of `Store::open`: 48 h,
    /// 35 days, 400 days (all of it held in memory too, loaded at open).
    /// Durable stores flush every second and `fsync` at most every second.
    fn default() -> Self {
        Options {
            layout: Layout::default(),
            lateness: Duration::from_secs(10),
            max_future: Duration::from_secs(3600),
            max_series: 10_000,
            retention_1s: None,
            retention_1m: None,
            retention_1h: None,
            errors: ErrorSet::default(),
            tick: Duration::from_millis(10),
            flush_every: Duration::from_secs(1),
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
            manual_seal: false,
        }
    }
}

impl Options {
    /// Histogram layout (digits and value range) of every series.
    #[must_use]
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Whether seal passes run only when the owner asks
    /// ([`Store::seal_now`](crate::Store::seal_now), `flush`, `compact`,
    /// close) instead of on the clock thread whenever data time moves.
    /// Default `false`.
    ///
    /// Which samples are late deltas and which are past retention is decided
    /// between seal passes, so with passes at points of the caller's choosing
    /// a single thread's sequence of `record_at` calls and `seal_now`s gives
    /// the same counters and the same stored data on every run, whatever
    /// the timing. The `tailstore replay` command records in input order
    /// this way and seals after each block of lines. Live `record()`
    /// traffic needs no such mode (its seconds come from the clock).
    #[must_use]
    pub fn manual_seal(mut self, manual: bool) -> Self {
        self.manual_seal = manual;
        self
    }

    /// How far behind the newest sample (in data time) a sample may be and
    /// still go into its open second; older samples become late deltas.
    #[must_use]
    pub fn lateness(mut self, lateness: Duration) -> Self {
        self.lateness = lateness;
        self
    }

    /// How far ahead of the wall clock a sample may be dated (rounded up to
    /// whole seconds; default 1 h). A sample further ahead is rejected and
    /// counted as `future` ([`StoreStats::future`](crate::StoreStats)):
    /// data time follows the newest sample, and retention follows data
    /// time, so one line dated years ahead would otherwise expire
    /// everything stored. `Duration::MAX` admits any date.
    #[must_use]
    pub fn max_future(mut self, max_future: Duration) -> Self {
        self.max_future = max_future;
        self
    }

    /// The most series a store creates (default 10 000; 0 = no cap). Series
    /// names come from data (request paths, routes); a scanner's requests
    /// would otherwise make one series per probed path. Past the cap, new
    /// names record into [`OVERFLOW_SERIES`](crate::OVERFLOW_SERIES) (one
    /// series more),
    /// counted in [`StoreStats::overflowed`](crate::StoreStats).
    #[must_use]
    pub fn max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    /// Retention of one-second intervals (rounded up to whole seconds, at
    /// least 1 s). Samples older than this, in data time, are rejected.
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention_1s = Some(retention);
        self
    }

    /// Retention of the one-minute rollups.
    #[must_use]
    pub fn retention_minutes(mut self, retention: Duration) -> Self {
        self.retention_1m = Some(retention);
        self
    }

    /// Retention of the one-hour rollups.
    #[must_use]
    pub fn retention_hours(mut self, retention: Duration) -> Self {
        self.retention_1h = Some(retention);
        self
    }

    /// Keep everything: every retention becomes unbounded (for replays).
    #[must_use]
    pub fn keep_everything(mut self) -> Self {
        let forever = Duration::from_secs(u64::MAX / 4);
        self.retention_1s = Some(forever);
        self.retention_1m = Some(forever);
        self.retention_1h = Some(forever);
        self
    }

    /// How often a durable store writes what was sealed (default 1 s). A
    /// crash loses at most the seconds not yet flushed.
    #[must_use]
    pub fn flush_every(mut self, every: Duration) -> Self {
        self.flush_every = every.max(Duration::from_millis(1));
        self
    }

    /// When a durable store `fsync`s its segment files (default: at most
    /// once a second). See `docs/FORMAT.md` for what each policy survives.
    #[must_use]
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Status codes that count as errors (default: `400|402|403|404|405|406|408|429|5xx`).
    #[must_use]
    pub fn errors(mut self, errors: ErrorSet) -> Self {
        self.errors = errors;
        self
    }

    /// How often the background clock publishes the current second and seals
    /// (default 10 ms; between 1 ms and 1 s).
    #[must_use]
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick.clamp(Duration::from_millis(1), Duration::from_secs(1));
        self
    }

    pub(crate) fn lateness_s(&self) -> u64 {
        whole_seconds(self.lateness)
    }

    /// Levels of the in-memory tier (`durable = false`) or of the files: the
    /// storage crate's level scheme (spans of 1 s, 1 min, 1 h) with this
    /// store's retentions, each at least one piece long.
    pub(crate) fn levels(&self, durable: bool) -> Vec<LevelSpec> {
        let h = 3600;
        let defaults =
            if durable { [48 * h, 35 * 24 * h, 400 * 24 * h] } else { [h, 48 * h, 35 * 24 * h] };
        let set = [self.retention_1s, self.retention_1m, self.retention_1h];
        (0..LEVELS)
            .zip(defaults.into_iter().zip(set))
            .map(|(level, (default, set))| {
                let span_s = span_s(level);
                let retention_s = set.map_or(default, whole_seconds).max(u64::from(span_s));
                LevelSpec { span_s, retention_s }
            })
            .collect()
    }
}
