//! End to end with Debian's `wrk` (feature `wrk`; `.ci/run` installs it):
//! the example model server on 127.0.0.1, driven by wrk for 3 s, stopped,
//! and its store read back. A missing `wrk` fails the test.
//!
//! What is asserted, and why:
//!
//! * Counts, exactly: the server's own counter (`GET /admin/count`, a plain
//!   atomic each predict handler bumps on entry) = the count it prints as
//!   it stops = the requests tailstore stored for `/models/{name}/predict`.
//! * wrk's requests `W` against tailstore's `T`: `W <= T <= W + c + e`
//!   (`c` connections, `e` socket errors). wrk counts the responses it read
//!   before its deadline; the server also recorded the at most one request
//!   per connection still in flight then (dropped as 499 or finished
//!   unread), and one per connection wrk closed on an error.
//! * Errors: wrk's non-2xx/3xx responses `E` against tailstore's 4xx and
//!   5xx: `E <= errors <= E + c + e`, by the same argument.
//! * P99: each request's server-side latency (the layer's `call` to its
//!   last body frame) lies inside its client-side one (wrk: request
//!   written to response read), so every stored latency but those of the
//!   `k = T - W` requests wrk did not report is at most wrk's maximum. With
//!   `floor(T / 100) >= k` at most the top 1 % can exceed it, so
//!   tailstore's nearest-rank P99 <= wrk's max (plus tailstore's 0.05 %
//!   precision and wrk's rounding to 0.01 of its unit). From below,
//!   tailstore's P99 >= wrk's P50: the fake model's P99 delay is ~3x its
//!   median, so a P99 under the client's median means tailstore lost the
//!   latencies (recorded the head only, or nothing). And tailstore's P50
//!   <= wrk's P75 (the same containment, with `k` shifting a rank by under
//!   1 %).

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tailstore::{Options, Selector, Store};

const CONNECTIONS: u64 = 8;

/// The directory of this profile's artifacts (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    // target/<profile>/deps/tests-HASH
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .into()
}

/// Builds the example (cargo is done building the tests when they run, so
/// it takes the build lock again at once) and returns its path.
fn build_example() -> PathBuf {
    let profile = profile_dir();
    let target = profile.parent().expect("target/<profile> has a parent");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "tailstore-tower", "--example", "model_server"])
        .arg("--target-dir")
        .arg(target);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = run_bounded(cmd.stdout(Stdio::inherit()), Duration::from_secs(900));
    assert!(status, "cargo build --example model_server failed");
    let exe =
        profile.join("examples").join(format!("model_server{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "{} was not built", exe.display());
    exe
}

/// Runs `cmd` to completion within `limit`; false when it failed or ran over.
fn run_bounded(cmd: &mut Command, limit: Duration) -> bool {
    let mut child = cmd.spawn().expect("cargo runs");
    match wait_bounded(&mut child, limit) {
        Some(status) => status.success(),
        None => false,
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("waitpid works") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A duration as wrk prints it (`23.21ms`, `850.00us`, `1.02s`, `2.00m`), in ms.
fn wrk_ms(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or_else(|| panic!("no unit: {s}"));
    let (v, unit) = s.split_at(split);
    let v: f64 = v.parse().unwrap_or_else(|_| panic!("not a number: {s}"));
    match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        "h" => v * 3_600_000.0,
        _ => panic!("unknown unit in {s}"),
    }
}

#[derive(Debug)]
struct WrkRun {
    requests: u64,
    non_2xx: u64,
    socket_errors: u64,
    max_ms: f64,
    /// (percent, ms) of the latency distribution.
    percentiles: Vec<(u32, f64)>,
}

impl WrkRun {
    fn percentile(&self, p: u32) -> f64 {
        self.percentiles.iter().find(|(q, _)| *q == p).map(|x| x.1).expect("wrk printed it")
    }
}

fn parse_wrk(out: &str) -> WrkRun {
    let mut run = WrkRun {
        requests: 0,
        non_2xx: 0,
        socket_errors: 0,
        max_ms: f64::NAN,
        percentiles: Vec::new(),
    };
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", _avg, _stdev, max, _] => run.max_ms = wrk_ms(max),
            [p, v] if p.ends_with('%') => {
                run.percentiles
                    .push((p.trim_end_matches('%').parse().expect("a percent"), wrk_ms(v)));
            }
            [n, "requests", "in", ..] => run.requests = n.parse().expect("a count"),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.non_2xx = n.parse().expect("a count"),
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 3"
                run.socket_errors =
                    rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum();
            }
            _ => {}
        }
    }
    assert!(run.requests > 0 && run.max_ms.is_finite(), "unreadable wrk output:\n{out}");
    assert_eq!(run.percentiles.iter().map(|p| p.0).collect::<Vec<_>>(), [50, 75, 90, 99], "{out}");
    run
}

#[test]
fn wrk_output_is_parsed() {
    let out = "Running 3s test @ http://127.0.0.1:41645/models/bert/predict
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    24.95ms   12.46ms   1.05s    73.14%
    Req/Sec   162.88     21.89   210.00     66.67%
  Latency Distribution
     50%  823.21us
     75%   31.45ms
     90%   40.66ms
     99%   62.10ms
  976 requests in 3.01s, 143.96KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 29
Requests/sec:    324.34
";
    let r = parse_wrk(out);
    assert_eq!((r.requests, r.non_2xx, r.socket_errors), (976, 29, 3));
    assert!((r.max_ms - 1050.0).abs() < 1e-9);
    assert!((r.percentile(50) - 0.82321).abs() < 1e-9);
    assert!((r.percentile(99) - 62.1).abs() < 1e-9);
}

fn get(url: &str) -> String {
    ureq::get(url).call().expect("the server answers").body_mut().read_to_string().expect("text")
}

/// The server's own count, once two readings 300 ms apart agree.
fn settled_count(base: &str) -> u64 {
    let read = || -> u64 {
        let v: serde_json::Value = serde_json::from_str(&get(&format!("{base}/admin/count")))
            .expect("/admin/count answers JSON");
        v["requests"].as_u64().expect("a count")
    };
    let mut last = read();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the server's count kept moving after wrk stopped");
}

fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().expect("a UTF-8 temporary path")
}

/// The example model server, started on 127.0.0.1 port 0.
struct Server {
    child: Kill,
    base: String,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        static EXE: OnceLock<PathBuf> = OnceLock::new();
        let exe = EXE.get_or_init(build_example);
        let mut child = Command::new(exe)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        let stdout = child.stdout.take().expect("piped");
        // From here on, a panic must not leave the server running.
        let child = Kill(child);
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first =
            lines.recv_timeout(Duration::from_secs(60)).expect("the server prints its address");
        let base =
            first.strip_prefix("listening on ").expect("first line: listening on ADDR").to_string();
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        Server { child, base, lines }
    }

    /// Stops the server with `POST /admin/shutdown`; the lines it printed
    /// after the first.
    fn stop(mut self) -> Vec<String> {
        let base = &self.base;
        ureq::post(format!("{base}/admin/shutdown")).send_empty().expect("shutdown answers");
        let exit = wait_bounded(&mut self.child.0, Duration::from_secs(60)).expect("it stops");
        assert!(exit.success(), "the server exited with {exit}");
        self.lines.try_iter().collect()
    }
}

/// Kills the child when dropped (a failed assertion must not leave the
/// server running).
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn wrk_against_the_model_server_agrees_with_tailstore() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = SystemTime::now();
    let server = Server::start(&["--median-ms", "5", "--store", path(&dir)]);
    let base = server.base.clone();

    let wrk = Command::new("wrk")
        .args(["-t2", &format!("-c{CONNECTIONS}"), "-d3s", "--latency", "--timeout", "5s"])
        .arg(format!("{base}/models/bert/predict"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut wrk = wrk.unwrap_or_else(|e| {
        panic!("cannot run wrk ({e}): install Debian's wrk (apt-get install wrk); .ci/run does")
    });
    let status = wait_bounded(&mut wrk, Duration::from_secs(60)).expect("wrk ends within 60 s");
    let mut out = String::new();
    wrk.stdout.take().expect("piped").read_to_string(&mut out).unwrap();
    assert!(status.success(), "wrk failed: {out}");
    let w = parse_wrk(&out);

    let own = settled_count(&base);
    let lines = server.stop();
    let last = lines.last().expect("the server printed its count");
    assert_eq!(last, &format!("requests {own}"));

    let store = Store::open_read_only(dir.path(), Options::default()).unwrap();
    let end = SystemTime::now() + Duration::from_secs(5);
    let ts = store
        .query(Selector::exact("/models/{name}/predict"))
        .between(t0 - Duration::from_secs(5), end)
        .run()
        .unwrap();
    let statuses: Vec<(u16, u64)> = ts.status_counts().iter().collect();
    let (count, slack) = (ts.count(), CONNECTIONS + w.socket_errors);
    let report = format!("wrk: {w:?}\ntailstore: count {count}, statuses {statuses:?}\n{out}");
    assert_eq!(count, own, "tailstore's count vs the server's own\n{report}");
    assert!(w.requests <= count && count <= w.requests + slack, "{report}");
    let errors: u64 =
        statuses.iter().filter(|(s, _)| (400..600).contains(s) && *s != 499).map(|x| x.1).sum();
    assert!(w.non_2xx <= errors && errors <= w.non_2xx + slack, "errors {errors}\n{report}");

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p99 = ms(ts.quantile(0.99).expect("latencies"));
    let p50 = ms(ts.quantile(0.5).expect("latencies"));
    let unreported = count - w.requests;
    assert!(count / 100 >= unreported, "too few requests for the P99 bound\n{report}");
    let report = format!("tailstore p50 {p50:.3} ms, p99 {p99:.3} ms\n{report}");
    assert!(p99 <= w.max_ms * 1.0005 + 0.01, "P99 above wrk's max\n{report}");
    assert!(p99 >= w.percentile(50), "P99 below wrk's median\n{report}");
    assert!(p50 <= w.percentile(75) * 1.0005 + 0.01, "P50 above wrk's P75\n{report}");
    eprintln!("{report}");
}

/// The admin routes the benchmark harness relies on, and `/metrics` and
/// `/report`: a stall holds a predict request that arrives during it until
/// it ends, and tailstore records the wait; the server's own count and the
/// store agree.
#[test]
fn the_model_servers_stall_count_metrics_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = SystemTime::now();
    let server = Server::start(&["--median-ms", "2", "--store", path(&dir)]);
    let base = server.base.clone();
    assert_eq!(get(&format!("{base}/admin/count")), r#"{"requests":0}"#);
    let predict = format!("{base}/models/bert/predict");
    let post_t0 = Instant::now();
    let r = ureq::post(format!("{base}/admin/stall?ms=500")).send_empty().expect("stall answers");
    assert_eq!(r.status(), 204);
    let post_rtt = post_t0.elapsed();
    // Both methods are routed (any status of the fake model will do).
    let answered = |r: Result<ureq::http::Response<ureq::Body>, ureq::Error>| match r {
        Ok(_) | Err(ureq::Error::StatusCode(400 | 503)) => {}
        Err(e) => panic!("predict failed: {e}"),
    };
    answered(ureq::post(&predict).send("{\"x\": [1, 2]}"));
    let stalled = post_t0.elapsed();
    assert!(stalled >= Duration::from_millis(500), "{stalled:?}");
    let t = Instant::now();
    answered(ureq::get(&predict).call());
    let after = t.elapsed();
    assert!(after < Duration::from_millis(400), "the stall is over: {after:?}");
    assert_eq!(get(&format!("{base}/admin/count")), r#"{"requests":2}"#);
    // Token streaming (seed 1's first generate draw is a success).
    let tokens = get(&format!("{base}/models/llama/generate?tokens=10"));
    assert_eq!(tokens, "token ".repeat(10));
    let metrics = get(&format!("{base}/metrics"));
    assert!(metrics.contains("series=\"/models/{name}/predict\""), "{metrics}");
    let report = get(&format!("{base}/report"));
    assert!(report.starts_with("<!DOCTYPE html>") && report.contains("/models/{name}/predict"));
    let lines = server.stop();
    assert_eq!(lines.last().map(String::as_str), Some("requests 2"));

    let store = Store::open_read_only(dir.path(), Options::default()).unwrap();
    let w = store
        .query(Selector::exact("/models/{name}/predict"))
        .between(t0 - Duration::from_secs(5), SystemTime::now() + Duration::from_secs(5))
        .run()
        .unwrap();
    assert_eq!(w.count(), 2);
    let one = |name: &str| {
        let w = store
            .query(Selector::exact(name))
            .between(t0 - Duration::from_secs(5), SystemTime::now() + Duration::from_secs(5))
            .run()
            .unwrap();
        assert_eq!(w.count(), 1, "{name}");
        w.max().expect("a latency")
    };
    let (head, whole) = (one("ttfb:/models/{name}/generate"), one("/models/{name}/generate"));
    // Ten tokens 5 ms apart follow the head.
    assert!(whole >= head + Duration::from_millis(45), "{head:?} {whole:?}");
    // The stalled request arrived at most one round trip after the stall
    // began, so the server held it at least 500 ms minus that.
    let max = w.max().expect("latencies");
    assert!(max + post_rtt >= Duration::from_millis(500), "{max:?} {post_rtt:?}");
    assert!(max <= stalled, "{max:?} {stalled:?}");
}
