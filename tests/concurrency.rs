//! Concurrency: many writers, interval rotation, sealing and stealing at
//! adversarial moments: every sample is counted once, in its own second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tailstore::{ErrorSet, Interval, Options, Selector, Series, Sink, Store, WindowStats};
use tailstore_hist::clamp_status;

use crate::util::{secs, wide_latency, Rng, StopOnDrop};

const T: u64 = 1_760_000_000;

/// The deterministic schedule of writer `t`: sample `i` goes to second
/// `T + i / per_second[t]` with status from a fixed cycle.
fn second_of(t: usize, i: u64) -> u64 {
    let per = [500u64, 700, 1100, 1300][t % 4];
    T + i / per
}

fn status_of(t: usize, i: u64) -> u16 {
    [200, 200, 503, 404, 200, 429][((i + t as u64) % 6) as usize]
}

fn run(threads: usize, per_thread: u64, lateness_s: u64) {
    let store = Store::in_memory(
        Options::default().keep_everything().lateness(Duration::from_secs(lateness_s)),
    );
    let s = store.series("c");
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let stop_guard = StopOnDrop(&stop);
        // Sealer: seals as fast as it can, so steals and residues happen while
        // writers are mid-second.
        sc.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                store.seal_now();
                std::thread::yield_now();
            }
        });
        // A reader: queries must never see more than was recorded.
        sc.spawn(|| {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let w = store
                    .query(Selector::exact("c"))
                    .between(secs(T), secs(T + 100_000))
                    .run()
                    .unwrap();
                assert!(w.count() <= threads as u64 * per_thread);
                // Monotone: once seen, a sample stays seen.
                assert!(w.count() >= last, "count went back from {last} to {}", w.count());
                last = w.count();
                std::thread::yield_now();
            }
        });
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let s = s.clone();
                // Writers with different lengths go idle at different moments.
                let n = per_thread - (t as u64 % 2) * (per_thread / 3);
                sc.spawn(move || {
                    for i in 0..n {
                        s.record_at_unix(
                            second_of(t, i),
                            1_000 + (i % 5000) * 997,
                            status_of(t, i),
                        );
                    }
                    for i in n..per_thread {
                        // The rest comes from a burst after a pause.
                        if i == n {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        s.record_at_unix(
                            second_of(t, i),
                            1_000 + (i % 5000) * 997,
                            status_of(t, i),
                        );
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
        drop(stop_guard);
    });
    // Oracle.
    let mut per_second: BTreeMap<u64, u64> = BTreeMap::new();
    let mut per_status: BTreeMap<u16, u64> = BTreeMap::new();
    for t in 0..threads {
        for i in 0..per_thread {
            *per_second.entry(second_of(t, i)).or_default() += 1;
            *per_status.entry(status_of(t, i)).or_default() += 1;
        }
    }
    for pass in 0..2 {
        let w =
            store.query(Selector::exact("c")).between(secs(T), secs(T + 100_000)).run().unwrap();
        assert_eq!(w.count(), threads as u64 * per_thread, "pass {pass}");
        let got: BTreeMap<u16, u64> = w.status_counts().iter().collect();
        assert_eq!(got, per_status, "pass {pass}");
        for (&sec, &n) in &per_second {
            let w =
                store.query(Selector::exact("c")).between(secs(sec), secs(sec + 1)).run().unwrap();
            assert_eq!(w.count(), n, "second {sec} pass {pass}");
        }
        // Seal everything (data time far ahead) and check again.
        store.series("tick").record_at_unix(T + 200_000, 1, 200);
        store.seal_now();
    }
}

#[test]
fn four_writers_rotating_with_eager_sealer() {
    run(4, 200_000, 0);
}

#[test]
fn two_writers_with_lateness() {
    run(2, 300_000, 3);
}

#[test]
fn many_short_threads_reuse_shards() {
    // Threads come and go: thread ids (and their shards) are reused.
    let store = Store::in_memory(Options::default().keep_everything().lateness(Duration::ZERO));
    let s = store.series("r");
    for round in 0..20u64 {
        std::thread::scope(|sc| {
            for t in 0..3u64 {
                let s = s.clone();
                sc.spawn(move || {
                    for i in 0..1000u64 {
                        s.record_at_unix(T + round * 2 + (i + t) % 2, 5_000 + i, 200);
                    }
                });
            }
        });
        store.seal_now();
    }
    let w = store.query(Selector::exact("r")).between(secs(T), secs(T + 100)).run().unwrap();
    assert_eq!(w.count(), 20 * 3 * 1000);
}

// ---------------------------------------------------------------------------
// Disordered input: seconds out of order, status-only records, wide
// latencies, seal passes, flushes and queries all at once. Every test here
// compares each second with an exact tally of the same deterministic
// schedule, so a sample lost, counted twice or filed in another second shows.

/// One scheduled request: `latency_ns: None` is a status-only record.
#[derive(Clone, Copy, Debug)]
struct Req {
    /// Index into the test's series names.
    series: usize,
    second: u64,
    latency_ns: Option<u64>,
    status: u16,
}

/// Statuses the disordered schedules draw from (0 and values >= 1000 are
/// recorded as status 0).
const STATUS_MIX: [u16; 15] =
    [200, 200, 200, 201, 204, 304, 400, 404, 429, 500, 502, 503, 0, 1000, 65535];

fn pick_status(r: &mut Rng) -> u16 {
    STATUS_MIX[r.index(STATUS_MIX.len())]
}

/// Everything a window query reports about counts, exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    count: u64,
    latency_count: u64,
    errors: u64,
    sum_ns: u128,
    min_ns: Option<u64>,
    max_ns: Option<u64>,
    clamped: u64,
    invalid_status: u64,
    status: BTreeMap<u16, u64>,
}

impl Tally {
    fn add(&mut self, r: &Req, highest_ns: u64, errors: &ErrorSet) {
        let (code, invalid) = clamp_status(r.status);
        self.count += 1;
        self.invalid_status += u64::from(invalid);
        self.errors += u64::from(errors.contains(code));
        *self.status.entry(code).or_default() += 1;
        if let Some(v) = r.latency_ns {
            // Counted as clamped; sum and extremes keep the raw value.
            self.clamped += u64::from(v > highest_ns);
            self.latency_count += 1;
            self.sum_ns += u128::from(v);
            self.min_ns = Some(self.min_ns.map_or(v, |m| m.min(v)));
            self.max_ns = Some(self.max_ns.map_or(v, |m| m.max(v)));
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.count += o.count;
        self.latency_count += o.latency_count;
        self.errors += o.errors;
        self.sum_ns += o.sum_ns;
        self.clamped += o.clamped;
        self.invalid_status += o.invalid_status;
        self.min_ns = match (self.min_ns, o.min_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_ns = match (self.max_ns, o.max_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (&k, &v) in &o.status {
            *self.status.entry(k).or_default() += v;
        }
    }

    fn of(w: &WindowStats) -> Tally {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).expect("latencies fit u64 ns");
        Tally {
            count: w.count(),
            latency_count: w.latency_count(),
            errors: w.errors(),
            sum_ns: w.accumulator().sum_ns(),
            min_ns: w.min().map(ns),
            max_ns: w.max().map(ns),
            clamped: w.clamped(),
            invalid_status: w.invalid_status(),
            status: w.status_counts().iter().collect(),
        }
    }
}

/// The exact per-second tallies of series `series` over all schedules.
fn expected(schedules: &[Vec<Req>], series: usize, highest_ns: u64) -> BTreeMap<u64, Tally> {
    let errors = ErrorSet::default();
    let mut out: BTreeMap<u64, Tally> = BTreeMap::new();
    for r in schedules.iter().flatten().filter(|r| r.series == series) {
        out.entry(r.second).or_default().add(r, highest_ns, &errors);
    }
    out
}

/// The tally of the seconds of `per_second` in `[from, to)`.
fn window_tally(per_second: &BTreeMap<u64, Tally>, from: u64, to: u64) -> Tally {
    let mut t = Tally::default();
    for v in per_second.range(from..to).map(|e| e.1) {
        t.merge(v);
    }
    t
}

/// Asserts every second holding data, and `windows` (which should include
/// one covering everything, so seconds expected empty are checked too),
/// against the exact tallies.
fn check_exact(
    store: &Store,
    name: &str,
    per_second: &BTreeMap<u64, Tally>,
    windows: &[(u64, u64)],
    ctx: &str,
) {
    for (&sec, want) in per_second {
        let w = store.query(Selector::exact(name)).between(secs(sec), secs(sec + 1)).run().unwrap();
        assert_eq!(&Tally::of(&w), want, "series {name} second {sec} ({ctx})");
    }
    for &(from, to) in windows {
        let w = store.query(Selector::exact(name)).between(secs(from), secs(to)).run().unwrap();
        assert_eq!(
            Tally::of(&w),
            window_tally(per_second, from, to),
            "series {name} window [{from}, {to}) ({ctx})"
        );
    }
}

/// What the sinks saw of one series.
#[derive(Debug, Default)]
struct SinkSeries {
    on_time: u64,
    late: u64,
    /// Requests per second over sealed seconds and late deltas.
    per_second: BTreeMap<u64, u64>,
    /// The last second sealed on time: they must come strictly ascending
    /// (each second is sealed once).
    last_sealed: Option<u64>,
    /// `(previous, this)` for every on-time second that did not ascend.
    not_ascending: Vec<(u64, u64)>,
}

/// A sink that records what it is handed (checked after the run: a panic
/// in a sealing thread would not reach the test).
#[derive(Default)]
struct SinkLog(Mutex<BTreeMap<String, SinkSeries>>);

impl Sink for SinkLog {
    fn sealed(&self, series: &str, iv: &Interval, late: bool) {
        let mut map = self.0.lock().unwrap();
        let s = map.entry(series.to_string()).or_default();
        let n = iv.requests();
        *s.per_second.entry(iv.start_s).or_default() += n;
        if late {
            s.late += n;
        } else {
            s.on_time += n;
            if let Some(prev) = s.last_sealed {
                if iv.start_s <= prev {
                    s.not_ascending.push((prev, iv.start_s));
                }
            }
            s.last_sealed = Some(iv.start_s);
        }
    }
}

impl SinkLog {
    /// After a flush: per series, on-time plus late deltas is every request,
    /// second by second; their late parts add up to `store.stats().late`;
    /// on-time seconds were sealed once each, in order.
    fn check(&self, store: &Store, names: &[&str], per_second: &[BTreeMap<u64, Tally>], ctx: &str) {
        let map = self.0.lock().unwrap();
        let mut late = 0;
        for (name, want) in names.iter().zip(per_second) {
            let empty = SinkSeries::default();
            let s = map.get(*name).unwrap_or(&empty);
            let total: u64 = want.values().map(|t| t.count).sum();
            assert_eq!(s.on_time + s.late, total, "sink: series {name} on time + late ({ctx})");
            let wrong: Vec<(u64, u64, u64)> = s
                .per_second
                .keys()
                .chain(want.keys())
                .map(|&sec| {
                    let got = s.per_second.get(&sec).copied().unwrap_or(0);
                    (sec, got, want.get(&sec).map_or(0, |t| t.count))
                })
                .filter(|(_, got, want)| got != want)
                .collect();
            assert!(
                wrong.is_empty(),
                "sink: series {name} (second, requests sealed, recorded): {wrong:?} ({ctx})"
            );
            assert!(
                s.not_ascending.is_empty(),
                "sink: series {name} sealed seconds not ascending: {:?} ({ctx})",
                s.not_ascending
            );
            late += s.late;
        }
        assert_eq!(store.stats().late, late, "stats().late vs late deltas sealed ({ctx})");
    }
}

/// A per-writer counter on its own cache line: requests started.
#[repr(align(128))]
#[derive(Default)]
struct Started(AtomicU64);

/// Records `reqs` (those of `series` into `handles[series]`), publishing
/// how many were started before each one (so a reader that sees a sample
/// also sees it counted). Yields now and then, so that on a small machine
/// the writers interleave with each other, the sealer and the watcher.
fn write(handles: &[Series], reqs: &[Req], started: &Started) {
    for (i, r) in (1u64..).zip(reqs) {
        if i % 256 == 0 {
            std::thread::yield_now();
        }
        started.0.store(i, Ordering::Release);
        let s = &handles[r.series];
        match r.latency_ns {
            Some(v) => s.record_at_unix(r.second, v, r.status),
            None => s.record_status_at_unix(r.second, r.status),
        }
    }
}

/// Seal passes as fast as they come (and a flush, which seals every open
/// second at once, every `flush_every` passes) until `stop`. Returns passes.
fn seal_loop(store: &Store, stop: &AtomicBool, flush_every: Option<u64>) -> u64 {
    let mut passes = 0u64;
    while !stop.load(Ordering::Relaxed) {
        passes += 1;
        if flush_every.is_some_and(|k| passes.is_multiple_of(k)) {
            store.flush().unwrap();
        } else {
            store.seal_now();
        }
        std::thread::yield_now();
    }
    passes
}

/// Queries while the writers run (at least one round): every window's
/// count, latency count and errors never go down, everything seen was
/// recorded (`before` requests were recorded before the writers started;
/// the first window must cover all data), `stats().late` never goes down
/// and nothing is rejected. Returns rounds.
fn watch(
    store: &Store,
    names: &[&str],
    windows: &[(u64, u64)],
    (before, started): (u64, &[Started]),
    stop: &AtomicBool,
) -> u64 {
    let mut last = vec![(0u64, 0u64, 0u64); names.len() * windows.len()];
    let mut last_late = 0;
    let mut rounds = 0;
    loop {
        let done = stop.load(Ordering::Relaxed);
        let mut seen = 0;
        for (k, (name, &(from, to))) in
            names.iter().flat_map(|n| windows.iter().map(move |w| (n, w))).enumerate()
        {
            let w =
                store.query(Selector::exact(*name)).between(secs(from), secs(to)).run().unwrap();
            let now = (w.count(), w.latency_count(), w.errors());
            let prev = last[k];
            assert!(
                now.0 >= prev.0 && now.1 >= prev.1 && now.2 >= prev.2,
                "series {name} window [{from}, {to}): (count, latency count, errors) went \
                 back from {prev:?} to {now:?}"
            );
            last[k] = now;
            if k % windows.len() == 0 {
                seen += now.0;
            }
        }
        let st = store.stats();
        let recorded: u64 =
            before + started.iter().map(|s| s.0.load(Ordering::Acquire)).sum::<u64>();
        assert!(seen <= recorded, "queries saw {seen} requests, {recorded} were recorded");
        assert!(st.late >= last_late, "stats().late went back from {last_late} to {}", st.late);
        assert!(st.late <= recorded, "late {} of {recorded} recorded", st.late);
        assert_eq!(st.rejected, 0);
        last_late = st.late;
        rounds += 1;
        if done {
            return rounds;
        }
        std::thread::yield_now();
    }
}

/// Runs `schedules[1..]` (one writer thread each) against `store` with a
/// sealer and a watcher (`schedules[0]` was recorded before); returns (seal
/// passes, watcher rounds).
fn run_disordered(
    store: &Store,
    handles: &[Series],
    names: &[&str],
    schedules: &[Vec<Req>],
    watch_windows: &[(u64, u64)],
    flush_every: Option<u64>,
) -> (u64, u64) {
    let stop = AtomicBool::new(false);
    let before = schedules[0].len() as u64;
    let started: Vec<Started> = schedules[1..].iter().map(|_| Started::default()).collect();
    std::thread::scope(|sc| {
        let stop_guard = StopOnDrop(&stop);
        let sealer = sc.spawn(|| seal_loop(store, &stop, flush_every));
        let watcher = sc.spawn(|| watch(store, names, watch_windows, (before, &started), &stop));
        let writers: Vec<_> = schedules[1..]
            .iter()
            .zip(&started)
            .map(|(reqs, st)| sc.spawn(move || write(handles, reqs, st)))
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        drop(stop_guard);
        (sealer.join().unwrap(), watcher.join().unwrap())
    })
}

/// Four writers walk forward in data time, each stamping every request up
/// to 9 s back (lateness 10 s); one in six is status-only. Writers run at
/// different paces, so the slower ones' requests also arrive after their
/// second was sealed (late deltas).
fn disordered_within_lateness(seed: u64) {
    const NAMES: [&str; 1] = ["w"];
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(10)));
    let log = Arc::new(SinkLog::default());
    store.add_sink(log.clone());
    let highest = store.layout().highest_ns();
    let handles = vec![store.series(NAMES[0])];
    // One request first and a seal pass: the series is known to take
    // explicit times before the writers start.
    let mut schedules =
        vec![vec![Req { series: 0, second: T, latency_ns: Some(777), status: 200 }]];
    write(&handles, &schedules[0], &Started::default());
    store.seal_now();
    for t in 0..4u64 {
        let mut r = Rng(seed.wrapping_mul(0x1000_0000_01b3) ^ (t + 1));
        let per = 700 + 150 * t;
        schedules.push(
            (0..90 * per)
                .map(|i| Req {
                    series: 0,
                    second: T + i / per - r.below(10),
                    latency_ns: (r.below(6) != 0).then(|| wide_latency(&mut r)),
                    status: pick_status(&mut r),
                })
                .collect(),
        );
    }
    let per_second = expected(&schedules, 0, highest);
    let (first, last) = (T - 9, T + 100);
    let whole = (first - 10, last + 10);
    let (passes, rounds) =
        run_disordered(&store, &handles, &NAMES, &schedules, &[whole, (T + 30, T + 40)], None);
    let ctx = format!("seed {seed}, {passes} seal passes, {rounds} watcher rounds");
    // Only a request more than the lateness behind the newest second can
    // have been late.
    let newest = schedules.iter().flatten().map(|r| r.second).max().unwrap();
    let could_be_late =
        schedules.iter().flatten().filter(|r| r.second + 10 < newest).count() as u64;
    let late = store.stats().late;
    assert!(late <= could_be_late, "late {late} > {could_be_late} ({ctx})");
    assert_eq!(store.stats().newest_s, newest, "{ctx}");
    // Before the flush (open seconds, held-back late seconds, settled parts)
    // and after it.
    let windows = [whole, (T, T + 60), (T + 45, T + 47)];
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("before flush, {ctx}"));
    store.flush().unwrap();
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("after flush, {ctx}"));
    log.check(&store, &NAMES, &[per_second], &format!("after flush, {ctx}"));
    // Everything is sealed now: each of these is exactly one more late
    // request, in its own second.
    let mut r = Rng(seed ^ 0x5eed);
    let extra: Vec<Req> = (0..64)
        .map(|_| Req {
            series: 0,
            second: T - 5 + r.below(newest - T + 6),
            latency_ns: (r.below(4) != 0).then(|| wide_latency(&mut r)),
            status: pick_status(&mut r),
        })
        .collect();
    write(&handles, &extra, &Started::default());
    assert_eq!(store.stats().late, late + 64, "{ctx}");
    schedules.push(extra);
    let per_second = expected(&schedules, 0, highest);
    store.seal_now();
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("late extras, {ctx}"));
    store.flush().unwrap();
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("late extras flushed, {ctx}"));
    log.check(&store, &NAMES, &[per_second], &format!("late extras flushed, {ctx}"));
}

#[test]
fn disordered_writers_within_lateness_exact_per_second() {
    for seed in [1, 2] {
        disordered_within_lateness(seed);
    }
}

/// Three writers whose seconds spread over +-40 s around their walk (far
/// wider than the recorder's 16 direct-mapped accumulators), 1 in 40
/// requests one or two hours behind (late: a handful of old seconds
/// revisited over and over, and a few hundred visited a few times), and a
/// hot second taking ~40 % of all requests (more than a second's
/// accumulator holds before it spills, on time and late); a flush every few
/// seal passes seals every open second under the writers' feet.
fn disorder_wider_than_the_table(seed: u64) {
    const NAMES: [&str; 1] = ["wide"];
    const HOT: u64 = T + 150;
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(10)));
    let log = Arc::new(SinkLog::default());
    store.add_sink(log.clone());
    let highest = store.layout().highest_ns();
    let handles = vec![store.series(NAMES[0])];
    // Sealed below T + 90 before the writers start: the hours-behind
    // requests are late whenever they arrive.
    let mut schedules =
        vec![vec![Req { series: 0, second: T + 100, latency_ns: Some(1_234), status: 503 }]];
    write(&handles, &schedules[0], &Started::default());
    store.seal_now();
    let mut hours_behind = 0u64;
    for t in 0..3u64 {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9) ^ (t + 11));
        let per = 600;
        let reqs: Vec<Req> = (0..130 * per)
            .map(|i| {
                let walk = T + 100 + i / per;
                let second = match r.below(80) {
                    0 => T - 7200 - r.below(3),
                    1 => T - 3600 - r.below(400),
                    2..=33 => HOT,
                    _ => walk + r.below(81) - 40,
                };
                Req {
                    series: 0,
                    second,
                    latency_ns: (r.below(8) != 0).then(|| wide_latency(&mut r)),
                    status: pick_status(&mut r),
                }
            })
            .collect();
        hours_behind += reqs.iter().filter(|q| q.second < T).count() as u64;
        schedules.push(reqs);
    }
    let per_second = expected(&schedules, 0, highest);
    assert!(per_second[&HOT].count > 70_000, "the hot second must spill");
    let whole = (T - 7300, T + 330);
    let (passes, rounds) = run_disordered(
        &store,
        &handles,
        &NAMES,
        &schedules,
        &[whole, (T + 120, T + 180), (T - 7203, T - 7200)],
        Some(4),
    );
    let ctx = format!("seed {seed}, {passes} seal passes, {rounds} watcher rounds");
    let late = store.stats().late;
    assert!(late >= hours_behind, "late {late} < {hours_behind} requests hours behind ({ctx})");
    // Whole hours and minutes too (the rollups, with their late deltas).
    let hour = |s: u64| s - s % 3600;
    let minute = |s: u64| s - s % 60;
    let mut windows = vec![whole, (HOT, HOT + 1), (HOT - 40, HOT + 41)];
    windows.extend((0..4).map(|k| (hour(T - 7200) + k * 3600, hour(T - 7200) + (k + 1) * 3600)));
    windows.extend((0..6).map(|k| (minute(T + 60) + k * 60, minute(T + 60) + (k + 2) * 60)));
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("before flush, {ctx}"));
    store.flush().unwrap();
    check_exact(&store, NAMES[0], &per_second, &windows, &format!("after flush, {ctx}"));
    log.check(&store, &NAMES, &[per_second], &format!("after flush, {ctx}"));
}

#[test]
fn disorder_wider_than_the_accumulator_table_exact_per_second() {
    for seed in [3, 4] {
        disorder_wider_than_the_table(seed);
    }
}

/// Writer threads come and go (a later thread takes over an exited one's
/// rings, possibly with requests still in them, possibly the large ring):
/// 60 threads, at most three at a time, each recording a different number
/// of requests (around the small ring's 64 slots and the owner's 256-slot
/// drain, up to thousands) into two series, seconds +-20 s around a walk
/// that moves with each thread, 1 in 50 an hour behind; a sealer (with
/// flushes) and a watcher run throughout.
fn churn(seed: u64) {
    const NAMES: [&str; 2] = ["churn-a", "churn-b"];
    const SPAWNS: u64 = 60;
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(10)));
    let log = Arc::new(SinkLog::default());
    store.add_sink(log.clone());
    let highest = store.layout().highest_ns();
    let handles: Vec<Series> = NAMES.iter().map(|n| store.series(n)).collect();
    let mut schedules = vec![(0..2)
        .map(|series| Req { series, second: T, latency_ns: Some(50_000), status: 200 })
        .collect::<Vec<_>>()];
    write(&handles, &schedules[0], &Started::default());
    store.seal_now();
    for k in 0..SPAWNS {
        let mut r = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (k + 101));
        let n =
            [1u64, 20, 63, 64, 65, 127, 129, 300, 2_000, 6_000][usize::try_from(k % 10).unwrap()];
        let walk = T + 30 + k;
        schedules.push(
            (0..n)
                .map(|_| Req {
                    series: usize::from(r.below(3) == 0),
                    second: if r.below(50) == 0 {
                        T - 3600 - r.below(30)
                    } else {
                        walk + r.below(41) - 20
                    },
                    latency_ns: (r.below(5) != 0).then(|| wide_latency(&mut r)),
                    status: pick_status(&mut r),
                })
                .collect(),
        );
    }
    let per_second: Vec<BTreeMap<u64, Tally>> =
        (0..NAMES.len()).map(|s| expected(&schedules, s, highest)).collect();
    let whole = (T - 3700, T + SPAWNS + 60);
    let stop = AtomicBool::new(false);
    let started: Vec<Started> = schedules[1..].iter().map(|_| Started::default()).collect();
    let before = schedules[0].len() as u64;
    let (passes, rounds) = std::thread::scope(|sc| {
        let stop_guard = StopOnDrop(&stop);
        let sealer = sc.spawn(|| seal_loop(&store, &stop, Some(5)));
        let watcher = sc
            .spawn(|| watch(&store, &NAMES, &[whole, (T + 40, T + 60)], (before, &started), &stop));
        let mut alive = std::collections::VecDeque::new();
        for (reqs, st) in schedules[1..].iter().zip(&started) {
            if alive.len() == 3 {
                let h: std::thread::ScopedJoinHandle<'_, ()> = alive.pop_front().unwrap();
                h.join().unwrap();
            }
            let handles = &handles;
            alive.push_back(sc.spawn(move || write(handles, reqs, st)));
        }
        for h in alive {
            h.join().unwrap();
        }
        drop(stop_guard);
        (sealer.join().unwrap(), watcher.join().unwrap())
    });
    let ctx = format!("seed {seed}, {passes} seal passes, {rounds} watcher rounds");
    let windows = [whole, (T - 3600, T), (T, T + 60), (T + 30, T + 90)];
    for (name, want) in NAMES.iter().zip(&per_second) {
        check_exact(&store, name, want, &windows, &format!("before flush, {ctx}"));
    }
    store.flush().unwrap();
    for (name, want) in NAMES.iter().zip(&per_second) {
        check_exact(&store, name, want, &windows, &format!("after flush, {ctx}"));
    }
    log.check(&store, &NAMES, &per_second, &format!("after flush, {ctx}"));
}

#[test]
fn threads_that_exit_hand_their_rings_on_exactly() {
    for seed in [5, 6] {
        churn(seed);
    }
}
