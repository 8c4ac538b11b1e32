//! Envoy / Istio access logs through the binary: every file of
//! `shared/data/envoy-istio` replayed with `--format auto` and with its
//! format named, then `query --json` over the whole file compared with an
//! oracle read from the file here (`serde_json` for JSON and container-log
//! wrappers, plain splitting for text; nothing shared with the parser).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{exact, json_of, run, shared};

/// One request as the oracle reads it: unix second, status, DURATION and
/// upstream service time (ms, `None` when `-`/`null`).
struct Row {
    ts_s: u64,
    status: u16,
    duration_ms: Option<f64>,
    upstream_ms: Option<f64>,
}

fn envoy_files() -> Vec<PathBuf> {
    let dir = shared("envoy-istio");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    assert_eq!(v.len(), 9, "the nine shared Envoy/Istio samples");
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `2019-02-12T18:37:42.921Z` to unix seconds (days from the civil date,
/// Howard Hinnant's algorithm), ignoring the fraction.
#[expect(
    clippy::many_single_char_names,
    reason = "y/m/d and the helper n follow the published civil-date algorithm"
)]
fn unix_s(t: &str) -> u64 {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    u64::try_from(days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)).unwrap()
}

/// A text line's request, or `None` for a line with no HTTP request
/// (method `-`: TCP proxy or a request Envoy could not parse).
fn text_row(raw: &str) -> Option<Row> {
    let mut line = raw.to_owned();
    if line.starts_with('{') {
        let v: Value = serde_json::from_str(&line).unwrap();
        v["message"].as_str().or(v["log"].as_str()).unwrap().trim_end().clone_into(&mut line);
    }
    if line.starts_with(|c: char| c.is_ascii_digit()) {
        line = line.splitn(4, ' ').nth(3).unwrap().to_owned(); // CRI: time stream tag
    }
    let line = line.strip_prefix("ACCESS ").unwrap_or(&line);
    let pieces: Vec<&str> = line.split('"').collect();
    if pieces[1].starts_with("- ") {
        return None;
    }
    // The last five quoted fields are XFF, UA, id, authority, upstream host;
    // the unquoted piece before them ends with the four counters.
    let n = pieces.len();
    let counters: Vec<&str> = pieces[n - 11].split_whitespace().collect();
    let c = &counters[counters.len() - 4..];
    let ms = |t: &str| (t != "-").then(|| t.parse::<f64>().unwrap());
    Some(Row {
        ts_s: unix_s(&pieces[0][1..]),
        status: pieces[2].split_whitespace().next().unwrap().parse().unwrap(),
        duration_ms: ms(c[2]),
        upstream_ms: ms(c[3]),
    })
}

fn json_row(line: &str) -> Option<Row> {
    let v: Value = serde_json::from_str(line).unwrap();
    if v["path"] == "-" {
        return None;
    }
    let ms = |x: &Value| match x {
        Value::Null => None,
        Value::String(t) => Some(t.parse::<f64>().unwrap()),
        other => Some(other.as_f64().unwrap()),
    };
    Some(Row {
        ts_s: unix_s(v["start_time"].as_str().unwrap()),
        status: u16::try_from(v["response_code"].as_u64().unwrap()).unwrap(),
        duration_ms: ms(&v["duration"]),
        upstream_ms: ms(&v["upstream_service_time"]),
    })
}

/// (lines, rows of the lines that hold a request).
fn oracle(path: &Path, json: bool) -> (usize, Vec<Row>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let rows = lines.iter().filter_map(|l| if json { json_row(l) } else { text_row(l) }).collect();
    (lines.len(), rows)
}

/// The query's default error set: 400|402|403|404|405|406|408|429|5xx.
fn is_error(status: u16) -> bool {
    [400, 402, 403, 404, 405, 406, 408, 429].contains(&status) || (500..600).contains(&status)
}

fn replay(store: &Path, extra: &[&str], file: &Path) -> Value {
    let mut args = vec!["replay", "--store", s(store), "--json"];
    args.extend_from_slice(extra);
    args.push(s(file));
    json_of(&run(&args))
}

fn query_all(store: &Path, start: u64, end: u64) -> Value {
    let (a, b) = (start.to_string(), end.to_string());
    json_of(&run(&[
        "query",
        "--store",
        s(store),
        "--match",
        ".*",
        "--start",
        &a,
        "--end",
        &b,
        "--quantiles",
        "0.5,0.99",
        "--json",
    ]))
}

fn within(got: f64, want: f64, ctx: &str) {
    assert!((got - want).abs() <= want.abs() * 0.001 + 1e-9, "{ctx}: got {got}, want {want}");
}

/// Checks one query answer against the oracle rows and one latency source.
fn check(q: &Value, rows: &[Row], latency: impl Fn(&Row) -> Option<f64>, ctx: &str) {
    assert_eq!(q["count"].as_u64(), Some(rows.len() as u64), "{ctx}: count");
    let errors = rows.iter().filter(|r| is_error(r.status)).count() as u64;
    assert_eq!(q["errors"].as_u64(), Some(errors), "{ctx}: errors");
    let zero = rows.iter().filter(|r| r.status == 0).count() as u64;
    assert_eq!(q["status"]["0"].as_u64().unwrap_or(0), zero, "{ctx}: status 0 (no response)");
    let mut lat: Vec<f64> = rows.iter().filter_map(latency).collect();
    lat.sort_by(f64::total_cmp);
    for (key, p) in [("p50", 0.5), ("p99", 0.99)] {
        let got = &q["quantiles_ms"][key];
        if lat.is_empty() {
            assert!(got.is_null(), "{ctx}: {key} with no latency is {got}");
        } else {
            within(got.as_f64().unwrap(), exact(&lat, p), &format!("{ctx} {key}"));
        }
    }
    if let Some(max) = lat.last() {
        within(q["max_ms"].as_f64().unwrap(), *max, &format!("{ctx} max"));
    }
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn replay_every_shared_envoy_file_matches_its_own_fields() {
    for path in envoy_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let json = name.contains("json") && !name.starts_with("beats-envoyproxy-envoy-json");
        let format = if json { "envoy-json" } else { "envoy" };
        let (lines, rows) = oracle(&path, json);
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("st");
        let auto = replay(&dir.path().join("auto"), &[], &path);
        let v = replay(&st, &["--format", format], &path);
        for key in ["lines", "ingested", "rejected", "first_ts", "last_ts"] {
            assert_eq!(auto[key], v[key], "{name}: {key}, auto-detected vs --format {format}");
        }
        assert_eq!(v["lines"].as_u64(), Some(lines as u64), "{name}");
        assert_eq!(v["ingested"].as_u64(), Some(rows.len() as u64), "{name}");
        assert_eq!(v["rejected"].as_u64(), Some((lines - rows.len()) as u64), "{name}");
        let first = rows.iter().map(|r| r.ts_s).min().unwrap();
        let last = rows.iter().map(|r| r.ts_s).max().unwrap();
        assert_eq!((v["first_ts"].as_u64(), v["last_ts"].as_u64()), (Some(first), Some(last)));
        check(&query_all(&st, first, last + 1), &rows, |r| r.duration_ms, &name);
        // The upstream's share: `-`/null is unknown, still counted and in the errors.
        let up = dir.path().join("up");
        replay(&up, &["--format", format, "--latency", "upstream"], &path);
        check(&query_all(&up, first, last + 1), &rows, |r| r.upstream_ms, &format!("{name} up"));
    }
}

/// The per-file request counts the oracle finds (pinned, so a change in
/// the oracle's reading of the files shows up here too).
#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn envoy_oracle_counts() {
    let got: Vec<(String, usize, usize)> = envoy_files()
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let json = name.contains("json") && !name.starts_with("beats-envoyproxy-envoy-json");
            let (lines, rows) = oracle(p, json);
            (name, lines, rows.len())
        })
        .collect();
    let want = [
        ("beats-envoyproxy-envoy-json.log", 1, 1),
        ("beats-envoyproxy-envoy.log", 2, 1),
        ("datadog-envoy_tests-samples.log", 4, 4),
        ("elastic-integrations-envoyproxy-test-log.log", 7, 5),
        ("elastic-integrations-istio-test-access-failed.log", 8, 7),
        ("elastic-integrations-istio-test-access-json-logs.log", 3, 2),
        ("elastic-integrations-istio-test-access-logs.log", 8, 8),
        ("elastic-integrations-istio-test-access_container_logs.log", 15, 15),
        ("loki-drain-testdata-istio-json.txt", 1000, 1000),
    ];
    let want: Vec<(String, usize, usize)> =
        want.iter().map(|(n, l, r)| ((*n).to_owned(), *l, *r)).collect();
    assert_eq!(got, want);
}
