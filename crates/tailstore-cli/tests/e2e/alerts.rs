//! `alerts` and `slo` through the binary: a generated log with one known
//! error burst, replayed into a store, then the backtest's and the SLO
//! report's JSON keys and values, the table, and a bad rule file.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::{json_of, run};

/// A minute boundary in the past.
const T0: u64 = 1_699_999_980;

const RULES: &str = "\
evaluation_interval: 1m
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate > 5
    for: 5m
    group_by: series
    labels: { severity: critical }
    annotations:
      summary: Model endpoint error rate above 5%
      description: 'Error rate is {{ $value }}%'
slos:
  - name: availability
    series: '/models/.*'
    objective: 99
    sli: availability
    period: 1h
";

/// One hour of `/models/a/predict`, two requests a second, both failing
/// (503) in minutes 20 to 30; the store and the rule file.
fn setup(dir: &Path) -> (String, String) {
    let mut text = String::new();
    for s in 0..3_600u64 {
        let status = if (20..30).contains(&(s / 60)) { 503 } else { 200 };
        for _ in 0..2 {
            let ts = T0 + s;
            writeln!(text, "{{\"ts\":{ts},\"endpoint\":\"/models/a/predict\",\"latency_ms\":50,\"status\":{status}}}").unwrap();
        }
    }
    let log = dir.join("traffic.jsonl");
    std::fs::write(&log, text).unwrap();
    let st = dir.join("st");
    let v = json_of(&run(&[
        "replay",
        "--store",
        st.to_str().unwrap(),
        "--json",
        log.to_str().unwrap(),
    ]));
    assert_eq!(v["ingested"], 7_200);
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    (st.to_str().unwrap().to_string(), rules.to_str().unwrap().to_string())
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn alerts_report_the_known_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (st, rules) = setup(dir.path());
    let v = json_of(&run(&["alerts", "--rules", &rules, "--store", &st, "--json"]));
    assert_eq!(keys(&v), ["start", "end", "interval_s", "alerts"]);
    assert_eq!(
        (v["start"].as_u64(), v["end"].as_u64(), v["interval_s"].as_u64()),
        (Some(T0), Some(T0 + 3_600), Some(60))
    );
    let alerts = v["alerts"].as_array().unwrap();
    let ours: Vec<&Value> = alerts.iter().filter(|a| a["rule"] == "High Error Rate").collect();
    assert_eq!(ours.len(), 1, "{v}");
    let e = ours[0];
    assert_eq!(
        keys(e),
        [
            "rule",
            "labels",
            "pending_at",
            "firing_at",
            "resolved_at",
            "value",
            "summary",
            "description"
        ]
    );
    // True from the evaluation at minute 21 (one failing minute of five is
    // 20 %), firing 5 minutes later, resolved when the window holds no
    // failing minute (35).
    assert_eq!(e["pending_at"].as_u64(), Some(T0 + 21 * 60));
    assert_eq!(e["firing_at"].as_u64(), Some(T0 + 26 * 60));
    assert_eq!(e["resolved_at"].as_u64(), Some(T0 + 35 * 60));
    assert_eq!(e["value"].as_f64(), Some(100.0));
    assert_eq!(
        e["labels"],
        serde_json::json!({"series": "/models/a/predict", "severity": "critical"})
    );
    assert_eq!(e["description"], "Error rate is 100.00%");
    assert_eq!(e["summary"], "Model endpoint error rate above 5%");
    // The SLO's fast-burn page fires during the burst too.
    assert!(
        alerts.iter().any(|a| a["labels"]["slo"] == "availability"
            && a["labels"]["severity"] == "page"
            && a["firing_at"].is_u64()),
        "{v}"
    );
    // Ordered by pending_at.
    let p: Vec<u64> = alerts.iter().map(|a| a["pending_at"].as_u64().unwrap()).collect();
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "{p:?}");

    // The table: one line per episode, and per rule how long it fired.
    let out = run(&["alerts", "--rules", &rules, "--store", &st]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("High Error Rate: fired 1 times, 9 minutes firing"), "{table}");
    assert!(table.contains("2023-11-14T22:13:00Z"), "{table}");

    // An explicit range inside the burst: the episode is still pending at
    // its end, so it has no firing or resolved time.
    let v = json_of(&run(&[
        "alerts",
        "--rules",
        &rules,
        "--store",
        &st,
        "--json",
        "--start",
        &(T0 + 1_200).to_string(),
        "--end",
        &(T0 + 1_500).to_string(),
    ]));
    let e = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "High Error Rate")
        .unwrap()
        .clone();
    assert_eq!(
        (e["pending_at"].as_u64(), e["firing_at"].is_null(), e["resolved_at"].is_null()),
        (Some(T0 + 1_260), true, true)
    );
}

#[test]
fn slo_reports_the_known_burst() {
    let dir = tempfile::tempdir().unwrap();
    let (st, rules) = setup(dir.path());
    // SLO: 7 200 requests in the hour, 1 200 bad.
    let v = json_of(&run(&["slo", "--rules", &rules, "--store", &st, "--json"]));
    assert_eq!(keys(&v), ["at", "slos"]);
    assert_eq!(v["at"].as_u64(), Some(T0 + 3_600));
    let s = &v["slos"][0];
    assert_eq!(
        keys(s),
        [
            "name",
            "objective",
            "period_s",
            "total",
            "good",
            "sli_pct",
            "budget_remaining_pct",
            "burn_rate",
            "exhausted_at"
        ]
    );
    assert_eq!(
        (s["total"].as_u64(), s["good"].as_u64(), s["period_s"].as_u64()),
        (Some(7_200), Some(6_000), Some(3_600))
    );
    let close =
        |v: &Value, want: f64| assert!((v.as_f64().unwrap() - want).abs() < 1e-9, "{v} vs {want}");
    close(&s["sli_pct"], 100.0 * 6_000.0 / 7_200.0);
    close(&s["budget_remaining_pct"], 100.0 * (1.0 - (1_200.0 / 7_200.0) / 0.01));
    assert_eq!(keys(&s["burn_rate"]), ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
    close(&s["burn_rate"]["5m"], 0.0);
    close(&s["burn_rate"]["1h"], 1_200.0 / 7_200.0 / 0.01);
    // 72 bad requests allowed in the hour: the first failing minute (120) spends them.
    assert_eq!(s["exhausted_at"].as_u64(), Some(T0 + 21 * 60));
    // Before any data: empty windows, nulls.
    let v = json_of(&run(&[
        "slo",
        "--rules",
        &rules,
        "--store",
        &st,
        "--json",
        "--at",
        &T0.to_string(),
    ]));
    assert!(v["slos"][0]["sli_pct"].is_null() && v["slos"][0]["burn_rate"]["5m"].is_null(), "{v}");
    let out = run(&["slo", "--rules", &rules, "--store", &st]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("availability") && table.contains("2023-11-14T22:34:00Z"), "{table}");
}

#[test]
fn a_bad_rule_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (st, _) = setup(dir.path());
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - name: x\n    condition: error_rate > 5\n    for: 5 minutes\n",
    )
    .unwrap();
    let out = run(&["alerts", "--rules", bad.to_str().unwrap(), "--store", &st]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.yaml:4:10: rules[0]: bad duration \"5 minutes\""), "{err}");
    let out = run(&[
        "alerts",
        "--rules",
        bad.to_str().unwrap(),
        "--store",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
