//! Recovery at open: the files' index becomes the series' tiers (cold
//! references into the mapped segments, decoded when a query first needs a
//! piece), rollups the files may disagree on are rebuilt, and files left
//! with late deltas or without an index by an earlier run are compacted or
//! indexed.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tailstore_hist::{Accumulator, Clock, Interval, Layout, NewestSeconds};
use tailstore_query::{PieceRef, PieceRefs, PieceSource};
use tailstore_storage::{DirScan, Indexed, Loc, Segments, StoredInterval};

use crate::seal::ZSTD_LEVEL;
use crate::series::{new_series, SeriesInner};
use crate::store::Inner;

/// Compacts the files that hold late deltas from earlier runs (which
/// indexes them) and indexes the others that have no usable index (written
/// by a run that crashed), so the next open reads less. The tiers read the
/// maps of the files as they were at the scan.
///
/// # Errors
///
/// The first compaction or index write that fails.
pub(crate) fn tidy(scan: &DirScan, layout: &Layout) -> Result<(), tailstore_storage::Error> {
    let late_files: std::collections::BTreeSet<u32> =
        scan.records.iter().filter(|r| r.entry.late).map(|r| r.loc.file).collect();
    let mut todo: Vec<u32> = scan.unindexed.iter().chain(&late_files).copied().collect();
    todo.sort_unstable();
    todo.dedup();
    for f in todo {
        let Some((level, bucket, path)) = scan.segments.file(f) else { continue };
        let path: &Path = path;
        let compacted = late_files.contains(&f)
            && tailstore_storage::compact_segment(path, level, bucket, layout, ZSTD_LEVEL)?;
        if !compacted {
            tailstore_storage::write_index(path, level, bucket, layout)?;
        }
    }
    Ok(())
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
pub(crate) struct Parts {
    refs: PieceRefs,
    /// A complete (non-late) copy is among `refs` (rollup levels).
    base: bool,
    /// Some part is a late delta.
    late: bool,
}

/// One stored record of a cold series: its level, start, late flag and
/// place.
#[derive(Clone, Copy)]
struct ColdRec {
    level: u8,
    late: bool,
    start: u64,
    r: PieceRef,
}

/// The series of a directory index not yet loaded into tiers (see
/// [`load`]): every record in one array, each series' records together,
/// ascending by level and start (the records of one piece in the order
/// they were written); and what loading one needs. One allocation for all
/// the records, whatever the number of series.
#[derive(Default)]
pub(crate) struct Cold {
    recs: Vec<ColdRec>,
    /// Series not materialized yet: their records, `recs[a..b]`.
    pub(crate) map: FxHashMap<Arc<str>, (usize, usize)>,
    /// The mapped segments the pieces are read from.
    source: Option<Arc<dyn PieceSource>>,
    /// The newest second any file held at open.
    newest: u64,
    /// What damage found at open may have taken.
    lost: Vec<tailstore_storage::Lost>,
}

/// Loads a directory index, decoding almost nothing and building no series:
/// the records are grouped by series into [`Cold`], and a series becomes a
/// live one (recorder and tier) when it is first used ([`warm`]): a store
/// of 200 000 series opens in the time its index takes to read, and a query
/// costs the series it touches. Series whose files may disagree (below) are
/// loaded at once, so their repair is written while the finer data it
/// needs is still retained.
///
/// A second is the sum of its stored parts; a rollup piece is the last
/// complete (non-late) copy stored plus the late deltas after it. A rollup
/// span still covered by retained finer data is rebuilt from that data (and
/// re-persisted where the stored copy differs) only where the files may
/// disagree: no complete copy is stored (a crash between the writes of the
/// seconds and of their rollup), or a finer part is a late delta (a crash
/// between the writes of a delta and of its rollup deltas). Everything else
/// stays cold until read.
///
/// Where the scan found damage ([`DirScan::lost`]: pieces of one series
/// named by the damaged segment's index file, or a whole segment's time
/// bucket for every series, up to the newest second the files hold), the
/// pieces are marked damaged before the rebuilds: queries answer those
/// spans from intact finer levels or report them, and a rollup rebuilt from
/// intact finer data is whole again. A record that fails its checksum only
/// when a query decodes it is marked damaged then, by the tier.
pub(crate) fn load(inner: &Inner, disk: &DirScan) {
    let levels = inner.opts.levels(inner.durable).len();
    let (newest, ends, (recs, by_series)) = group_records(&disk.records, levels);
    if by_series.is_empty() {
        return;
    }
    inner.timeline.newest.fetch_max(newest, Relaxed);
    // Retention follows the newest seconds the files support, not the
    // newest record: a stray second far ahead stored by an earlier run
    // deletes nothing at this open either.
    inner.timeline.note_newest(&ends);
    let retained = inner.timeline.publish_retention();
    let source: Arc<dyn PieceSource> = Arc::new(DiskSource(disk.segments.clone()));
    let repair: Vec<Arc<str>> = {
        let specs = inner.opts.levels(inner.durable);
        let mut v: Vec<Arc<str>> = by_series
            .iter()
            .filter(|(_, &(a, b))| may_disagree(&recs[a..b], &specs, retained, newest))
            .map(|(name, _)| name.clone())
            .collect();
        v.sort();
        v
    };
    {
        let mut cold = inner.cold.lock();
        cold.recs = recs;
        cold.map = by_series;
        cold.source = Some(source);
        cold.newest = newest;
        cold.lost.clone_from(&disk.lost);
    }
    let mut map = inner.series.write();
    for name in repair {
        materialize(inner, &mut map, &name);
    }
}

/// Whether the files of a series may disagree where finer data is retained
/// (a rollup span without a complete copy, or a finer late delta after the
/// last complete copy): then loading it rebuilds and re-persists rollups.
/// `recs`: the series' records, as [`Cold`] keeps them.
fn may_disagree(
    recs: &[ColdRec],
    specs: &[tailstore_query::LevelSpec],
    retained: u64,
    newest: u64,
) -> bool {
    let level_of = |l: usize| {
        let a = recs.partition_point(|r| usize::from(r.level) < l);
        let b = recs.partition_point(|r| usize::from(r.level) <= l);
        &recs[a..b]
    };
    (1..specs.len()).any(|k| {
        let (finer, coarser) = (level_of(k - 1), level_of(k));
        let span = u64::from(specs[k].span_s);
        let rebuild_from = specs[k - 1].retained_from(retained).div_ceil(span) * span;
        let limit = (newest + 1) - (newest + 1) % span;
        let has_base = |s: u64| {
            let a = coarser.partition_point(|r| r.start < s);
            coarser[a..].iter().take_while(|r| r.start == s).any(|r| !r.late)
        };
        let mut at = 0;
        while at < finer.len() {
            let start = finer[at].start;
            let n = finer[at..].iter().take_while(|r| r.start == start).count();
            let piece = &finer[at..at + n];
            at += n;
            // Late after the last complete copy (every record adds at level 0).
            let late = if k == 1 {
                piece.iter().any(|r| r.late)
            } else {
                piece.iter().rev().take_while(|r| r.late).count() > 0
            };
            let s = start - start % span;
            if s >= rebuild_from && s < limit && (late || !has_base(s)) {
                return true;
            }
        }
        false
    })
}

/// The pieces of one series' records (as [`Cold`] keeps them), per level:
/// each piece's start and parts, ascending by start. A second is the sum
/// of its parts; a rollup piece is its last complete copy and the late
/// deltas after it.
fn pieces_of(recs: &[ColdRec], levels: usize) -> Vec<Vec<(u64, Parts)>> {
    let mut maps: Vec<Vec<(u64, Parts)>> = (0..levels).map(|_| Vec::new()).collect();
    for rec in recs {
        let level = usize::from(rec.level);
        let Some(out) = maps.get_mut(level) else { continue };
        if out.last().is_none_or(|l| l.0 != rec.start) {
            out.push((rec.start, Parts::default()));
        }
        let parts = &mut out.last_mut().expect("pushed above").1;
        if level > 0 && !rec.late {
            parts.refs.clear();
            parts.base = true;
            parts.late = false;
        }
        parts.late |= rec.late;
        parts.refs.push(rec.r);
    }
    maps
}

/// Makes cold series `name` a live one in `map` (the caller holds the
/// series map's write lock): its tier from its stored pieces, rollups
/// rebuilt where the files may disagree (and re-persisted). `None` when it
/// is not cold.
pub(crate) fn materialize(
    inner: &Inner,
    map: &mut HashMap<Arc<str>, Arc<SeriesInner>>,
    name: &str,
) -> Option<Arc<SeriesInner>> {
    let (name, mut maps, source, newest, lost) = {
        let mut cold = inner.cold.lock();
        let (name, (a, b)) = cold.map.remove_entry(name)?;
        let levels = inner.opts.levels(inner.durable).len();
        let maps = pieces_of(&cold.recs[a..b], levels);
        let lost: Vec<tailstore_storage::Lost> = cold
            .lost
            .iter()
            .filter(|l| l.series.as_ref().is_none_or(|s| *s == name))
            .cloned()
            .collect();
        if cold.map.is_empty() {
            // The last cold series: the records go.
            cold.recs = Vec::new();
        }
        (name, maps, cold.source.clone()?, cold.newest, lost)
    };
    let levels = inner.opts.levels(inner.durable).len();
    let retained = inner.timeline.retention_newest();
    let mut scratch = Accumulator::new(inner.opts.layout);
    let series = Arc::new(new_series(inner, &name, newest + 1));
    let mut tier = series.tier.lock();
    tier.set_source(source.clone());
    tier.advance(retained);
    // Nothing stored after the newest second any file holds is known
    // to be lost (a crash's unflushed seconds are not damage either):
    // seconds recorded from here on are whole, and so are their rollups.
    for lost in &lost {
        let end = lost.end_s.min(newest + 1);
        tier.mark_damaged(usize::from(lost.level), lost.start_s, end);
    }
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
        let finer_from = specs[k - 1].retained_from(retained);
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
            let r = st.writer.append(k, &name, &[StoredInterval { interval: piece, late: false }]);
            st.note(r);
        }
    }
    map.insert(name.clone(), series.clone());
    Some(series)
}

/// Makes the cold series `name` live, if it is cold (a no-op otherwise).
pub(crate) fn warm(inner: &Inner, name: &str) {
    // Cold series are found only in a store opened from disk, and once
    // loaded they are live: no store-wide lock for a live name.
    if inner.series.read().contains_key(name) || !inner.cold.lock().map.contains_key(name) {
        return;
    }
    let mut map = inner.series.write();
    if !map.contains_key(name) {
        materialize(inner, &mut map, name);
    }
}

/// Makes every cold series whose name `pick` accepts live.
pub(crate) fn warm_matching(inner: &Inner, pick: impl Fn(&str) -> bool) {
    let names: Vec<Arc<str>> = {
        let cold = inner.cold.lock();
        if cold.map.is_empty() {
            return;
        }
        cold.map.keys().filter(|n| pick(n)).cloned().collect()
    };
    if names.is_empty() {
        return;
    }
    let mut map = inner.series.write();
    for name in names {
        if !map.contains_key(&name) {
            materialize(inner, &mut map, &name);
        }
    }
}

/// Loads the gauge pieces of a directory scan into gauge tiers (the
/// records of one piece, in file order, by the rule of
/// [`tailstore_query::GaugeTier::load`]); marks what damage may have taken;
/// rebuilds each rollup span its finer level retains whole and intact, and
/// re-persists the rebuilt pieces that differ from the stored ones (a
/// crash between the writes of a second and of its rollup).
pub(crate) fn load_gauges(inner: &Inner, disk: &DirScan) {
    if disk.gauges.is_empty() {
        return;
    }
    let levels = inner.opts.levels(inner.durable).len();
    let mut newest = 0u64;
    let mut ends = NewestSeconds::new();
    let mut by_name: HashMap<Arc<str>, Vec<(u8, &tailstore_storage::GaugePiece)>> = HashMap::new();
    for (level, p) in &disk.gauges {
        if usize::from(*level) >= levels {
            continue;
        }
        let end = p.agg.last_s.max(p.start_s);
        newest = newest.max(end);
        if end >= ends.entry() {
            ends.insert(end);
        }
        by_name.entry(p.series.clone()).or_default().push((*level, p));
    }
    inner.timeline.newest.fetch_max(newest, Relaxed);
    inner.timeline.note_newest(&ends);
    let retained = inner.timeline.publish_retention();
    let mut names: Vec<Arc<str>> = by_name.keys().cloned().collect();
    names.sort();
    let mut map = inner.gauges.write();
    for name in names {
        let pieces = by_name.remove(&name).expect("name listed from the map");
        let g = Arc::new(crate::gauge::new_gauge_from(inner, &name, newest + 1));
        let mut log = Vec::new();
        {
            let mut tier = g.tier.lock();
            for (level, p) in pieces {
                tier.load(usize::from(level), p.start_s, &p.agg, p.late);
            }
            for lost in &disk.gauge_lost {
                tier.mark_damaged(
                    usize::from(lost.level),
                    lost.start_s,
                    lost.end_s.min(newest + 1),
                );
            }
            tier.finish_load(newest, retained, &mut log);
            tier.advance(retained);
        }
        if let (Some(st), false) = (&inner.storage, log.is_empty()) {
            let mut st = st.lock();
            for (k, start, agg) in log {
                let level = u8::try_from(k).unwrap_or(u8::MAX);
                let r = st.writer.append_gauge(level, &name, &[(start, agg, false)]);
                st.note(r);
            }
        }
        map.insert(name, g);
    }
}

/// Series records grouped: the records ([`Cold::recs`]) and each series'
/// range in them.
type Grouped = (Vec<ColdRec>, FxHashMap<Arc<str>, (usize, usize)>);

/// Groups a directory index's records by series, then by level and start
/// (a piece's records are all in one file: they stay in the order they
/// were written) into one array. Returns the newest second the records
/// cover, the newest distinct last seconds of records (data time for
/// retention), the records and each series' range in them.
fn group_records(records: &[Indexed], levels: usize) -> (u64, NewestSeconds, Grouped) {
    let mut newest = 0u64;
    let mut ends = NewestSeconds::new();
    let mut ids: FxHashMap<Arc<str>, u32> = FxHashMap::default();
    let mut names: Vec<Arc<str>> = Vec::new();
    // (series id, level, start, position in `records`): sorted, the records
    // of each series together in level, start and file order.
    let mut keyed: Vec<(u32, u8, u64, u32)> = Vec::with_capacity(records.len());
    let mut last: Option<(&Arc<str>, u32)> = None;
    for (pos, rec) in records.iter().enumerate() {
        if usize::from(rec.level) >= levels {
            continue;
        }
        let span = u64::from(tailstore_storage::span_s(rec.level));
        let end = rec.entry.start_s + span - 1;
        newest = newest.max(end);
        if end >= ends.entry() {
            ends.insert(end);
        }
        // Runs of records of one series are common: skip the hash lookup.
        let id = match last {
            Some((name, id)) if Arc::ptr_eq(name, &rec.entry.series) => id,
            _ => {
                let next = u32::try_from(names.len()).unwrap_or(u32::MAX);
                let id = *ids.entry(rec.entry.series.clone()).or_insert_with(|| {
                    names.push(rec.entry.series.clone());
                    next
                });
                last = Some((&rec.entry.series, id));
                id
            }
        };
        let pos = u32::try_from(pos).unwrap_or(u32::MAX);
        keyed.push((id, rec.level, rec.entry.start_s, pos));
    }
    drop(ids);
    keyed.sort_unstable();
    let mut recs = Vec::with_capacity(keyed.len());
    let mut ranges: FxHashMap<Arc<str>, (usize, usize)> =
        FxHashMap::with_capacity_and_hasher(names.len(), rustc_hash::FxBuildHasher);
    let mut at = 0;
    while at < keyed.len() {
        let id = keyed[at].0;
        let first = recs.len();
        while let Some(&(i, level, start, pos)) = keyed.get(at).filter(|k| k.0 == id) {
            let rec = &records[pos as usize];
            let r = PieceRef { file: rec.loc.file, offset: rec.loc.offset, len: rec.loc.len };
            recs.push(ColdRec { level, late: rec.entry.late, start, r });
            at += 1;
            debug_assert_eq!(i, id);
        }
        ranges.insert(names[id as usize].clone(), (first, recs.len()));
    }
    (newest, ends, (recs, ranges))
}
