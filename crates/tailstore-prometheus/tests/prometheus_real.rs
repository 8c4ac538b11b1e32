//! A real Prometheus (Debian's `/usr/bin/prometheus`), started here on
//! 127.0.0.1 with a free port, a temporary TSDB and a 1 s scrape of a served
//! store under the ingress-nginx names (and one under tailstore's); killed
//! when the test ends. Its own
//! API then answers the monitoring guide's queries: request counts exactly,
//! the classic-bucket P99 inside the bucket that holds tailstore's P99.
//! Compiled only with the `real-prometheus` feature, which `.ci/run` turns
//! on: there, a missing binary fails the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tailstore::{Options, Selector, Store};
use tailstore_prometheus::{
    native_bucket, native_schema, serve_with, Exposition, Names, ServerOptions,
    INGRESS_NGINX_BUCKETS,
};

const BINARY: &str = "/usr/bin/prometheus";
/// Longest wait for Prometheus to start or to scrape what was recorded.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running Prometheus; killed (and reaped) on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(targets: &[std::net::SocketAddr]) -> Prometheus {
        Prometheus::start_with(targets, &[])
    }

    /// Started with `args` added (e.g. `--enable-feature=native-histograms`).
    fn start_with(targets: &[std::net::SocketAddr], args: &[&str]) -> Prometheus {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing: `apt-get install prometheus` (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: tailstore\n    static_configs:\n      - targets: [{}]\n",
                targets.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
            ),
        )
        .unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = Prometheus { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                panic!("prometheus exited at start: {status}");
            }
            if ureq::get(&format!("{}/-/ready", p.url)).call().is_ok() {
                return p;
            }
            assert!(Instant::now() < deadline, "prometheus not ready in {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The instant vector of `query` (`GET /api/v1/query`) as (labels, value).
    fn query(&self, query: &str) -> Vec<(Value, f64)> {
        let body = ureq::get(&format!("{}/api/v1/query", self.url))
            .query("query", query)
            .config()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "success", "{query}: {body}");
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse().unwrap()))
            .collect()
    }

    /// Waits (bounded) until the single value of `query` is `want`.
    fn wait_value(&self, query: &str, want: f64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.query(query);
            if got.len() == 1 && (got[0].1 - want).abs() < 1e-9 {
                return;
            }
            assert!(Instant::now() < deadline, "{query}: {got:?}, waiting for {want}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Latencies of the second batch: log-spread from 5 ms to ~2 s
/// (deterministic), so the P99 lies well inside a bucket.
fn latencies_ms(n: u64) -> Vec<f64> {
    #[expect(clippy::cast_precision_loss, reason = "small integers")]
    (0..n).map(|i| 5.0 * 400f64.powf(((i * 7_919) % n) as f64 / n as f64)).collect()
}

#[test]
fn prometheus_scrapes_and_answers_the_guides_queries() {
    let store = Store::in_memory(Options::default().keep_everything());
    let path = "/models/fraud-v2/predict";
    let s = store.series(path);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    // Batch 1, ten minutes ago: the counters' base before the first scrape.
    for i in 0..500u64 {
        let at = UNIX_EPOCH + Duration::from_secs(now - 600 + i % 60);
        // Every status of batch 2 already here: Prometheus' increase()
        // cannot see a counter's first value (a series new at a scrape).
        let status = match i % 50 {
            0 => 503,
            1 => 504,
            _ => 200,
        };
        s.record_at(at, Duration::from_millis(20 + i % 30), status);
    }
    let server = serve_with(
        store.clone(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::ingress_nginx())),
    )
    .unwrap();
    // The same store under tailstore's names: OpenMetrics counters with
    // `_total` and `_created`, through Prometheus' own parser.
    let own = serve_with(
        store.clone(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::tailstore())),
    )
    .unwrap();
    let prom = Prometheus::start(&[server.local_addr(), own.local_addr()]);
    let total = "sum(nginx_ingress_controller_requests{path=~\"/models/fraud-v2.*\"})";
    prom.wait_value(total, 500.0);
    let own_total = "sum(tailstore_requests_total{series=~\"/models/fraud-v2.*\"})";
    prom.wait_value(own_total, 500.0);

    // Batch 2, now: what rate() over [5m] sees between the scrapes.
    let batch = latencies_ms(4_000);
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for (i, ms) in batch.iter().enumerate() {
        let status = if i % 40 == 0 { 504 } else { 200 };
        s.record_at(
            UNIX_EPOCH + Duration::from_secs(start),
            Duration::from_secs_f64(ms / 1e3),
            status,
        );
    }
    prom.wait_value(total, 4_500.0);
    prom.wait_value(own_total, 4_500.0);
    // tailstore's own API answers the same expressions with the same totals.
    for (addr, q) in [(server.local_addr(), total), (own.local_addr(), own_total)] {
        let body = ureq::get(&format!("http://{addr}/api/v1/query"))
            .query("query", q)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["result"][0]["value"][1], "4500", "{q}: {body}");
    }
    prom.wait_value("sum(tailstore_request_duration_seconds_count)", 4_500.0);
    // Prometheus negotiated OpenMetrics: the counter's family is named
    // without `_total` (text 0.0.4 would name it with).
    let meta = ureq::get(&format!("{}/api/v1/metadata", prom.url))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let meta: Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["data"]["tailstore_requests"][0]["type"], "counter", "{meta}");
    assert_eq!(meta["data"]["tailstore_request_duration_seconds"][0]["unit"], "seconds", "{meta}");

    // The guide's request counts by status: exact.
    let by_status = prom.query(
        "sum(increase(nginx_ingress_controller_requests{path=~\"/models/fraud-v2.*\"}[10m])) by (status)",
    );
    // (increase() extrapolates to the window's ends: only its shape is checked.)
    let statuses: Vec<&Value> = by_status.iter().map(|(m, _)| &m["status"]).collect();
    assert_eq!(statuses.len(), 3, "{by_status:?}");
    let raw = prom.query("nginx_ingress_controller_requests{status=\"504\"}");
    assert_eq!(raw.len(), 1);
    assert!((raw[0].1 - 110.0).abs() < 1e-9, "{raw:?}");

    // The guide's P99: Prometheus interpolates inside the classic bucket
    // that holds the rank; tailstore's exact P99 lies in the same bucket.
    let p99 = prom.query(
        "histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{\
         path=~\"/models/fraud-v2.*\"}[5m])) by (le))",
    );
    assert_eq!(p99.len(), 1, "{p99:?}");
    let prom_p99 = p99[0].1;
    let ours = store
        .query(Selector::exact(path))
        .between(
            UNIX_EPOCH + Duration::from_secs(start),
            UNIX_EPOCH + Duration::from_secs(start + 1),
        )
        .run()
        .unwrap();
    assert_eq!(ours.count(), 4_000);
    let ours_p99 = ours.quantile(0.99).unwrap().as_secs_f64();
    let hi = INGRESS_NGINX_BUCKETS.iter().position(|&le| le >= ours_p99).unwrap();
    let (lo_le, hi_le) =
        (if hi == 0 { 0.0 } else { INGRESS_NGINX_BUCKETS[hi - 1] }, INGRESS_NGINX_BUCKETS[hi]);
    assert!(
        lo_le <= prom_p99 && prom_p99 <= hi_le,
        "Prometheus P99 {prom_p99} s, tailstore's {ours_p99} s in bucket ({lo_le}, {hi_le}]"
    );
    eprintln!("P99: Prometheus {prom_p99:.4} s (classic buckets), tailstore {ours_p99:.4} s (exact within 0.05 %)");
    drop(prom);
    server.stop();
    own.stop();
}

/// A Prometheus started on the blocks that `promtool tsdb create-blocks-from
/// openmetrics` makes of `Exposition::backfill`'s history (no scraping; a
/// retention long enough to keep 2025's blocks): its own API answers the
/// store's request counts at the history's end, per status, exactly.
#[test]
fn prometheus_on_backfilled_blocks_answers_the_stores_counts() {
    assert!(
        std::path::Path::new(BINARY).is_file(),
        "{BINARY} is missing: `apt-get install prometheus` (.ci/run does)"
    );
    let store = crate::util::store();
    let t_end = crate::util::T0 + 600;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.om");
    let mut text = Vec::new();
    Exposition::new(Names::tailstore()).backfill(&store, (0, u64::MAX), 60, &mut text).unwrap();
    std::fs::write(&file, &text).unwrap();
    let data = dir.path().join("data");
    let out = Command::new("/usr/bin/promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&data)
        .output()
        .expect("/usr/bin/promtool is required (apt-get install prometheus)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let p = Prometheus { child, url: url.clone(), _dir: tempfile::tempdir().unwrap() };
    let deadline = Instant::now() + PATIENCE;
    while ureq::get(&format!("{url}/-/ready")).call().is_err() {
        assert!(Instant::now() < deadline, "prometheus not ready in {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The counter's value at the history's end, per status, for one series:
    // the store's totals (600 requests: 582 200s, 12 503s, 6 404s).
    let at = |status: &str| {
        let body = ureq::get(&format!("{url}/api/v1/query"))
            .query(
                "query",
                format!(
                    "tailstore_requests_total{{series=\"/models/fraud-v2/predict\",status=\"{status}\"}}"
                ),
            )
            .query("time", t_end.to_string())
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let r = &v["data"]["result"];
        assert_eq!(r.as_array().map(Vec::len), Some(1), "{status}: {body}");
        r[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap()
    };
    let w = store
        .query(Selector::exact("/models/fraud-v2/predict"))
        .between(
            UNIX_EPOCH + Duration::from_secs(crate::util::T0),
            UNIX_EPOCH + Duration::from_secs(t_end),
        )
        .run()
        .unwrap();
    let count = |code: u16| {
        #[expect(clippy::cast_precision_loss, reason = "small counts")]
        let n = w.status_counts().iter().find(|(s, _)| *s == code).map_or(0, |(_, n)| n) as f64;
        n
    };
    for (status, code) in [("200", 200u16), ("503", 503), ("404", 404)] {
        assert!(
            (at(status) - count(code)).abs() < 1e-9,
            "{status}: {} vs {}",
            at(status),
            count(code)
        );
    }
    drop(p);
}

/// Prometheus with native histograms on asks for the protobuf format first:
/// it ingests tailstore's native histograms, and its own
/// `histogram_quantile` over them answers the P99 within one native bucket
/// (0.27 % at schema 8) of tailstore's exact P99; counts are exact.
#[test]
fn prometheus_scrapes_native_histograms_over_protobuf() {
    let store = Store::in_memory(Options::default().keep_everything());
    let path = "/models/fraud-v2/predict";
    let s = store.series(path);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for i in 0..500u64 {
        let at = UNIX_EPOCH + Duration::from_secs(now - 600 + i % 60);
        s.record_at(at, Duration::from_millis(20 + i % 30), if i % 50 == 0 { 504 } else { 200 });
    }
    let server = serve_with(
        store.clone(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::tailstore())),
    )
    .unwrap();
    let prom =
        Prometheus::start_with(&[server.local_addr()], &["--enable-feature=native-histograms"]);
    let total = "sum(tailstore_requests_total{series=~\"/models/fraud-v2.*\"})";
    prom.wait_value(total, 500.0);
    // The histogram arrived native: its count through histogram_count().
    let native_count =
        "histogram_count(sum(tailstore_request_duration_seconds{series=~\"/models/fraud-v2.*\"}))";
    prom.wait_value(native_count, 500.0);
    // No classic series were made of it (they would be, from text formats).
    assert!(prom.query("tailstore_request_duration_seconds_bucket").is_empty());

    let batch = latencies_ms(4_000);
    let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    for (i, ms) in batch.iter().enumerate() {
        let status = if i % 40 == 0 { 504 } else { 200 };
        s.record_at(
            UNIX_EPOCH + Duration::from_secs(start),
            Duration::from_secs_f64(ms / 1e3),
            status,
        );
    }
    prom.wait_value(total, 4_500.0);
    prom.wait_value(native_count, 4_500.0);
    let raw = prom.query("tailstore_requests_total{status=\"504\"}");
    assert_eq!(raw.len(), 1);
    assert!((raw[0].1 - 110.0).abs() < 1e-9, "{raw:?}");
    let sum = prom.query(
        "histogram_sum(sum(tailstore_request_duration_seconds{series=~\"/models/fraud-v2.*\"}))",
    );
    let all = store
        .query(Selector::exact(path))
        .between(
            UNIX_EPOCH + Duration::from_secs(now - 600),
            UNIX_EPOCH + Duration::from_secs(start + 1),
        )
        .run()
        .unwrap();
    assert_eq!(all.count(), 4_500);
    let exact_sum = all.accumulator().sum_ns();
    #[expect(clippy::cast_precision_loss, reason = "a sum of ns far below 2^53")]
    let exact_sum = exact_sum as f64 / 1e9;
    assert!((sum[0].1 - exact_sum).abs() < 1e-6, "{sum:?} vs {exact_sum}");

    // The guide's P99 over the native histogram: the increase over [5m] is
    // batch 2 (the first scrape saw batch 1 only).
    let p99 = prom.query(
        "histogram_quantile(0.99, sum(rate(tailstore_request_duration_seconds{\
         series=~\"/models/fraud-v2.*\"}[5m])))",
    );
    assert_eq!(p99.len(), 1, "{p99:?}");
    let prom_p99 = p99[0].1;
    let ours = store
        .query(Selector::exact(path))
        .between(
            UNIX_EPOCH + Duration::from_secs(start),
            UNIX_EPOCH + Duration::from_secs(start + 1),
        )
        .run()
        .unwrap();
    assert_eq!(ours.count(), 4_000);
    let ours_p99 = ours.quantile(0.99).unwrap().as_secs_f64();
    // Each sample is counted in its native bucket or a neighbour, and
    // Prometheus interpolates inside the bucket of the rank: its answer lies
    // in ours' native bucket or one beside it.
    let schema = native_schema(&store.layout());
    assert_eq!(schema, 8);
    let k = native_bucket(ours_p99, schema);
    let bound = |k: i32| (f64::from(k) / 256.0).exp2();
    let (lo, hi) = (bound(k - 2), bound(k + 1));
    assert!(
        lo < prom_p99 && prom_p99 <= hi,
        "Prometheus native P99 {prom_p99} s, tailstore's {ours_p99} s (native bucket {k}: \
         ({lo}, {hi}] allowed)"
    );
    eprintln!(
        "P99: Prometheus {prom_p99:.5} s (native histogram, schema 8), tailstore {ours_p99:.5} s, \
         relative difference {:.3} %",
        100.0 * (prom_p99 - ours_p99).abs() / ours_p99
    );
    drop(prom);
    server.stop();
}
