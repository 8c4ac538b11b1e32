//! The seal-and-persist pass: what the recorders hold below the seal bound
//! goes into the series' tiers and rollups, the writer's queue (a durable
//! store) and the sinks; and the durable side it writes through.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tailstore_hist::{Accumulator, Sealed};
use tailstore_query::LevelSpec;
use tailstore_storage::{encode_interval, EncodedInterval, StoredInterval, Writer, LEVELS};

use crate::clock::wall_second;
use crate::error::Error;
use crate::series::SeriesInner;
use crate::sink::Sink;
use crate::store::Inner;

/// Levels of every store (tiers and files), as an array length.
pub(crate) const N_LEVELS: usize = LEVELS as usize;

/// zstd level of payloads that zstd shrinks (the writer's default).
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// A segment file not appended to for this long (and at least two spans of
/// its level) is closed: compacted if it took late deltas (its pieces
/// merged into one record each), and indexed. At drop, all are.
pub(crate) const CLOSE_IDLE: Duration = Duration::from_secs(60);

/// The durable side of a store opened with [`Store::open`].
pub(crate) struct Storage {
    pub(crate) writer: Writer,
    pub(crate) disk_levels: Vec<LevelSpec>,
    pub(crate) last_flush: std::time::Instant,
    /// The first background error not yet returned by `flush()`.
    pub(crate) error: Option<tailstore_storage::Error>,
    pub(crate) errors: u64,
}

impl Storage {
    /// Writes what is queued, then removes the files past retention, and
    /// closes the files idle for `idle` (compacting those that took late
    /// deltas, and writing their index).
    pub(crate) fn flush_and_expire(&mut self, newest: u64, idle: Duration) {
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

    pub(crate) fn note(&mut self, r: Result<(), tailstore_storage::Error>) {
        if let Err(e) = r {
            self.errors += 1;
            self.error.get_or_insert(e);
        }
    }
}

/// Seals everything and, for a durable store, writes it, removes what is
/// past retention and closes the files idle for `idle` (every file with
/// zero: compact and close). Returns the first background error not yet
/// returned. [`Store::flush`], [`Store::compact`] and the close.
pub(crate) fn flush_inner(inner: &Inner, idle: Duration) -> Result<(), Error> {
    seal_pass(inner, true);
    if let Some(st) = &inner.storage {
        let mut st = st.lock();
        st.flush_and_expire(inner.timeline.retention_newest(), idle);
        if let Some(e) = st.error.take() {
            return Err(Error::Storage(e));
        }
    }
    Ok(())
}

/// The seal bounds of a pass now: every second below the first is sealed
/// (below the second, for a series fed only by the live clock).
fn bounds(inner: &Inner, force: bool) -> (u64, u64) {
    // Keeps the coarse clock current even without the clock thread.
    inner.timeline.now_s.fetch_max(wall_second(), Relaxed);
    let newest = inner.timeline.newest.load(Relaxed);
    if force {
        (newest + 1, newest + 1)
    } else {
        // Live samples carry the coarse clock's second: one second of grace
        // covers a writer that read the clock just before it ticked.
        (newest.saturating_sub(inner.opts.lateness_s()), newest.saturating_sub(1))
    }
}

/// Seals what is due of one series only, as a pass would now: a read of
/// one series' sealed pieces costs that series, not every series of the
/// store. The store-wide bookkeeping of a pass (retention's data time, the
/// sinks' sealed bound) waits for the next full pass.
pub(crate) fn seal_one(inner: &Inner, s: &SeriesInner) {
    let _serialised = inner.sealing.lock();
    let (seal_below, live_seal_below) = bounds(inner, false);
    let sinks = inner.sinks.read().clone();
    let retained = inner.timeline.retention_newest();
    let pass = Pass { inner, seal_below, live_seal_below, retained, force: false, sinks: &sinks };
    let mut scratch = Accumulator::new(inner.opts.layout);
    pass.seal_series(s, &mut scratch);
}

/// Seals what is due (everything, with `force`), merges it into the tiers,
/// builds rollups, queues it for storage and hands it to the sinks.
pub(crate) fn seal_pass(inner: &Inner, force: bool) {
    let mut sealed_below = inner.sealing.lock();
    let (seal_below, live_seal_below) = bounds(inner, force);
    let series: Vec<Arc<SeriesInner>> = inner.series.read().values().cloned().collect();
    let sinks = inner.sinks.read().clone();
    // Retention as of the previous pass (the bound every sample drained
    // since was judged against); this pass publishes the next one.
    let retained = inner.timeline.retention_newest();
    let pass = Pass { inner, seal_below, live_seal_below, retained, force, sinks: &sinks };
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
    // Gauges are few (a sampler's handful, a user's queue depths): each is
    // sealed every pass, so its tier's rollups and retention follow the
    // bounds even while it is idle.
    let gauges: Vec<Arc<crate::gauge::GaugeInner>> =
        inner.gauges.read().values().cloned().collect();
    let mut persist = Vec::new();
    for g in &gauges {
        persist.clear();
        g.seal(
            seal_below,
            live_seal_below,
            retained,
            inner.storage.is_some().then_some(&mut persist),
        );
        if let (Some(st), false) = (&inner.storage, persist.is_empty()) {
            let mut st = st.lock();
            for level in 0..LEVELS {
                let pieces: Vec<(u64, tailstore_hist::GaugeAgg, bool)> = persist
                    .iter()
                    .filter(|p| p.0 == level)
                    .map(|&(_, start, agg, late)| (start, agg, late))
                    .collect();
                if !pieces.is_empty() {
                    let r = st.writer.append_gauge(level, &g.name, &pieces);
                    st.note(r);
                }
            }
        }
    }
    // Every ring was drained above: what they held is in the newest
    // seconds now.
    inner.timeline.publish_retention();
    // A forced pass sealed further than the regular ones that follow it.
    *sealed_below = (*sealed_below).max(seal_below);
    for sink in &sinks {
        sink.sealed_through(*sealed_below);
    }
}

/// One seal pass's bounds.
struct Pass<'a> {
    inner: &'a Inner,
    seal_below: u64,
    live_seal_below: u64,
    /// Data time for retention ([`crate::clock::Timeline::retention_newest`]).
    retained: u64,
    /// A flush, compact or close: late seconds are not held back.
    force: bool,
    sinks: &'a [Arc<dyn Sink>],
}

impl Pass<'_> {
    /// Seals one series: into its tier, its rollups, the writer's queue
    /// (encoded before the writer's lock is taken) and the sinks.
    fn seal_series(&self, s: &SeriesInner, scratch: &mut Accumulator) {
        // An idle series with nothing due in its tier is skipped: a pass
        // costs what recorded (a store of 200 000 series, most of them
        // scanner paths seen once, seals in microseconds per pass).
        if !self.force
            && self.seal_below < s.rollup_due.load(Relaxed)
            && self.retained < s.expire_due.load(Relaxed)
            && s.recorder.is_idle()
        {
            return;
        }
        let inner = self.inner;
        let durable = inner.storage.is_some();
        let mut persist: Vec<(usize, StoredInterval)> = Vec::new();
        let sealed: Sealed = {
            let mut tier = s.tier.lock();
            let sealed = s.recorder.seal(self.seal_below, self.live_seal_below, self.force);
            tier.advance(self.retained);
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
            let (rollup, expire) = tier.due();
            s.rollup_due.store(rollup, Relaxed);
            s.expire_due.store(expire, Relaxed);
            sealed
        };
        if let (Some(st), false) = (&inner.storage, persist.is_empty()) {
            let layout = inner.opts.layout;
            let mut batches: [Vec<EncodedInterval>; N_LEVELS] = Default::default();
            let mut failed = 0u64;
            for (level, p) in &persist {
                match encode_interval(&p.interval, p.late, &layout, ZSTD_LEVEL) {
                    Some(e) => batches[(*level).min(N_LEVELS - 1)].push(e),
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
