//! The open-loop recorder end to end: a fixed-rate run against a server
//! that stalls, and its schedule under many threads.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use tailstore::{Options, Store};
use tailstore_harness::{OpenLoop, Schedule, Summary};

use crate::fixture::StallServer;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .proxy(None)
        .build()
        .into()
}

fn status_of(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    match r {
        Ok(mut resp) => {
            let _ = resp.body_mut().read_to_vec();
            resp.status().as_u16()
        }
        Err(ureq::Error::StatusCode(code)) => code,
        Err(_) => 0,
    }
}

/// The feature's prediction: 200 req/s for 3 s on 4 workers, with a 400 ms
/// stall at 1 s. Only the ~4 requests that reach the server during the
/// stall wait (the others are not sent yet: every worker is blocked), so
/// the uncorrected P99 stays at the service time, while the ~80 requests
/// due during the stall are answered up to 400 ms after their intended
/// send, which the corrected P99 shows.
#[test]
fn corrected_p99_shows_a_stall_that_uncorrected_hides() {
    let _heavy = crate::heavy();
    let server = StallServer::start(Duration::from_millis(1));
    let url = server.url();
    let agent = agent();
    let store = Store::in_memory(Options::default());
    let t0 = SystemTime::now();
    let run = OpenLoop::new(&store, "/models/m/predict", Duration::from_millis(5)).unwrap();
    let total = run.schedule().count_within(Duration::from_secs(3));
    assert_eq!(total, 600);
    let stall = Duration::from_millis(400);
    let stall_at = run.schedule().intended(200); // 1 s in
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = stall_at.saturating_duration_since(Instant::now());
            std::thread::sleep(t);
            let code = status_of(
                agent.post(&format!("{url}/admin/stall?ms={}", stall.as_millis())).send_empty(),
            );
            assert_eq!(code, 204);
        });
        run.run_workers(4, total, |_| {
            status_of(agent.get(&format!("{url}/models/m/predict")).call())
        });
    });
    let sum = Summary::query(&store, "/models/m/predict", t0, SystemTime::now()).unwrap();
    let (c, u) = (sum.corrected(), sum.uncorrected());
    assert_eq!(c.latency_count(), 600);
    assert_eq!(u.latency_count(), 600);
    assert_eq!(c.status_counts().get(200), 600, "every request answered");
    let mut table = Vec::new();
    sum.write_table(&mut table).unwrap();
    eprintln!("{}", String::from_utf8_lossy(&table));
    let (cp99, up99) = (c.quantile(0.99).unwrap(), u.quantile(0.99).unwrap());
    // The stall is in both series' maxima (the stalled requests themselves)…
    assert!(u.max().unwrap() >= stall * 9 / 10, "uncorrected max {:?}", u.max());
    // …but only the corrected P99 holds it: the 6 slowest of 600 were all due
    // in the stall's first 30 ms.
    assert!(cp99 >= stall * 8 / 10, "corrected P99 {cp99:?} < 80 % of the {stall:?} stall");
    assert!(up99 * 4 < cp99, "uncorrected P99 {up99:?} not much lower than corrected {cp99:?}");
    assert!(up99 < stall / 4, "uncorrected P99 {up99:?}");
    // Corrected >= uncorrected quantile by quantile (each sample is).
    for q in [0.5, 0.9, 0.99, 0.999] {
        assert!(c.quantile(q) >= u.quantile(q), "q {q}");
    }
}

#[test]
fn each_slot_is_handed_out_once_across_threads() {
    let store = Store::in_memory(Options::default());
    let run = OpenLoop::new(&store, "s", Duration::from_micros(50)).unwrap();
    let seen = Mutex::new(Vec::new());
    run.run_workers(4, 2_000, |slot| {
        seen.lock().unwrap().push(slot.index());
        200
    });
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 2_000);
    assert_eq!(seen.iter().copied().collect::<BTreeSet<u64>>().len(), 2_000);
    assert_eq!(seen.iter().max(), Some(&1_999));
    assert!(run.next_slot(2_000).is_none());
}

#[test]
fn latencies_are_measured_from_the_intended_and_the_actual_send() {
    let store = Store::in_memory(Options::default());
    let t = Instant::now();
    let w = SystemTime::UNIX_EPOCH + Duration::from_secs(crate::data::T0_S);
    let sched = Schedule::starting_at(t, w, Duration::from_millis(10)).unwrap();
    let run = OpenLoop::with_schedule(&store, "s", sched);
    // Request 150 is due 1.5 s in, sent 200 ms late and answered 3 ms later.
    let slot = run.slot(150);
    let sent = slot.intended() + Duration::from_millis(200);
    let timing = run.record(&slot, sent, sent + Duration::from_millis(3), 503);
    assert_eq!(timing.corrected, Duration::from_millis(203));
    assert_eq!(timing.uncorrected, Duration::from_millis(3));
    // Stored at the intended send's second (T0 + 1).
    let at = w + Duration::from_secs(1);
    let sum = Summary::query(&store, "s", at, at).unwrap();
    assert_eq!(sum.corrected().bounds_s(), (crate::data::T0_S + 1, crate::data::T0_S + 2));
    assert_eq!(sum.corrected().errors(), 1);
    let c = sum.corrected().quantile(0.5).unwrap().as_secs_f64();
    let u = sum.uncorrected().quantile(0.5).unwrap().as_secs_f64();
    assert!((c - 0.203).abs() < 0.203 * 0.001, "{c}");
    assert!((u - 0.003).abs() < 0.003 * 0.001, "{u}");
}
