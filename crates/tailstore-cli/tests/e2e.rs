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
            "clamped"
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

/// The reproduction: six hours of history, then a replay with
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
