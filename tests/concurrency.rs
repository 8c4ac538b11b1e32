//! Concurrency: many writers, interval rotation, sealing and stealing at
//! adversarial moments: every sample is counted once, in its own second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tailstore::{Options, Selector, Store};

use crate::util::secs;

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
        stop.store(true, Ordering::Relaxed);
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
