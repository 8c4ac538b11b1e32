//! `tailstore-rules`: alert rules and SLOs over a [`tailstore::Store`].
//!
//! Load a rule file ([`Rules::from_yaml`], [`Rules::from_path`]), then
//! [`backtest`] it over stored history, report the SLOs ([`slo_report`]),
//! or evaluate it live as the store records ([`LiveEvaluator`], with an
//! optional Alertmanager sender). Live and backtest share the conditions
//! and the [`Evaluator`], so they give the same episodes.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tailstore::{Options, Store};
//! use tailstore_rules::{backtest, Rules};
//!
//! let rules = Rules::from_yaml(
//!     "rules:
//!        - name: High Error Rate
//!          series: '/models/.*'
//!          condition: error_rate[1m] > 5
//!          for: 2m
//!          annotations: { description: 'Error rate is {{ $value }}%' }",
//! )?;
//! let store = Store::in_memory(Options::default().keep_everything());
//! let s = store.series("/models/a");
//! let t0 = 1_700_000_000; // a whole minute
//! for sec in 0..600 {
//!     // 10 requests a second; minutes 3 to 6 fail one in five.
//!     let failing = (180..420).contains(&sec);
//!     for i in 0..10 {
//!         let status = if failing && i % 5 == 0 { 503 } else { 200 };
//!         s.record_at(UNIX_EPOCH + Duration::from_secs(t0 + sec), Duration::from_millis(20), status);
//!     }
//! }
//! store.flush()?;
//! let bt = backtest(&store, &rules, t0, t0 + 600)?;
//! assert_eq!(bt.episodes.len(), 1);
//! let e = &bt.episodes[0];
//! // True from the evaluation at 4m (window [3m, 4m)); fires at 6m; false at 8m.
//! assert_eq!((e.pending_at, e.firing_at, e.resolved_at), (t0 + 240, Some(t0 + 360), Some(t0 + 480)));
//! assert_eq!(e.description, "Error rate is 20.00%");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rule files
//!
//! ```yaml
//! evaluation_interval: 1m        # default 1m
//! rules:
//!   - name: High Error Rate
//!     series: '/models/.*'       # regex (anchored) or exact name; default all
//!     condition: error_rate > 5  # METRIC[WINDOW] OP NUMBER, joined by `and` / `or`
//!     for: 5m                    # default 0: fires at the first true evaluation
//!     keep_firing_for: 0s        # default 0
//!     group_by: series           # one instance per matching series; default merged
//!     no_data: ok                # ok (default) | alerting | keep_state
//!     errors: '5xx|429'          # optional error set; default the store's
//!     labels: { severity: critical }
//!     annotations:
//!       summary: "Model endpoint error rate above 5%"
//!       description: "Error rate is {{ $value }}% on {{ $labels.series }}"
//! slos:
//!   - name: availability
//!     series: '/models/.*'
//!     objective: 99.9            # percent of good requests
//!     sli: availability          # or `latency < 500ms`
//!     period: 30d                # whole hours
//!     min_requests: 100          # guard for the burn-rate alerts; default 0
//!     errors: 5xx                # optional error set (availability); default the store's
//! ```
//!
//! A `series:` with one of `\ ^ $ * + ? ( ) [ ] { } |` is an anchored regex;
//! otherwise it is an exact name (a `.` alone does not make a regex).
//! Durations are `<integer><unit>` terms, units `ms s m h d w` (`1h30m`).
//!
//! Metrics, each over a window (default `[5m]`), in the guide's units:
//! `error_rate` (% of requests in the error set), `latency_p50`, `latency_p95`,
//! `latency_p99`, `latency_p999` (seconds), `request_rate` (req/s),
//! `requests_per_min`, `requests` (count); and over gauges: `cpu_percent`
//! (the mean of `container_cpu_percent`, else `process_cpu_percent`),
//! `memory_mb` (the last value of `container_memory_usage_bytes`, else
//! `process_resident_memory_bytes`, in MiB) and `memory_growth_pct_per_hour`
//! (that gauge's robust growth, `GaugeStats::growth_pct_per_hour`). A rule
//! whose `series:` names a gauge the store holds reads that gauge instead;
//! without one, a gauge metric has no data (the rule's `no_data` policy).
//!
//! A bad file is an [`Error::Rules`] naming the file, the line and (for
//! errors found while reading a field) the column, and what is wrong.
//! Templates: `{{ $value }}` (the value formatted in its unit's decimals:
//! `7.31` %, `2.153` s) and `{{ $labels.NAME }}` of the rule's labels or
//! `series`; any other placeholder is an error.
//!
//! # Semantics
//!
//! * **Evaluation.** At `t = start + k·interval`, each comparison reads the
//!   window `[t − w, t)` in data time (whole seconds). An empty window gives
//!   `request_rate`, `requests_per_min` and `requests` the value 0 (so a
//!   low-traffic rule fires on silence); ratios, latencies and burn rates
//!   have no value. A comparison without a value is *no data*; `and`/`or`
//!   follow Kleene's logic (`false and no-data` is false, `true or no-data`
//!   is true). A condition that is no data follows the rule's `no_data`:
//!   `ok` counts it false, `alerting` true, `keep_state` skips the
//!   evaluation (nothing changes).
//! * **Value.** `$value` and an episode's value are the first comparison's.
//! * **States.** Inactive → *pending* at the first true evaluation
//!   (`pending_at = t`). Pending → *firing* at the first evaluation with
//!   `t − pending_at ≥ for` while true at every evaluation since (so `for:
//!   0` fires at once). Pending and false → inactive (the episode *resets*
//!   and never fired). Firing and false → *resolved* at the first false
//!   evaluation `t` with `t − f ≥ keep_firing_for`, where `f` is the first
//!   of the false evaluations in a row (a true one in between starts over;
//!   with `keep_firing_for: 0` the first false evaluation resolves).
//! * **Instances.** A merged rule has one instance over the selection
//!   (label `series` = the selector as written); `group_by: series` has one
//!   per series the selector matches in the store. Every instance starts
//!   inactive at the backtest's start.
//! * **SLOs.** Availability: good = status not in the error set, total =
//!   requests. Latency `< X`: good = requests with a latency of at most X,
//!   counted from the histogram (every such request, plus those in X's own
//!   bucket above X: at most 0.098 % slower at the default 3 digits), total
//!   = requests with a latency. Each SLO adds four alerts, burn rate
//!   `bad/total ÷ (1 − objective)` above the factor over both windows
//!   (page: 14.4× over 1h and 5m, 6× over 6h and 30m; ticket: 3× over 1d
//!   and 2h, 1× over 3d and 6h), and `requests[long] ≥ min_requests` when
//!   set; labels `slo`, `severity`; `for: 0`.
//!
//! # Live evaluation
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use tailstore::{Options, Store};
//! use tailstore_rules::{LiveEvaluator, LiveOptions, Rules, Transition};
//!
//! let store = Store::in_memory(Options::default());
//! let rules = Rules::from_yaml(
//!     "rules: [{ name: Errors, condition: 'error_rate[1m] > 5', for: 1m }]",
//! )?;
//! let (tx, rx) = mpsc::channel();
//! let live = LiveEvaluator::start(&store, rules, LiveOptions::default().send_events(tx))?;
//! let s = store.series("/models/a");
//! s.record(Duration::from_millis(30), 503); // a model server records as it serves
//! // ... events arrive on `rx` as the store seals data; states at any time:
//! for st in live.states() {
//!     println!("{} {:?} {:?}", st.rule, st.labels, st.state);
//! }
//! # drop(rx);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * **When.** The store's seal passes (its clock thread, `seal_now`,
//!   `flush`) report the sealed bound to a [`tailstore::Sink`] that the
//!   evaluator registers; the bound wakes the evaluator's own thread
//!   (`tailstore-rules`, never the clock thread), which evaluates every
//!   tick `t = start + k·interval` with `t ≤ bound`, in order, so every
//!   window `[t − w, t)` it reads is sealed. The bound follows data time:
//!   a live store's moves with the wall clock (also when no request comes,
//!   so a low-traffic rule fires on silence), a replay's with the replayed
//!   timestamps. Ticks are multiples of the interval from
//!   [`LiveOptions::start_at`] (history included, as a backtest from there),
//!   or else from the newest tick under the first bound seen. A late
//!   sample that arrives after its tick was evaluated does not change that
//!   evaluation.
//! * **What.** Each tick runs the semantics below for every instance: one
//!   `Store::query(..).last(w).ending_at(t)` per window of the condition,
//!   then [`Condition::evaluate_windows`] and the instance's
//!   [`Evaluator`]. A `group_by: series` rule gains an instance when a
//!   matching series appears (inactive until its first true evaluation).
//!   A store query that fails skips that instance's tick (counted in
//!   [`LiveStats::query_errors`]).
//! * **Events.** Every transition is an [`AlertEvent`] (`rule`, `labels`,
//!   `state`, `transition`, `value`, `at`, `firing_at`, `annotations`)
//!   given to each [`LiveOptions::on_event`] callback (or channel,
//!   [`LiveOptions::send_events`]) on the evaluator's thread, in tick
//!   order; a slow callback delays evaluation, never recording.
//!   [`LiveEvaluator::states`] reads the instances' states after the last
//!   tick at any time; [`LiveEvaluator::wait_evaluated`] waits for a tick.
//! * **Stop.** Dropping the evaluator (or [`LiveEvaluator::stop`])
//!   unregisters its sink, lets the tick under way finish (at most one
//!   evaluation of every instance: a long catch-up stops between ticks) and
//!   joins the thread; then the Alertmanager sender makes one last attempt,
//!   without retries, at what it has queued (bounded by its timeout) and
//!   is joined. The evaluator holds a store handle: the store closes when
//!   both are dropped.
//!
//! # Alertmanager (feature `alertmanager`, on by default)
//!
//! [`LiveOptions::alertmanager`] adds a sender thread
//! (`tailstore-alertmanager`) that posts to `{url}/api/v2/alerts` a JSON
//! array of `{labels, annotations, startsAt, endsAt, generatorURL}`; the
//! labels are the instance's plus `alertname` = the rule. A firing alert
//! is posted at once with `startsAt` = its firing tick and `endsAt` = now +
//! 4 × max(resend interval, evaluation interval) (Alertmanager expires it
//! then unless it is re-sent), and re-posted every
//! [`AlertmanagerOptions::resend_every`] (default 1 min) while it fires; a
//! resolved alert is posted once with `endsAt` = its resolving tick.
//! Pending and reset transitions are not sent. Times are data time; the
//! client is blocking, plain HTTP, with no proxy.
//!
//! When Alertmanager is slow, down or answers 5xx: each attempt is bounded
//! by [`AlertmanagerOptions::timeout`] (default 10 s) and retried
//! [`AlertmanagerOptions::retries`] times (default 3, pauses of 250 ms
//! doubling); a 4xx is not retried. A post that still fails is counted
//! ([`LiveStats::alertmanager_failed`]); its firing alerts go again with
//! the next resend and its resolved ones with the next post. None of this
//! happens on the evaluator's thread: the evaluator only pushes to a
//! bounded queue ([`AlertmanagerOptions::queue_capacity`], default 1024)
//! that drops its oldest notification when full and counts it
//! ([`LiveStats::alertmanager_dropped`]). Recording never touches any of
//! it.
//!
//! Without the feature the crate has no HTTP client and no
//! `AlertmanagerOptions`. The feature `real-alertmanager` only turns on the
//! test group that starts Debian's `prometheus-alertmanager`.
//!
//! # Panics and precision
//!
//! Nothing here panics on data or on a rule file. Latency quantiles are the
//! store's (within 0.049 % at 3 digits); counts and rates are exact.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alertmanager")]
mod alertmanager;
mod backtest;
mod condition;
mod duration;
mod error;
mod file;
mod gauges;
mod live;
mod slo;
mod state;
mod template;

#[cfg(feature = "alertmanager")]
pub use alertmanager::AlertmanagerOptions;
pub use backtest::{backtest, Backtest, Episode, RuleSummary};
pub use condition::{Condition, Metric, Sli, Truth, WindowSource, DEFAULT_WINDOW_S};
pub use error::Error;
pub use file::{Rule, Rules, Slo, DEFAULT_INTERVAL_S};
pub use live::{AlertEvent, InstanceState, LiveEvaluator, LiveOptions, LiveStats};
pub use slo::{slo_report, SloStatus, BURN_ALERTS, BURN_WINDOWS_S};
pub use state::{AlertState, Evaluator, NoData, StateEvent, Transition};
