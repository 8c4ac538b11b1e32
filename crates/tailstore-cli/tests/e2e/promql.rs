//! `tailstore serve`'s Prometheus API: each of the monitoring guide's
//! queries (`MODEL_ID` = fraud-v2, Grafana's `$__range` = 10m), answered
//! with the numbers `tailstore query --json` gives for the same windows;
//! over HTTP here, and with Debian's `promtool query instant|range` (a real
//! Prometheus client) under the `promtool` feature, which `.ci/run` turns
//! on (a missing binary fails the test).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::serve::start;
use super::{json_of, run};

/// The data's first second (2025-12-01T00:00:00Z); it spans 600 s.
const T0: u64 = 1_764_547_200;
const MATCH: &str = "/models/fraud-v2.*";
const HIST: &str = "nginx_ingress_controller_request_duration_seconds_bucket";
const REQ: &str = "nginx_ingress_controller_requests";

/// What a query's oracle reads from `query --json`.
#[derive(Clone, Copy, Debug)]
enum Oracle {
    /// The quantile (`p50`, …) in seconds.
    Quantile(&'static str),
    /// 100 × errors / count (the guide's error set).
    ErrorPercent,
    /// 100 × 5xx / count.
    Percent5xx,
    /// Per status, the count.
    ByStatus,
    /// `rate_per_s` × 60.
    PerMinute,
}

/// The guide's queries, verbatim but for `MODEL_ID` and `$__range`, with the
/// window length of each and its oracle.
fn guide_queries() -> Vec<(String, u64, Oracle)> {
    let quantile = |q: &str| {
        format!("histogram_quantile({q}, sum(rate({HIST}{{\n  path=~\"/models/fraud-v2.*\"\n}}[5m])) by (le))")
    };
    vec![
        (quantile("0.50"), 300, Oracle::Quantile("p50")),
        (quantile("0.95"), 300, Oracle::Quantile("p95")),
        (quantile("0.99"), 300, Oracle::Quantile("p99")),
        (
            format!(
                "100 * (\n  sum(increase({REQ}{{\n    status=~\"400|402|403|404|405|406|408|429|5..\",\n    \
                 path=~\"/models/fraud-v2.*\"\n  }}[10m]))\n  /\n  sum(increase({REQ}{{\n    \
                 path=~\"/models/fraud-v2.*\"\n  }}[10m]))\n)"
            ),
            600,
            Oracle::ErrorPercent,
        ),
        (
            format!("sum(increase({REQ}{{\n  path=~\"/models/fraud-v2.*\"\n}}[10m])) by (status)"),
            600,
            Oracle::ByStatus,
        ),
        (
            format!("sum(rate({REQ}{{\n  path=~\"/models/fraud-v2.*\"\n}}[1m])) * 60"),
            60,
            Oracle::PerMinute,
        ),
        (
            format!(
                "100 * sum(rate({REQ}{{status=~\"5..\",path=~\"/models/fraud-v2.*\"}}[5m])) / \
                 sum(rate({REQ}{{path=~\"/models/fraud-v2.*\"}}[5m]))"
            ),
            300,
            Oracle::Percent5xx,
        ),
    ]
}

/// `tailstore query --json` of the window `[t - len, t)`.
fn query_json(st: &str, len: u64, t: u64) -> Value {
    json_of(&run(&[
        "query",
        "--store",
        st,
        "--match",
        MATCH,
        "--last",
        &format!("{len}s"),
        "--at",
        &t.to_string(),
        "--json",
    ]))
}

/// The expected samples, as (status label or "", value).
#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn expected(oracle: Oracle, w: &Value) -> Vec<(String, f64)> {
    let count = w["count"].as_u64().unwrap() as f64;
    let status = w["status"].as_object().unwrap();
    let sum_where = |f: &dyn Fn(u16) -> bool| -> f64 {
        status
            .iter()
            .filter(|(c, _)| f(c.parse().unwrap()))
            .map(|(_, n)| n.as_u64().unwrap() as f64)
            .sum()
    };
    match oracle {
        Oracle::Quantile(k) => vec![(String::new(), w["quantiles_ms"][k].as_f64().unwrap() / 1e3)],
        Oracle::ErrorPercent => {
            vec![(String::new(), 100.0 * w["errors"].as_u64().unwrap() as f64 / count)]
        }
        Oracle::Percent5xx => {
            vec![(String::new(), 100.0 * sum_where(&|c| (500..600).contains(&c)) / count)]
        }
        Oracle::ByStatus => {
            status.iter().map(|(c, n)| (c.clone(), n.as_u64().unwrap() as f64)).collect()
        }
        Oracle::PerMinute => vec![(String::new(), w["rate_per_s"].as_f64().unwrap() * 60.0)],
    }
}

/// Compares samples `(metric, value string)` with the oracle's.
fn check(what: &str, got: &[(Value, String)], want: &[(String, f64)]) {
    let mut got: Vec<(String, f64)> = got
        .iter()
        .map(|(m, v)| (m["status"].as_str().unwrap_or("").to_string(), v.parse().unwrap()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = want.to_vec();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for ((gs, gv), (ws, wv)) in got.iter().zip(&want) {
        assert_eq!(gs, ws, "{what}");
        assert!((gv - wv).abs() <= wv.abs() * 1e-12, "{what} {gs}: {gv} vs {wv}");
    }
}

fn replayed() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st").to_str().unwrap().to_string();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    let out = run(&["replay", "--store", &st, log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, st)
}

/// An API request (GET with a query string, or a form POST) and its JSON.
fn api(addr: SocketAddr, method: &str, path: &str, form: &str) -> (String, Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    if method == "GET" {
        write!(s, "GET {path}?{form} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    } else {
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .unwrap();
    }
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.to_string(), serde_json::from_str(body).unwrap_or(Value::Null))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn samples(result: &Value) -> Vec<(Value, String)> {
    result
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn serve_answers_the_guides_promql_as_query_json() {
    let (_dir, st) = replayed();
    let (_server, addr) = start(&["--store", &st, "--names", "ingress-nginx"]);
    let t = T0 + 600;
    for (expr, len, oracle) in guide_queries() {
        let want = expected(oracle, &query_json(&st, len, t));
        for method in ["GET", "POST"] {
            let form = format!("query={}&time={t}", enc(&expr));
            let (head, v) = api(addr, method, "/api/v1/query", &form);
            assert!(head.starts_with("HTTP/1.1 200"), "{expr}: {head} {v}");
            assert_eq!(v["data"]["resultType"], "vector");
            check(&expr, &samples(&v["data"]["result"]), &want);
        }
        // A range query: each point the window ending there.
        let form = format!("query={}&start={}&end={t}&step=90", enc(&expr), T0 + 60);
        let (head, v) = api(addr, "POST", "/api/v1/query_range", &form);
        assert!(head.starts_with("HTTP/1.1 200"), "{expr}: {head} {v}");
        let mut points: Vec<(u64, Vec<(Value, String)>)> = Vec::new();
        for series in v["data"]["result"].as_array().unwrap() {
            for p in series["values"].as_array().unwrap() {
                let at = p[0].as_u64().unwrap();
                let sample = (series["metric"].clone(), p[1].as_str().unwrap().to_string());
                match points.iter_mut().find(|(x, _)| *x == at) {
                    Some((_, s)) => s.push(sample),
                    None => points.push((at, vec![sample])),
                }
            }
        }
        assert_eq!(points.len(), 7, "{expr}");
        for (at, got) in &points {
            check(&format!("{expr} @{at}"), got, &expected(oracle, &query_json(&st, len, *at)));
        }
    }
    // A time with a fraction ends the window at the next whole second, as
    // `query --at` does.
    let (expr, len, oracle) = guide_queries().swap_remove(2);
    let at = format!("{}.25", T0 + 450);
    let w = json_of(&run(&[
        "query",
        "--store",
        &st,
        "--match",
        MATCH,
        "--last",
        &format!("{len}s"),
        "--at",
        &at,
        "--json",
    ]));
    assert_eq!(w["end"], T0 + 451);
    let (_, v) = api(addr, "GET", "/api/v1/query", &format!("query={}&time={at}", enc(&expr)));
    assert_eq!(v["data"]["result"][0]["value"][0], serde_json::json!(1_764_547_650.25));
    check(&expr, &samples(&v["data"]["result"]), &expected(oracle, &w));
    // The guide's container queries: no gauges in a store directory, so an
    // empty answer (and a warning naming what is served).
    let form =
        format!("query={}", enc("container_memory_usage_bytes{pod=~\"model-.*\"} / 1024 / 1024"));
    let (_, v) = api(addr, "GET", "/api/v1/query", &form);
    assert_eq!(v["data"]["result"], serde_json::json!([]), "{v}");
    assert!(v["warnings"][0].as_str().unwrap().contains("nginx_ingress_controller_requests"));
    // Bad input: clear errors, and the server keeps serving.
    for form in
        ["query=sum(", "query=foo(bar)", "query=1&time=x", "query=up&start=0&end=1e9&step=1"]
    {
        let path = if form.contains("step") { "/api/v1/query_range" } else { "/api/v1/query" };
        let (head, v) = api(addr, "GET", path, form);
        assert!(head.starts_with("HTTP/1.1 400"), "{form}: {head}");
        assert_eq!(v["errorType"], "bad_data", "{form}");
    }
    let (head, _) = api(addr, "GET", "/api/v1/query", "query=1");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// Debian's promtool, a real Prometheus API client, against `serve`.
#[cfg(feature = "promtool")]
#[test]
fn promtool_queries_serve_and_gets_query_json_numbers() {
    use std::process::Command;
    const PROMTOOL: &str = "/usr/bin/promtool";
    assert!(
        Path::new(PROMTOOL).is_file(),
        "{PROMTOOL} is missing: `apt-get install prometheus` (.ci/run does)"
    );
    let (_dir, st) = replayed();
    let (_server, addr) = start(&["--store", &st, "--names", "ingress-nginx"]);
    let url = format!("http://{addr}");
    let promtool = |args: &[&str]| -> Value {
        let out = Command::new("timeout")
            .arg("60")
            .arg(PROMTOOL)
            .args(args)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let t = T0 + 600;
    for (expr, len, oracle) in guide_queries() {
        let v = promtool(&["query", "instant", "-o", "json", &url, &expr, &format!("--time={t}")]);
        check(&expr, &samples(&v), &expected(oracle, &query_json(&st, len, t)));
        let v = promtool(&[
            "query",
            "range",
            "-o",
            "json",
            &url,
            &expr,
            &format!("--start={}", T0 + 120),
            &format!("--end={t}"),
            "--step=2m",
        ]);
        let mut n = 0;
        for at in (T0 + 120..=t).step_by(120) {
            let got: Vec<(Value, String)> = v
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| {
                    let p = s["values"].as_array()?.iter().find(|p| p[0].as_u64() == Some(at))?;
                    Some((s["metric"].clone(), p[1].as_str()?.to_string()))
                })
                .collect();
            check(&format!("{expr} @{at}"), &got, &expected(oracle, &query_json(&st, len, at)));
            n += 1;
        }
        assert_eq!(n, 5);
    }
    // promtool reports the API's errors as Prometheus's.
    let out = Command::new("timeout")
        .args(["60", PROMTOOL, "query", "instant", &url, "histogram_quantile(0.9, sum("])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad_data") && err.contains("parse error"), "{err}");
}

/// A damaged second that no finer level covers: the API answers what the
/// intact seconds hold (as `query --json` does) and says so in `warnings`.
#[test]
fn a_damaged_window_is_answered_with_a_warning() {
    let (_dir, st) = replayed();
    let first = T0;
    let (before, _) = super::range_points(&st, "1s", first + 1, first + 601);
    super::damage_last_record(Path::new(&st), 0);
    let (after, code) = super::range_points(&st, "1s", first + 1, first + 601);
    assert_eq!(code, Some(3));
    let (t, count) = after
        .iter()
        .zip(&before)
        .find(|(a, _)| a["damaged_s"] != 0)
        .map(|(a, _)| (a["t"].as_u64().unwrap(), a["count"].as_u64().unwrap()))
        .expect("a point over the damaged second");
    let (_server, addr) = start(&["--store", &st, "--names", "ingress-nginx"]);
    let form = format!("query={}&time={t}", enc(&format!("sum(increase({REQ}[1s]))")));
    let (head, v) = api(addr, "GET", "/api/v1/query", &form);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(v["data"]["result"][0]["value"][1], count.to_string(), "{v}");
    let w = v["warnings"][0].as_str().unwrap_or_default();
    assert!(w.contains("no intact stored piece"), "{v}");
    // A window without the damaged second: no warning.
    let form = format!("query={}&time={}", enc(&format!("sum(increase({REQ}[1s]))")), t + 2);
    let (_, v) = api(addr, "GET", "/api/v1/query", &form);
    assert!(v.get("warnings").is_none(), "{v}");
}

/// Gauges stored by a replay (`{"gauge", "value"}` lines) are answered by
/// `serve`: the guide's memory query (cAdvisor's name and `pod` selector,
/// the pod named with `--gauge-label`) gives the gauge's value in MiB as
/// `query --gauge` gives it, and `/metrics` exposes the last value.
#[test]
fn serve_answers_the_guides_memory_query_from_stored_gauges() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st").to_str().unwrap().to_string();
    let mut lines = String::new();
    for s in 0..120u64 {
        let mib = 800 + s / 10;
        writeln!(
            lines,
            "{{\"ts\":{},\"gauge\":\"container_memory_usage_bytes\",\"value\":{}}}",
            T0 + s,
            mib * 1_048_576
        )
        .unwrap();
        writeln!(
            lines,
            "{{\"ts\":{},\"path\":\"/models/fraud-v2/predict\",\"status\":200,\"latency_ms\":12}}",
            T0 + s
        )
        .unwrap();
    }
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, lines).unwrap();
    let summary = json_of(&run(&["replay", "--store", &st, "--json", file.to_str().unwrap()]));
    assert_eq!(summary["gauge_samples"], 120);
    let (_server, addr) = start(&[
        "--store",
        &st,
        "--names",
        "ingress-nginx",
        "--gauge-label",
        "pod=model-fraud-7d9f",
    ]);
    let t = T0 + 120;
    let expr = "container_memory_usage_bytes{pod=~\"model-.*\"} / 1024 / 1024";
    let (head, v) = api(addr, "GET", "/api/v1/query", &format!("query={}&time={t}", enc(expr)));
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {v}");
    let got = samples(&v["data"]["result"]);
    assert_eq!(got.len(), 1, "{v}");
    assert_eq!(got[0].0["pod"], "model-fraud-7d9f", "{v}");
    let last = json_of(&run(&[
        "query",
        "--store",
        &st,
        "--gauge",
        "container_memory_usage_bytes",
        "--start",
        &(t - 60).to_string(),
        "--end",
        &t.to_string(),
        "--json",
    ]))["last"]
        .as_f64()
        .unwrap();
    let mib: f64 = got[0].1.parse().unwrap();
    assert!((mib - last / 1_048_576.0).abs() < 1e-9, "{mib} MiB, query --gauge says {last} B");
    assert!((mib - 811.0).abs() < 1e-9, "{mib}");
    // A selector for another pod selects nothing.
    let other = "container_memory_usage_bytes{pod=~\"other-.*\"}";
    let (_, v) = api(addr, "GET", "/api/v1/query", &format!("query={}&time={t}", enc(other)));
    assert_eq!(samples(&v["data"]["result"]).len(), 0, "{v}");
    // /metrics: the gauge's last value, and the request families.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.contains("\ncontainer_memory_usage_bytes 850395136"), "{r}");
    assert!(!r.contains("path=\"container_memory_usage_bytes\""), "{r}");
    // A malformed label is refused before serving.
    let out = run(&["serve", "--store", &st, "--listen", "127.0.0.1:0", "--gauge-label", "pod"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected NAME=VALUE"));
}
