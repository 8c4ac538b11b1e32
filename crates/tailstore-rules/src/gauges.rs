//! Gauge metrics of rules (`cpu_percent`, `memory_mb`,
//! `memory_growth_pct_per_hour`): which gauge each reads and its value over
//! a window. The backtest and the live evaluator both ask here, so they
//! read the same numbers.

use std::time::{Duration, UNIX_EPOCH};

use tailstore::{Selector, Store};

use crate::condition::Metric;

/// The gauges a metric reads by default, preferred first (a container's own
/// figures before the process's).
fn defaults(metric: Metric) -> &'static [&'static str] {
    match metric {
        Metric::CpuPercent => &["container_cpu_percent", "process_cpu_percent"],
        Metric::MemoryMb | Metric::MemoryGrowthPctPerHour => {
            &["container_memory_usage_bytes", "process_resident_memory_bytes"]
        }
        _ => &[],
    }
}

/// The gauge `metric` reads for a rule whose `series:` is `series`, among
/// the store's `gauges`: the gauge named `series` when there is one, else
/// the first default the store holds; `None` when it holds none (the
/// metric then has no data).
pub(crate) fn gauge_for(gauges: &[String], series: &str, metric: Metric) -> Option<String> {
    if gauges.iter().any(|g| g == series) {
        return Some(series.to_owned());
    }
    defaults(metric).iter().find(|d| gauges.iter().any(|g| g == *d)).map(|d| (*d).to_owned())
}

/// `metric` from gauge `name` over `[t − window_s, t)`: the mean (CPU), the
/// last value in MiB (memory) or the growth per hour; `None` without data
/// or when the store refuses the query.
pub(crate) fn value(
    store: &Store,
    name: &str,
    metric: Metric,
    window_s: u64,
    t: u64,
) -> Option<f64> {
    let st = store
        .gauge_query(Selector::exact(name))
        .between(
            UNIX_EPOCH + Duration::from_secs(t.saturating_sub(window_s)),
            UNIX_EPOCH + Duration::from_secs(t),
        )
        .run()
        .ok()?;
    match metric {
        Metric::CpuPercent => st.mean(),
        Metric::MemoryMb => st.last().map(|b| b / (1024.0 * 1024.0)),
        Metric::MemoryGrowthPctPerHour => st.growth_pct_per_hour(),
        _ => None,
    }
}
