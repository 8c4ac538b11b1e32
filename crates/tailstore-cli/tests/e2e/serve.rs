//! `tailstore serve`: started on 127.0.0.1:0, its address read from its
//! first line, `/metrics` scraped with both `Accept` headers and compared
//! with `series --json`, then killed (every wait bounded).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{bin, json_of, run};

/// Kills the server when the test ends, whatever happens.
pub(super) struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tailstore serve ARGS` and returns it with the address of its
/// first line (`listening on http://ADDR`), waiting at most 30 s.
pub(super) fn start(args: &[&str]) -> (Running, SocketAddr) {
    let mut child = bin()
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tailstore binary runs");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("a first line within 30 s");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .trim()
        .parse()
        .unwrap();
    (running, addr)
}

fn scrape(addr: SocketAddr, headers: &str) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: t\r\n{headers}\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// Sums the sample lines `NAME{LABEL="series",status="…"} v` of a series,
/// all statuses and those `is_error` picks.
fn totals(body: &str, name: &str, label: &str, series: &str) -> (u64, u64) {
    let prefix = format!("{name}{{{label}=\"{series}\",status=\"");
    let (mut all, mut errors) = (0, 0);
    for l in body.lines() {
        let Some(rest) = l.strip_prefix(&prefix) else { continue };
        let (status, v) = rest.split_once("\"} ").unwrap();
        let (status, v): (u16, u64) = (status.parse().unwrap(), v.parse().unwrap());
        all += v;
        if matches!(status, 400 | 402..=406 | 408 | 429 | 500..=599) {
            errors += v;
        }
    }
    (all, errors)
}

#[test]
fn serve_scrapes_equal_the_stores_totals() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let st = st.to_str().unwrap();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    let out = run(&["replay", "--store", st, log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let series = json_of(&run(&["series", "--store", st, "--json"]));
    let series = series.as_array().unwrap();
    assert!(series.len() >= 5);

    let (_server, addr) = start(&["--store", st, "--names", "ingress-nginx"]);
    let (head, text) = scrape(addr, "");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
    let (head, om) = scrape(addr, accept);
    assert!(head.contains("application/openmetrics-text; version=1.0.0"), "{head}");
    assert!(om.ends_with("# EOF\n"));
    for s in series {
        let name = s["series"].as_str().unwrap();
        let want = (s["count"].as_u64().unwrap(), s["errors"].as_u64().unwrap());
        for body in [&text, &om] {
            let got = totals(body, "nginx_ingress_controller_requests", "path", name);
            assert_eq!(got, want, "{name}");
        }
        let inf = format!(
            "nginx_ingress_controller_request_duration_seconds_bucket{{path=\"{name}\",le=\"+Inf\"}} "
        );
        assert!(text.contains(&inf), "{name}");
    }

    // A writer adds the same traffic again while it serves: a scrape more
    // than a second later sees the store's new totals.
    let out = run(&["replay", "--store", st, "--force", log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(1_200));
    let (_, text) = scrape(addr, "");
    for s in series {
        let name = s["series"].as_str().unwrap();
        let want = (2 * s["count"].as_u64().unwrap(), 2 * s["errors"].as_u64().unwrap());
        assert_eq!(totals(&text, "nginx_ingress_controller_requests", "path", name), want);
    }
}

#[test]
fn serve_with_a_token_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let st = st.to_str().unwrap();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    assert!(run(&["replay", "--store", st, log.to_str().unwrap()]).status.success());
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let (_server, addr) = start(&[
        "--store",
        st,
        "--auth-token-file",
        token.to_str().unwrap(),
        "--match",
        "/models/.*",
    ]);
    assert!(scrape(addr, "").0.starts_with("HTTP/1.1 401"));
    let (head, body) = scrape(addr, "Authorization: Bearer t0ken\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("tailstore_requests_total{series=\"/models/"), "{body}");
    assert!(!body.contains("/healthz"));
    // The query API is behind the same token, and serves the same series.
    let api = |auth: &str| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(s, "GET /api/v1/label/series/values HTTP/1.1\r\nHost: t\r\n{auth}\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    assert!(api("").starts_with("HTTP/1.1 401"));
    assert!(api("Authorization: Bearer t0ken!\r\n").starts_with("HTTP/1.1 401"));
    let r = api("Authorization: Bearer t0ken\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"/models/fraud-v2/predict\"") && !r.contains("/healthz"), "{r}");

    for (args, says) in [
        (vec!["--store", st, "--names", "nginx"], "unknown naming preset"),
        (vec!["--store", st, "--buckets", "0.1,0.05"], "does not increase"),
        (vec!["--store", st, "--listen", "256.0.0.1:1"], "cannot listen"),
        (vec!["--store", dir.path().join("none").to_str().unwrap()], "no such directory"),
    ] {
        let out = bin().arg("serve").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// `serve --rules`: each scrape adds the alerts pending or firing at the
/// store's newest data as Prometheus's `ALERTS` series, as `tailstore
/// alerts` backtests them (here the bundled log, whose LLM endpoint is
/// slow to the end: the guide's "High Latency" fires for it).
#[test]
fn serve_with_rules_exposes_the_active_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let st = st.to_str().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let log = root.join("examples/data/model-traffic.log.gz");
    let rules = root.join("examples/rules/model-endpoints.yaml");
    let out = run(&["replay", "--store", st, log.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The oracle: the backtest's episodes still open at the data's end.
    let bt =
        json_of(&run(&["alerts", "--rules", rules.to_str().unwrap(), "--store", st, "--json"]));
    let open: Vec<(String, bool)> = bt["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resolved_at"].is_null())
        .map(|e| (e["rule"].as_str().unwrap().to_string(), !e["firing_at"].is_null()))
        .collect();
    assert!(open.iter().any(|(r, firing)| r == "High Latency" && *firing), "{bt}");
    let (_server, addr) = start(&["--store", st, "--rules", rules.to_str().unwrap()]);
    let (_, body) = scrape(addr, "");
    let alerts: Vec<&str> = body.lines().filter(|l| l.starts_with("ALERTS{")).collect();
    assert!(
        alerts.iter().any(|l| l.contains("alertname=\"High Latency\",alertstate=\"firing\"")
            && l.contains("series=\"/models/llm-small/generate\"")),
        "{body}"
    );
    assert!(body.contains("# TYPE ALERTS gauge"));
    // Each open episode of the backtest is one series, in its state.
    for (rule, firing) in &open {
        let state = if *firing { "firing" } else { "pending" };
        let want = format!("alertname=\"{rule}\",alertstate=\"{state}\"");
        assert!(alerts.iter().any(|l| l.contains(&want)), "{want}: {alerts:?}");
    }
    assert_eq!(alerts.len(), open.len(), "{alerts:?} vs {open:?}");
    // A rule file that does not load is an error before serving.
    let out =
        run(&["serve", "--store", st, "--listen", "127.0.0.1:0", "--rules", "/nonexistent.yaml"]);
    assert!(!out.status.success());
}
