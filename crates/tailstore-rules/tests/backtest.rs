//! Backtests over generated traffic with known episodes (a slow period, an
//! error burst, a traffic gap, a flapping error rate), against the oracle:
//! exact window metrics from the raw samples, fed to the oracle's episode
//! definition. SLO reports against raw counts.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use tailstore::{ErrorSet, Options, Store};
use tailstore_rules::{backtest, slo_report, Episode, NoData, Rules, Truth};

use crate::oracle::{episodes, Ep, Sample, Win};

/// An hour boundary in the past (the store refuses samples far ahead of now).
pub(crate) const T0: u64 = 1_699_999_200;
pub(crate) const MIN: u64 = 60;
/// Three hours of traffic.
const SPAN: u64 = 3 * 3_600;

/// Deterministic traffic of `/models/a` and `/models/b`, 4 requests a second
/// each, 20-80 ms, with the known episodes:
/// * a: minutes 40-52 one request in four takes 2.5-3.5 s;
/// * b: minutes 70-82 two requests in four fail (503);
/// * a: minutes 100-125 no requests at all;
/// * b: minutes 140-160 one request in four fails (500) in even minutes only.
pub(crate) fn traffic() -> (Vec<Sample>, Vec<Sample>) {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for s in 0..SPAN {
        let m = s / MIN;
        for i in 0..4u64 {
            let lat = 20_000_000 + rnd(60_000_000);
            if !(100..125).contains(&m) {
                let slow = (40..52).contains(&m) && i == 0;
                let lat_a = if slow { 2_500_000_000 + rnd(1_000_000_000) } else { lat };
                a.push((T0 + s, lat_a, 200));
            }
            let status = if (70..82).contains(&m) && i < 2 {
                503
            } else if (140..160).contains(&m) && m.is_multiple_of(2) && i == 0 {
                500
            } else {
                200
            };
            b.push((T0 + s, 20_000_000 + rnd(60_000_000), status));
        }
    }
    (a, b)
}

pub(crate) fn store_of(series: &[(&str, &[Sample])]) -> Store {
    let store = Store::in_memory(Options::default().keep_everything());
    for (name, samples) in series {
        let s = store.series(name);
        for &(sec, lat, status) in *samples {
            s.record_at(UNIX_EPOCH + Duration::from_secs(sec), Duration::from_nanos(lat), status);
        }
    }
    store.flush().unwrap();
    store
}

pub(crate) const RULES: &str = r"
evaluation_interval: 1m
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate > 5
    for: 5m
    group_by: series
    annotations:
      description: 'Error rate is {{ $value }}% on {{ $labels.series }}'
  - name: High Latency
    series: '/models/.*'
    condition: latency_p99 > 2
    for: 5m
    group_by: series
    annotations:
      summary: 'P99 latency is {{ $value }}s'
  - name: Low Traffic
    series: '/models/.*'
    condition: requests_per_min[1m] < 1
    for: 15m
    group_by: series
  - name: Flapping
    series: '/models/.*'
    condition: error_rate[1m] > 5
    for: 3m
    group_by: series
  - name: Flapping kept
    series: '/models/.*'
    condition: error_rate[1m] > 5
    keep_firing_for: 3m
    group_by: series
  - name: Fleet traffic low
    series: '/models/.*'
    condition: request_rate < 5 or latency_p50[10m] > 1
  - name: Silent errors
    series: '/models/.*'
    condition: error_rate[1m] > 50
    for: 2m
    group_by: series
    no_data: alerting
slos:
  - name: availability
    series: '/models/.*'
    objective: 99.9
    sli: availability
    period: 1d
    min_requests: 100
";

/// A comparison's value and truth, Kleene-style.
fn cmp(v: Option<f64>, holds: impl Fn(f64) -> bool) -> (Truth, Option<f64>) {
    match v {
        None => (Truth::NoData, None),
        Some(x) => (if holds(x) { Truth::True } else { Truth::False }, Some(x)),
    }
}

fn and(a: Truth, b: Truth) -> Truth {
    match (a, b) {
        (Truth::False, _) | (_, Truth::False) => Truth::False,
        (Truth::True, Truth::True) => Truth::True,
        _ => Truth::NoData,
    }
}

fn or(a: Truth, b: Truth) -> Truth {
    match (a, b) {
        (Truth::True, _) | (_, Truth::True) => Truth::True,
        (Truth::False, Truth::False) => Truth::False,
        _ => Truth::NoData,
    }
}

/// The oracle's (truth, value) of rule `name` over `samples` at `t`.
#[expect(clippy::many_single_char_names, reason = "a, b, c are the conditions' terms")]
fn oracle_eval(name: &str, samples: &[Sample], t: u64) -> (Truth, Option<f64>) {
    let errs = ErrorSet::default();
    let w = |len: u64| Win::of(samples, t.saturating_sub(len), t, &errs);
    match name {
        "High Error Rate" => cmp(w(300).error_pct(), |x| x > 5.0),
        "High Latency" => cmp(w(300).q(0.99), |x| x > 2.0),
        "Low Traffic" => cmp(Some(w(60).per_s() * 60.0), |x| x < 1.0),
        "Flapping" | "Flapping kept" => cmp(w(60).error_pct(), |x| x > 5.0),
        "Fleet traffic low" => {
            let (a, v) = cmp(Some(w(300).per_s()), |x| x < 5.0);
            let (b, _) = cmp(w(600).q(0.5), |x| x > 1.0);
            (or(a, b), v)
        }
        "Silent errors" => cmp(w(60).error_pct(), |x| x > 50.0),
        burn => {
            // "SLO availability burn F LONG/SHORT"
            let (long, short, f) = match burn {
                "SLO availability burn 14.4x 1h/5m" => (3_600, 300, 14.4),
                "SLO availability burn 6x 6h/30m" => (21_600, 1_800, 6.0),
                "SLO availability burn 3x 1d/2h" => (86_400, 7_200, 3.0),
                "SLO availability burn 1x 3d/6h" => (259_200, 21_600, 1.0),
                other => panic!("no oracle for rule {other:?}"),
            };
            let (a, v) = cmp(w(long).burn(0.001), |x| x > f);
            let (b, _) = cmp(w(short).burn(0.001), |x| x > f);
            #[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^53")]
            let (c, _) = cmp(Some(w(long).requests() as f64), |x| x >= 100.0);
            (and(and(a, b), c), v)
        }
    }
}

fn close(got: Option<f64>, want: Option<f64>, ctx: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= w.abs() * 1e-3 + 1e-9, "{ctx}: {g} vs {w}"),
        (g, w) => assert_eq!(g, w, "{ctx}"),
    }
}

/// Every episode of every rule (per series and merged, SLO burn-rate alerts
/// included) is the oracle's, with its value; and the known episodes are
/// where the traffic put them.
#[test]
fn backtest_matches_the_oracle_on_known_episodes() {
    let (a, b) = traffic();
    let store = store_of(&[("/models/a", &a), ("/models/b", &b)]);
    let mut merged: Vec<Sample> = a.iter().chain(&b).copied().collect();
    merged.sort_by_key(|s| s.0);
    let rules = Rules::from_yaml(RULES).unwrap();
    let (start, end) = (T0, T0 + SPAN + 30 * MIN);
    let bt = backtest(&store, &rules, start, end).unwrap();
    assert_eq!((bt.start_s, bt.end_s, bt.interval_s), (start, end, 60));

    // (rule, series, episode, value)
    let mut want: Vec<(String, String, Ep, Option<f64>)> = Vec::new();
    for rule in rules.rules() {
        let targets: Vec<(&str, &[Sample])> = if rule.per_series() {
            vec![("/models/a", &a), ("/models/b", &b)]
        } else {
            vec![("/models/.*", &merged)]
        };
        for (series, samples) in targets {
            let evals: BTreeMap<u64, (Truth, Option<f64>)> = (start..=end)
                .step_by(60)
                .map(|t| (t, oracle_eval(rule.name(), samples, t)))
                .collect();
            let seq: Vec<(u64, Truth)> = evals.iter().map(|(t, e)| (*t, e.0)).collect();
            for ep in episodes(&seq, rule.for_s(), rule.keep_firing_for_s(), rule.no_data()) {
                let value = evals[&ep.1.unwrap_or(ep.0)].1;
                want.push((rule.name().to_string(), series.to_string(), ep, value));
            }
        }
    }
    want.sort_by(|x, y| (x.2 .0, &x.0, &x.1).cmp(&(y.2 .0, &y.0, &y.1)));
    let got: Vec<&Episode> = bt.episodes.iter().collect();
    let show = |e: &Episode| {
        format!(
            "{} {:?} {:?}",
            e.rule,
            e.labels.get("series"),
            (e.pending_at - T0, e.firing_at.map(|f| f - T0), e.resolved_at.map(|r| r - T0))
        )
    };
    assert_eq!(
        got.len(),
        want.len(),
        "got:\n{}",
        got.iter().map(|e| show(e)).collect::<Vec<_>>().join("\n")
    );
    for (g, (rule, series, ep, value)) in got.iter().zip(&want) {
        let ctx = show(g);
        assert_eq!(&g.rule, rule, "{ctx}");
        assert_eq!(g.labels.get("series"), Some(series), "{ctx}");
        assert_eq!((g.pending_at, g.firing_at, g.resolved_at), *ep, "{ctx}");
        close(g.value, *value, &ctx);
    }

    // The known episodes, by hand: (pending, firing, resolved) in minutes.
    let find = |rule: &str, series: &str| -> Vec<(u64, Option<u64>, Option<u64>)> {
        bt.episodes
            .iter()
            .filter(|e| e.rule == rule && e.labels["series"] == series)
            .map(|e| {
                (
                    (e.pending_at - T0) / MIN,
                    e.firing_at.map(|f| (f - T0) / MIN),
                    e.resolved_at.map(|r| (r - T0) / MIN),
                )
            })
            .collect()
    };
    assert_eq!(find("High Latency", "/models/a"), [(41, Some(46), Some(57))]);
    assert_eq!(find("High Latency", "/models/b"), []);
    assert_eq!(find("High Error Rate", "/models/b")[0], (71, Some(76), Some(87)));
    // The first evaluation's window lies before the data: pending, then reset.
    assert_eq!(
        find("Low Traffic", "/models/a")[..2],
        [(0, None, Some(1)), (101, Some(116), Some(126))]
    );
    // Flapping every minute never lasts 3 minutes; keep_firing_for holds it.
    let flaps = find("Flapping", "/models/b");
    assert!(
        flaps.iter().filter(|e| e.0 >= 140).all(|e| e.1.is_none()) && flaps.len() >= 10,
        "{flaps:?}"
    );
    let kept: Vec<_> =
        find("Flapping kept", "/models/b").into_iter().filter(|e| e.0 >= 140).collect();
    // Last error minute 158 (true at 159), false from 160, resolved 3 min later.
    assert_eq!(kept, [(141, Some(141), Some(163))]);
    // The error burst pages through the SLO's fast-burn alert.
    let page = find("SLO availability burn 14.4x 1h/5m", "/models/.*");
    assert!(page.iter().any(|e| e.0 > 70 && e.0 < 80 && e.1.is_some()), "{page:?}");
    // Annotations carry the formatted value and labels.
    let e = bt
        .episodes
        .iter()
        .find(|e| e.rule == "High Error Rate" && e.labels["series"] == "/models/b")
        .unwrap();
    assert_eq!(e.description, format!("Error rate is {:.2}% on /models/b", e.value.unwrap()));
    let e = bt.episodes.iter().find(|e| e.rule == "High Latency").unwrap();
    assert_eq!(e.summary, format!("P99 latency is {:.3}s", e.value.unwrap()));
    // Per rule: fired N times, for M seconds.
    let sum = bt.summary(&rules);
    let lat = sum.iter().find(|s| s.rule == "High Latency").unwrap();
    assert_eq!((lat.fired, lat.firing_s), (1, 11 * MIN));
}

/// `keep_state` and `ok` on the traffic gap: no data keeps a firing alert
/// firing, or resolves it.
#[test]
fn no_data_policy_on_a_gap() {
    let (a, _) = traffic();
    let store = store_of(&[("/models/a", &a)]);
    let rule = |policy: &str| {
        format!(
            "rules:\n  - name: slow\n    series: /models/a\n    condition: latency_p50[1m] > 0.01\n    no_data: {policy}\n"
        )
    };
    let run = |policy: &str| {
        let r = Rules::from_yaml(&rule(policy)).unwrap();
        backtest(&store, &r, T0 + 60, T0 + SPAN).unwrap().episodes
    };
    // p50 is always above 10 ms: one episode from the start; `ok` resolves
    // it when the gap starts (minute 101), `keep_state` rides the gap out.
    let ok = run("ok");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].resolved_at, Some(T0 + 101 * MIN));
    let kept = run("keep_state");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].resolved_at, None);
    assert_eq!(
        tailstore_rules::Rules::from_yaml(&rule("ok")).unwrap().rules()[0].no_data(),
        NoData::Ok
    );
}

/// SLO report against raw counts: totals, SLI, budget, burn rates, and when
/// the budget ran out; latency SLI within the histogram's bound.
#[test]
fn slo_report_matches_raw_counts() {
    let (a, b) = traffic();
    let store = store_of(&[("/models/a", &a), ("/models/b", &b)]);
    let mut merged: Vec<Sample> = a.iter().chain(&b).copied().collect();
    merged.sort_by_key(|s| s.0);
    let rules = Rules::from_yaml(
        "slos:
  - name: availability
    series: '/models/.*'
    objective: 99.9
    sli: availability
    period: 2h
  - name: latency
    series: /models/a
    objective: 99
    sli: latency < 500ms
    period: 3h
",
    )
    .unwrap();
    let at = T0 + SPAN;
    let report = slo_report(&store, rules.slos(), at).unwrap();
    let errs = ErrorSet::default();
    // Availability over the last 2 h (minutes 60-180).
    let w = Win::of(&merged, at - 7_200, at, &errs);
    let r = &report[0];
    assert_eq!((r.total, r.good), (w.requests(), w.requests() - w.errors()));
    #[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^53")]
    let bad = w.errors() as f64 / w.requests() as f64;
    close(r.sli_pct, Some(100.0 * (1.0 - bad)), "sli");
    close(r.budget_remaining_pct, Some(100.0 * (1.0 - bad / 0.001)), "budget");
    assert!(r.budget_remaining_pct.unwrap() < 0.0);
    for &(len, burn) in &r.burn_rates {
        close(burn, Win::of(&merged, at - len, at, &errs).burn(0.001), &format!("burn {len}"));
    }
    // Exhausted: the end of the first minute where the bad so far exceed
    // 0.1 % of the period's requests.
    // Integer form of bad > 0.001 * total.
    let first = (1..=120)
        .map(|m| at - 7_200 + m * MIN)
        .find(|&t| Win::of(&merged, at - 7_200, t, &errs).errors() * 1000 > w.requests());
    assert_eq!(r.exhausted_at, first);
    assert!(first.is_some());
    // Latency: requests at most 500 ms; the slow ones are 2.5 s and up, far
    // from the threshold, so the histogram's count is exact here.
    let w = Win::of(&a, at - 3 * 3_600, at, &errs);
    let r = &report[1];
    assert_eq!((r.total, r.good), (w.requests(), w.at_most(500_000_000)));
    assert!(r.good < r.total);
    assert_eq!(r.exhausted_at.is_some(), r.budget_remaining_pct.unwrap() < 0.0);
    // An empty window has no burn rate.
    let far = slo_report(&store, rules.slos(), at + 7 * 86_400).unwrap();
    assert_eq!(far[0].total, 0);
    assert_eq!((far[0].sli_pct, far[0].burn_rates[0].1), (None, None));
}

/// A live evaluator's path (one store query per window at each evaluation,
/// `Condition::evaluate_windows`, an `Evaluator`) gives the backtest's
/// episodes: the two share the condition and the state machine.
#[test]
fn live_evaluation_gives_the_backtests_episodes() {
    let (a, b) = traffic();
    let store = store_of(&[("/models/a", &a), ("/models/b", &b)]);
    let rules = Rules::from_yaml(RULES).unwrap();
    let (start, end) = (T0 + 30 * MIN, T0 + 170 * MIN);
    let bt = backtest(&store, &rules, start, end).unwrap();
    for (name, series) in [
        ("High Latency", "/models/a"),
        ("Fleet traffic low", "/models/.*"),
        ("Flapping kept", "/models/b"),
        ("Silent errors", "/models/a"),
    ] {
        let rule = rules.rules().iter().find(|r| r.name() == name).unwrap();
        let selector = if rule.per_series() {
            tailstore::Selector::exact(series)
        } else {
            rule.selector().clone()
        };
        let mut ev =
            tailstore_rules::Evaluator::new(rule.for_s(), rule.keep_firing_for_s(), rule.no_data());
        let mut got: Vec<Ep> = Vec::new();
        for t in (start..=end).step_by(60) {
            let windows: Vec<(u64, tailstore::WindowStats)> = rule
                .condition()
                .windows_s()
                .into_iter()
                .map(|len| {
                    let w = store
                        .query(selector.clone())
                        .last(Duration::from_secs(len))
                        .ending_at(UNIX_EPOCH + Duration::from_secs(t))
                        .run()
                        .unwrap();
                    (len, w)
                })
                .collect();
            let refs: Vec<(u64, &dyn tailstore_rules::WindowSource)> = windows
                .iter()
                .map(|(l, w)| (*l, w as &dyn tailstore_rules::WindowSource))
                .collect();
            let (truth, value) = rule.condition().evaluate_windows(&refs);
            for e in ev.step(t, truth, value) {
                match e.transition {
                    tailstore_rules::Transition::Pending => got.push((t, None, None)),
                    tailstore_rules::Transition::Firing => got.last_mut().unwrap().1 = Some(t),
                    _ => got.last_mut().unwrap().2 = Some(t),
                }
            }
        }
        let want: Vec<Ep> = bt
            .episodes
            .iter()
            .filter(|e| e.rule == name && e.labels["series"] == series)
            .map(|e| (e.pending_at, e.firing_at, e.resolved_at))
            .collect();
        assert!(!want.is_empty(), "{name}: no episode to compare");
        assert_eq!(got, want, "{name}");
    }
}

mod random {
    //! Random traffic (bursts of errors, silences) and random rules over
    //! the exact metrics: the backtest's episodes are the oracle's.

    use proptest::prelude::*;

    use super::{episodes, store_of, Ep, Sample, Win, MIN, T0};
    use tailstore::ErrorSet;
    use tailstore_rules::{backtest, NoData, Rules, Truth};

    /// Per minute: requests per second (0 = silent) and errors in each four.
    fn minutes() -> impl Strategy<Value = Vec<(u64, u64)>> {
        prop::collection::vec((prop_oneof![1 => Just(0u64), 4 => 1u64..4], 0u64..3), 10..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn backtests_match_the_oracle(
            mins in minutes(),
            window_m in 1u64..6,
            threshold in prop_oneof![Just(5.0f64), Just(20.0), Just(40.0)],
            use_rate in any::<bool>(),
            for_m in 0u64..4,
            keep_m in 0u64..3,
            policy in 0usize..3,
        ) {
            let mut samples: Vec<Sample> = Vec::new();
            for (m, &(per_s, errs)) in mins.iter().enumerate() {
                for s in 0..MIN {
                    for i in 0..per_s {
                        let status = if (s + i) % 4 < errs { 500 } else { 200 };
                        samples.push((T0 + m as u64 * MIN + s, 30_000_000, status));
                    }
                }
            }
            let store = store_of(&[("/m", &samples)]);
            let (policy_name, no_data) =
                [("ok", NoData::Ok), ("alerting", NoData::Alerting), ("keep_state", NoData::KeepState)][policy];
            let condition = if use_rate {
                format!("requests_per_min[{window_m}m] < {}", threshold * 3.0)
            } else {
                format!("error_rate[{window_m}m] > {threshold}")
            };
            let text = format!(
                "rules:\n  - name: r\n    series: /m\n    condition: {condition}\n    for: {for_m}m\n    keep_firing_for: {keep_m}m\n    no_data: {policy_name}\n"
            );
            let rules = Rules::from_yaml(&text).unwrap();
            let end = T0 + (mins.len() as u64 + 3) * MIN;
            let bt = backtest(&store, &rules, T0, end).unwrap();
            let errs = ErrorSet::default();
            let seq: Vec<(u64, Truth)> = (T0..=end)
                .step_by(60)
                .map(|t| {
                    let w = Win::of(&samples, t.saturating_sub(window_m * MIN), t, &errs);
                    let v = if use_rate { Some(w.per_s() * 60.0) } else { w.error_pct() };
                    let truth = match v {
                        None => Truth::NoData,
                        Some(x) if (use_rate && x < threshold * 3.0) || (!use_rate && x > threshold) => Truth::True,
                        Some(_) => Truth::False,
                    };
                    (t, truth)
                })
                .collect();
            let want = episodes(&seq, for_m * MIN, keep_m * MIN, no_data);
            let got: Vec<Ep> = bt.episodes.iter().map(|e| (e.pending_at, e.firing_at, e.resolved_at)).collect();
            prop_assert_eq!(got, want, "{}", text);
        }
    }
}

/// The guide's CPU and memory rules read gauges: `cpu_percent` is the CPU
/// gauge's mean over the window, `memory_mb` its last value in MiB,
/// `memory_growth_pct_per_hour` its robust growth. CPU at 50 % for 20 min,
/// 95 % for 15 min, then 50 % again: `cpu_percent[5m] > 90` is true from the
/// first evaluation whose window has more than 267 s of the high part (8/9
/// of it), fires after `for: 10m`, and resets when the window falls back.
#[test]
fn the_guides_cpu_and_memory_rules_read_gauges() {
    let store = Store::in_memory(Options::default().keep_everything());
    let cpu = store.gauge("process_cpu_percent");
    let mem = store.gauge("process_resident_memory_bytes");
    let gib = 1024.0 * 1024.0 * 1024.0;
    for s in 0..7_200u64 {
        cpu.set_at_unix(T0 + s, if (1_200..2_100).contains(&s) { 95.0 } else { 50.0 });
        // Flat for an hour, then +15 % of the starting size per hour.
        #[expect(clippy::cast_precision_loss, reason = "seconds below 2^53")]
        let grown = if s < 3_600 { gib } else { gib * (1.0 + 0.15 * (s - 3_600) as f64 / 3_600.0) };
        mem.set_at_unix(T0 + s, grown);
    }
    store.flush().unwrap();
    let rules = Rules::from_yaml(
        "rules:
           - name: High CPU
             condition: cpu_percent > 90
             for: 10m
             annotations: { description: 'CPU is {{ $value }}%' }
           - name: Memory Leak
             condition: memory_growth_pct_per_hour[30m] > 10
             for: 10m
           - name: Big
             condition: memory_mb[1m] > 1100",
    )
    .unwrap();
    let bt = backtest(&store, &rules, T0, T0 + 7_200).unwrap();
    let cpu_eps: Vec<&Episode> = bt.episodes.iter().filter(|e| e.rule == "High CPU").collect();
    assert_eq!(cpu_eps.len(), 1, "{:?}", bt.episodes);
    let e = cpu_eps[0];
    assert_eq!(
        (e.pending_at, e.firing_at, e.resolved_at),
        (T0 + 1_500, Some(T0 + 2_100), Some(T0 + 2_160)),
        "{e:?}"
    );
    assert_eq!(e.description, "CPU is 95.00%");
    // The leak: growth over the last 30 min exceeds 10 %/h once the window
    // lies in the growing part, and stays so to the end.
    let leak: Vec<&Episode> = bt.episodes.iter().filter(|e| e.rule == "Memory Leak").collect();
    assert_eq!(leak.len(), 1, "{:?}", bt.episodes);
    assert!((T0 + 3_600..=T0 + 5_400).contains(&leak[0].pending_at), "{:?}", leak[0]);
    assert!(leak[0].firing_at.is_some() && leak[0].resolved_at.is_none(), "{:?}", leak[0]);
    // Growth of 15 % of the start per hour is 10-15 % of the current size.
    let v = leak[0].value.unwrap();
    assert!((10.0..=15.5).contains(&v), "{v}");
    // 1 100 MiB is passed when the size reaches 1 100 / 1 024 of a GiB:
    // (1100/1024 - 1) / 0.15 h = 1 790.6 s after the growth starts.
    let big: Vec<&Episode> = bt.episodes.iter().filter(|e| e.rule == "Big").collect();
    assert_eq!(big.len(), 1, "{:?}", bt.episodes);
    assert_eq!(big[0].pending_at, T0 + 3_600 + 1_800, "{:?}", big[0]);
    // A store without gauges: no data, nothing fires.
    let empty = Store::in_memory(Options::default().keep_everything());
    assert!(backtest(&empty, &rules, T0, T0 + 600).unwrap().episodes.is_empty());
}
