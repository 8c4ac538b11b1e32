//! Rule files: what loads, and the errors of what does not (file, line,
//! column, what is wrong).

use tailstore_rules::{Error, Metric, NoData, Rules, Sli};

/// The error of a file that must not load: (line, column, message).
fn err(text: &str) -> (Option<usize>, Option<usize>, String) {
    match Rules::from_yaml_named(text, "r.yaml") {
        Err(Error::Rules { file, line, column, message }) => {
            assert_eq!(file, "r.yaml");
            (line, column, message)
        }
        Err(e) => panic!("not a rules error: {e}"),
        Ok(_) => panic!("loaded:\n{text}"),
    }
}

/// The guide's two example rules load as written, with `series` added.
#[test]
fn the_guides_rules_load_unchanged_but_for_series() {
    let text = r#"
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate > 5
    for: 5m
    labels:
      severity: critical
    annotations:
      summary: "Model endpoint error rate above 5%"
      description: "Error rate is {{ $value }}%"
  - name: High Latency
    series: '/models/.*'
    condition: latency_p99 > 2
    for: 5m
    labels:
      severity: warning
    annotations:
      summary: "Model P99 latency above 2 seconds"
      description: "P99 latency is {{ $value }}s"
"#;
    let r = Rules::from_yaml(text).unwrap();
    assert_eq!(r.evaluation_interval_s(), 60);
    assert_eq!(r.rules().len(), 2);
    let a = &r.rules()[0];
    assert_eq!(a.name(), "High Error Rate");
    assert_eq!(a.condition().to_string(), "error_rate[5m] > 5");
    assert_eq!((a.for_s(), a.keep_firing_for_s(), a.per_series()), (300, 0, false));
    assert_eq!(a.no_data(), NoData::Ok);
    let labels = a.instance_labels("/models/.*");
    assert_eq!(a.annotation("description", Some(7.3125), &labels), "Error rate is 7.31%");
    assert_eq!(
        r.rules()[1].annotation("description", Some(2.15349), &labels),
        "P99 latency is 2.153s"
    );
    assert_eq!(Metric::LatencyP99.unit(), "s");
}

#[test]
fn every_field_and_the_slos_load() {
    let text = r#"
evaluation_interval: 30s
rules:
  - name: Low Traffic
    series: /models/a
    condition: requests_per_min[1m] < 1 or error_rate[10m] >= 50 and latency_p50 > 0.1
    for: 15m
    keep_firing_for: 2m
    group_by: series
    no_data: keep_state
    errors: 5xx
    labels: { severity: info }
    annotations:
      summary: "{{ $labels.series }} gets {{ $value }} req/min ({{ $labels.severity }})"
slos:
  - name: latency
    series: '/models/.*'
    objective: 99
    sli: latency < 500ms
    period: 30d
    min_requests: 100
"#;
    let r = Rules::from_yaml(text).unwrap();
    assert_eq!(r.evaluation_interval_s(), 30);
    let a = &r.rules()[0];
    assert_eq!(a.series_text(), "/models/a");
    assert!(a.selector().matches("/models/a") && !a.selector().matches("/models/ab"));
    assert_eq!((a.for_s(), a.keep_firing_for_s(), a.per_series()), (900, 120, true));
    assert_eq!(a.no_data(), NoData::KeepState);
    assert!(a.errors().is_some_and(|e| e.contains(503) && !e.contains(404)));
    assert_eq!(a.condition().windows_s(), vec![60, 300, 600]);
    let l = a.instance_labels("/models/a");
    assert_eq!(a.annotation("summary", Some(0.5), &l), "/models/a gets 0.50 req/min (info)");
    // The SLO and its four burn-rate alerts, after the file's rules.
    let slo = &r.slos()[0];
    assert_eq!(slo.sli(), Sli::LatencyAtMost(500_000_000));
    assert_eq!((slo.period_s(), slo.min_requests()), (2_592_000, 100));
    assert!((slo.budget() - 0.01).abs() < 1e-12);
    let names: Vec<&str> = r.rules().iter().map(tailstore_rules::Rule::name).collect();
    assert_eq!(
        names,
        [
            "Low Traffic",
            "SLO latency burn 14.4x 1h/5m",
            "SLO latency burn 6x 6h/30m",
            "SLO latency burn 3x 1d/2h",
            "SLO latency burn 1x 3d/6h",
        ]
    );
    let page = &r.rules()[1];
    assert_eq!(
        page.condition().to_string(),
        "burn_rate[1h] > 14.4 and burn_rate[5m] > 14.4 and requests[1h] >= 100"
    );
    assert_eq!(page.labels().get("severity").map(String::as_str), Some("page"));
    assert_eq!(page.labels().get("slo").map(String::as_str), Some("latency"));
}

/// Each kind of mistake is reported at its line (and column when the YAML
/// reader knows it), saying what is wrong.
#[test]
fn bad_files_name_line_column_and_what_is_wrong() {
    let base = "rules:\n  - name: a\n";
    let cases: &[(&str, Option<usize>, Option<usize>, &str)] = &[
        ("    condition: error_ratio > 5\n", Some(3), Some(16), "unknown metric \"error_ratio\""),
        ("    condition: cpu_pct > 90\n", Some(3), Some(16), "unknown metric \"cpu_pct\""),
        ("    condition: error_rate[5x] > 5\n", Some(3), Some(16), "unknown unit \"x\""),
        ("    condition: error_rate > 5\n    for: 5 min\n", Some(4), Some(10), "bad duration"),
        ("    condition: error_rate > 5\n    fr: 5m\n", Some(4), Some(5), "unknown field `fr`"),
        (
            "    condition: error_rate > 5\n    annotations:\n      summary: 'x {{ $valu }}'\n",
            Some(5),
            Some(17), // inside the quotes
            "bad template",
        ),
        (
            "    condition: error_rate > 5\n    annotations:\n      summary: '{{ $labels.pod }}'\n",
            Some(5),
            None,
            "{{ $labels.pod }} is not a label",
        ),
        (
            "    condition: error_rate > 5\n    group_by: pod\n",
            Some(4),
            Some(15),
            "unknown variant `pod`",
        ),
        (
            "    condition: error_rate > 5\n    no_data: maybe\n",
            Some(4),
            Some(14),
            "unknown variant",
        ),
        (
            "    condition: error_rate > 5\n    series: '/models/(a'\n",
            Some(4),
            Some(14),
            "bad series regex",
        ),
        ("    for: 5m\n", Some(2), Some(5), "missing field `condition`"),
        (
            "    condition: error_rate > 5\n    labels: { series: x }\n",
            Some(2),
            None,
            "set by the engine",
        ),
        ("    condition: [error_rate]\n", Some(3), Some(16), "invalid type: sequence"),
        ("    condition: 'error_rate > 5\n", Some(4), None, "quoted scalar at line 3 column 16"),
        (
            "    condition: error_rate > 5\n  - name: a\n    condition: error_rate > 6\n",
            Some(4),
            None,
            "a second rule",
        ),
    ];
    for (tail, line, column, says) in cases {
        let text = format!("{base}{tail}");
        let (l, c, m) = err(&text);
        assert!(m.contains(says), "{text}\n-> {m}");
        assert_eq!(l, *line, "{text}\n-> {m}");
        if column.is_some() {
            assert_eq!(c, *column, "{text}\n-> {m}");
        }
    }
    let slo = |body: &str| format!("slos:\n  - name: s\n{body}");
    for (body, says) in [
        (
            "    objective: 100\n    sli: availability\n    period: 30d\n",
            "strictly between 0 and 100",
        ),
        ("    objective: 99.9\n    sli: availability\n    period: 90m\n", "whole number of hours"),
        ("    objective: 99.9\n    sli: latency > 1s\n    period: 30d\n", "unknown sli"),
        ("    objective: 99.9\n    sli: latency < 0ms\n    period: 30d\n", "must be positive"),
    ] {
        let (l, _, m) = err(&slo(body));
        assert!(m.contains(says), "{body}\n-> {m}");
        assert!(l.is_some_and(|l| l >= 2), "{body}\n-> {m}");
    }
    // The Display form reads like a compiler's.
    let e = Rules::from_yaml_named("rules:\n  - name: a\n    condition: x > 1\n", "f.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("f.yaml:3:16: rules[0]: unknown metric \"x\""), "{e}");
    // A missing file is an I/O error naming it.
    let e = Rules::from_path("/nonexistent/rules.yaml").unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("/nonexistent/rules.yaml"));
}

/// The shipped example file loads: the guide's request-metric rules and its
/// three SLOs, the CPU and memory rules included.
#[test]
fn the_shipped_example_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rules/model-endpoints.yaml");
    let r = Rules::from_path(path).unwrap();
    let own: Vec<&str> = r
        .rules()
        .iter()
        .map(tailstore_rules::Rule::name)
        .filter(|n| !n.starts_with("SLO "))
        .collect();
    assert_eq!(own, ["High Error Rate", "High Latency", "Low Traffic", "High CPU", "Memory Leak"]);
    assert_eq!(r.slos().len(), 3);
    assert_eq!(r.rules().len(), 5 + 3 * 4);
}
