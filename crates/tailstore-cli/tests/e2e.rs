//! End-to-end tests of the `tailstore` binary: real files in, JSON out,
//! compared with an exact oracle.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

#[path = "e2e/alerts.rs"]
mod alerts;
#[path = "e2e/envoy.rs"]
mod envoy;
#[path = "e2e/hlog.rs"]
mod hlog;
#[path = "e2e/promql.rs"]
mod promql;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/serve.rs"]
mod serve;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tailstore"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the tailstore binary runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(rel);
    assert!(
        p.exists(),
        "test data {} is missing: the tests need ../shared beside the repository",
        p.display()
    );
    p
}

const GONX: &str = "$remote_addr [$time_local] \"$request\" $status $request_length $body_bytes_sent $request_time \"$t_size\" $read_time $gen_time";

/// Nearest-rank quantile of sorted values.
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "test samples number far below 2^52 and q is in [0, 1], so n is exact and k is in 1..=n"
)]
fn exact(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as f64;
    let k = ((q * n) - (q * n) * 1e-12).ceil().max(1.0) as usize;
    sorted[k - 1]
}

fn close(got: f64, want: f64, ctx: &str) {
    assert!((got - want).abs() <= want * 0.0005 + 1e-9, "{ctx}: got {got} want {want}");
}

#[test]
fn gonx_log_replays_and_queries_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/gonx-access.log");
    let st = store.to_str().unwrap();
    let v = json_of(&run(&[
        "replay",
        "--store",
        st,
        "--log-format",
        GONX,
        "--json",
        log.to_str().unwrap(),
    ]));
    assert_eq!(v["lines"], 1000);
    assert_eq!(v["ingested"], 1000);
    assert_eq!(v["rejected"], 0);
    let (first, last) = (v["first_ts"].as_u64().unwrap(), v["last_ts"].as_u64().unwrap());
    assert_eq!(last - first, 32);
    // Oracle: $request_time is the 7th space-separated field after the request.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut latencies_ms: Vec<f64> = text
        .lines()
        .map(|l| {
            l.split('"').nth(2).unwrap().split_whitespace().nth(3).unwrap().parse::<f64>().unwrap()
                * 1e3
        })
        .collect();
    latencies_ms.sort_by(f64::total_cmp);
    let (from, to) = (first.to_string(), (last + 1).to_string());
    let whole = [
        "query",
        "--store",
        st,
        "--match",
        ".*",
        "--start",
        &from,
        "--end",
        &to,
        "--quantiles",
        "0.5,0.95,0.99,0.999",
        "--json",
    ];
    let q = json_of(&run(&whole));
    assert_eq!(q["count"], 1000);
    assert_eq!(q["errors"], 99, "99 responses are 404");
    assert_eq!(q["status"]["200"], 901);
    for (key, p) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)] {
        close(q["quantiles_ms"][key].as_f64().unwrap(), exact(&latencies_ms, p), key);
    }
    close(q["max_ms"].as_f64().unwrap(), 3631.0, "max");
    // The contract's key order.
    let keys: Vec<&String> = q.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "start",
            "end",
            "count",
            "errors",
            "error_ratio",
            "rate_per_s",
            "quantiles_ms",
            "min_ms",
            "max_ms",
            "mean_ms",
            "status",
            "clamped",
            "damaged_s"
        ]
    );
    // Querying again (a second process) gives the same answer.
    let again = json_of(&run(&whole));
    assert_eq!(again, q);
    // An empty window is nulls (a --series the store lacks is an error, see
    // mistakes_are_clear_errors_and_fifos_are_read; a regex may match none).
    let e = json_of(&run(&[
        "query", "--store", st, "--match", "/nope", "--last", "5m", "--at", "1000", "--json",
    ]));
    assert_eq!(e["count"], 0);
    assert!(
        e["quantiles_ms"]["p99"].is_null() && e["error_ratio"].is_null() && e["max_ms"].is_null()
    );
}

#[test]
fn generated_jsonl_in_random_order_matches_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 77u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let t0 = 1_700_000_000u64;
    let endpoints = ["/models/a/predict", "/models/b/predict", "/health"];
    let mut rows = Vec::new();
    for _ in 0..20_000 {
        let ts = t0 + rnd() % 7200;
        let frac = rnd() % 1000;
        let ep = endpoints[(rnd() % 3) as usize];
        #[expect(clippy::cast_precision_loss, reason = "below 2_000_000, so exact in f64")]
        let lat_ms = (rnd() % 2_000_000) as f64 / 1000.0; // 0 ..= 2000 ms, µs resolution
        let status = [200, 200, 200, 201, 404, 429, 500, 503][(rnd() % 8) as usize];
        rows.push((ts, frac, ep, lat_ms, status));
    }
    let mut text = String::new();
    for (ts, frac, ep, lat, st) in &rows {
        writeln!(text, "{{\"ts\":{ts}.{frac:03},\"endpoint\":\"{ep}?x=1\",\"latency_ms\":{lat},\"status\":{st}}}").unwrap();
    }
    let file = dir.path().join("traffic.jsonl");
    std::fs::write(&file, text).unwrap();
    let st = dir.path().join("st");
    let v = json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--json",
        file.to_str().unwrap(),
    ]));
    assert_eq!(v["ingested"], 20_000);
    assert_eq!(v["series"], 3);
    for (a, b) in
        [(t0, t0 + 7200), (t0 + 61, t0 + 3599), (t0 + 3600, t0 + 3601), (t0 + 17, t0 + 5000)]
    {
        for ep in endpoints {
            let mut lat: Vec<f64> =
                rows.iter().filter(|r| r.2 == ep && (a..b).contains(&r.0)).map(|r| r.3).collect();
            let errors = rows
                .iter()
                .filter(|r| {
                    r.2 == ep && (a..b).contains(&r.0) && [404, 429, 500, 503].contains(&r.4)
                })
                .count();
            lat.sort_by(f64::total_cmp);
            let q = json_of(&run(&[
                "query",
                "--store",
                st.to_str().unwrap(),
                "--series",
                ep,
                "--start",
                &a.to_string(),
                "--end",
                &b.to_string(),
                "--json",
            ]));
            assert_eq!(q["count"].as_u64().unwrap(), lat.len() as u64, "{ep} [{a}, {b})");
            assert_eq!(q["errors"].as_u64().unwrap(), errors as u64, "{ep} [{a}, {b})");
            if lat.is_empty() {
                continue;
            }
            for (key, p) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
                close(
                    q["quantiles_ms"][key].as_f64().unwrap(),
                    exact(&lat, p),
                    &format!("{ep} {key} [{a}, {b})"),
                );
            }
            close(q["max_ms"].as_f64().unwrap(), *lat.last().unwrap(), "max");
            close(q["min_ms"].as_f64().unwrap(), lat[0], "min");
        }
    }
}

#[test]
fn bad_lines_are_counted_shown_and_strict_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(
        &file,
        "{\"ts\":1700000000,\"path\":\"/a\",\"latency_ms\":5,\"status\":200}\nnot json at all\n{\"ts\":1700000001,\"path\":\"/a\",\"status\":504}\n{\"path\":\"/a\",\"latency_ms\":1,\"status\":200}\n",
    )
    .unwrap();
    let out = run(&["replay", "--json", file.to_str().unwrap()]);
    let v = json_of(&out);
    assert_eq!((v["ingested"].as_u64(), v["rejected"].as_u64()), (Some(2), Some(2)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mixed.jsonl:2: skipped"), "{err}");
    assert!(err.contains("mixed.jsonl:4: skipped"), "{err}");
    let strict = run(&["replay", "--strict", "--json", file.to_str().unwrap()]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn missing_inputs_are_clear_errors() {
    let out = run(&["replay", "/nonexistent/access.log"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/access.log"));
    let out = run(&["query", "--store", "/nonexistent/st", "--series", "x", "--last", "5m"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/st"));
    let out =
        run(&["query", "--store", "/tmp", "--series", "x", "--last", "5m", "--quantiles", "99"]);
    assert!(!out.status.success());
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn every_shared_access_log_replays() {
    for dir in ["nginx", "ingress-nginx", "aws-elb"] {
        for e in std::fs::read_dir(shared(dir)).unwrap() {
            let path = e.unwrap().path();
            let format = match dir {
                "ingress-nginx" => "ingress-nginx",
                "aws-elb" => "alb",
                _ if path.to_str().unwrap().contains("gonx") => continue, // custom format, tested above
                _ => "auto",
            };
            let out = run(&["replay", "--format", format, "--json", path.to_str().unwrap()]);
            let text = std::fs::read_to_string(&path).unwrap();
            let non_empty =
                text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count() as u64;
            if !out.status.success() {
                // Only a file whose format cannot be detected, or whose every
                // line is bad, may fail, with a clear message.
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(
                    err.contains("format") || err.contains("lines was bad: nothing replayed"),
                    "{}: {err}",
                    path.display()
                );
                continue;
            }
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            let (ing, rej) = (v["ingested"].as_u64().unwrap(), v["rejected"].as_u64().unwrap());
            assert_eq!(ing + rej, non_empty, "{}: {v}", path.display());
        }
    }
}

#[test]
fn check_and_series_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/gonx-access.log");
    json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--log-format",
        GONX,
        "--json",
        log.to_str().unwrap(),
    ]));
    let c = json_of(&run(&["check", "--store", st.to_str().unwrap(), "--json"]));
    assert!(c["chunks_ok"].as_u64().unwrap() > 0);
    assert_eq!(c["damaged"].as_array().unwrap().len(), 0);
    let s = json_of(&run(&["series", "--store", st.to_str().unwrap(), "--json"]));
    let total: u64 = s.as_array().unwrap().iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 1000);
    // Damage a segment: check reports it and exits 1.
    let seg = std::fs::read_dir(&st)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut b = std::fs::read(&seg).unwrap();
    let n = b.len();
    b[n - 3] ^= 0xff;
    std::fs::write(&seg, b).unwrap();
    let out = run(&["check", "--store", st.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("damaged"));
}

/// The points of a `query-range --json` run, and its exit code.
fn range_points(st: &str, window: &str, from: u64, to: u64) -> (Vec<Value>, Option<i32>) {
    let out = run(&[
        "query-range",
        "--store",
        st,
        "--match",
        ".*",
        "--start",
        &from.to_string(),
        "--end",
        &to.to_string(),
        "--step",
        window,
        "--window",
        window,
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v["points"].as_array().unwrap().clone(), out.status.code())
}

/// Flips bits in the body of the last record of the newest segment file of
/// `level` (the last bytes of a record are its CRC-protected body).
fn damage_last_record(st: &Path, level: u8) {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(st)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&format!("L{level}-")) && p.extension().is_some_and(|x| x == "seg")
        })
        .collect();
    segs.sort();
    let seg = segs.last().unwrap();
    let mut b = std::fs::read(seg).unwrap();
    let n = b.len();
    b[n - 3] ^= 0x10;
    std::fs::write(seg, b).unwrap();
}

/// Issue 10, item 2: one flipped bit in a minute-level segment made a
/// minute's 540 requests read 360, silently, with exit code 0. A damaged
/// minute is answered from its seconds (`"damaged_s": 0`, exit 0, the same
/// answers as before the damage); a damaged second has no finer level: the
/// points that need it say `"damaged_s": 1` or more, the table warns on
/// stderr, and the exit code is 3.
#[test]
fn damaged_pieces_are_answered_from_finer_levels_or_reported() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    let v = json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--json",
        log.to_str().unwrap(),
    ]));
    let (first, last) = (v["first_ts"].as_u64().unwrap(), v["last_ts"].as_u64().unwrap());
    let (m0, m1) = (first.div_ceil(60) * 60 + 60, last - last % 60);
    assert!(m1 > m0 + 120, "a few whole minutes of traffic");
    let st_s = st.to_str().unwrap();
    let (minutes, code) = range_points(st_s, "1m", m0, m1);
    assert_eq!(code, Some(0));
    assert!(minutes.iter().all(|p| p["damaged_s"] == 0));
    let (seconds, code) = range_points(st_s, "1s", first + 1, last + 1);
    assert_eq!(code, Some(0));
    // A damaged minute: the same answers from its seconds, exit 0.
    damage_last_record(&st, 1);
    assert!(!run(&["check", "--store", st_s]).status.success());
    assert_eq!(range_points(st_s, "1m", m0, m1), (minutes.clone(), Some(0)));
    for p in &minutes {
        let t = p["t"].as_u64().unwrap();
        let out = run(&[
            "query",
            "--store",
            st_s,
            "--match",
            ".*",
            "--start",
            &(t - 60).to_string(),
            "--end",
            &t.to_string(),
            "--json",
        ]);
        let mut q = json_of(&out);
        assert_eq!(q["damaged_s"], 0);
        q.as_object_mut().unwrap().insert("t".into(), t.into());
        assert_eq!(&q, p, "minute ending at {t}");
    }
    // A damaged second: the points that need it say so and count the rest.
    damage_last_record(&st, 0);
    let (after, code) = range_points(st_s, "1s", first + 1, last + 1);
    assert_eq!(code, Some(3), "exit code of a damaged answer");
    assert_eq!(after.len(), seconds.len());
    let mut hit = None;
    for (a, b) in after.iter().zip(&seconds) {
        if a["damaged_s"] == 0 {
            assert_eq!(a, b);
        } else {
            assert_eq!(a["damaged_s"], 1, "one-second windows");
            assert!(a["count"].as_u64() < b["count"].as_u64(), "{a} vs {b}");
            hit = a["t"].as_u64();
        }
    }
    let t = hit.expect("a point over the damaged second");
    let window = ["--start".to_string(), (t - 1).to_string(), "--end".into(), t.to_string()];
    let mut args = vec!["query", "--store", st_s, "--match", ".*"];
    args.extend(window.iter().map(String::as_str));
    let table = run(&args);
    assert_eq!(table.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&table.stderr);
    assert!(stderr.contains("warning") && stderr.contains("1 s of the window"), "{stderr}");
    args.push("--json");
    let out = run(&args);
    assert_eq!(out.status.code(), Some(3));
    let q: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(q["damaged_s"], 1);
}

#[test]
fn query_range_points_equal_single_queries() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    let v = json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--json",
        log.to_str().unwrap(),
    ]));
    let first = v["first_ts"].as_u64().unwrap();
    let st = st.to_str().unwrap();
    let (from, to) = ((first + 45).to_string(), (first + 600).to_string());
    let range = json_of(&run(&[
        "query-range",
        "--store",
        st,
        "--match",
        "/models/fraud-v2/.*",
        "--start",
        &from,
        "--end",
        &to,
        "--step",
        "37s",
        "--window",
        "2m",
        "--json",
    ]));
    let points = range["points"].as_array().unwrap();
    assert_eq!(points.len(), (600 - 45) / 37 + 1);
    for p in points.iter().step_by(4) {
        let t = p["t"].as_u64().unwrap();
        let q = json_of(&run(&[
            "query",
            "--store",
            st,
            "--match",
            "/models/fraud-v2/.*",
            "--last",
            "2m",
            "--at",
            &t.to_string(),
            "--json",
        ]));
        let mut p = p.as_object().unwrap().clone();
        p.remove("t");
        assert_eq!(Value::Object(p), q, "point {t}");
    }
    // The incident (minutes 4-6) shows in the error ratio of the points.
    let peak = points.iter().filter_map(|p| p["error_ratio"].as_f64()).fold(0.0, f64::max);
    assert!(peak > 0.04, "peak error ratio {peak}");
}

/// The issue's reproduction: six hours of history, then a replay with
/// `--retention 35d` of one line dated years ahead. The line is rejected as
/// `future`, no segment file is removed, and every earlier answer stays.
/// Also: a latency above the histogram's range is shown as `clamped` with an
/// exact `max_ms`, and series past `--max-series` land in `(overflow)`.
#[test]
fn a_future_line_deletes_nothing_and_bent_samples_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let t0 = now - 6 * 3600;
    let mut good = String::new();
    for k in 0..2160u64 {
        let ep = ["/a", "/b", "/c"][(k % 3) as usize];
        writeln!(
            good,
            "{{\"ts\":{},\"endpoint\":\"{ep}\",\"latency_ms\":12,\"status\":200}}",
            t0 + k * 10
        )
        .unwrap();
    }
    // A 2 h request: above the default 1 h range.
    writeln!(good, "{{\"ts\":{t0},\"endpoint\":\"/a\",\"latency_ms\":7200000,\"status\":200}}")
        .unwrap();
    let good_file = dir.path().join("good.jsonl");
    std::fs::write(&good_file, good).unwrap();
    let s = st.to_str().unwrap();
    let j = json_of(&run(&[
        "replay",
        "--store",
        s,
        "--json",
        "--max-series",
        "2",
        good_file.to_str().unwrap(),
    ]));
    assert_eq!(j["ingested"], 2161);
    assert_eq!(j["clamped"], 1);
    // Lookups of the refused name (one per parser thread that met it).
    assert!(j["overflowed"].as_u64().is_some_and(|n| n >= 1), "{j}");
    let segments = || {
        std::fs::read_dir(&st)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "seg"))
            .count()
    };
    let before = segments();
    let future = dir.path().join("f.jsonl");
    std::fs::write(
        &future,
        format!(
            "{{\"ts\":{},\"endpoint\":\"/a\",\"latency_ms\":5,\"status\":200}}\n",
            now + 4 * 365 * 86_400
        ),
    )
    .unwrap();
    let j = json_of(&run(&[
        "replay",
        "--store",
        s,
        "--retention",
        "35d",
        "--json",
        future.to_str().unwrap(),
    ]));
    assert_eq!(j["future"], 1, "{j}");
    assert_eq!(segments(), before, "segment files were removed");
    let q = json_of(&run(&[
        "query",
        "--store",
        s,
        "--series",
        "/a",
        "--start",
        &t0.to_string(),
        "--end",
        &now.to_string(),
        "--json",
    ]));
    assert_eq!(q["count"], 721);
    assert_eq!(q["max_ms"], 7_200_000.0);
    assert_eq!(q["clamped"], 1);
    let q = json_of(&run(&[
        "query",
        "--store",
        s,
        "--series",
        "(overflow)",
        "--start",
        &t0.to_string(),
        "--end",
        &now.to_string(),
        "--json",
    ]));
    assert_eq!(q["count"], 720, "the third endpoint's requests are in (overflow)");
}

/// Each mistake gets one line that says what and where: a series name with a
/// typo, a directory given as input, every line bad, a bad regex (its cause
/// shown once, the user's pattern quoted); a FIFO is read like a file.
#[test]
fn mistakes_are_clear_errors_and_fifos_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"ts\":1700000000,\"endpoint\":\"/a\",\"latency_ms\":3,\"status\":200}\n",
    )
    .unwrap();
    let s = st.to_str().unwrap();
    json_of(&run(&["replay", "--store", s, "--json", good.to_str().unwrap()]));
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    let out = run(&["query", "--store", s, "--series", "/typo", "--last", "5m"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("\"/typo\" is not in store"), "{}", stderr(&out));

    let out = run(&["replay", "--json", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"ts\":\"x\"}\n{\"ts\":\"y\"}\n").unwrap();
    let out = run(&["replay", "--format", "jsonl", "--json", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "a replay of only bad lines succeeded");
    assert!(stderr(&out).contains("every one of the 2 lines was bad"), "{}", stderr(&out));

    let out = run(&["query", "--store", s, "--match", "/models/(fraud", "--last", "5m"]);
    let text = stderr(&out);
    assert!(!out.status.success());
    assert!(text.contains("\"/models/(fraud\"") && !text.contains("^(?:"), "{text}");
    assert_eq!(text.matches("unclosed group").count(), 1, "the cause twice: {text}");

    // A directory that is not a store: read verbs refuse it, and replay
    // will not write a store among other files.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    let o = other.to_str().unwrap();
    for args in [&["check", "--store", o][..], &["series", "--store", o]] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains("not a tailstore store"), "{}", stderr(&out));
    }
    let out = run(&["replay", "--store", o, good.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not empty and not a tailstore store"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1, "replay wrote into it");

    // An export never writes into the store it reads.
    let inside = st.join("export.csv");
    let out = run(&[
        "export",
        "--store",
        s,
        "--series",
        "/a",
        "--format",
        "csv",
        "--out",
        inside.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("inside the store"), "{}", stderr(&out));
    assert!(!inside.exists());

    let fifo = dir.path().join("fifo.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let (fifo, good) = (fifo.clone(), good.clone());
        std::thread::spawn(move || std::fs::write(&fifo, std::fs::read(&good).unwrap()).unwrap())
    };
    let out = run(&["replay", "--format", "jsonl", "--json", fifo.to_str().unwrap()]);
    // A replay that never opened the FIFO leaves the writer waiting for a
    // reader: be that reader, so the test fails instead of hanging.
    std::thread::sleep(std::time::Duration::from_millis(50));
    if !writer.is_finished() {
        let _ = std::fs::read(&fifo);
    }
    writer.join().unwrap();
    let j = json_of(&out);
    assert_eq!(j["ingested"], 1);
}

/// Series names are data: bytes that are not UTF-8 are escaped (`\xff`), so
/// `/a\xff` and `/a\xfe` stay two series, and a name holding a newline
/// (JSON `\n`) is in the `(all)` row.
#[test]
fn names_with_invalid_utf8_or_newlines_stay_distinct_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("names.jsonl");
    let mut bytes = Vec::new();
    for (name, n) in [(&b"/a\xff"[..], 3), (&b"/a\xfe"[..], 2), (&b"/b\\nc"[..], 4)] {
        for _ in 0..n {
            bytes.extend_from_slice(b"{\"ts\":1700000000,\"endpoint\":\"");
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(b"\",\"latency_ms\":3,\"status\":200}\n");
        }
    }
    std::fs::write(&file, bytes).unwrap();
    let st = dir.path().join("st");
    let s = st.to_str().unwrap();
    let j = json_of(&run(&["replay", "--store", s, "--json", file.to_str().unwrap()]));
    assert_eq!(j["ingested"], 9, "{j}");
    let count = |sel: &[&str]| {
        let mut args = vec!["query", "--store", s, "--start", "1700000000", "--end", "1700000001"];
        args.extend_from_slice(sel);
        args.push("--json");
        json_of(&run(&args))["count"].as_u64().unwrap()
    };
    assert_eq!(count(&["--series", "/a\\xff"]), 3);
    assert_eq!(count(&["--series", "/a\\xfe"]), 2);
    assert_eq!(count(&["--series", "/b\nc"]), 4);
    assert_eq!(count(&["--match", ".*"]), 9);
    let table = run(&["replay", file.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    let all = text.lines().find(|l| l.starts_with("(all)")).expect("an (all) row");
    assert!(all.split_whitespace().nth(1) == Some("9"), "{text}");
    // The table escapes control characters from log data; JSON needs not.
    assert!(text.lines().any(|l| l.starts_with("/b\\nc ")), "{text}");
    assert!(!text.contains("/b\nc"), "a raw newline in the table: {text}");
}

/// The same input gives the same summary and the same stored data on every
/// run, whatever the thread timing: a file of several blocks whose time runs
/// back (four pods concatenated, each written in completion order), 40
/// names past a cap of 25 series, and a retention short enough to reject
/// part of it, replayed four times into fresh stores.
#[test]
fn replay_results_do_not_depend_on_thread_timing() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = 4242u64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let t0 = 1_764_547_200u64;
    let mut text = String::new();
    for pod in 0..4u64 {
        for k in 0..25_000u64 {
            // Each pod covers the same 20 minutes; a line is stamped up to
            // 3 s before its place in the file.
            let ts = t0 + k * 1200 / 25_000 - rnd() % 3;
            let ep = rnd() % 40;
            let lat = rnd() % 900_000;
            let status = [200, 200, 200, 404, 500][(rnd() % 5) as usize];
            writeln!(
                text,
                "{{\"ts\":{ts}.{pod},\"endpoint\":\"/models/m{ep:02}/predict\",\"latency_ms\":{}.{:03},\"status\":{status}}}",
                lat / 1000,
                lat % 1000
            )
            .unwrap();
        }
    }
    assert!(text.len() > 3 << 20, "several 1 MiB blocks: {}", text.len());
    let file = dir.path().join("pods.jsonl");
    std::fs::write(&file, text).unwrap();
    let mut first: Option<(Value, String, String)> = None;
    for run_no in 0..4 {
        let st = dir.path().join(format!("st{run_no}"));
        let s = st.to_str().unwrap();
        let summary = json_of(&run(&[
            "replay",
            "--store",
            s,
            "--json",
            "--retention",
            "10m",
            "--max-series",
            "25",
            file.to_str().unwrap(),
        ]));
        let export = |level: &str| {
            let out = run(&[
                "export", "--store", s, "--match", ".*", "--format", "csv", "--level", level,
            ]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let got = (summary, export("1s"), export("1m"));
        assert!(got.0["rejected"].as_u64().unwrap() > 0, "{}", got.0);
        assert_eq!(got.0["overflowed"], 15, "{}", got.0);
        assert!(got.1.lines().count() > 100, "{}", got.1);
        match &first {
            None => first = Some(got),
            Some(f) => {
                assert_eq!(f.0, got.0, "run {run_no}: the summary differs");
                assert!(f.1 == got.1, "run {run_no}: the stored seconds differ");
                assert!(f.2 == got.2, "run {run_no}: the stored minutes differ");
            }
        }
    }
}

/// Issue 10's rule for stray lines: data time, for retention, advances only
/// as far as `tailstore::RETENTION_SUPPORT` distinct seconds holding samples
/// support it. Six hours of history, then one line a year ahead (still
/// within --max-future of the wall clock) replayed with --retention 35d:
/// nothing is rejected or removed, and every earlier answer stays.
#[test]
fn a_stray_line_a_year_ahead_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let s = st.to_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let stray = now - 60;
    let t0 = stray - 365 * 86_400 - 6 * 3600;
    let mut good = String::new();
    for k in 0..2160u64 {
        writeln!(
            good,
            "{{\"ts\":{},\"endpoint\":\"/a\",\"latency_ms\":12,\"status\":200}}",
            t0 + k * 10
        )
        .unwrap();
    }
    let good_file = dir.path().join("good.jsonl");
    std::fs::write(&good_file, good).unwrap();
    json_of(&run(&["replay", "--store", s, "--json", good_file.to_str().unwrap()]));
    let count = || {
        json_of(&run(&[
            "query",
            "--store",
            s,
            "--series",
            "/a",
            "--start",
            &t0.to_string(),
            "--end",
            &(t0 + 6 * 3600).to_string(),
            "--json",
        ]))["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(), 2160);
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(&st)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = files();
    let stray_file = dir.path().join("stray.jsonl");
    std::fs::write(
        &stray_file,
        format!("{{\"ts\":{stray},\"endpoint\":\"/a\",\"latency_ms\":5,\"status\":200}}\n"),
    )
    .unwrap();
    let j = json_of(&run(&[
        "replay",
        "--store",
        s,
        "--retention",
        "35d",
        "--json",
        stray_file.to_str().unwrap(),
    ]));
    assert_eq!((j["ingested"].as_u64(), j["future"].as_u64()), (Some(1), Some(0)), "{j}");
    assert_eq!(j["rejected"], 0, "{j}");
    let after = files();
    assert!(before.iter().all(|f| after.contains(f)), "files removed: {before:?} -> {after:?}");
    assert_eq!(count(), 2160, "history lost to the stray line");
    // Reopened again (retention applied at open too), still there, with the stray line.
    assert_eq!(count(), 2160);
    let all = json_of(&run(&[
        "query",
        "--store",
        s,
        "--series",
        "/a",
        "--start",
        &t0.to_string(),
        "--end",
        &(stray + 1).to_string(),
        "--json",
    ]));
    assert_eq!(all["count"], 2161);
}

/// `n` JSONL requests, one per 10 ms from `t0`, over three endpoints.
fn jsonl_requests(t0: u64, n: u64) -> String {
    let mut text = String::new();
    for k in 0..n {
        let ep = ["/a", "/b", "/c"][(k % 3) as usize];
        writeln!(
            text,
            "{{\"ts\":{}.{:02},\"endpoint\":\"{ep}\",\"latency_ms\":{},\"status\":200}}",
            t0 + k / 100,
            k % 100,
            1 + k % 97
        )
        .unwrap();
    }
    text
}

/// The number of requests a store holds in `[t0, t0 + span)`.
fn stored(st: &Path, t0: u64, span: u64) -> u64 {
    json_of(&run(&[
        "query",
        "--store",
        st.to_str().unwrap(),
        "--match",
        ".*",
        "--start",
        &t0.to_string(),
        "--end",
        &(t0 + span).to_string(),
        "--json",
    ]))["count"]
        .as_u64()
        .unwrap()
}

/// The replay ledger: the same input (by content, under any name) is
/// refused a second time, `--force` adds it again, a log that grew is
/// resumed after what was committed, and an input given twice is refused.
#[test]
fn replaying_the_same_input_twice_is_refused_and_a_grown_log_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let s = st.to_str().unwrap();
    let t0 = 1_764_547_200u64;
    let whole = jsonl_requests(t0, 50_000);
    let cut = whole.match_indices('\n').nth(29_999).unwrap().0 + 1;
    let f = dir.path().join("f.jsonl");
    std::fs::write(&f, &whole[..cut]).unwrap();
    let fp = f.to_str().unwrap();
    json_of(&run(&["replay", "--store", s, "--json", fp]));
    assert_eq!(stored(&st, t0, 3600), 30_000);
    // Again, and as a copy under another name: refused, nothing added.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&f, &copy).unwrap();
    for input in [fp, copy.to_str().unwrap()] {
        let out = run(&["replay", "--store", s, "--json", input]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("already in this store (30000 requests"), "{err}");
        assert!(err.contains("nothing to replay"), "{err}");
    }
    let out = run(&["replay", "--store", s, fp, copy.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("are the same input"), "{err}");
    assert_eq!(stored(&st, t0, 3600), 30_000);
    // The log grew: only the new lines are added.
    std::fs::write(&f, &whole).unwrap();
    let out = run(&["replay", "--store", s, "--json", fp]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resuming after the"), "{err}");
    assert_eq!(json_of(&out)["ingested"], 20_000, "{err}");
    assert_eq!(stored(&st, t0, 3600), 50_000);
    // The same input twice in one command.
    let g = dir.path().join("g.jsonl");
    std::fs::write(&g, jsonl_requests(t0 + 7200, 10)).unwrap();
    let out = run(&["replay", "--store", s, g.to_str().unwrap(), g.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("are the same input"), "{err}");
    assert_eq!(stored(&st, t0 + 7200, 60), 0, "nothing recorded before the check");
    // --force adds it again.
    json_of(&run(&["replay", "--store", s, "--force", "--json", fp]));
    assert_eq!(stored(&st, t0, 3600), 100_000);
}

/// A replay that stops half-way (a truncated gzip after a good file) says
/// per file what was committed, and the same command with the file made
/// whole resumes: the store ends up with every request exactly once. An
/// interrupted replay (an `open` entry never committed, as `kill -9`
/// leaves) is refused with the reason; a name the store cannot hold is a
/// bad line before anything is recorded, not a failure at flush.
#[test]
fn a_failed_replay_says_what_was_committed_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let s = st.to_str().unwrap();
    let t0 = 1_764_547_200u64;
    let good = dir.path().join("good.jsonl");
    std::fs::write(&good, jsonl_requests(t0, 1000)).unwrap();
    let big = jsonl_requests(t0 + 3600, 60_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, big.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let second = dir.path().join("second.jsonl.gz");
    std::fs::write(&second, &gz[..gz.len() * 3 / 4]).unwrap();
    let args = ["replay", "--store", s, good.to_str().unwrap(), second.to_str().unwrap()];
    let out = run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("replay stopped"), "{err}");
    assert!(err.contains("good.jsonl: committed whole (1000 requests)"), "{err}");
    assert!(err.contains("second.jsonl.gz: committed its first"), "{err}");
    let part = stored(&st, t0 + 3600, 3600);
    assert!(part > 0 && part < 60_000, "{part}");
    assert_eq!(stored(&st, t0, 3600), 1000);
    // Made whole, the same command resumes.
    std::fs::write(&second, &gz).unwrap();
    let out = run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("good.jsonl: already in this store"), "{err}");
    assert!(err.contains("second.jsonl.gz: resuming after the"), "{err}");
    assert_eq!(stored(&st, t0 + 3600, 3600), 60_000);
    assert_eq!(stored(&st, t0, 3600), 1000);
    // An interrupted run: its open entry was never committed.
    let third = dir.path().join("third.jsonl");
    std::fs::write(&third, jsonl_requests(t0 + 7200, 10)).unwrap();
    let ledger = st.join("replays.jsonl");
    let id = {
        let out = run(&["replay", "--store", s, third.to_str().unwrap()]);
        assert!(out.status.success());
        let text = std::fs::read_to_string(&ledger).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        last["id"].as_str().unwrap().to_owned()
    };
    let mut text = std::fs::read_to_string(&ledger).unwrap();
    writeln!(text, "{{\"v\":1,\"event\":\"open\",\"id\":\"{id}\",\"path\":\"third.jsonl\"}}")
        .unwrap();
    std::fs::write(&ledger, text).unwrap();
    let out = run(&["replay", "--store", s, third.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("was interrupted"), "{err}");
    assert_eq!(stored(&st, t0 + 7200, 60), 10);
    // A series name longer than the format holds: one bad line.
    let long = dir.path().join("long.jsonl");
    std::fs::write(
        &long,
        format!(
            "{{\"ts\":{t0},\"endpoint\":\"/{}\",\"latency_ms\":1,\"status\":200}}\n{{\"ts\":{t0},\"endpoint\":\"/ok\",\"latency_ms\":1,\"status\":200}}\n",
            "x".repeat(70_000)
        ),
    )
    .unwrap();
    let out = run(&["replay", "--store", s, "--json", long.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a series name of 70001 bytes cannot be stored"), "{err}");
    let j = json_of(&out);
    assert_eq!((j["ingested"].as_u64(), j["rejected"].as_u64()), (Some(1), Some(1)), "{j}");
}

/// Plain nginx/Apache `combined`, the most common access log, is detected
/// and replayed with unknown latency: rate, errors and statuses, no
/// quantiles, and a note saying so.
#[test]
fn a_combined_log_without_latency_replays_rate_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("access.log");
    let mut text = String::new();
    for k in 0..120u64 {
        let status = if k % 10 == 0 { 503 } else { 200 };
        writeln!(
            text,
            "10.0.0.{} - - [01/Dec/2025:00:{:02}:{:02} +0000] \"POST /models/m/predict HTTP/1.1\" {status} 17 \"-\" \"curl/8\"",
            k % 7,
            k / 60,
            k % 60
        )
        .unwrap();
    }
    std::fs::write(&f, text).unwrap();
    let st = dir.path().join("st");
    let out = run(&["replay", "--store", st.to_str().unwrap(), "--json", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("records no latency"), "{err}");
    assert_eq!(json_of(&out)["ingested"], 120);
    let q = json_of(&run(&[
        "query",
        "--store",
        st.to_str().unwrap(),
        "--series",
        "/models/m/predict",
        "--start",
        "2025-12-01T00:00:00Z",
        "--end",
        "2025-12-01T00:02:00Z",
        "--json",
    ]));
    assert_eq!((q["count"].as_u64(), q["errors"].as_u64()), (Some(120), Some(12)), "{q}");
    assert!(q["quantiles_ms"]["p99"].is_null(), "{q}");
    assert_eq!(q["rate_per_s"], 1.0);
}

/// Logs of other front proxies and collectors are auto-detected and read
/// whole: Traefik (JSON and text lines in one file), `HAProxy` through
/// syslog, Caddy and Google Cloud load-balancer JSON, Envoy
/// Gateway's JSON, an Istio log taken with `kubectl logs --timestamps`
/// (once mistaken for ALB), nginx in Docker `json-file` records and
/// through syslog.
#[test]
fn other_proxies_and_collector_wrappers_replay_with_detection() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = r#"{"DownstreamStatus":200,"Duration":1514362,"RequestHost":"h","RequestPath":"/models/t?v=1","RouterName":"r@k8s","ServiceName":"s@k8s","StartUTC":"2025-12-01T00:00:01.5Z"}"#;
    let caddy = r#"{"level":"info","ts":1764547202.25,"logger":"http.log.access","msg":"handled request","request":{"host":"h","uri":"/models/c?x=1","headers":{"A":["b"]}},"duration":0.0125,"status":503}"#;
    let gcp = r#"{"httpRequest":{"requestUrl":"https://h/models/g?v=2","status":200,"latency":"0.25s"},"timestamp":"2025-12-01T00:00:03Z"}"#;
    let gateway = r#"{":authority":"h","duration":7,"response_code":200,"start_time":"2025-12-01T00:00:04.000Z","x-envoy-origin-path":"/models/e","x-envoy-upstream-service-time":"5"}"#;
    let istio = "2025-12-01T00:00:09.100Z [2025-12-01T00:00:05.085Z] \"GET /models/i HTTP/1.1\" 200 - via_upstream - \"-\" 0 145 7 6 \"-\" \"curl\" \"5644\" \"reviews:9080\" \"10.1.2.14:9080\" inbound|9080|| - 10.1.2.14:9080 10.1.1.6:48816 outbound_.9080_._.reviews default";
    let nginx = "1.2.3.4 - - [01/Dec/2025:00:00:06 +0000] \"GET /models/n HTTP/1.1\" 200 1 \"-\" \"-\" 0.005";
    let docker = format!(
        "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2025-12-01T00:00:09Z\"}}",
        nginx.replace('"', "\\\"")
    );
    let syslog = format!("<190>Dec  1 00:00:09 web-1 nginx: {nginx}");
    let traefik_clf = "10.0.0.1 - - [01/Dec/2025:00:00:07 +0000] \"GET /models/t HTTP/1.1\" 200 5 \"-\" \"c\" 9 \"r@k8s\" \"http://10.1.0.2:80\" 1.514ms";
    let haproxy = "Dec  1 00:00:09 lb-1 haproxy[812]: 10.0.1.2:33317 [01/Dec/2025:00:00:08.655] http-in models/srv1 10/0/30/69/40 200 2750 - - ---- 1/1/1/1/0 0/0 {h} {} \"POST /models/h HTTP/1.1\"";
    let files = [
        ("traefik.json", format!("{traefik}\n{traefik_clf}\n")),
        ("haproxy.log", format!("{haproxy}\n")),
        ("caddy.json", format!("{caddy}\n")),
        ("gcp.json", format!("{gcp}\n{gcp}\n{gcp}\n")),
        ("gateway.json", format!("{gateway}\n")),
        ("istio.log", format!("{istio}\n{istio}\n")),
        ("docker.log", format!("{docker}\n")),
        ("syslog.log", format!("{syslog}\n{syslog}\n")),
    ];
    let st = dir.path().join("st");
    let mut args = vec!["replay".to_owned(), "--store".to_owned(), st.display().to_string()];
    args.push("--json".to_owned());
    for (name, text) in &files {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        args.push(p.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args);
    let j = json_of(&out);
    assert_eq!((j["ingested"].as_u64(), j["rejected"].as_u64()), (Some(13), Some(0)), "{j}");
    let q = |series: &str| {
        json_of(&run(&[
            "query",
            "--store",
            st.to_str().unwrap(),
            "--series",
            series,
            "--start",
            "2025-12-01T00:00:00Z",
            "--end",
            "2025-12-01T00:01:00Z",
            "--json",
        ]))
    };
    for (series, count, p50_ms) in [
        ("/models/t", 2, 1.514),
        ("/models/c", 1, 12.5),
        ("/models/g", 3, 250.0),
        ("/models/e", 1, 7.0),
        ("/models/i", 2, 7.0),
        ("/models/n", 3, 5.0),
        ("/models/h", 1, 40.0),
    ] {
        let r = q(series);
        assert_eq!(r["count"], count, "{series}: {r}");
        let got = r["quantiles_ms"]["p50"].as_f64().unwrap();
        assert!((got - p50_ms).abs() <= p50_ms * 0.001, "{series}: p50 {got} vs {p50_ms}");
    }
}

/// A custom nginx `log_format` whose lines still hold the usual fields (a
/// `[time]`, a quoted request, the status after it, a latency) is read
/// with the definition its fields suggest, which replay prints; one without
/// a latency that no named format fits gets that definition in its error.
#[test]
fn a_custom_log_format_is_guessed_from_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("custom.log");
    let mut text = String::new();
    for k in 0..50u64 {
        writeln!(
            text,
            "[01/Dec/2025:00:00:{:02} +0000] edge-{} \"POST /models/m/predict HTTP/1.1\" {} \"0.{:03}\" up=10.0.0.2:80",
            k,
            k % 3,
            if k % 10 == 0 { 503 } else { 200 },
            100 + k
        )
        .unwrap();
    }
    std::fs::write(&f, text).unwrap();
    let out = run(&["replay", "--json", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "--log-format '[$time_local] $field_1 \"$request\" $status \"$request_time\" $field_2'"
        ),
        "{err}"
    );
    let j = json_of(&out);
    assert_eq!((j["ingested"].as_u64(), j["rejected"].as_u64()), (Some(50), Some(0)), "{j}");
    let g = dir.path().join("nolatency.log");
    std::fs::write(&g, "edge-1 [01/Dec/2025:00:00:01 +0000] \"GET /a HTTP/1.1\" 200 id=7\n")
        .unwrap();
    let out = run(&["replay", g.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(
            "suggest --log-format '$remote_addr [$time_local] \"$request\" $status $field_1'"
        ),
        "{err}"
    );
}

/// `tailstore grafana` writes the dashboard of its golden file; bad options
/// are clear errors.
#[test]
fn grafana_writes_the_golden_dashboard() {
    let out = run(&["grafana", "--out", "-"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tailstore-prometheus/tests/golden/grafana-ingress-nginx.json");
    // As JSON values: the text's key order follows serde_json's features.
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: Value = serde_json::from_slice(&std::fs::read(golden).unwrap()).unwrap();
    assert!(got == want, "differs from the golden dashboard");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.json");
    let out = run(&[
        "grafana",
        "--names",
        "tailstore",
        "--datasource-uid",
        "prom-1",
        "--out",
        f.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    assert_eq!(v["panels"][0]["datasource"]["uid"], "prom-1");
    for (args, says) in [
        (&["grafana", "--names", "apache", "--out", "-"][..], "--names"),
        (&["grafana", "--match", "(", "--out", "-"][..], "--match"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(says), "{err}");
    }
}

/// `export --format openmetrics` writes a store's history for Prometheus's
/// backfill: every sample timestamped, one point per `--level`, counts
/// cumulated (the last point of a status counter is the store's total for
/// it), families whole, then `# EOF`. (promtool turning it into blocks is
/// checked in tailstore-prometheus's promtool group.)
#[test]
fn export_openmetrics_writes_cumulative_timestamped_history() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_764_547_200u64;
    let f = dir.path().join("t.jsonl");
    std::fs::write(&f, jsonl_requests(t0, 30_000)).unwrap();
    let st = dir.path().join("st");
    json_of(&run(&["replay", "--store", st.to_str().unwrap(), "--json", f.to_str().unwrap()]));
    let out = run(&[
        "export",
        "--store",
        st.to_str().unwrap(),
        "--match",
        "/a|/b",
        "--format",
        "openmetrics",
        "--level",
        "1m",
        "--names",
        "ingress-nginx",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("# EOF\n"), "{}", &text[text.len().saturating_sub(200)..]);
    assert!(!text.contains("path=\"/c\""), "--match keeps /c out");
    // 30 000 requests over 300 s: points at each minute up to the last one.
    let counts: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| l.starts_with("nginx_ingress_controller_requests{path=\"/a\",status=\"200\"}"))
        .map(|l| {
            let mut it = l.rsplit(' ');
            let ts = it.next().unwrap().parse().unwrap();
            (ts, it.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(counts.first().map(|c| c.0), Some(t0 + 60), "{counts:?}");
    assert_eq!(counts.last(), Some(&(t0 + 300, 10_000)), "{counts:?}");
    assert!(counts.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{counts:?}");
    let out = run(&[
        "export",
        "--store",
        st.to_str().unwrap(),
        "--match",
        ".*",
        "--format",
        "openmetrics",
        "--names",
        "x",
    ]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--names"));
}

/// Makes a directory and its files immutable (`chattr +i`) and undoes it
/// when dropped, so the temporary directory can be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(dir: &Path) -> Immutable {
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        paths.push(dir.to_path_buf());
        let out = Command::new("chattr")
            .arg("+i")
            .args(&paths)
            .output()
            .unwrap_or_else(|e| panic!("chattr (e2fsprogs) is needed for this test: {e}"));
        assert!(
            out.status.success(),
            "chattr +i failed (needs root and a file system with the immutable flag): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Immutable(paths)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").args(&self.0).output();
    }
}

/// A store in a read-only directory (immutable: not even root may write
/// there) opens for every read verb, with the same answers, and a write
/// is refused with a clear error that says where and why.
#[test]
#[cfg_attr(
    not(feature = "chattr"),
    ignore = "needs chattr and an ext4-like file system: run with --features chattr (.ci/run does)"
)]
fn a_store_in_a_read_only_directory_answers_reads_and_refuses_writes() {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("read-only-store");
    let _ = Command::new("chattr").arg("-R").arg("-i").arg(&base).output();
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let f = base.join("t.jsonl");
    let t0 = 1_764_547_200u64;
    std::fs::write(&f, jsonl_requests(t0, 3_000)).unwrap();
    let st = base.join("st");
    let s = st.to_str().unwrap();
    json_of(&run(&["replay", "--store", s, "--json", f.to_str().unwrap()]));
    let before = stored(&st, t0, 3600);
    let series_before = run(&["series", "--store", s, "--json"]).stdout;
    let guard = Immutable::set(&st);
    assert!(std::fs::write(st.join("probe"), b"x").is_err(), "the directory is still writable");
    assert_eq!(stored(&st, t0, 3600), before);
    assert_eq!(run(&["series", "--store", s, "--json"]).stdout, series_before);
    let out = run(&["check", "--store", s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["export", "--store", s, "--match", ".*", "--format", "csv", "--level", "1m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["replay", "--store", s, "--force", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("cannot open store") && err.contains("Operation not permitted"), "{err}");
    drop(guard);
    assert_eq!(stored(&st, t0, 3600), before, "the refused replay added nothing");
}

/// JSON lines carry gauges next to requests (`{"gauge", "value", time}`):
/// replay records them into the store's gauge files, `query --gauge`
/// answers their exact aggregates from another process, `series` lists
/// them, and a bad gauge line is skipped with its reason.
#[test]
fn replayed_gauge_lines_are_stored_and_queried() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let t0 = 1_764_547_200u64;
    let mut text = jsonl_requests(t0, 600);
    let mut values = Vec::new();
    for s in 0..6u32 {
        // Memory growing by 1 MiB a second, in MiB, two samples a second.
        for half in [0.0, 0.5] {
            let v = 800.0 + f64::from(s) + half;
            values.push(v);
            writeln!(
                text,
                r#"{{"ts":{}.{},"gauge":"memory_mb","value":{v}}}"#,
                t0 + u64::from(s),
                if half > 0.0 { 5 } else { 1 }
            )
            .unwrap();
        }
    }
    writeln!(text, r#"{{"ts":{t0},"gauge":"memory_mb","value":"812"}}"#).unwrap();
    let input = dir.path().join("mixed.jsonl");
    std::fs::write(&input, text).unwrap();
    let out = run(&["replay", "--store", st.to_str().unwrap(), "--json", input.to_str().unwrap()]);
    let summary = json_of(&out);
    assert_eq!(
        (summary["ingested"].as_u64(), summary["gauge_samples"].as_u64()),
        (Some(600), Some(12))
    );
    assert_eq!(summary["rejected"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be a JSON number"), "{stderr}");
    let q = json_of(&run(&[
        "query",
        "--store",
        st.to_str().unwrap(),
        "--gauge",
        "memory_mb",
        "--start",
        &t0.to_string(),
        "--end",
        &(t0 + 6).to_string(),
        "--json",
    ]));
    let sum: f64 = values.iter().sum();
    assert_eq!(q["count"], 12);
    assert_eq!(q["min"], 800.0);
    assert_eq!(q["max"], 805.5);
    assert_eq!(q["last"], 805.5);
    assert!((q["mean"].as_f64().unwrap() - sum / 12.0).abs() < 1e-9, "{q}");
    assert_eq!(q["damaged_s"], 0);
    assert!(q["growth_pct_per_hour"].as_f64().unwrap() > 0.0);
    let series =
        String::from_utf8(run(&["series", "--store", st.to_str().unwrap()]).stdout).unwrap();
    assert!(series.lines().any(|l| l.contains("memory_mb") && l.contains("gauge")), "{series}");
    // An unknown gauge is an error, not an empty answer.
    let out = run(&["query", "--store", st.to_str().unwrap(), "--gauge", "nope", "--last", "1h"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gauge \"nope\" is not in store"));
}

/// `query --format hgrm` writes the window's latencies as `HdrHistogram`'s
/// percentile distribution (issue 13): the same text as the harness
/// library's `.hgrm` of the same values (which its tests check against
/// Java's `outputPercentileDistribution`), in the unit asked for.
#[test]
fn query_format_hgrm_writes_the_windows_percentile_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_764_547_200u64;
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, jsonl_requests(t0, 3_000)).unwrap();
    let st = dir.path().join("st");
    let v = json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--json",
        file.to_str().unwrap(),
    ]));
    assert_eq!(v["ingested"], 3_000);
    // The oracle: the same latencies (1 + k % 97 ms) in an in-memory store.
    let oracle = tailstore::Store::in_memory(tailstore::Options::default());
    let s = oracle.series("all");
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t0);
    for k in 0..3_000u64 {
        s.record_at(at, std::time::Duration::from_millis(1 + k % 97), 200);
    }
    let w = oracle
        .query(tailstore::Selector::exact("all"))
        .between(at, at + std::time::Duration::from_secs(1))
        .run()
        .unwrap();
    for (unit, ratio) in [("ms", 1e6), ("us", 1e3)] {
        let out = run(&[
            "query",
            "--store",
            st.to_str().unwrap(),
            "--match",
            ".*",
            "--start",
            &t0.to_string(),
            "--end",
            &(t0 + 30).to_string(),
            "--format",
            "hgrm",
            "--hgrm-unit",
            unit,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut want = Vec::new();
        let opts = tailstore_harness::HgrmOptions { value_unit_ratio: ratio, ..Default::default() };
        tailstore_harness::write_hgrm(&mut want, &w, &opts).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&want), "{unit}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Total count    =         3000]"), "{text}");
    }
    let max_line = |u: &str| {
        let out = run(&[
            "query",
            "--store",
            st.to_str().unwrap(),
            "--match",
            ".*",
            "--start",
            &t0.to_string(),
            "--end",
            &(t0 + 30).to_string(),
            "--format",
            "hgrm",
            "--hgrm-unit",
            u,
        ]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find(|l| l.starts_with("#[Max"))
            .unwrap()
            .to_owned()
    };
    // 97 ms is in the bucket [96 993 280, 97 058 815] ns (width 2^16 ns), whose highest
    // value HdrHistogram prints as the maximum.
    assert_eq!(max_line("ms"), "#[Max     =       97.059, Total count    =         3000]");
    assert_eq!(max_line("s"), "#[Max     =        0.097, Total count    =         3000]");
    // --json and --format conflict.
    let both = run(&[
        "query",
        "--store",
        st.to_str().unwrap(),
        "--last",
        "1m",
        "--json",
        "--format",
        "hgrm",
    ]);
    assert!(!both.status.success());
}

/// Every file of the ingest corpus (`crates/tailstore-ingest/tests/corpus`,
/// one per log variant and front proxy) replays with auto-detection, and
/// `lines`, `ingested` and `rejected` are what its expectation file gives:
/// its lines, its requests (for an interval log, the values of its
/// histograms) and the lines that must be rejected.
#[test]
fn the_ingest_corpus_replays_with_its_expected_counts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tailstore-ingest/tests/corpus");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".expect.json") || name == "SOURCES.md" {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let exp_text = std::fs::read_to_string(dir.join(format!("{stem}.expect.json")))
            .unwrap_or_else(|e| panic!("{name}: no expectation: {e}"));
        let exp: Value = serde_json::from_str(&exp_text).unwrap();
        let lines = exp["lines"].as_array().unwrap();
        let rejected = lines.iter().filter(|l| l.get("error").is_some()).count() as u64;
        let ingested: u64 = lines
            .iter()
            .filter(|l| l.get("error").is_none() && l.get("skip").is_none())
            .map(|l| l.get("total").map_or(1, |t| t.as_u64().unwrap()))
            .sum();
        let j = json_of(&run(&["replay", "--json", path.to_str().unwrap()]));
        assert_eq!(
            (j["lines"].as_u64(), j["ingested"].as_u64(), j["rejected"].as_u64()),
            (Some(lines.len() as u64), Some(ingested), Some(rejected)),
            "{name}: {j}"
        );
        files += 1;
    }
    assert!(files >= 19, "only {files} corpus files in {}", dir.display());
}

/// `query --hgrm` is `query --format hgrm`, and `export --format hgrm`
/// writes the same distribution of the selected series' window to a file
/// (issue 13's spellings).
#[test]
fn hgrm_flag_and_export_hgrm_write_what_query_format_hgrm_writes() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_764_547_200u64;
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, jsonl_requests(t0, 2_000)).unwrap();
    let st = dir.path().join("st");
    let st_s = st.to_str().unwrap();
    assert_eq!(
        json_of(&run(&["replay", "--store", st_s, "--json", file.to_str().unwrap()]))["ingested"],
        2_000
    );
    let (a, b) = (t0.to_string(), (t0 + 30).to_string());
    let window = ["--store", st_s, "--match", "/[ab]", "--start", &a, "--end", &b];
    for unit in ["ms", "us"] {
        let query = |extra: &[&str]| {
            let mut args = vec!["query"];
            args.extend_from_slice(&window);
            args.extend_from_slice(extra);
            args.extend_from_slice(&["--hgrm-unit", unit]);
            let out = run(&args);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let long = query(&["--format", "hgrm"]);
        assert!(long.contains("Total count    =         1334]"), "{long}");
        assert_eq!(query(&["--hgrm"]), long, "--hgrm {unit}");
        let path = dir.path().join(format!("ab-{unit}.hgrm"));
        let mut args = vec!["export"];
        args.extend_from_slice(&window);
        args.extend_from_slice(&["--format", "hgrm", "--hgrm-unit", unit, "--out"]);
        args.push(path.to_str().unwrap());
        let out = run(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), long, "export --format hgrm {unit}");
    }
}
