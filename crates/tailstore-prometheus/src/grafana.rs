//! A Grafana dashboard whose panels are the users' guide's, over the metric
//! names this crate exposes ([`Names`]): a fleet's Grafana then shows what
//! `tailstore report` draws, from the same numbers.
//!
//! The queries are the guide's `PromQL`, with the series label of the chosen
//! names (`path` for `ingress-nginx`, `series` for `tailstore`) selected by a
//! `$series` template variable (a regex, multi-value, "All" by default):
//!
//! | panel | type | query |
//! |---|---|---|
//! | Request rate (req/min) | timeseries | `sum(rate(REQUESTS{L=~"$series"}[1m])) * 60` |
//! | Error rate (%) | timeseries, 1 % and 5 % thresholds | `100 * sum(rate(REQUESTS{status=~"ERRORS",L=~"$series"}[5m])) / sum(rate(REQUESTS{L=~"$series"}[5m]))` |
//! | Error rate over the range | stat | the same with `increase(…[$__range])` |
//! | Latency P50 / P95 / P99 | timeseries, 100 / 300 / 500 ms thresholds | `histogram_quantile(q, sum(rate(HIST_bucket{L=~"$series"}[5m])) by (le))` |
//! | Status codes | timeseries, stacked bars | `sum(increase(REQUESTS{L=~"$series"}[$__rate_interval])) by (status)` |
//! | Latency heatmap | heatmap | `sum(increase(HIST_bucket{L=~"$series"}[$__rate_interval])) by (le)` |
//! | Endpoints | table | per `L`: req/s, error %, P99 (instant queries) |
//! | CPU (%) / Memory (MiB) | timeseries | the guide's `container_cpu_usage_seconds_total` and `container_memory_usage_bytes` queries over `pod=~"$pod"` |
//!
//! `ERRORS` is the guide's error set (`400|402|403|404|405|406|408|429|5..`).

use serde_json::{json, Value};

use crate::format::Names;

/// The guide's error statuses, as a `PromQL` regex.
pub const GUIDE_ERRORS: &str = "400|402|403|404|405|406|408|429|5..";

/// What a dashboard is built for.
#[derive(Clone, Debug)]
pub struct DashboardOptions {
    /// Metric names the fleet's Prometheus scrapes (`tailstore serve
    /// --names`).
    pub names: Names,
    /// The Prometheus data source's uid in the Grafana that imports it.
    pub datasource_uid: String,
    /// The `$series` variable's regex over the series label (which series
    /// it offers); `.*` for all.
    pub series_regex: String,
    /// The `$pod` variable's default regex for the CPU and memory panels.
    pub pod_regex: String,
    /// The dashboard's title.
    pub title: String,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            names: Names::ingress_nginx(),
            datasource_uid: "prometheus".into(),
            series_regex: ".*".into(),
            pod_regex: "model-.*".into(),
            title: "Model Endpoint Monitoring".into(),
        }
    }
}

/// Grafana's dashboard schema version the JSON follows (Grafana 10.4-11).
pub const SCHEMA_VERSION: u64 = 39;

struct Builder {
    ds: Value,
    panels: Vec<Value>,
    next_id: u64,
}

impl Builder {
    fn target(&self, expr: &str, legend: &str, ref_id: char) -> Value {
        json!({
            "datasource": self.ds,
            "expr": expr,
            "legendFormat": legend,
            "refId": ref_id.to_string(),
        })
    }

    #[expect(clippy::too_many_arguments, reason = "a panel's position and contents, all required")]
    fn panel(
        &mut self,
        kind: &str,
        title: &str,
        grid: (u64, u64, u64, u64),
        targets: &[Value],
        unit: &str,
        thresholds: &[(f64, &str)],
        extra: Value,
    ) {
        let mut steps = vec![json!({"color": "green", "value": null})];
        steps.extend(thresholds.iter().map(|(v, c)| json!({"color": c, "value": v})));
        let mut panel = json!({
            "id": self.next_id,
            "type": kind,
            "title": title,
            "datasource": self.ds,
            "gridPos": {"x": grid.0, "y": grid.1, "w": grid.2, "h": grid.3},
            "targets": targets,
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "thresholds": {"mode": "absolute", "steps": steps},
                },
                "overrides": [],
            },
            "options": {},
        });
        merge(&mut panel, extra);
        self.next_id += 1;
        self.panels.push(panel);
    }
}

/// The dashboard JSON for `opts` (import it in Grafana, or provision it).
#[must_use]
#[expect(clippy::too_many_lines, reason = "one panel after another, in the page's order")]
pub fn dashboard(opts: &DashboardOptions) -> Value {
    let names = opts.names;
    let requests = names.counter_sample();
    let hist = names.histogram();
    let label = names.series_label();
    let sel = format!("{label}=~\"$series\"");
    let errors = format!("status=~\"{GUIDE_ERRORS}\",{sel}");
    let ds = json!({"type": "prometheus", "uid": opts.datasource_uid});
    let mut builder = Builder { ds: ds.clone(), panels: Vec::new(), next_id: 1 };
    let line = json!({"fieldConfig": {"defaults": {"custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10}}}});
    let rate = format!("sum(rate({requests}{{{sel}}}[1m])) * 60");
    let target = builder.target(&rate, "requests/min", 'A');
    builder.panel(
        "timeseries",
        "Request rate (req/min)",
        (0, 0, 12, 8),
        &[target],
        "reqpm",
        &[],
        json!({}),
    );
    let err =
        format!("100 * sum(rate({requests}{{{errors}}}[5m])) / sum(rate({requests}{{{sel}}}[5m]))");
    let target = builder.target(&err, "error %", 'A');
    builder.panel(
        "timeseries",
        "Error rate (%)",
        (12, 0, 8, 8),
        &[target],
        "percent",
        &[(1.0, "orange"), (5.0, "red")],
        json!({"fieldConfig": {"defaults": {"custom": {"thresholdsStyle": {"mode": "line"}}}}}),
    );
    let err_range = format!(
        "100 * sum(increase({requests}{{{errors}}}[$__range])) / sum(increase({requests}{{{sel}}}[$__range]))"
    );
    let target = builder.target(&err_range, "error %", 'A');
    builder.panel(
        "stat",
        "Error rate over the range",
        (20, 0, 4, 8),
        &[target],
        "percent",
        &[(1.0, "orange"), (5.0, "red")],
        json!({"options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"}}),
    );
    let quantile = |q: f64, legend: &str, id: char, builder: &Builder| {
        builder.target(
            &format!("histogram_quantile({q}, sum(rate({hist}_bucket{{{sel}}}[5m])) by (le))"),
            legend,
            id,
        )
    };
    let ts = vec![
        quantile(0.5, "P50", 'A', &builder),
        quantile(0.95, "P95", 'B', &builder),
        quantile(0.99, "P99", 'C', &builder),
    ];
    builder.panel(
        "timeseries",
        "Latency P50 / P95 / P99",
        (0, 8, 12, 8),
        &ts,
        "s",
        &[(0.1, "yellow"), (0.3, "orange"), (0.5, "red")],
        json!({"fieldConfig": {"defaults": {"custom": {"thresholdsStyle": {"mode": "line"}}}}}),
    );
    let status = format!("sum(increase({requests}{{{sel}}}[$__rate_interval])) by (status)");
    let target = builder.target(&status, "{{status}}", 'A');
    builder.panel(
        "timeseries",
        "Status codes",
        (12, 8, 12, 8),
        &[target],
        "short",
        &[],
        json!({"fieldConfig": {"defaults": {"custom": {"drawStyle": "bars", "stacking": {"mode": "normal"}, "fillOpacity": 80}}}}),
    );
    let heat = format!("sum(increase({hist}_bucket{{{sel}}}[$__rate_interval])) by (le)");
    let mut target = builder.target(&heat, "{{le}}", 'A');
    if let Some(fields) = target.as_object_mut() {
        fields.insert("format".into(), json!("heatmap"));
    }
    builder.panel(
        "heatmap",
        "Latency heatmap",
        (0, 16, 12, 9),
        &[target],
        "s",
        &[],
        json!({"options": {"calculate": false, "yAxis": {"unit": "s"}, "color": {"scheme": "Oranges"}}}),
    );
    let by = format!("by ({label})");
    let table_targets = vec![
        instant(
            &builder,
            &format!("sum(rate({requests}{{{sel}}}[5m])) {by}"), 'A'),
        instant(
            &builder,
            &format!(
                "100 * sum(rate({requests}{{{errors}}}[5m])) {by} / sum(rate({requests}{{{sel}}}[5m])) {by}"
            ),
            'B',
        ),
        instant(
            &builder,
            &format!("histogram_quantile(0.99, sum(rate({hist}_bucket{{{sel}}}[5m])) by (le, {label}))"),
            'C',
        ),
    ];
    builder.panel(
        "table",
        "Endpoints",
        (12, 16, 12, 9),
        &table_targets,
        "short",
        &[],
        json!({"transformations": [{"id": "merge", "options": {}}]}),
    );
    let cpu =
        "100 * (1 - avg(rate(container_cpu_usage_seconds_total{pod=~\"$pod\"}[5m])))".to_owned();
    let target = builder.target(&cpu, "CPU %", 'A');
    builder.panel(
        "timeseries",
        "CPU (%)",
        (0, 25, 12, 8),
        &[target],
        "percent",
        &[(80.0, "orange"), (90.0, "red")],
        line.clone(),
    );
    let mem = "container_memory_usage_bytes{pod=~\"$pod\"} / 1024 / 1024".to_owned();
    let target = builder.target(&mem, "{{pod}}", 'A');
    builder.panel("timeseries", "Memory (MiB)", (12, 25, 12, 8), &[target], "decmbytes", &[], line);
    let series_var = json!({
        "name": "series",
        "label": "Endpoint",
        "type": "query",
        "datasource": ds,
        "query": {"query": format!("label_values({requests}, {label})"), "refId": "series"},
        "definition": format!("label_values({requests}, {label})"),
        "regex": format!("/^(?:{})$/", opts.series_regex),
        "multi": true,
        "includeAll": true,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    });
    let pod_var = json!({
        "name": "pod",
        "label": "Pod regex",
        "type": "textbox",
        "query": opts.pod_regex,
        "current": {"text": opts.pod_regex, "value": opts.pod_regex},
    });
    json!({
        "title": opts.title,
        "uid": format!("tailstore-{}", names.name()),
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": true,
        "tags": ["tailstore", "model-endpoints"],
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m"]},
        "refresh": "30s",
        "templating": {"list": [series_var, pod_var]},
        "annotations": {"list": []},
        "panels": builder.panels,
    })
}

/// Merges `extra` into `into`: objects key by key (recursively), anything
/// else replaced.
fn merge(into: &mut Value, extra: Value) {
    match (into, extra) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        a.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn instant(builder: &Builder, expr: &str, id: char) -> Value {
    let mut target = builder.target(expr, "", id);
    if let Some(fields) = target.as_object_mut() {
        fields.insert("instant".into(), json!(true));
        fields.insert("range".into(), json!(false));
        fields.insert("format".into(), json!("table"));
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every panel is well formed: a unique id, a position inside Grafana's
    /// 24 columns that overlaps no other panel, targets with a query, a
    /// reference id and the data source; the queries use the names' series
    /// label and the `$series` variable, which the templating defines.
    fn check_structure(dash: &Value, label: &str) {
        assert_eq!(dash["schemaVersion"], SCHEMA_VERSION);
        let panels = dash["panels"].as_array().unwrap();
        assert_eq!(panels.len(), 9);
        let mut ids = std::collections::BTreeSet::new();
        let mut cells = std::collections::BTreeSet::new();
        for panel in panels {
            assert!(ids.insert(panel["id"].as_u64().unwrap()), "duplicate id {panel}");
            let grid = &panel["gridPos"];
            let at = |k: &str| grid[k].as_u64().unwrap();
            let (left, top, width, height) = (at("x"), at("y"), at("w"), at("h"));
            assert!(width > 0 && height > 0 && left + width <= 24, "{panel}");
            for col in left..left + width {
                for row in top..top + height {
                    assert!(cells.insert((col, row)), "panels overlap: {}", panel["title"]);
                }
            }
            assert_eq!(panel["datasource"]["uid"], "prometheus");
            let title = panel["title"].as_str().unwrap();
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty());
            for target in targets {
                let expr = target["expr"].as_str().unwrap();
                assert!(!expr.is_empty() && !target["refId"].as_str().unwrap().is_empty());
                assert_eq!(target["datasource"]["uid"], "prometheus");
                if !title.starts_with("CPU") && !title.starts_with("Memory") {
                    assert!(expr.contains(&format!("{label}=~\"$series\"")), "{expr}");
                }
                assert_eq!(expr.matches('(').count(), expr.matches(')').count(), "{expr}");
                assert_eq!(expr.matches('{').count(), expr.matches('}').count(), "{expr}");
            }
        }
        let vars: Vec<&str> = dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(vars, ["series", "pod"]);
    }

    #[test]
    fn both_presets_give_well_formed_dashboards() {
        for (names, label, requests) in [
            (Names::ingress_nginx(), "path", "nginx_ingress_controller_requests"),
            (Names::tailstore(), "series", "tailstore_requests_total"),
        ] {
            let dash = dashboard(&DashboardOptions { names, ..DashboardOptions::default() });
            check_structure(&dash, label);
            let rate = dash["panels"][0]["targets"][0]["expr"].as_str().unwrap();
            assert_eq!(rate, format!("sum(rate({requests}{{{label}=~\"$series\"}}[1m])) * 60"));
        }
    }

    /// The ingress-nginx dashboard's queries are the guide's, word for word
    /// but for `path=~"$series"` in place of `path=~"/models/MODEL_ID.*"`.
    #[test]
    fn the_guides_queries() {
        let dash = dashboard(&DashboardOptions::default());
        let exprs: Vec<&str> = dash["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap())
            })
            .collect();
        let guide = [
            "sum(rate(nginx_ingress_controller_requests{path=~\"$series\"}[1m])) * 60",
            "histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{path=~\"$series\"}[5m])) by (le))",
            "sum(increase(nginx_ingress_controller_requests{path=~\"$series\"}[$__range])) by (status)",
            "100 * (1 - avg(rate(container_cpu_usage_seconds_total{pod=~\"$pod\"}[5m])))",
            "container_memory_usage_bytes{pod=~\"$pod\"} / 1024 / 1024",
        ];
        for g in guide {
            let found = exprs.contains(&g)
                || (g.contains("$__range])) by (status)")
                    && exprs.contains(&g.replace("$__range", "$__rate_interval").as_str()));
            assert!(found, "{g} not in {exprs:#?}");
        }
        assert!(exprs.iter().any(|e| e.contains(&format!("status=~\"{GUIDE_ERRORS}\""))));
        // The guide's targets as threshold lines: 1 % errors, 100/300/500 ms.
        let panel = |title: &str| {
            dash["panels"].as_array().unwrap().iter().find(|p| p["title"] == title).unwrap().clone()
        };
        let steps = |p: &Value| -> Vec<f64> {
            p["fieldConfig"]["defaults"]["thresholds"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["value"].as_f64())
                .collect()
        };
        let err = panel("Error rate (%)");
        assert_eq!(steps(&err), [1.0, 5.0]);
        assert_eq!(err["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"], "line");
        assert_eq!(err["fieldConfig"]["defaults"]["unit"], "percent");
        assert_eq!(steps(&panel("Latency P50 / P95 / P99")), [0.1, 0.3, 0.5]);
    }
}
