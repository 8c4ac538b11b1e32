//! Gauges (issue 12): exact aggregates against a raw list of samples,
//! across rollups, late samples and retention; growth and restarts against
//! a synthetic series with a known slope.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{GaugeStats, Options, Selector, Store};

use crate::util::{secs, Rng};

/// A sample as set: second, value, order of the call.
type Raw = (u64, f64, usize);

/// The exact answer over `[a, b)` of the raw samples: count, min, max, sum,
/// last (latest second; among equal seconds, latest call).
fn oracle(raw: &[Raw], a: u64, b: u64) -> Option<(u64, f64, f64, f64, f64)> {
    let w: Vec<&Raw> = raw.iter().filter(|r| r.0 >= a && r.0 < b).collect();
    let last = w.iter().max_by_key(|r| (r.0, r.2))?;
    let min = w.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let max = w.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    Some((w.len() as u64, min, max, w.iter().map(|r| r.1).sum(), last.1))
}

fn check(st: &GaugeStats, raw: &[Raw], ctx: &str) {
    let exp = oracle(raw, st.start_s(), st.end_s());
    let got = st.last().map(|last| {
        (st.count(), st.min().unwrap_or(f64::NAN), st.max().unwrap_or(f64::NAN), st.sum(), last)
    });
    assert_eq!(got, exp, "{ctx}: [{}, {})", st.start_s(), st.end_s());
    if let Some((n, _, _, sum, _)) = exp {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let mean = sum / n as f64;
        assert_eq!(st.mean(), Some(mean), "{ctx}");
    } else {
        assert_eq!((st.count(), st.mean(), st.min(), st.max()), (0, None, None, None), "{ctx}");
    }
}

fn hour_ago(hours: u64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    now - now % 3600 - hours * 3600
}

/// Three hours of integer samples (0 to 3 per second, sums exact in f64),
/// with late samples 30 s to 20 min behind and a few past retention;
/// random windows (aligned and not, sealed and open, older than the 1 s
/// retention) against the raw list.
#[test]
fn gauge_aggregates_match_the_raw_samples_across_rollups_and_late_samples() {
    let store = Store::in_memory(Options::default().manual_seal(true));
    let g = store.gauge("queue_depth");
    let base = hour_ago(4);
    let end = base + 3 * 3600 + 1234;
    let mut rng = Rng(12);
    let mut raw: Vec<Raw> = Vec::new();
    let mut order = 0;
    let mut set = |g: &tailstore::Gauge, raw: &mut Vec<Raw>, s: u64, v: f64| {
        g.set_at_unix(s, v);
        raw.push((s, v, order));
        order += 1;
    };
    let mut rejected_expected = 0;
    for s in base..end {
        for _ in 0..rng.below(4) {
            #[expect(clippy::cast_precision_loss, reason = "small values")]
            let v = rng.below(2_000_000) as f64 - 1_000_000.0;
            set(&g, &mut raw, s, v);
        }
        if rng.below(50) == 0 && s > base + 1200 {
            let late = s - 30 - rng.below(1170);
            set(&g, &mut raw, late, 7_777_777.0);
        }
        if s % 600 == 0 && s > base + 2 * 3600 {
            // Past the 1 s retention (1 h, in data time): dropped, counted.
            g.set_at_unix(s - 3600 - 300, 1e12);
            rejected_expected += 1;
        }
        if s % 100 == 0 {
            store.seal_now();
        }
    }
    assert!(store.stats().late > 0);
    assert_eq!(store.stats().rejected, rejected_expected);
    let mut windows: Vec<(u64, u64)> = vec![
        (base, end + 1),
        (base + 3600, base + 2 * 3600),
        (base + 3600 + 17, base + 3 * 3600 + 59),
        (end - 15, end + 1),
        (end - 5, end - 4),
        (base + 17, base + 3600 + 61),
    ];
    for _ in 0..200 {
        let a = base + rng.below(end - base);
        windows.push((a, a + rng.below(end + 2 - a)));
    }
    // An end older than the 1 s retention is a whole minute (a window's
    // old edge is covered from the next minute; its end is not moved).
    let edge = store.stats().retention_newest_s + 1 - 3600;
    for w in &mut windows {
        if w.1 - w.1 % 60 < edge {
            w.1 -= w.1 % 60;
            w.0 = w.0.min(w.1);
        }
    }
    for (k, &(a, b)) in windows.iter().enumerate() {
        let st = store.gauge_query(Selector::exact("queue_depth")).between(secs(a), secs(b)).run();
        let st = st.unwrap();
        // What the 1 s level no longer holds is covered from the next whole
        // minute (the minutes and hours are retained for days).
        assert!(st.start_s() >= a && st.start_s() < a + 60, "window {k}");
        check(&st, &raw, &format!("window {k}"));
    }
    // Everything sealed, then once more.
    store.flush().unwrap();
    for (k, &(a, b)) in windows.iter().enumerate().take(30) {
        let st = store.gauge_query(Selector::exact("queue_depth")).between(secs(a), secs(b)).run();
        check(&st.unwrap(), &raw, &format!("flushed window {k}"));
    }
}

#[test]
fn gauge_rejects_non_finite_values_and_counts_them() {
    let store = Store::in_memory(Options::default());
    let g = store.gauge("gpu_memory_bytes");
    g.set(1.0);
    g.set(f64::NAN);
    g.set(f64::NEG_INFINITY);
    g.set(2.0);
    let st = store.stats();
    assert_eq!((st.invalid, st.gauges), (2, 1));
    let q = store.gauge_query(Selector::exact("gpu_memory_bytes")).last(Duration::from_secs(5));
    let w = q.run().unwrap();
    assert_eq!((w.count(), w.min(), w.max(), w.last()), (2, Some(1.0), Some(2.0), Some(2.0)));
    // Gauges have their own name space, listed with their kind.
    let info = store.series_info();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].kind, tailstore::SeriesKind::Gauge);
    assert!(!store.has_series("gpu_memory_bytes"));
}

/// A value at `t` seconds of a synthetic memory series: flat at 500 MB for
/// an hour, then +75 MB/h for two hours, a restart (down to 300 MB,
/// warming up to 400 MB over 3 minutes), then flat at 400 MB.
fn memory_at(t: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "small values")]
    let tf = t as f64;
    if t < 3600 {
        500e6
    } else if t < 3 * 3600 {
        500e6 + 75e6 * (tf - 3600.0) / 3600.0
    } else if t < 3 * 3600 + 180 {
        300e6 + 100e6 * (tf - 3.0 * 3600.0) / 180.0
    } else {
        400e6
    }
}

#[test]
fn growth_and_restarts_of_a_synthetic_memory_series() {
    let store = Store::in_memory(Options::default().manual_seal(true));
    let g = store.gauge("process_resident_memory_bytes");
    let base = hour_ago(5);
    let mut rng = Rng(3);
    for t in 0..4 * 3600 {
        // ±1 % noise.
        let v = memory_at(t) * (1.0 + 0.01 * (2.0 * rng.unit() - 1.0));
        g.set_at_unix(base + t, v);
        if t % 300 == 0 {
            store.seal_now();
        }
    }
    store.flush().unwrap();
    let q = |a: u64, b: u64| {
        store
            .gauge_query(Selector::exact("process_resident_memory_bytes"))
            .between(secs(base + a), secs(base + b))
            .run()
            .unwrap()
    };
    // The growing part: slope 75 MB/h over its median (the middle value,
    // 575 MB): 13.04 %/h.
    let st = q(3600, 3 * 3600);
    let expected = 75e6 / memory_at(2 * 3600) * 100.0;
    let got = st.growth_pct_per_hour().unwrap();
    assert!((got - expected).abs() <= 1.0, "growth {got} vs {expected}");
    assert!(st.restarts_s().is_empty());
    // Flat: no growth.
    let flat = q(0, 3600).growth_pct_per_hour().unwrap();
    assert!(flat.abs() <= 1.0, "flat {flat}");
    // The whole history: one restart, and the slope after it (past the
    // warm-up) is flat.
    let st = q(0, 4 * 3600);
    assert_eq!(st.restarts_s(), &[base + 3 * 3600]);
    assert_eq!(st.restarts(), vec![secs(base + 3 * 3600)]);
    let after = st.growth_pct_per_hour().unwrap();
    assert!(after.abs() <= 1.0, "after the restart {after}");
    // Without the warm-up, the ramp up to 400 MB is taken for growth.
    let q0 = store
        .gauge_query(Selector::exact("process_resident_memory_bytes"))
        .between(secs(base), secs(base + 4 * 3600))
        .warmup(Duration::ZERO)
        .run()
        .unwrap();
    assert!(q0.growth_pct_per_hour().unwrap() > after);
    // Under ten minutes, per second (within the 1 s retention): flat again
    // (300 points with ±1 % noise: the slope's standard error is ~1.2 %/h).
    let short = q(3 * 3600 + 1800, 3 * 3600 + 2100);
    assert_eq!((short.point_s(), short.points().len()), (1, 300));
    let got = short.growth_pct_per_hour().unwrap();
    assert!(got.abs() <= 4.0, "short window {got}");
}

/// CPU ticks (user + system) of this process, read independently of the
/// sampler (a plain `read_to_string` of `/proc/self/stat`).
fn own_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The child of [`sampler_follows_a_child_at_a_known_duty_cycle`]: samples
/// itself every 100 ms while one thread burns CPU half of each 40 ms (by
/// the wall clock) for 4 s, then holds 256 MiB touched for 2 s; prints
/// what the gauges saw and its own CPU use over the burn.
#[test]
#[ignore = "run as a child process by sampler_follows_a_child_at_a_known_duty_cycle"]
fn sampler_child() {
    let store = Store::in_memory(Options::default());
    assert!(store.sample_process(Duration::from_millis(100)));
    assert!(!store.sample_process(Duration::from_millis(100)), "idempotent");
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = SystemTime::now();
    let started = std::time::Instant::now();
    let burner = std::thread::spawn(|| {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(6) {
            let busy = std::time::Instant::now();
            while busy.elapsed() < Duration::from_millis(20) {
                std::hint::spin_loop();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    // The process's own CPU time over the same middle seconds [1 s, 5 s) of
    // the burn that the sampler's values are compared over below, so that
    // preemption on a shared machine affects both alike.
    std::thread::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()));
    let (ticks_a, at_a) = (own_cpu_ticks(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs(5).saturating_sub(started.elapsed()));
    let (ticks_b, at_b) = (own_cpu_ticks(), std::time::Instant::now());
    burner.join().unwrap();
    #[expect(clippy::cast_precision_loss, reason = "small tick counts")]
    let own = (ticks_b - ticks_a) as f64 / (at_b - at_a).as_secs_f64();
    let t1 = t0 + Duration::from_secs(6);
    std::thread::sleep(Duration::from_secs(6).saturating_sub(started.elapsed()));
    let mut block = vec![0u8; 256 << 20];
    for i in (0..block.len()).step_by(4096) {
        block[i] = 1;
    }
    std::thread::sleep(Duration::from_secs(3));
    std::hint::black_box(&block);
    drop(block);
    std::thread::sleep(Duration::from_millis(300));
    let q = |name: &str, a: SystemTime, b: SystemTime| {
        // Whole seconds inside [a, b): the burn's edges are left out.
        let (a, b) = (a + Duration::from_secs(1), b - Duration::from_secs(1));
        store.gauge_query(Selector::exact(name)).between(a, b).run().unwrap()
    };
    // [t0 + 1 s, t1 − 1 s): the middle seconds the own count covers.
    let cpu = q("process_cpu_percent", t0, t1);
    let rss_before = q("process_resident_memory_bytes", t0, t1);
    let rss_held = q("process_resident_memory_bytes", t1, t1 + Duration::from_secs(3));
    let threads = q("process_threads", t0, t1);
    println!(
        "SAMPLER cpu_mean={} own_cpu={} rss_before={} rss_held_max={} threads_max={} n={}",
        cpu.mean().unwrap(),
        own,
        rss_before.max().unwrap(),
        rss_held.max().unwrap(),
        threads.max().unwrap(),
        cpu.count()
    );
    // Close stops and joins the sampler (parked between samples) at once.
    let closing = std::time::Instant::now();
    store.close().unwrap();
    assert!(closing.elapsed() < Duration::from_millis(500), "close took {:?}", closing.elapsed());
    // The thread's name as the kernel keeps it (15 bytes).
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    assert!(
        !names.iter().any(|n| n.trim() == "tailstore-sampl"),
        "sampler still running: {names:?}"
    );
}

#[test]
fn sampler_follows_a_child_at_a_known_duty_cycle() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["gauges::sampler_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find_map(|l| Some(&l[l.find("SAMPLER ")?..])).expect("child's report");
    eprintln!("{line}");
    let v = |key: &str| -> f64 {
        let tail = &line[line.find(&format!("{key}=")).unwrap() + key.len() + 1..];
        tail.split_whitespace().next().unwrap().parse().unwrap()
    };
    // The sampler's mean CPU over the burn's middle seconds against the
    // child's own count of its CPU time over them (±15 %), and loosely against the nominal 50 % duty: at
    // most that (plus noise), and some of it (the machine may be shared: a
    // busy loop timed by the wall clock burns less when preempted, 24 % with
    // the whole test suite running on 2 cores).
    let (cpu, own) = (v("cpu_mean"), v("own_cpu"));
    assert!((cpu - own).abs() <= 0.15 * own + 3.0, "sampler {cpu} % vs own {own} %");
    assert!((5.0..=65.0).contains(&cpu), "duty cycle 50 %: sampler saw {cpu} %");
    assert!(v("n") >= 10.0, "samples in the burn: {}", v("n"));
    // 256 MiB touched: RSS rises by that much, within a few MB.
    let grown = v("rss_held_max") - v("rss_before");
    let mib = f64::from(1u32 << 20);
    assert!((grown - 256.0 * mib).abs() <= 8.0 * mib, "RSS grew by {} MiB", grown / mib);
    // The test harness's thread, the sampler and the burner at least.
    assert!(v("threads_max") >= 3.0);
}

/// Values too far ahead of the wall clock and before 1970 are dropped and
/// counted; `last(d).ending_at(t)` answers the window ending at `t`.
#[test]
fn gauge_future_and_pre_epoch_values_and_ending_at() {
    let store = Store::in_memory(Options::default().manual_seal(true));
    let g = store.gauge("queue_depth");
    let base = hour_ago(1);
    g.set_at_unix(base + 10 * 86_400, 1.0);
    g.set_at(UNIX_EPOCH - Duration::from_secs(5), 1.0);
    for s in 0..120 {
        #[expect(clippy::cast_precision_loss, reason = "small values")]
        g.set_at_unix(base + s, s as f64);
    }
    store.seal_now();
    let st = store.stats();
    assert_eq!((st.future, st.rejected), (1, 1));
    let w = store
        .gauge_query(Selector::exact("queue_depth"))
        .last(Duration::from_secs(30))
        .ending_at(secs(base + 60))
        .run()
        .unwrap();
    assert_eq!((w.start_s(), w.end_s()), (base + 30, base + 60));
    assert_eq!((w.count(), w.min(), w.max(), w.last()), (30, Some(30.0), Some(59.0), Some(59.0)));
    // A window of no data, and a selector that picks no gauge.
    let w = store.gauge_query(Selector::exact("queue_depth")).between(secs(1), secs(2)).run();
    assert_eq!(w.unwrap().count(), 0);
    let w = store.gauge_query(Selector::exact("nope")).last(Duration::from_secs(5)).run().unwrap();
    assert_eq!((w.count(), w.last(), w.growth_pct_per_hour()), (0, None, None));
    assert!(store.gauge_query(Selector::exact("queue_depth")).run().is_err(), "no window");
}

/// Four threads set one gauge live while queries run: every value is
/// counted once, and the sum and extremes are exact.
#[test]
#[expect(clippy::float_cmp, reason = "integer values below 2^53: sums are exact")]
fn gauge_concurrent_live_sets_are_counted_once() {
    let store = Store::in_memory(Options::default());
    let g = store.gauge("inflight");
    let per = 50_000u32;
    std::thread::scope(|sc| {
        for t in 0..4u32 {
            let g = g.clone();
            sc.spawn(move || {
                for i in 0..per {
                    g.set(f64::from(t * per + i));
                }
            });
        }
        for _ in 0..20 {
            let w = store.gauge_query(Selector::exact("inflight")).last(Duration::from_secs(60));
            assert!(w.run().unwrap().count() <= u64::from(4 * per));
        }
    });
    let w = store.gauge_query(Selector::exact("inflight")).last(Duration::from_secs(60)).run();
    let w = w.unwrap();
    let n = 4 * per;
    assert_eq!(w.count(), u64::from(n));
    assert_eq!((w.min(), w.max()), (Some(0.0), Some(f64::from(n - 1))));
    assert_eq!(w.sum(), f64::from(n - 1) * f64::from(n) / 2.0);
}

/// Three hours of samples with late ones, into a durable store.
fn feed_durable(store: &Store, name: &str, base: u64, end: u64, seed: u64) -> Vec<Raw> {
    let g = store.gauge(name);
    let mut rng = Rng(seed);
    let mut raw: Vec<Raw> = Vec::new();
    let mut order = 0;
    for s in base..end {
        for _ in 0..rng.below(4) {
            #[expect(clippy::cast_precision_loss, reason = "small values")]
            let v = rng.below(2_000_000) as f64 - 1_000_000.0;
            g.set_at_unix(s, v);
            raw.push((s, v, order));
            order += 1;
        }
        if rng.below(50) == 0 && s > base + 1200 {
            let late = s - 30 - rng.below(1170);
            g.set_at_unix(late, 7_777_777.0);
            raw.push((late, 7_777_777.0, order));
            order += 1;
        }
        if s % 100 == 0 {
            store.seal_now();
        }
    }
    raw
}

/// Windows aligned and not, short and long, over `[base, end)`.
fn windows(base: u64, end: u64, seed: u64) -> Vec<(u64, u64)> {
    let mut rng = Rng(seed);
    let mut w: Vec<(u64, u64)> = vec![
        (base, end + 1),
        (base + 3600, base + 2 * 3600),
        (base + 3600 + 17, base + 3 * 3600 + 59),
        (end - 15, end + 1),
        (base + 17, base + 3600 + 61),
    ];
    for _ in 0..150 {
        let a = base + rng.below(end - base);
        w.push((a, a + rng.below(end + 2 - a)));
    }
    w
}

fn check_all(store: &Store, name: &str, raw: &[Raw], ws: &[(u64, u64)], ctx: &str) {
    for (k, &(a, b)) in ws.iter().enumerate() {
        let st = store.gauge_query(Selector::exact(name)).between(secs(a), secs(b)).run().unwrap();
        assert_eq!((st.start_s(), st.damaged_s()), (a, 0), "{ctx} window {k}");
        check(&st, raw, &format!("{ctx} window {k}"));
    }
}

/// A durable store keeps its gauges (`docs/FORMAT.md`, "Gauge files"):
/// after a close, a reopen as the writer and as a reader answers every
/// window exactly as before, across rollups and late samples; samples set
/// after the reopen into stored seconds are late deltas, kept exactly too.
#[test]
fn durable_gauges_reopen_exactly_across_rollups_and_late_samples() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().manual_seal(true);
    let base = hour_ago(4);
    let end = base + 3 * 3600 + 1234;
    let ws = windows(base, end, 5);
    let mut raw = {
        let store = Store::open(dir.path(), opts()).unwrap();
        let raw = feed_durable(&store, "gpu_memory_bytes", base, end, 21);
        store.flush().unwrap();
        check_all(&store, "gpu_memory_bytes", &raw, &ws, "live");
        store.close().unwrap();
        raw
    };
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('G'))
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("G0-")) && names.iter().any(|n| n.starts_with("G1-")),
        "{names:?}"
    );
    {
        let ro = Store::open_read_only(dir.path(), opts()).unwrap();
        check_all(&ro, "gpu_memory_bytes", &raw, &ws, "read-only");
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(store.gauge_names(), vec!["gpu_memory_bytes".to_string()]);
        check_all(&store, "gpu_memory_bytes", &raw, &ws, "reopened");
        // Late samples into stored seconds and minutes, after the reopen.
        let g = store.gauge("gpu_memory_bytes");
        let before = store.stats().late;
        for (k, s) in [end - 1, end - 61, end - 400].into_iter().enumerate() {
            g.set_at_unix(s, -5.0e6);
            raw.push((s, -5.0e6, 1_000_000 + k));
        }
        store.flush().unwrap();
        assert_eq!(store.stats().late - before, 3);
        check_all(&store, "gpu_memory_bytes", &raw, &ws, "late after reopen");
        store.close().unwrap();
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    check_all(&store, "gpu_memory_bytes", &raw, &ws, "second reopen");
    assert!(tailstore::check(dir.path(), &tailstore::Layout::default()).unwrap().is_clean());
}

/// A flipped bit in a stored gauge second is damage: `check` reports it,
/// and no answer is silently short: each window is exact (covered from the
/// intact minutes) or says how many of its seconds nothing intact covers.
#[test]
fn a_damaged_gauge_file_is_reported_and_never_answers_short_in_silence() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().manual_seal(true);
    let base = hour_ago(4);
    let end = base + 3 * 3600 + 1234;
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let raw = feed_durable(&store, "queue_depth", base, end, 33);
        assert!(!raw.is_empty());
        store.close().unwrap();
    }
    let raw = {
        // The same samples again (the generator is seeded) for the oracle.
        let mem = Store::in_memory(opts());
        feed_durable(&mem, "queue_depth", base, end, 33)
    };
    let seg = dir.path().join(tailstore_storage::gauge_segment_name(0, base + 3600));
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x08;
    std::fs::write(&seg, &bytes).unwrap();
    let report = tailstore::check(dir.path(), &tailstore::Layout::default()).unwrap();
    assert!(!report.is_clean(), "a flipped bit in a gauge file passed check");
    let store = Store::open_read_only(dir.path(), opts()).unwrap();
    let mut damaged = 0;
    for (k, &(a, b)) in windows(base, end, 9).iter().enumerate() {
        let st = store.gauge_query(Selector::exact("queue_depth")).between(secs(a), secs(b)).run();
        let st = st.unwrap();
        if st.damaged_s() > 0 {
            damaged += 1;
            continue;
        }
        check(&st, &raw, &format!("damaged store, window {k}"));
    }
    assert!(damaged > 0, "no window met the damaged hour's partial minutes");
    // Whole minutes of the damaged hour come from the intact minute pieces.
    let st = store
        .gauge_query(Selector::exact("queue_depth"))
        .between(secs(base + 3600), secs(base + 2 * 3600))
        .run()
        .unwrap();
    assert_eq!(st.damaged_s(), 0);
    check(&st, &raw, "the damaged hour, from its minutes");
}

/// Retention removes whole gauge files, as it does segments: past the 1 s
/// level's retention the seconds' files go, and the minutes still answer.
#[test]
fn retention_removes_old_gauge_files_and_the_minutes_answer() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().manual_seal(true).retention(Duration::from_secs(3600));
    let base = hour_ago(6);
    let end = base + 5 * 3600;
    let raw = {
        let store = Store::open(dir.path(), opts()).unwrap();
        let raw = feed_durable(&store, "queue_depth", base, end, 3);
        store.flush().unwrap();
        store.close().unwrap();
        raw
    };
    let g0: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("G0-"))
        .collect();
    assert!(!g0.contains(&tailstore_storage::gauge_segment_name(0, base)), "{g0:?}");
    assert!(g0.contains(&tailstore_storage::gauge_segment_name(0, end - 1)), "{g0:?}");
    let store = Store::open_read_only(dir.path(), opts()).unwrap();
    let st = store
        .gauge_query(Selector::exact("queue_depth"))
        .between(secs(base + 60), secs(base + 3600 + 120))
        .run()
        .unwrap();
    assert_eq!((st.start_s(), st.damaged_s()), (base + 60, 0));
    check(&st, &raw, "minutes past the seconds' retention");
}
