//! Each construct against the store's own answers (`WindowStats`, the
//! numbers `tailstore query --json` prints).
#![expect(
    clippy::many_single_char_names,
    reason = "st, a, t, w, v: the store, the API, a time, a window, a value"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tailstore::{Options, Selector, Store, WindowStats};

use super::*;
use crate::{Exposition, Names};

/// 2025-12-01T00:00:00Z.
const T0: u64 = 1_764_547_200;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// Three model series and one other over 20 minutes: statuses 200, 404,
/// 429, 500, 503 and 401 in known proportions, latencies 1 ms ..= 2.4 s.
fn store() -> Store {
    let store = Store::in_memory(Options::default().keep_everything());
    for (k, name) in ["/models/fraud/predict", "/models/churn/predict", "/models/x/v2", "/health"]
        .into_iter()
        .enumerate()
    {
        let s = store.series(name);
        for i in 0..1_200u64 {
            let status = match (i + k as u64) % 50 {
                0 => 503,
                1 => 500,
                7 => 404,
                9 => 429,
                13 => 401,
                _ => 200,
            };
            let ms = 1 + (i * 7_919 + k as u64 * 131) % 2_400;
            for rep in 0..=(i % 3) {
                s.record_at(at(T0 + i), Duration::from_millis(ms + rep), status);
            }
        }
    }
    store
}

fn api(names: Names) -> PromqlApi {
    PromqlApi::new(&Exposition::new(names))
}

fn window(store: &Store, re: &str, len: u64, end: u64) -> WindowStats {
    store
        .query(Selector::regex(re).unwrap())
        .last(Duration::from_secs(len))
        .ending_at(at(end))
        .run()
        .unwrap()
}

/// The instant vector of `q` at `t` as (labels, value).
fn instant(api: &PromqlApi, store: &Store, q: &str, t: u64) -> Vec<(Value, f64)> {
    let (data, _) = api.query(store, q, at(t)).unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(data["resultType"], "vector", "{q}: {data}");
    data["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["value"][0], serde_json::json!(t));
            (r["metric"].clone(), parse_val(&r["value"][1]))
        })
        .collect()
}

fn parse_val(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().unwrap(),
    }
}

fn one(api: &PromqlApi, store: &Store, q: &str, t: u64) -> f64 {
    let v = instant(api, store, q, t);
    assert_eq!(v.len(), 1, "{q}: {v:?}");
    v[0].1
}

#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn f(n: u64) -> f64 {
    n as f64
}

const P_BUCKET: &str = "nginx_ingress_controller_request_duration_seconds_bucket";
const P_REQ: &str = "nginx_ingress_controller_requests";
const ERRORS: &str = "400|402|403|404|405|406|408|429|5..";

#[test]
fn histogram_quantile_is_the_exact_hdr_quantile() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let t = T0 + 900;
    for q in [0.5, 0.95, 0.99] {
        let expr = format!(
            "histogram_quantile({q}, sum(rate({P_BUCKET}{{\n  path=~\"/models/.*\"\n}}[5m])) by (le))"
        );
        let want = window(&st, "/models/.*", 300, t).quantile(q).unwrap().as_secs_f64();
        let got = instant(&a, &st, &expr, t);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, serde_json::json!({}));
        assert!((got[0].1 - want).abs() <= want * 1e-15, "{q}: {} vs {want}", got[0].1);
    }
    // Per path, and increase() gives the same quantile.
    let expr = format!(
        "histogram_quantile(0.99, sum by (le, path) (increase({P_BUCKET}{{path=~\"/models/.*\"}}[10m])))"
    );
    let got = instant(&a, &st, &expr, t);
    assert_eq!(got.len(), 3);
    for (m, v) in got {
        let path = m["path"].as_str().unwrap();
        let want = window(&st, &regex::escape(path), 600, t).quantile(0.99).unwrap();
        assert!((v - want.as_secs_f64()).abs() < 1e-12, "{path}");
    }
    // Ungrouped: one per path too (all labels but le kept).
    let got = instant(&a, &st, &format!("histogram_quantile(0.5, rate({P_BUCKET}[5m]))"), t);
    assert_eq!(got.len(), 4);
    // An empty window: NaN, as Prometheus answers for empty buckets.
    let v = one(
        &a,
        &st,
        &format!("histogram_quantile(0.5, sum(rate({P_BUCKET}[5m])) by (le))"),
        T0 + 5000,
    );
    assert!(v.is_nan());
    // Summed over le: no le label left, so nothing (as Prometheus).
    assert!(instant(&a, &st, &format!("histogram_quantile(0.5, sum(rate({P_BUCKET}[5m])))"), t)
        .is_empty());
    // Quantiles out of [0, 1], as Prometheus.
    let q = format!("histogram_quantile(1.5, sum(rate({P_BUCKET}[5m])) by (le))");
    assert!(one(&a, &st, &q, t).is_infinite());
}

#[test]
fn tailstore_names_use_the_series_label() {
    let (st, a) = (store(), api(Names::tailstore()));
    let t = T0 + 600;
    let expr = "histogram_quantile(0.95, sum(rate(tailstore_request_duration_seconds_bucket{series=~\"/models/.*\"}[5m])) by (le, series))";
    let got = instant(&a, &st, expr, t);
    assert_eq!(got.len(), 3);
    for (m, v) in got {
        let name = m["series"].as_str().unwrap();
        let want = window(&st, &regex::escape(name), 300, t).quantile(0.95).unwrap();
        assert!((v - want.as_secs_f64()).abs() < 1e-12);
    }
    let total = one(&a, &st, "sum(increase(tailstore_requests_total[20m]))", T0 + 1200);
    assert!((total - f(window(&st, ".*", 1200, T0 + 1200).count())).abs() < 1e-9);
    // The other preset's names are not here.
    let (data, warnings) = a.query(&st, &format!("sum(rate({P_REQ}[5m]))"), at(t)).unwrap();
    assert_eq!(data["result"], serde_json::json!([]));
    assert!(warnings[0].contains("tailstore_requests_total"), "{warnings:?}");
}

#[test]
fn error_rate_status_breakdown_and_traffic_are_exact() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let t = T0 + 1_000;
    // The guide's error rate, with Grafana's $__range substituted (1h).
    let expr = format!(
        "100 * (\n  sum(increase({P_REQ}{{\n    status=~\"{ERRORS}\",\n    path=~\"/models/MODEL_ID.*|/models/.*\"\n  }}[1h]))\n  /\n  sum(increase({P_REQ}{{\n    path=~\"/models/MODEL_ID.*|/models/.*\"\n  }}[1h]))\n)"
    );
    let w = window(&st, "/models/MODEL_ID.*|/models/.*", 3600, t);
    let want = 100.0 * f(w.errors()) / f(w.count());
    let got = one(&a, &st, &expr, t);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!(got > 1.0);
    // By status: every status of the window, exact counts.
    let expr = format!("sum(increase({P_REQ}{{path=~\"/models/.*\"}}[10m])) by (status)");
    let got = instant(&a, &st, &expr, t);
    let w = window(&st, "/models/.*", 600, t);
    let counts = w.status_counts();
    assert_eq!(got.len(), counts.len());
    for (m, v) in &got {
        let code: u16 = m["status"].as_str().unwrap().parse().unwrap();
        assert!((v - f(counts.get(code))).abs() < 1e-9, "{code}");
        assert_eq!(m.as_object().unwrap().len(), 1);
    }
    // Requests per minute.
    let expr = format!("sum(rate({P_REQ}{{\n  path=~\"/models/.*\"\n}}[1m])) * 60");
    let w = window(&st, "/models/.*", 60, t);
    assert!((one(&a, &st, &expr, t) - w.rate_per_sec() * 60.0).abs() < 1e-9);
    // The dashboard's error rate over 5xx only.
    let expr = format!(
        "100 * sum(rate({P_REQ}{{status=~\"5..\",path=~\"/models/.*\"}}[5m])) / sum(rate({P_REQ}{{path=~\"/models/.*\"}}[5m]))"
    );
    let w = window(&st, "/models/.*", 300, t);
    let five: u64 =
        w.status_counts().iter().filter(|(c, _)| (500..600).contains(c)).map(|(_, n)| n).sum();
    assert!((one(&a, &st, &expr, t) - 100.0 * f(five) / f(w.count())).abs() < 1e-12);
    // A comparison filter (an alert's condition): kept, or dropped.
    let cond = format!("{expr} > 1");
    assert_eq!(instant(&a, &st, &cond, t).len(), 1);
    let cond = format!("{expr} > 50");
    assert!(instant(&a, &st, &cond, t).is_empty());
    let cond = format!("{expr} > bool 50");
    assert!(one(&a, &st, &cond, t).abs() < f64::EPSILON);
}

#[test]
fn windows_are_the_whole_seconds_before_t() {
    let st = Store::in_memory(Options::default().keep_everything());
    let s = st.series("/a");
    // One request at each of T0 .. T0+9.
    for i in 0..10 {
        s.record_at(at(T0 + i), Duration::from_millis(5), 200);
    }
    let a = api(Names::ingress_nginx());
    // [t - 5s, t): at t = T0+5, seconds T0..T0+4.
    assert!((one(&a, &st, &format!("sum(increase({P_REQ}[5s]))"), T0 + 5) - 5.0).abs() < 1e-12);
    assert!((one(&a, &st, &format!("sum(rate({P_REQ}[5s]))"), T0 + 5) - 1.0).abs() < 1e-12);
    assert!((one(&a, &st, &format!("sum(increase({P_REQ}[3s]))"), T0 + 11) - 2.0).abs() < 1e-12);
    // A fractional time ends the window at the next whole second, as
    // `tailstore query --at` does: T0+4.5 covers T0..T0+4 with [5s].
    let (data, _) = a
        .query(&st, &format!("sum(increase({P_REQ}[5s]))"), at(T0 + 4) + Duration::from_millis(500))
        .unwrap();
    assert_eq!(data["result"][0]["value"][1], "5");
    assert_eq!(data["result"][0]["value"][0], serde_json::json!(1_764_547_204.5));
    // Before the series' first second: no sample; after its data: 0.
    assert!(instant(&a, &st, &format!("sum(increase({P_REQ}[5s]))"), T0).is_empty());
    assert!(one(&a, &st, &format!("sum(increase({P_REQ}[5s]))"), T0 + 100).abs() < 1e-12);
    // A counter's value: everything since the first second, as /metrics.
    let v = instant(&a, &st, P_REQ, T0 + 7);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, serde_json::json!({"__name__": P_REQ, "path": "/a", "status": "200"}));
    assert!((v[0].1 - 7.0).abs() < 1e-12);
}

#[test]
fn buckets_sum_and_count_families() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let t = T0 + 700;
    let w = window(&st, "/models/fraud/predict", 300, t);
    let sel = "{path=\"/models/fraud/predict\"}";
    let h = "nginx_ingress_controller_request_duration_seconds";
    let got = instant(&a, &st, &format!("increase({h}_bucket{sel}[5m])"), t);
    assert_eq!(got.len(), INGRESS_NGINX_BUCKETS_LEN + 1);
    for (m, v) in &got {
        let le = m["le"].as_str().unwrap();
        let want = if le == "+Inf" {
            w.latency_count()
        } else {
            w.count_at_most(Duration::from_secs_f64(le.parse().unwrap()))
        };
        assert!((v - f(want)).abs() < 1e-9, "{le}");
    }
    let le = instant(
        &a,
        &st,
        &format!("increase({h}_bucket{{le=\"0.5\",path=\"/models/fraud/predict\"}}[5m])"),
        t,
    );
    assert_eq!(le.len(), 1);
    let mean = one(&a, &st, &format!("rate({h}_sum{sel}[5m]) / rate({h}_count{sel}[5m])"), t);
    assert!((mean - w.mean().unwrap().as_secs_f64()).abs() < 1e-6);
    let n = one(&a, &st, &format!("increase({h}_count{sel}[5m])"), t);
    assert!((n - f(w.latency_count())).abs() < 1e-9);
    // Vector matching keeps the left side's labels, as Prometheus: the
    // `on` labels only, or without the `ignoring` ones.
    let totals = format!("sum by (path) (increase({P_REQ}[5m]))");
    let on = instant(&a, &st, &format!("{totals} / on(path) {totals}"), t);
    assert_eq!(on.len(), 4);
    assert!(on.iter().all(|(m, v)| m.as_object().unwrap().len() == 1 && (v - 1.0).abs() < 1e-12));
    let ign = instant(
        &a,
        &st,
        &format!("sum by (path, status) (increase({P_REQ}{{status=\"200\"}}[5m])) / ignoring(status) {totals}"),
        t,
    );
    assert_eq!(ign.len(), 4);
    assert!(ign.iter().all(|(m, v)| m.get("status").is_none() && *v > 0.5 && *v < 1.0), "{ign:?}");
    // Generic aggregations over materialised samples.
    let paths = one(&a, &st, &format!("count(sum by (path) (rate({P_REQ}[5m])))"), t);
    assert!((paths - 4.0).abs() < 1e-12);
    let max = one(&a, &st, &format!("max(sum by (path) (increase({P_REQ}[5m])))"), t);
    let most = ["/models/fraud/predict", "/models/churn/predict", "/models/x/v2", "/health"]
        .iter()
        .map(|p| window(&st, &regex::escape(p), 300, t).count())
        .max()
        .unwrap();
    assert!((max - f(most)).abs() < 1e-9);
}

const INGRESS_NGINX_BUCKETS_LEN: usize = crate::INGRESS_NGINX_BUCKETS.len();

#[test]
fn range_queries_slide_and_match_instant_ones() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let queries = [
        format!(
            "histogram_quantile(0.99, sum(rate({P_BUCKET}{{path=~\"/models/.*\"}}[5m])) by (le))"
        ),
        format!("sum(increase({P_REQ}{{path=~\"/models/.*\"}}[2m])) by (status)"),
        format!("100 * sum(rate({P_REQ}{{status=~\"5..\"}}[5m])) / sum(rate({P_REQ}[5m]))"),
        "vector(1) * 3".to_string(),
        "2 * 3".to_string(),
    ];
    for q in &queries {
        for step in [30u64, 7] {
            let (data, _) = a
                .query_range(&st, q, at(T0 + 60), at(T0 + 1_300), Duration::from_secs(step))
                .unwrap();
            assert_eq!(data["resultType"], "matrix");
            let mut seen = 0;
            for s in data["result"].as_array().unwrap() {
                for p in s["values"].as_array().unwrap() {
                    let t = p[0].as_u64().unwrap();
                    let got = parse_val(&p[1]);
                    let want = if q == "2 * 3" {
                        6.0
                    } else {
                        instant(&a, &st, q, t)
                            .into_iter()
                            .find(|(m, _)| *m == s["metric"])
                            .map(|(_, v)| v)
                            .unwrap()
                    };
                    assert!(got.to_bits() == want.to_bits(), "{q} at {t}: {got} vs {want}");
                    seen += 1;
                }
            }
            assert!(seen > 10, "{q}");
        }
    }
    // A fractional step: planned point by point, same numbers.
    let q = &queries[0];
    let (data, _) =
        a.query_range(&st, q, at(T0 + 300), at(T0 + 303), Duration::from_millis(1500)).unwrap();
    let values = data["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3);
    assert_eq!(values[1][0], serde_json::json!(1_764_547_501.5));
}

#[test]
fn gauges_map_the_guides_container_queries() {
    let st = Store::in_memory(Options::default().keep_everything());
    let mem = st.gauge("container_memory_usage_bytes");
    let cpu = st.gauge("process_cpu_percent");
    for i in 0..600u64 {
        mem.set_at(at(T0 + i), 512.0 * 1024.0 * 1024.0 + f(i) * 1024.0);
        cpu.set_at(at(T0 + i), if i % 2 == 0 { 20.0 } else { 40.0 });
    }
    let a = api(Names::ingress_nginx()).gauge_labels(&[("pod".into(), "model-fraud-1".into())]);
    let t = T0 + 600;
    let v = instant(&a, &st, "container_memory_usage_bytes{pod=~\"model-.*\"} / 1024 / 1024", t);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].0, serde_json::json!({"pod": "model-fraud-1"}));
    assert!((v[0].1 - (512.0 + 599.0 / 1024.0)).abs() < 1e-9);
    // The guide's CPU query: rate of CPU seconds = mean percent / 100.
    let expr =
        "100 * (1 - avg(rate(container_cpu_usage_seconds_total{\n  pod=~\"model-.*\"\n}[5m])))";
    assert!((one(&a, &st, expr, t) - 70.0).abs() < 1e-9);
    // Another pod selects nothing; the raw CPU counter is refused.
    assert!(instant(&a, &st, "container_memory_usage_bytes{pod=\"other\"}", t).is_empty());
    let e = a.query(&st, "container_cpu_usage_seconds_total", at(t)).unwrap_err();
    assert!(e.to_string().contains("rate() or increase()"), "{e}");
    let e = a.query(&st, "rate(container_memory_usage_bytes[5m])", at(t)).unwrap_err();
    assert!(e.to_string().contains("avg_over_time"), "{e}");
    let max = one(&a, &st, "max_over_time(container_memory_usage_bytes[10m])", t);
    assert!((max - (512.0 * 1024.0 * 1024.0 + 599.0 * 1024.0)).abs() < 1e-6);
    // Listed with the served metrics.
    let names = a.label_values(&st, "__name__", &[], (None, None)).unwrap();
    assert!(names.as_array().unwrap().iter().any(|n| n == "container_cpu_usage_seconds_total"));
    let pods = a.label_values(&st, "pod", &[], (None, None)).unwrap();
    assert_eq!(pods, serde_json::json!(["model-fraud-1"]));
    // Lookback: a gauge last set more than 5 minutes ago is gone.
    assert!(instant(&a, &st, "container_memory_usage_bytes", T0 + 600 + 301).is_empty());
}

#[test]
fn outside_the_subset_is_bad_data_naming_it() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let t = at(T0 + 600);
    for (q, says) in [
        ("sum(rate(", "parse error"),
        ("", "empty query"),
        ("predict_linear(nginx_ingress_controller_requests[5m], 3600)", "predict_linear"),
        ("no_such_function(x)", "parse error"),
        ("topk(3, nginx_ingress_controller_requests)", "topk"),
        ("rate(nginx_ingress_controller_requests[5m:1m])", "subqueries"),
        ("nginx_ingress_controller_requests offset 5m", "offset"),
        ("nginx_ingress_controller_requests @ 1764547200", "@ modifier"),
        ("nginx_ingress_controller_requests[5m]", "range vector"),
        ("rate(nginx_ingress_controller_requests[1500ms])", "whole number of seconds"),
        ("a and b", "\"and\""),
        ("a * on(x) group_left b", "group_left"),
        (
            "histogram_quantile(0.9, rate(nginx_ingress_controller_requests[5m]))",
            "histogram_quantile",
        ),
        ("avg_over_time(nginx_ingress_controller_requests[5m])", "rate() or increase()"),
        ("1 > 2", "BOOL"),
    ] {
        let e = a.query(&st, q, t).unwrap_err();
        assert_eq!(e.error_type(), "bad_data", "{q}: {e}");
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains(says), "{q}: {e}");
        let j = e.to_json();
        assert_eq!(j["status"], "error");
        assert_eq!(j["errorType"], "bad_data");
    }
    // Deep or long queries are refused before parsing; those just inside
    // the bounds evaluate (in a test thread's 2 MiB stack).
    let deep = format!("{}1{}", "(".repeat(129), ")".repeat(129));
    assert!(a.query(&st, &deep, t).unwrap_err().to_string().contains("129 brackets"));
    let ok = format!("{}1{}", "(".repeat(128), ")".repeat(128));
    assert!(a.query(&st, &ok, t).is_ok());
    let chain = format!("1{}", "+1".repeat(256));
    let (v, _) = a.query(&st, &chain, t).unwrap();
    assert_eq!(v["result"][1], "257");
    let chain = format!("1{}", " + -1".repeat(128));
    let (v, _) = a.query(&st, &chain, t).unwrap();
    assert_eq!(v["result"][1], "-127");
    let nested = format!("{}{P_REQ}{}", "sum(".repeat(128), ")".repeat(128));
    assert_eq!(a.query(&st, &nested, t).unwrap().0["result"].as_array().unwrap().len(), 1);
    let long = "1".repeat(20_000);
    assert!(a.query(&st, &long, t).unwrap_err().to_string().contains("longer than"));
    let many = format!("1{}", "+1".repeat(257));
    assert!(a.query(&st, &many, t).unwrap_err().to_string().contains("operators"));
    // Too many planned store queries (a bare counter per series and point).
    let many = Store::in_memory(Options::default().keep_everything());
    for i in 0..20 {
        many.series(&format!("/s{i}")).record_at(at(T0), Duration::from_millis(1), 200);
    }
    let e =
        a.query_range(&many, P_REQ, at(T0), at(T0 + 10_999), Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("220000 store queries"), "{e}");
    // The same as a rate() slides: one store query per series.
    let r = format!("rate({P_REQ}[5m])");
    assert!(a.query_range(&many, &r, at(T0), at(T0 + 10_999), Duration::from_secs(1)).is_ok());
    let q = "sum(rate(nginx_ingress_controller_requests[5m]))";
    let e = a.query_range(&st, q, t, at(T0 + 600 + 20_000), Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("11,000 points"), "{e}");
    let e = a.query_range(&st, q, t, at(T0), Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("before start"), "{e}");
    let e = a.query_range(&st, q, t, t, Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("positive"), "{e}");
    let e = a.query(&st, q, UNIX_EPOCH - Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("1970"), "{e}");
    // Many-to-many: an execution error.
    let e = a
        .query(&st, "rate(nginx_ingress_controller_requests[5m]) / on() rate(nginx_ingress_controller_requests[5m])", t)
        .unwrap_err();
    assert_eq!(e.error_type(), "execution", "{e}");
}

#[test]
fn the_http_answers_decode_parameters_and_list_series() {
    let (st, a) = (store(), api(Names::ingress_nginx()));
    let now = at(T0 + 600);
    let p = parse_form(
        "query=sum%28rate%28nginx_ingress_controller_requests%5B5m%5D%29%29&time=1764547800",
    );
    let r = a.answer(&st, "query", &p, now);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["status"], "success");
    let w = window(&st, ".*", 300, T0 + 600);
    assert_eq!(v["data"]["result"][0]["value"][1], fmt_value(w.rate_per_sec()));
    // RFC 3339 times and duration steps.
    let p = parse_form("query=1&start=2025-12-01T00:00:00Z&end=2025-12-01T00:01:00.000Z&step=15s");
    let r = a.answer(&st, "query_range", &p, now);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"]["result"][0]["values"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(v["data"]["result"][0]["values"][0], serde_json::json!([T0, "1"]));
    // Bad input: JSON errors with Prometheus's shape and status.
    for (ep, q, status) in [
        ("query", "query=sum(", 400),
        ("query", "", 400),
        ("query", "query=up&time=yesterday", 400),
        ("query_range", "query=up&start=1&end=2&step=0", 400),
        ("query_range", "query=up&start=1&end=100000&step=1", 400),
        ("query_range", "query=up&start=1&end=2&step=-1", 400),
        ("nope", "", 404),
        ("label/a-b/values", "", 400),
    ] {
        let r = a.answer(&st, ep, &parse_form(q), now);
        assert_eq!(r.status, status, "{ep} {q}: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], "error");
    }
    let series = a
        .series(&st, &["nginx_ingress_controller_requests{path=\"/health\"}".into()], (None, None))
        .unwrap();
    let statuses: Vec<&str> =
        series.as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["200", "401", "404", "429", "500", "503"]);
    let names = a.label_values(&st, "__name__", &[], (None, None)).unwrap();
    assert_eq!(
        names,
        serde_json::json!([
            "nginx_ingress_controller_request_duration_seconds_bucket",
            "nginx_ingress_controller_request_duration_seconds_count",
            "nginx_ingress_controller_request_duration_seconds_sum",
            "nginx_ingress_controller_requests"
        ])
    );
    let paths = a.label_values(&st, "path", &[], (Some(at(T0 + 5_000)), None)).unwrap();
    assert_eq!(paths, serde_json::json!([]));
    let meta = a.metadata(&st, None);
    assert_eq!(meta["nginx_ingress_controller_request_duration_seconds"][0]["type"], "histogram");
    assert_eq!(meta["nginx_ingress_controller_requests"][0]["type"], "unknown");
    let r = a.answer(&st, "metadata", &parse_form("metric=nginx_ingress_controller_requests"), now);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["data"].as_object().unwrap().len(), 1, "{v}");
    let labels = a.labels(&st, &[], (None, None)).unwrap();
    assert_eq!(labels, serde_json::json!(["__name__", "le", "path", "status"]));
    assert!(a.series(&st, &[], (None, None)).is_err());
    assert_eq!(fmt_value(0.1 + 0.2), "0.30000000000000004");
    assert_eq!(fmt_value(1e-7), "0.0000001");
    assert_eq!(fmt_value(f64::NEG_INFINITY), "-Inf");
}

/// Every query of the Grafana dashboard (`tailstore grafana`), with the
/// variables Grafana substitutes, answers under both presets; the table's
/// per-endpoint error rate matches the store's per series.
#[test]
fn every_dashboard_query_answers() {
    let st = store();
    st.gauge("container_memory_usage_bytes").set_at(at(T0 + 500), 3.0 * 1024.0 * 1024.0);
    st.gauge("process_cpu_percent").set_at(at(T0 + 500), 25.0);
    for names in [Names::ingress_nginx(), Names::tailstore()] {
        let a = api(names).gauge_labels(&[("pod".into(), "model-a".into())]);
        let opts = crate::grafana::DashboardOptions { names, ..Default::default() };
        let dash = crate::grafana::dashboard(&opts);
        let mut n = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$series", "/models/.*")
                    .replace("$pod", "model-.*")
                    .replace("$__range", "1h")
                    .replace("$__rate_interval", "1m");
                let got = instant(&a, &st, &expr, T0 + 600);
                assert!(!got.is_empty(), "{expr}");
                let (data, _) = a
                    .query_range(&st, &expr, at(T0), at(T0 + 1_200), Duration::from_secs(60))
                    .unwrap_or_else(|e| panic!("{expr}: {e}"));
                assert!(!data["result"].as_array().unwrap().is_empty(), "{expr}");
                n += 1;
                if expr.starts_with("100 * sum(rate(") && expr.contains(") by (") {
                    let label = names.series_label();
                    assert_eq!(got.len(), 3, "{expr}");
                    for (m, v) in got {
                        let name = m[label].as_str().unwrap();
                        let w = window(&st, &regex::escape(name), 300, T0 + 600);
                        assert!((v - 100.0 * f(w.errors()) / f(w.count())).abs() < 1e-12);
                    }
                }
            }
        }
        assert!(n >= 11, "{n}");
    }
}

/// A (path, status) series exists from the first second after the status
/// first occurs (as a scrape then would list it): absent before, 0 in a
/// window without it afterwards.
#[test]
fn a_status_exists_once_it_occurred() {
    let st = Store::in_memory(Options::default().keep_everything());
    let s = st.series("/a");
    for i in 0..100 {
        s.record_at(at(T0 + i), Duration::from_millis(5), if i == 40 { 503 } else { 200 });
    }
    let a = api(Names::ingress_nginx());
    let q = format!("sum by (status) (increase({P_REQ}[10s]))");
    let statuses = |t: u64| -> Vec<(String, f64)> {
        instant(&a, &st, &q, t)
            .into_iter()
            .map(|(m, v)| (m["status"].as_str().unwrap().to_string(), v))
            .collect()
    };
    assert_eq!(statuses(T0 + 40), [("200".to_string(), 10.0)]);
    assert_eq!(statuses(T0 + 41), [("200".to_string(), 9.0), ("503".to_string(), 1.0)]);
    assert_eq!(statuses(T0 + 90), [("200".to_string(), 10.0), ("503".to_string(), 0.0)]);
    // The same through a range query (the statuses' first seconds found
    // once, by binary search).
    let (data, _) =
        a.query_range(&st, &q, at(T0 + 30), at(T0 + 60), Duration::from_secs(5)).unwrap();
    let r = data["result"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["metric"]["status"], "503");
    let times: Vec<u64> =
        r[1]["values"].as_array().unwrap().iter().map(|p| p[0].as_u64().unwrap()).collect();
    assert_eq!(times, [T0 + 45, T0 + 50, T0 + 55, T0 + 60]);
}
