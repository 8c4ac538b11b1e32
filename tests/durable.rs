//! Durable stores: round trips through real files, a second writer, crashes
//! of a real process (SIGKILL at random moments), and corruption of segment
//! files (flips, truncations, zeroed tails).

use std::collections::BTreeMap;
use std::io::{BufRead, Write as _};
use std::path::Path;
use std::time::Duration;

use tailstore::{Error, FsyncPolicy, Layout, Options, Selector, Store};

use crate::util::{secs, Rng, StopOnDrop};

const T: u64 = 1_780_000_000 - 1_780_000_000 % 3600 + 3590; // 10 s before an hour

pub(crate) fn opts() -> Options {
    Options::default().keep_everything().lateness(Duration::ZERO)
}

/// Deterministic traffic: second `s` of series `k` gets `n(s, k)` samples.
pub(crate) fn n_of(s: u64, k: u64) -> u64 {
    (s * 7 + k * 13) % 23 + 1
}

pub(crate) fn record_second(store: &Store, s: u64, series: u64) {
    for k in 0..series {
        let h = store.series(&format!("/models/m{k}/predict"));
        for i in 0..n_of(s, k) {
            let status = if (s + i).is_multiple_of(17) { 503 } else { 200 };
            h.record_at_unix(s, 1_000_000 + (s % 97) * 10_000 + i * 333, status);
        }
    }
}

fn count(store: &Store, sel: Selector, a: u64, b: u64) -> u64 {
    store.query(sel).between(secs(a), secs(b)).run().unwrap().count()
}

#[test]
fn roundtrip_reopen_equals_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let mem = Store::in_memory(opts());
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for s in T..T + 7300 {
            if s % 3 == 0 {
                record_second(&store, s, 2);
                record_second(&mem, s, 2);
            }
        }
        // Late data, after its minute and hour were built and persisted.
        store.flush().unwrap();
        mem.flush().unwrap();
        for st in [&store, &mem] {
            st.series("/models/m0/predict").record_at_unix(T + 30, 9_000_000_000, 500);
        }
        store.flush().unwrap();
        mem.flush().unwrap();
    }
    let mut r = Rng(3);
    for pass in 0..2 {
        let back = if pass == 0 {
            Store::open_read_only(dir.path(), opts()).unwrap()
        } else {
            Store::open(dir.path(), opts()).unwrap()
        };
        assert!(back.open_report().unwrap().is_clean(), "{:?}", back.open_report());
        for _ in 0..40 {
            let from = T - 10 + r.below(7400);
            let to = from + r.below(7400);
            for sel in
                [Selector::regex("/models/.*").unwrap(), Selector::exact("/models/m0/predict")]
            {
                let x = back.query(sel.clone()).between(secs(from), secs(to)).run().unwrap();
                let y = mem.query(sel).between(secs(from), secs(to)).run().unwrap();
                assert_eq!(
                    (x.count(), x.errors()),
                    (y.count(), y.errors()),
                    "[{from}, {to}) pass {pass}"
                );
                assert_eq!(
                    x.quantiles(&[0.0, 0.5, 0.99, 1.0]),
                    y.quantiles(&[0.0, 0.5, 0.99, 1.0])
                );
                assert_eq!(x.max(), y.max());
            }
        }
        drop(back);
    }
    // Reopening as writer twice must not duplicate anything on disk.
    for _ in 0..2 {
        drop(Store::open(dir.path(), opts()).unwrap());
    }
    let back = Store::open_read_only(dir.path(), opts()).unwrap();
    let report = back.open_report().unwrap().clone();
    // The writer left an index beside every segment: opening read none of them.
    assert_eq!(report.indexed, report.segments, "{report:?}");
    let all = Selector::regex(".*").unwrap();
    let want = count(&mem, all.clone(), T - 100, T + 8000);
    assert_eq!(count(&back, all.clone(), T - 100, T + 8000), want);
    // Without the index files (or with stale ones) the segments are scanned.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let back = Store::open_read_only(dir.path(), opts()).unwrap();
    assert_eq!(back.open_report().unwrap().indexed, 0);
    assert_eq!(count(&back, all.clone(), T - 100, T + 8000), want);
    drop(Store::open(dir.path(), opts()).unwrap());
    let back = Store::open_read_only(dir.path(), opts()).unwrap();
    assert_eq!(back.open_report().unwrap().indexed, report.segments, "indexes rebuilt");
    assert_eq!(count(&back, all, T - 100, T + 8000), want);
}

#[test]
fn second_writer_is_refused_with_pid() {
    let dir = tempfile::tempdir().unwrap();
    let _a = Store::open(dir.path(), opts()).unwrap();
    let e = Store::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(e, Error::Storage(_)), "{e:?}");
    assert!(e.to_string().contains(&std::process::id().to_string()), "{e}");
    // Readers need no lock.
    Store::open_read_only(dir.path(), opts()).unwrap();
}

#[test]
fn missing_directory_for_reader_is_an_error() {
    let e = Store::open_read_only("/nonexistent/tailstore-test", opts()).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/tailstore-test"), "{e}");
}

/// Dropping the last handle closes the store before it returns: 500 times
/// (open, record, drop) in one process while one thread keeps a core busy
/// and another spawns child processes (each shares the lock's file
/// description from `fork` to `exec`), and every open finds the lock free
/// and every earlier sample there.
#[test]
fn drop_closes_and_unlocks_before_returning() {
    let dir = tempfile::tempdir().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let spawned = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|sc| {
        let _stop = StopOnDrop(&stop);
        sc.spawn(|| {
            // Busy: keeps the clock threads of the stores below from being
            // scheduled promptly, as a loaded server would.
            let mem = Store::in_memory(Options::default());
            let h = mem.series("busy");
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                h.record_at_unix(T + i % 600, 1_000 + i % 5_000, 200);
                i += 1;
            }
        });
        sc.spawn(|| {
            // A process that runs tools (or a test harness running child
            // tests) forks while the store closes and reopens.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status =
                    std::process::Command::new("true").status().expect("`true` runs (coreutils)");
                assert!(status.success());
                spawned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        for i in 0..500 {
            let store = Store::open(dir.path(), opts())
                .unwrap_or_else(|e| panic!("iteration {i}: reopen after drop failed: {e}"));
            record_second(&store, T + i, 1);
            drop(store);
        }
    });
    assert!(spawned.into_inner() > 0, "the spawning thread ran");
    let store = Store::open(dir.path(), opts()).unwrap();
    for s in T..T + 500 {
        assert_eq!(count(&store, Selector::exact("/models/m0/predict"), s, s + 1), n_of(s, 0));
    }
}

/// Threads of this process named like the store's clock thread (Linux).
fn clock_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists this process's threads (Linux)")
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "tailstore-clock")
        })
        .count()
}

/// The child of `close_then_exit_keeps_every_sample`, alone in its process
/// so that its clock threads can be counted: records, drops, reopens at
/// once, records, closes, and exits the process at once (no destructor, no
/// test harness epilogue), reporting the clock threads left after each.
#[test]
#[ignore = "helper process for close_then_exit_keeps_every_sample"]
fn close_child() {
    let Ok(dir) = std::env::var("TAILSTORE_CLOSE_DIR") else { return };
    // A clock that sleeps a whole second between passes: a drop that only
    // told it to stop would return long before it did.
    let opts = || opts().flush_every(Duration::from_secs(3600)).tick(Duration::from_secs(1));
    let store = Store::open(&dir, opts()).unwrap();
    for s in T..T + 150 {
        record_second(&store, s, 3);
    }
    // A new thread takes its name when it first runs: wait (bounded) for it.
    let t0 = std::time::Instant::now();
    while clock_threads() != 1 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(clock_threads(), 1);
    drop(store);
    println!("clock threads after drop: {}", clock_threads());
    let store = Store::open(&dir, opts()).unwrap();
    for s in T + 150..T + 300 {
        record_second(&store, s, 3);
    }
    store.close().unwrap();
    println!("clock threads after close: {}", clock_threads());
    std::process::exit(0);
}

#[test]
fn close_then_exit_keeps_every_sample() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(&exe)
        .args(["--ignored", "--exact", "durable::close_child", "--nocapture", "--test-threads=1"])
        .env("TAILSTORE_CLOSE_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    // Drop and close return only after the clock thread has stopped.
    assert!(stdout.contains("clock threads after drop: 0"), "{stdout}");
    assert!(stdout.contains("clock threads after close: 0"), "{stdout}");
    let store = Store::open(dir.path(), opts()).unwrap();
    let got = per_second(&store, 3, T, T + 300);
    for s in T..T + 300 {
        for k in 0..3 {
            assert_eq!(got.get(&(k, s)), Some(&n_of(s, k)), "series {k} second {s}");
        }
    }
    // Closing also closed and indexed every file: the next open reads every
    // segment from its index.
    let report = store.open_report().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.indexed, report.segments, "{report:?}");
}

/// The child side of the crash test: records second after second, flushing
/// every few seconds and printing what is durable. Runs only when re-executed
/// by `kill_9_at_random_moments` (the variable names the directory).
#[test]
#[ignore = "helper process for kill_9_at_random_moments"]
fn crash_child() {
    let Ok(dir) = std::env::var("TAILSTORE_CRASH_DIR") else { return };
    let store =
        Store::open(&dir, opts().fsync(FsyncPolicy::Never).flush_every(Duration::from_millis(7)))
            .unwrap();
    let start: u64 = std::env::var("TAILSTORE_CRASH_START").unwrap().parse().unwrap();
    let mut out = std::io::stdout();
    let gauge = store.gauge("process_resident_memory_bytes");
    for s in start.. {
        record_second(&store, s, 3);
        for v in gauge_values(s) {
            gauge.set_at_unix(s, v);
        }
        if s % 4 == 0 {
            store.flush().unwrap();
            writeln!(out, "flushed {s}").unwrap();
            out.flush().unwrap();
        }
    }
}

/// The gauge values the crash child sets in second `s`.
fn gauge_values(s: u64) -> [f64; 2] {
    #[expect(clippy::cast_precision_loss, reason = "seconds of the test are far below 2^53")]
    let v = (s % 1000) as f64 * 1.0e6;
    [v, v + 0.5]
}

/// Requests per `(series index, second)` present in `[a, b)`.
fn per_second(store: &Store, series: u64, a: u64, b: u64) -> BTreeMap<(u64, u64), u64> {
    let mut out = BTreeMap::new();
    for k in 0..series {
        let name = format!("/models/m{k}/predict");
        for s in a..b {
            let n = count(store, Selector::exact(name.as_str()), s, s + 1);
            if n > 0 {
                out.insert((k, s), n);
            }
        }
    }
    out
}

/// Runs the ignored test `child` of this binary as a child process on `dir`
/// from second `start`, SIGKILLs it after `after`, and returns the last
/// second it reported as flushed.
fn run_and_kill(child: &str, dir: &Path, start: u64, after: Duration) -> Option<u64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(&exe)
        .args(["--ignored", "--exact", child, "--nocapture", "--test-threads=1"])
        .env("TAILSTORE_CRASH_DIR", dir)
        .env("TAILSTORE_CRASH_START", start.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>()
    });
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    lines
        .join()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix("flushed ").and_then(|v| v.parse().ok()))
        .next_back()
}

#[test]
fn kill_9_at_random_moments() {
    let trials: u64 =
        std::env::var("TAILSTORE_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng(11);
    let mut next_start = T;
    for trial in 0..trials {
        let after = Duration::from_millis(30 + r.below(250));
        let flushed = run_and_kill("durable::crash_child", dir.path(), next_start, after);
        // Reopen as the writer (the dead child's lock is gone) and check.
        let store = Store::open(dir.path(), opts()).unwrap();
        let newest = store.stats().newest_s;
        let got = per_second(&store, 3, next_start, newest.max(next_start) + 1);
        for (&(k, s), &n) in &got {
            assert_eq!(n, n_of(s, k), "trial {trial}: series {k} second {s} is half-present");
        }
        if let Some(f) = flushed {
            for s in next_start..=f {
                for k in 0..3 {
                    assert_eq!(
                        got.get(&(k, s)),
                        Some(&n_of(s, k)),
                        "trial {trial}: flushed {k}/{s} lost"
                    );
                }
            }
        }
        // The gauge: every second present is whole, every flushed one present.
        for s in next_start..=newest.max(next_start) {
            let g = store
                .gauge_query(Selector::exact("process_resident_memory_bytes"))
                .between(secs(s), secs(s + 1))
                .run()
                .unwrap();
            let [a, b] = gauge_values(s);
            let whole = (g.count(), g.min(), g.max(), g.sum(), g.last());
            if g.count() > 0 || flushed.is_some_and(|f| s <= f) {
                assert_eq!(
                    whole,
                    (2, Some(a), Some(b), a + b, Some(b)),
                    "trial {trial}: gauge second {s} (flushed up to {flushed:?})"
                );
            }
        }
        // The next child continues after everything present.
        next_start = got.keys().map(|e| e.1 + 1).max().unwrap_or(next_start).max(next_start);
        drop(store);
    }
    assert!(next_start > T, "no trial flushed anything");
}

/// The child side of the compaction crash test: each step records a fresh
/// second, adds one late sample to the second 50 before it (so segment files
/// keep taking late deltas), flushes, prints what is durable, and compacts.
#[test]
#[ignore = "helper process for kill_9_during_compaction"]
fn crash_compact_child() {
    let Ok(dir) = std::env::var("TAILSTORE_CRASH_DIR") else { return };
    let store = Store::open(&dir, opts().fsync(FsyncPolicy::Never)).unwrap();
    let start: u64 = std::env::var("TAILSTORE_CRASH_START").unwrap().parse().unwrap();
    let late = store.series("/models/m0/predict");
    let mut out = std::io::stdout();
    for s in start.. {
        record_second(&store, s, 2);
        late.record_at_unix(s - 50, 7_777_777, 200);
        store.flush().unwrap();
        writeln!(out, "flushed {s}").unwrap();
        out.flush().unwrap();
        store.compact().unwrap();
    }
}

/// SIGKILL while the writer compacts (rewrites files beside the old ones and
/// renames them over): whatever the moment, the store opens clean and every
/// flushed sample is there exactly once.
#[test]
fn kill_9_during_compaction() {
    let trials: u64 =
        std::env::var("TAILSTORE_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng(17);
    let base = T + 100;
    let mut next_start = base;
    // Late samples are added to seconds before `base` as well.
    let late_in = |s: u64, done: u64| u64::from(s + 50 >= base && s + 50 <= done);
    for trial in 0..trials {
        let after = Duration::from_millis(40 + r.below(300));
        let flushed = run_and_kill("durable::crash_compact_child", dir.path(), next_start, after);
        let store = Store::open(dir.path(), opts()).unwrap();
        assert!(
            store.open_report().unwrap().is_clean(),
            "trial {trial}: {:?}",
            store.open_report()
        );
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".compacting"))
            .count();
        assert_eq!(leftovers, 0, "trial {trial}: the writer left a temporary file");
        let newest = store.stats().newest_s;
        let done = flushed.unwrap_or(next_start.saturating_sub(1));
        let got = per_second(&store, 2, base - 50, newest.max(next_start) + 1);
        for s in base - 50..=done {
            for k in 0..2 {
                let want = if s >= base { n_of(s, k) } else { 0 }
                    + if k == 0 { late_in(s, done) } else { 0 };
                let have = got.get(&(k, s)).copied().unwrap_or(0);
                // A step after the last flush line may have reached the disk too.
                let extra = u64::from(k == 0 && s + 50 == done + 1);
                assert!(
                    have == want || have == want + extra,
                    "trial {trial}: series {k} second {s}: {have} requests, want {want}"
                );
            }
        }
        // The next child continues after everything present.
        next_start = got.keys().map(|e| e.1 + 1).max().unwrap_or(next_start).max(next_start);
        drop(store);
    }
    assert!(next_start > base, "no trial flushed anything");
}

/// The seconds (of `original`, per series and second) that answer less
/// than `original` with `damaged_s` 0; a second that reports damage must
/// answer nothing else.
fn silently_short(store: &Store, original: &BTreeMap<(u64, u64), u64>) -> Vec<(u64, u64)> {
    original
        .iter()
        .filter(|(&(k, s), &n)| {
            let name = format!("/models/m{k}/predict");
            let w = store.query(Selector::exact(name.as_str())).between(secs(s), secs(s + 1));
            let w = w.run().unwrap();
            assert!(w.damaged_s() <= 1 && (w.damaged_s() == 0 || w.count() == 0));
            w.count() != n && w.damaged_s() == 0
        })
        .map(|(key, _)| *key)
        .collect()
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn corruption_is_reported_and_untouched_chunks_answer_exactly() {
    let cases: u64 = std::env::var("TAILSTORE_CORRUPTION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let base = tempfile::tempdir().unwrap();
    {
        let store =
            Store::open(base.path(), opts().flush_every(Duration::from_secs(3600))).unwrap();
        for s in T..T + 70 {
            record_second(&store, s, 2);
            if s % 2 == 0 {
                store.flush().unwrap();
            }
        }
        store.flush().unwrap();
    }
    let original = per_second(&Store::open_read_only(base.path(), opts()).unwrap(), 2, T, T + 70);
    assert_eq!(original.len(), 140);
    // Segment files and the index files the writer left beside them.
    let segs: Vec<_> = std::fs::read_dir(base.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg" || x == "idx"))
        .collect();
    let n_idx = segs.iter().filter(|p| p.extension().is_some_and(|x| x == "idx")).count();
    assert!(n_idx > 0 && n_idx < segs.len(), "{segs:?}");
    let mut r = Rng(5);
    let work = tempfile::tempdir().unwrap();
    let layout = Layout::default();
    let mut damaged_cases = 0;
    let mut seg_cases = 0;
    for case in 0..cases {
        let d = work.path().join(format!("c{case}"));
        copy_dir(base.path(), &d);
        let victim = d.join(segs[r.index(segs.len())].file_name().unwrap());
        let is_seg = victim.extension().is_some_and(|x| x == "seg");
        seg_cases += u64::from(is_seg);
        let mut bytes = std::fs::read(&victim).unwrap();
        let len = bytes.len();
        let how = r.below(3);
        match how {
            0 => {
                for _ in 0..=r.below(4) {
                    let i = r.index(len);
                    bytes[i] ^= 1 << r.below(8);
                }
            }
            1 => bytes.truncate(r.index(len)),
            _ => {
                let from = r.index(len);
                bytes[from..].fill(0);
            }
        }
        std::fs::write(&victim, &bytes).unwrap();
        let report = tailstore::check(&d, &layout).unwrap();
        let store = Store::open_read_only(&d, opts()).unwrap();
        let got = per_second(&store, 2, T, T + 70);
        for (key, n) in &got {
            assert_eq!(Some(n), original.get(key), "case {case} ({how}): {key:?} decoded wrong");
        }
        // Issue 10, item 2: a second that answers less says so (but for a
        // clean cut, below).
        let silent = silently_short(&store, &original);
        if !is_seg {
            // An index is a cache: a damaged one is not used, nothing is lost.
            assert_eq!(got.len(), original.len(), "case {case} ({how}): index damage lost data");
        }
        if got.len() < original.len() {
            damaged_cases += 1;
            // Segments record no lengths outside themselves, so the one
            // loss a scan cannot see is a truncation exactly at a chunk
            // boundary (docs/FORMAT.md says so); everything else is reported.
            let clean_cut = how == 1
                && victim.extension().is_some_and(|x| x == "seg")
                && tailstore_storage::internals::scan_segment(
                    &bytes,
                    &victim,
                    level_of(&victim),
                    bucket_of(&victim),
                    &layout,
                    true,
                )
                .is_ok_and(|scan| scan.damage.is_empty());
            assert!(
                !report.is_clean() || clean_cut,
                "case {case} ({how}): data lost, nothing reported"
            );
            assert!(
                silent.is_empty() || clean_cut,
                "case {case} ({how}): seconds {silent:?} answer less with damaged_s 0"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
    assert!(
        damaged_cases > seg_cases / 4,
        "only {damaged_cases} of {seg_cases} segment mutations hit data"
    );
    assert!(seg_cases < cases, "no index file was mutated");
}

pub(crate) fn level_of(path: &Path) -> u8 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name[1..2].parse().unwrap()
}

pub(crate) fn bucket_of(path: &Path) -> u64 {
    let name = path.file_name().unwrap().to_str().unwrap();
    name[3..23].parse().unwrap()
}

#[test]
fn newer_format_version_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        record_second(&store, T, 1);
        store.flush().unwrap();
    }
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[8] = 3; // version 3
    let crc = crc32c_of(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let e = Store::open_read_only(dir.path(), opts()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("format version 3") && msg.contains(seg.to_str().unwrap()), "{msg}");
}

/// CRC-32C (Castagnoli), bitwise: an independent oracle for the header checksum.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The first stored piece (series, level span, start) where two stores differ.
fn first_piece_difference(first: &Store, second: &Store) -> Option<String> {
    for name in first.series_names() {
        for span in [1u32, 60, 3600] {
            let x = first.pieces(&name, span, 0, u64::MAX).unwrap_or_default();
            let y = second.pieces(&name, span, 0, u64::MAX).unwrap_or_default();
            let mut yi = y.iter().peekable();
            for p in &x {
                if let Some(q) = yi.peek().filter(|q| q.start_s < p.start_s) {
                    return Some(format!(
                        "{name} span {span} start {}: only in the second",
                        q.start_s
                    ));
                }
                match yi.peek() {
                    Some(q) if q.start_s == p.start_s => {
                        if q.requests() != p.requests() {
                            return Some(format!(
                                "{name} span {span} start {}: {} vs {} requests",
                                p.start_s,
                                p.requests(),
                                q.requests()
                            ));
                        }
                        yi.next();
                    }
                    _ => {
                        return Some(format!(
                            "{name} span {span} start {}: only in the first",
                            p.start_s
                        ))
                    }
                }
            }
        }
    }
    None
}

/// Random traffic through short retentions: the durable store, reopened,
/// answers every window exactly as an in-memory store with the same options
/// (both apply retention from the newest data second); then more data
/// arrives, retention removes old files, and a reopen still agrees.
#[test]
fn roundtrip_across_rollups_and_retention_edges() {
    let short = || {
        Options::default()
            .lateness(Duration::from_secs(5))
            .retention(Duration::from_secs(3 * 3600))
            .retention_minutes(Duration::from_secs(8 * 3600))
            .retention_hours(Duration::from_secs(40 * 86_400))
    };
    let dir = tempfile::tempdir().unwrap();
    let mem = Store::in_memory(short());
    let mut r = Rng(21);
    let feed = |stores: &[&Store], from: u64, to: u64, r: &mut Rng| {
        for s in (from..to).step_by(2) {
            let k = r.below(3);
            let v = 1_000 + r.below(5_000_000_000);
            let st = [200, 200, 404, 503][r.index(4)];
            // Out of order within and beyond the lateness window.
            let at = if r.below(20) == 0 { s.saturating_sub(r.below(4000)) } else { s };
            for store in stores {
                store.series(&format!("/m{k}")).record_at_unix(at, v, st);
            }
        }
    };
    let check_all = |a: &Store, b: &Store, r: &mut Rng, ctx: &str| {
        for _ in 0..30 {
            let lo = T - 3600 + r.below(14 * 3600);
            let hi = lo + r.below(12 * 3600);
            let sel = Selector::regex("/m.*").unwrap();
            let x = a.query(sel.clone()).between(secs(lo), secs(hi)).run().unwrap();
            let y = b.query(sel).between(secs(lo), secs(hi)).run().unwrap();
            assert_eq!(
                (x.count(), x.errors(), x.bounds_s()),
                (y.count(), y.errors(), y.bounds_s()),
                "{ctx} [{lo}, {hi}); first differing piece: {:?}",
                first_piece_difference(a, b)
            );
            assert_eq!(
                x.quantiles(&[0.0, 0.5, 0.99, 1.0]),
                y.quantiles(&[0.0, 0.5, 0.99, 1.0]),
                "{ctx}"
            );
        }
    };
    {
        let store = Store::open(dir.path(), short()).unwrap();
        feed(&[&store, &mem], T, T + 6 * 3600, &mut r);
        store.flush().unwrap();
        mem.flush().unwrap();
    }
    // Drop compacted every file that took late deltas: one record per piece.
    let scan = tailstore_storage::scan_dir(dir.path(), &Layout::default()).unwrap();
    assert!(scan.records.len() > 100);
    assert!(scan.records.iter().all(|r| !r.entry.late), "late deltas left after drop");
    let back = Store::open_read_only(dir.path(), short()).unwrap();
    let report = back.open_report().unwrap();
    assert!(report.is_clean(), "{:?}", report.damaged);
    check_all(&back, &mem, &mut r, "after reopen");
    drop(back);
    {
        let store = Store::open(dir.path(), short()).unwrap();
        feed(&[&store, &mem], T + 6 * 3600, T + 12 * 3600, &mut r);
        store.flush().unwrap();
        mem.flush().unwrap();
        // Let the clock thread run a retention pass (it does one at start).
        std::thread::sleep(Duration::from_millis(100));
    }
    let back = Store::open_read_only(dir.path(), short()).unwrap();
    check_all(&back, &mem, &mut r, "after retention");
    let oldest_l0 = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with("L0-"))
        .min()
        .unwrap();
    let bucket: u64 = oldest_l0[3..23].parse().unwrap();
    assert!(
        bucket + 3600 > T + 12 * 3600 - 2 - 3 * 3600,
        "old one-second files were removed: {oldest_l0}"
    );
}

/// A reopened store loads a series when it is first used (issue 10, item
/// 9): until then it is listed, counted and capped like a live one, and
/// every way of reading it (exact series, regex, pieces, the listing)
/// answers what was stored.
#[test]
fn series_loaded_on_first_use_answer_and_count_as_before() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for s in T..T + 120 {
            record_second(&store, s, 5);
        }
        store.close().unwrap();
    }
    let total = |store: &Store, sel: Selector| count(store, sel, T, T + 120);
    let want: Vec<u64> = (0..5).map(|k| (T..T + 120).map(|s| n_of(s, k)).sum()).collect();
    let store = Store::open(dir.path(), opts().max_series(5)).unwrap();
    assert_eq!(store.stats().series, 5);
    assert_eq!(store.series_names().len(), 5);
    assert!(store.has_series("/models/m3/predict"));
    assert_eq!(total(&store, Selector::exact("/models/m3/predict")), want[3]);
    assert_eq!(total(&store, Selector::regex("/models/m[01]/.*").unwrap()), want[0] + want[1]);
    let pieces = store.pieces("/models/m4/predict", 1, T, T + 120).unwrap();
    assert_eq!(pieces.iter().map(tailstore::Interval::requests).sum::<u64>(), want[4]);
    // The two series never used yet still count towards the cap.
    let s = store.series("/models/new/predict");
    assert_eq!(s.name(), tailstore::OVERFLOW_SERIES);
    assert_eq!(store.stats().overflowed, 1);
    // The listing loads the rest: every series, once.
    let info = store.series_info();
    assert_eq!(info.iter().filter(|i| i.name.starts_with("/models/m")).count(), 5);
    assert_eq!(total(&store, Selector::all()), want.iter().sum::<u64>());
}
