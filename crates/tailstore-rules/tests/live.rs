//! The live evaluator on its thread: the backtest's episodes over the same
//! store, events as recording goes on, states, bounded shutdown; and (with
//! the `alertmanager` feature) its sender against a small local HTTP server
//! that records what it is sent, answers errors, or is not there at all.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tailstore::{Options, Store};
use tailstore_rules::{
    backtest, AlertEvent, AlertState, LiveEvaluator, LiveOptions, Rules, Transition,
};

use crate::backtest::{store_of, traffic, MIN, RULES, T0};

/// How long a test waits for the evaluator before it fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

type Key = (String, BTreeMap<String, String>);
/// `(rule, labels, pending_at, firing_at, resolved_at)`
type Ep = (String, BTreeMap<String, String>, u64, Option<u64>, Option<u64>);

/// Episodes from events, as the backtest over `[.., end]` would list them:
/// events after `end` are not seen.
fn episodes_of(events: &[AlertEvent], end: u64) -> Vec<Ep> {
    let mut open: BTreeMap<Key, usize> = BTreeMap::new();
    let mut out: Vec<Ep> = Vec::new();
    for e in events.iter().filter(|e| e.at <= end) {
        let key = (e.rule.clone(), e.labels.clone());
        match e.transition {
            Transition::Pending => {
                open.insert(key, out.len());
                out.push((e.rule.clone(), e.labels.clone(), e.at, None, None));
            }
            Transition::Firing => out[open[&key]].3 = Some(e.at),
            _ => out[open.remove(&key).unwrap()].4 = Some(e.at),
        }
    }
    out.sort_by(|a, b| (a.2, &a.0, &a.1).cmp(&(b.2, &b.0, &b.1)));
    out
}

/// The evaluator thread, started over a store that already holds three
/// hours of traffic, gives every rule's (and SLO alert's) backtest episodes.
#[test]
fn live_evaluator_thread_gives_the_backtests_episodes() {
    let (a, b) = traffic();
    let store = store_of(&[("/models/a", &a), ("/models/b", &b)]);
    let rules = Rules::from_yaml(RULES).unwrap();
    let (start, end) = (T0 + 30 * MIN, T0 + 170 * MIN);
    let bt = backtest(&store, &rules, start, end).unwrap();
    let want: Vec<Ep> = bt
        .episodes
        .iter()
        .map(|e| (e.rule.clone(), e.labels.clone(), e.pending_at, e.firing_at, e.resolved_at))
        .collect();
    assert!(want.len() >= 8, "too few episodes to compare: {want:?}");

    let (tx, rx) = mpsc::channel();
    let live =
        LiveEvaluator::start(&store, rules, LiveOptions::default().start_at(start).send_events(tx))
            .unwrap();
    assert!(live.wait_evaluated(end, PATIENCE), "not evaluated through {end}: {live:?}");
    let events: Vec<AlertEvent> = rx.try_iter().collect();
    assert_eq!(episodes_of(&events, end), want);
    // Annotations are rendered as the backtest renders them.
    let fired = bt.episodes.iter().find(|e| e.rule == "High Error Rate").unwrap();
    let ev = events
        .iter()
        .find(|e| e.rule == "High Error Rate" && e.transition == Transition::Firing)
        .unwrap();
    assert_eq!(ev.annotations["description"], fired.description);
    assert_eq!(
        (ev.state, ev.firing_at, ev.value),
        (AlertState::Firing, fired.firing_at, fired.value)
    );
}

/// 10 requests a second on `/models/a`; in minutes 5 to 9 half of them fail.
pub(crate) fn record_minutes(store: &Store, t0: u64, minutes: std::ops::Range<u64>) {
    let s = store.series("/models/a");
    for m in minutes {
        for sec in 0..60 {
            for i in 0..10 {
                let status = if (5..10).contains(&m) && i % 2 == 0 { 503 } else { 200 };
                let at = UNIX_EPOCH + Duration::from_secs(t0 + m * MIN + sec);
                s.record_at(at, Duration::from_millis(20), status);
            }
        }
    }
}

pub(crate) const BURST_RULES: &str = "
evaluation_interval: 1m
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate[1m] > 5
    for: 2m
    group_by: series
    labels: { severity: critical }
    annotations:
      summary: 'Error rate is {{ $value }}% on {{ $labels.series }}'
";

fn next(rx: &mpsc::Receiver<AlertEvent>) -> AlertEvent {
    rx.recv_timeout(PATIENCE).expect("an event in time")
}

/// Recording with explicit times, minute by minute: each seal pass's bound
/// wakes the evaluator, which evaluates the ticks it passed (the first is
/// the newest tick under the first bound it sees) and sends the burst's
/// pending, firing and resolved events as they happen; `states` follows.
#[test]
fn live_evaluator_follows_recording() {
    let t0 = T0;
    let store = Store::in_memory(Options::default().keep_everything());
    let (tx, rx) = mpsc::channel();
    let rules = Rules::from_yaml(BURST_RULES).unwrap();
    let live = LiveEvaluator::start(&store, rules, LiveOptions::default().send_events(tx)).unwrap();
    assert_eq!(live.evaluated_through(), None);
    assert!(live.states().is_empty());
    // Minute 0 sealed up to 49 s (10 s lateness): the first tick is t0.
    record_minutes(&store, t0, 0..1);
    store.seal_now();
    assert!(live.wait_evaluated(t0, PATIENCE));
    assert_eq!(live.evaluated_through(), Some(t0));
    let st = live.states();
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].state, st[0].evaluated_at), (AlertState::Inactive, t0));
    assert_eq!(st[0].labels["series"], "/models/a");
    // The burst starts in minute 5: the tick at 6 min sees it.
    record_minutes(&store, t0, 1..7);
    store.seal_now();
    let e = next(&rx);
    assert_eq!(
        (e.transition, e.state, e.at),
        (Transition::Pending, AlertState::Pending, t0 + 6 * MIN)
    );
    assert_eq!(e.value, Some(50.0));
    assert!(live.wait_evaluated(t0 + 6 * MIN, PATIENCE));
    assert_eq!(live.states()[0].pending_at, Some(t0 + 6 * MIN));
    record_minutes(&store, t0, 7..9);
    store.seal_now();
    let e = next(&rx);
    assert_eq!(
        (e.transition, e.at, e.firing_at),
        (Transition::Firing, t0 + 8 * MIN, Some(t0 + 8 * MIN))
    );
    assert_eq!(e.annotations["summary"], "Error rate is 50.00% on /models/a");
    assert_eq!(e.labels["severity"], "critical");
    assert!(live.wait_evaluated(t0 + 8 * MIN, PATIENCE));
    let st = live.states();
    assert_eq!((st[0].state, st[0].firing_at), (AlertState::Firing, Some(t0 + 8 * MIN)));
    // Clean from minute 10: the tick at 11 min resolves.
    record_minutes(&store, t0, 9..12);
    store.seal_now();
    let e = next(&rx);
    assert_eq!(
        (e.transition, e.state, e.at),
        (Transition::Resolved, AlertState::Inactive, t0 + 11 * MIN)
    );
    assert_eq!((e.firing_at, e.value), (Some(t0 + 8 * MIN), Some(0.0)));
    assert!(live.wait_evaluated(t0 + 11 * MIN, PATIENCE));
    assert_eq!(live.states()[0].state, AlertState::Inactive);
    assert!(rx.try_recv().is_err(), "no other event");
    let stats = live.stats();
    assert_eq!(stats.evaluations, 12);
    assert_eq!(stats.query_errors, 0);
}

/// Dropping the evaluator stops and joins its thread at once, whether it
/// is idle (no data ever sealed) or in the middle of a long catch-up; the
/// store stays usable.
#[test]
fn live_evaluator_stops_on_drop() {
    let store = Store::in_memory(Options::default().keep_everything());
    let rules = Rules::from_yaml(BURST_RULES).unwrap();
    let live = LiveEvaluator::start(&store, rules.clone(), LiveOptions::default()).unwrap();
    let t = Instant::now();
    drop(live);
    assert!(t.elapsed() < Duration::from_secs(5), "idle drop took {:?}", t.elapsed());

    // A day of catch-up, one tick every minute: stopped part-way.
    record_minutes(&store, T0, 0..12);
    store.series("/models/a").record_at(
        UNIX_EPOCH + Duration::from_secs(T0 + 86_400),
        Duration::from_millis(1),
        200,
    );
    store.flush().unwrap();
    let live = LiveEvaluator::start(&store, rules, LiveOptions::default().start_at(T0)).unwrap();
    assert!(live.wait_evaluated(T0 + 30 * MIN, PATIENCE));
    let t = Instant::now();
    drop(live);
    assert!(t.elapsed() < Duration::from_secs(5), "busy drop took {:?}", t.elapsed());
    assert_eq!(store.series_names(), ["/models/a"]);
}

#[cfg(feature = "alertmanager")]
pub(crate) mod fake {
    //! A small HTTP server on 127.0.0.1 that records each request's method,
    //! path and body and answers with a given status; it stops when dropped
    //! (and by itself after two minutes at most).

    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, AtomicU16, Ordering::Relaxed};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    pub(crate) struct Request {
        pub(crate) method: String,
        pub(crate) path: String,
        pub(crate) body: String,
    }

    pub(crate) struct FakeServer {
        pub(crate) url: String,
        pub(crate) requests: Arc<Mutex<Vec<Request>>>,
        pub(crate) status: Arc<AtomicU16>,
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl FakeServer {
        pub(crate) fn start(status: u16) -> FakeServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let requests = Arc::new(Mutex::new(Vec::new()));
            let status = Arc::new(AtomicU16::new(status));
            let stop = Arc::new(AtomicBool::new(false));
            let (reqs, st, halt) = (requests.clone(), status.clone(), stop.clone());
            let thread = std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !halt.load(Relaxed) && Instant::now() < deadline {
                    let Ok((conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut r = BufReader::new(conn);
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        continue;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let path = parts.next().unwrap_or_default().to_string();
                    let mut len = 0;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        continue;
                    }
                    let code = st.load(Relaxed);
                    reqs.lock().unwrap().push(Request {
                        method,
                        path,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut conn = r.into_inner();
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            });
            FakeServer { url, requests, status, stop, thread: Some(thread) }
        }

        /// The JSON arrays posted so far.
        pub(crate) fn posts(&self) -> Vec<serde_json::Value> {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .inspect(|r| {
                    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v2/alerts"));
                })
                .map(|r| serde_json::from_str(&r.body).unwrap())
                .collect()
        }

        /// Waits (bounded) until `pred` holds for the posts so far.
        pub(crate) fn wait_for(&self, pred: impl Fn(&[serde_json::Value]) -> bool) -> bool {
            let deadline = Instant::now() + super::PATIENCE;
            while Instant::now() < deadline {
                if pred(&self.posts()) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        }
    }

    impl Drop for FakeServer {
        fn drop(&mut self) {
            self.stop.store(true, Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(feature = "alertmanager")]
mod sender {
    use std::sync::atomic::Ordering::Relaxed;
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use tailstore::{Options, Store};
    use tailstore_rules::{AlertmanagerOptions, LiveEvaluator, LiveOptions, Rules};

    use super::fake::FakeServer;
    use super::{record_minutes, BURST_RULES, MIN, PATIENCE, T0};

    fn rfc3339(s: u64) -> String {
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s))
            .to_string()
    }

    fn ours(a: &Value) -> bool {
        a["labels"]["alertname"] == "High Error Rate"
    }

    /// Firing goes out with `startsAt` (the firing tick) and an `endsAt`
    /// ahead of the wall clock, again at every resend while firing;
    /// resolving goes out with `endsAt` = the resolving tick. A failing
    /// Alertmanager (500) is retried.
    #[test]
    fn sender_posts_firing_resends_and_resolves() {
        let am = FakeServer::start(500);
        let store = Store::in_memory(Options::default().keep_everything());
        let opts = AlertmanagerOptions::new(am.url.clone())
            .resend_every(Duration::from_millis(300))
            .backoff(Duration::from_millis(20))
            .retries(2)
            .generator_url("http://tailstore.invalid/rules");
        let rules = Rules::from_yaml(BURST_RULES).unwrap();
        let live = LiveEvaluator::start(
            &store,
            rules,
            LiveOptions::default().start_at(T0).alertmanager(opts),
        )
        .unwrap();
        record_minutes(&store, T0, 0..9);
        store.seal_now();
        assert!(live.wait_evaluated(T0 + 8 * MIN, PATIENCE));
        // Three attempts (500 each), then the post counts as failed.
        assert!(am.wait_for(|p| p.len() >= 3), "no retries");
        am.status.store(200, Relaxed);
        // The next resend gets through, and the ones after it.
        assert!(am.wait_for(|p| p.len() >= 6), "no resends");
        let posts = am.posts();
        for p in &posts {
            let a = &p.as_array().unwrap()[0];
            assert!(ours(a));
            assert_eq!(a["startsAt"], rfc3339(T0 + 8 * MIN));
            assert!(a["endsAt"].as_str().unwrap() > rfc3339(T0 + 8 * MIN + 3600).as_str());
            assert_eq!(a["labels"]["series"], "/models/a");
            assert_eq!(a["labels"]["severity"], "critical");
            assert_eq!(a["annotations"]["summary"], "Error rate is 50.00% on /models/a");
            assert_eq!(a["generatorURL"], "http://tailstore.invalid/rules");
        }
        let s = live.stats();
        assert!(s.alertmanager_failed >= 1 && s.alertmanager_sent >= 1, "{s:?}");
        record_minutes(&store, T0, 9..12);
        store.seal_now();
        assert!(am.wait_for(|p| p.iter().any(|p| p[0]["endsAt"] == rfc3339(T0 + 11 * MIN))));
        // No firing alert left: no resends after the resolve.
        std::thread::sleep(Duration::from_millis(700));
        let posts = am.posts();
        let last = posts.iter().rposition(|p| p[0]["endsAt"] == rfc3339(T0 + 11 * MIN)).unwrap();
        assert_eq!(last, posts.len() - 1, "sent after resolving: {:?}", &posts[last..]);
        assert_eq!(posts[last][0]["startsAt"], rfc3339(T0 + 8 * MIN));
        assert_eq!(live.stats().alertmanager_dropped, 0);
    }

    /// An Alertmanager that fails (503) and a sender that then pauses 30 s
    /// before its retry: evaluation and events go on meanwhile, and drop
    /// interrupts the pause. With none listening at all, the posts fail at
    /// once and are counted.
    #[test]
    fn sender_without_alertmanager_never_blocks_evaluation() {
        let am = FakeServer::start(503);
        let store = Store::in_memory(Options::default().keep_everything());
        let opts = AlertmanagerOptions::new(am.url.clone())
            .timeout(Duration::from_secs(2))
            .backoff(Duration::from_secs(30))
            .retries(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let rules = Rules::from_yaml(BURST_RULES).unwrap();
        let live = LiveEvaluator::start(
            &store,
            rules,
            LiveOptions::default().start_at(T0).alertmanager(opts).send_events(tx),
        )
        .unwrap();
        record_minutes(&store, T0, 0..9);
        store.seal_now();
        // The firing alert's first attempt was refused; the retry is 30 s off.
        assert!(am.wait_for(|p| p.len() == 1));
        record_minutes(&store, T0, 9..12);
        let t = Instant::now();
        store.seal_now();
        assert!(live.wait_evaluated(T0 + 11 * MIN, PATIENCE));
        assert!(t.elapsed() < Duration::from_secs(20), "evaluation waited: {:?}", t.elapsed());
        // Pending, firing, resolved.
        assert_eq!(rx.try_iter().count(), 3);
        assert_eq!(am.posts().len(), 1);
        let s = live.stats();
        assert_eq!((s.alertmanager_sent, s.alertmanager_failed), (0, 0), "{s:?}");
        let t = Instant::now();
        drop(live);
        assert!(t.elapsed() < Duration::from_secs(10), "drop took {:?}", t.elapsed());

        // Nothing listening: connection refused, counted.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let store = Store::in_memory(Options::default().keep_everything());
        let opts = AlertmanagerOptions::new(format!("http://127.0.0.1:{port}"))
            .backoff(Duration::from_millis(10))
            .retries(1);
        let rules = Rules::from_yaml(BURST_RULES).unwrap();
        let live = LiveEvaluator::start(
            &store,
            rules,
            LiveOptions::default().start_at(T0).alertmanager(opts),
        )
        .unwrap();
        record_minutes(&store, T0, 0..12);
        store.seal_now();
        assert!(live.wait_evaluated(T0 + 11 * MIN, PATIENCE));
        let deadline = Instant::now() + PATIENCE;
        while live.stats().alertmanager_failed == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // One post (firing and resolved drained together) or two.
        let s = live.stats();
        assert_eq!(s.alertmanager_sent, 0, "{s:?}");
        assert!((1..=2).contains(&s.alertmanager_failed), "{s:?}");
    }

    /// A URL the sender cannot use is refused at start.
    #[test]
    fn sender_refuses_https() {
        let store = Store::in_memory(Options::default());
        let rules = Rules::from_yaml(BURST_RULES).unwrap();
        let err = LiveEvaluator::start(
            &store,
            rules,
            LiveOptions::default().alertmanager(AlertmanagerOptions::new("https://am:9093")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not http://"), "{err}");
    }
}
