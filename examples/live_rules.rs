//! Rules evaluated live as a model server records: a `LiveEvaluator` on
//! its own thread prints each alert event as the error burst in the
//! recorded traffic makes it pending, firing and resolved.
//!
//! ```text
//! cargo run --example live_rules
//! ```
//!
//! The traffic is recorded with explicit times (a quarter of an hour, an
//! hour ago) so that the example runs in a second; a server would call
//! `record()` and the store's clock thread would drive the evaluator.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{Options, Store};
use tailstore_rules::{LiveEvaluator, LiveOptions, Rules};

const RULES: &str = "
evaluation_interval: 1m
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate[1m] > 5
    for: 2m
    group_by: series
    labels: { severity: critical }
    annotations:
      summary: 'Error rate is {{ $value }}% on {{ $labels.series }}'
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let t0 = now - 3600 - now % 60;
    let store = Store::in_memory(Options::default());
    let rules = Rules::from_yaml(RULES)?;
    let live = LiveEvaluator::start(
        &store,
        rules,
        LiveOptions::default().start_at(t0).on_event(move |e| {
            println!(
                "t0+{:>3}s  {:<16} {:<9}  {}",
                e.at - t0,
                e.rule,
                format!("{:?}", e.transition),
                e.annotations.get("summary").map_or("", String::as_str)
            );
        }),
    )?;
    // 20 requests a second; in minutes 5 to 8 one in four fails.
    let s = store.series("/models/bert/predict");
    for sec in 0..15 * 60 {
        let failing = (300..540).contains(&sec);
        for i in 0..20 {
            let status = if failing && i % 4 == 0 { 503 } else { 200 };
            let at = UNIX_EPOCH + Duration::from_secs(t0 + sec);
            s.record_at(at, Duration::from_millis(15 + i), status);
        }
    }
    // Everything recorded is sealed: the evaluator catches up to the end.
    store.flush()?;
    if !live.wait_evaluated(t0 + 15 * 60, Duration::from_secs(10)) {
        return Err("the evaluator did not catch up in 10 s".into());
    }
    for st in live.states() {
        println!("now: {} {:?} {:?}", st.rule, st.labels, st.state);
    }
    println!("{:?}", live.stats());
    Ok(())
}
