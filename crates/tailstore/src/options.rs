//! Store configuration.

use std::time::Duration;

use tailstore_hist::{ErrorSet, Layout};
use tailstore_query::LevelSpec;

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
    pub(crate) retention_1s: Duration,
    pub(crate) retention_1m: Duration,
    pub(crate) retention_1h: Duration,
    pub(crate) errors: ErrorSet,
    pub(crate) tick: Duration,
}

impl Default for Options {
    /// 3 digits over 1 µs ..= 1 h; lateness 10 s; in memory, one-second
    /// intervals for 1 h, minutes for 48 h, hours for 35 days; the guide's
    /// error set; a 10 ms clock tick.
    fn default() -> Self {
        Options {
            layout: Layout::default(),
            lateness: Duration::from_secs(10),
            retention_1s: Duration::from_secs(3600),
            retention_1m: Duration::from_secs(48 * 3600),
            retention_1h: Duration::from_secs(35 * 86_400),
            errors: ErrorSet::default(),
            tick: Duration::from_millis(10),
        }
    }
}

impl Options {
    /// Histogram layout (digits and value range) of every series.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// How far behind the newest sample (in data time) a sample may be and
    /// still go into its open second; older samples become late deltas.
    pub fn lateness(mut self, lateness: Duration) -> Self {
        self.lateness = lateness;
        self
    }

    /// Retention of one-second intervals (rounded up to whole seconds, at
    /// least 1 s). Samples older than this, in data time, are rejected.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention_1s = retention;
        self
    }

    /// Retention of the one-minute rollups.
    pub fn retention_minutes(mut self, retention: Duration) -> Self {
        self.retention_1m = retention;
        self
    }

    /// Retention of the one-hour rollups.
    pub fn retention_hours(mut self, retention: Duration) -> Self {
        self.retention_1h = retention;
        self
    }

    /// Keep everything: every retention becomes unbounded (for replays).
    pub fn keep_everything(mut self) -> Self {
        let forever = Duration::from_secs(u64::MAX / 4);
        self.retention_1s = forever;
        self.retention_1m = forever;
        self.retention_1h = forever;
        self
    }

    /// Status codes that count as errors (default: `400|402|403|404|405|406|408|429|5xx`).
    pub fn errors(mut self, errors: ErrorSet) -> Self {
        self.errors = errors;
        self
    }

    /// How often the background clock publishes the current second and seals
    /// (default 10 ms; between 1 ms and 1 s).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick.clamp(Duration::from_millis(1), Duration::from_secs(1));
        self
    }

    pub(crate) fn lateness_s(&self) -> u64 {
        self.lateness.as_secs() + u64::from(self.lateness.subsec_nanos() > 0)
    }

    pub(crate) fn levels(&self) -> Vec<LevelSpec> {
        let s = |d: Duration| (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1);
        vec![
            LevelSpec { span_s: 1, retention_s: s(self.retention_1s) },
            LevelSpec { span_s: 60, retention_s: s(self.retention_1m).max(60) },
            LevelSpec { span_s: 3600, retention_s: s(self.retention_1h).max(3600) },
        ]
    }
}
