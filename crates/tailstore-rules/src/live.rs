//! Live evaluation: the rules of a file evaluated on their own thread as a
//! store seals data, through the same condition code and [`Evaluator`] as
//! the backtest, delivering [`AlertEvent`]s as they happen.
//!
//! The store's seal passes call a [`Sink`] whose `sealed_through` records
//! the sealed bound and wakes the evaluator thread; the thread evaluates
//! every tick `t = start + k·interval` with `t ≤ bound` (so each window
//! `[t − w, t)` is sealed), one store query per window of a rule, and never
//! runs on the clock thread.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use tailstore::{Interval, Selector, Sink, Store, WindowStats};

use crate::condition::{Measure, Metric, WindowSource};
use crate::error::Error;
use crate::file::{Rule, Rules};
use crate::state::{AlertState, Evaluator, Transition};

/// One state change of one alert instance, as the live evaluator saw it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AlertEvent {
    /// The rule's name.
    pub rule: String,
    /// The rule's labels and `series` (as in [`crate::Episode::labels`]).
    pub labels: BTreeMap<String, String>,
    /// The instance's state after this event.
    pub state: AlertState,
    /// What changed (a [`Transition::Reset`] and a
    /// [`Transition::Resolved`] both leave the instance inactive).
    pub transition: Transition,
    /// The condition's value at `at` (its first comparison), if it had one.
    pub value: Option<f64>,
    /// The evaluation time, unix seconds (data time).
    pub at: u64,
    /// When the episode fired (`at` of its [`Transition::Firing`]), if it did.
    pub firing_at: Option<u64>,
    /// Every annotation rendered with `value` and `labels`.
    pub annotations: BTreeMap<String, String>,
}

/// The current state of one alert instance ([`LiveEvaluator::states`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct InstanceState {
    /// The rule's name.
    pub rule: String,
    /// The rule's labels and `series`.
    pub labels: BTreeMap<String, String>,
    /// Inactive, pending or firing.
    pub state: AlertState,
    /// When the current episode went pending (`None` when inactive).
    pub pending_at: Option<u64>,
    /// When it fired (`None` unless firing).
    pub firing_at: Option<u64>,
    /// The value at the last evaluation.
    pub value: Option<f64>,
    /// The last evaluation, unix seconds.
    pub evaluated_at: u64,
}

type Callback = Box<dyn FnMut(&AlertEvent) + Send>;

/// How a [`LiveEvaluator`] runs: where its first evaluation is and where
/// its events go.
///
/// ```
/// use std::sync::mpsc;
/// use tailstore_rules::LiveOptions;
///
/// let (tx, rx) = mpsc::channel();
/// let opts = LiveOptions::default().start_at(1_700_000_040).send_events(tx);
/// # drop((opts, rx));
/// ```
#[derive(Default)]
pub struct LiveOptions {
    start_s: Option<u64>,
    callbacks: Vec<Callback>,
    #[cfg(feature = "alertmanager")]
    alertmanager: Option<crate::alertmanager::AlertmanagerOptions>,
}

impl fmt::Debug for LiveOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LiveOptions");
        d.field("start_s", &self.start_s).field("callbacks", &self.callbacks.len());
        #[cfg(feature = "alertmanager")]
        d.field("alertmanager", &self.alertmanager);
        d.finish()
    }
}

impl LiveOptions {
    /// The first evaluation at `start_s` (unix seconds): every tick
    /// `start_s + k·interval` up to the sealed bound is evaluated, history
    /// included, as a backtest from `start_s` would. Without it, the first
    /// evaluation is the newest tick (a multiple of the interval) at or
    /// below the first sealed bound the evaluator sees: no history.
    #[must_use]
    pub fn start_at(mut self, start_s: u64) -> Self {
        self.start_s = Some(start_s);
        self
    }

    /// Calls `f` with every event, on the evaluator's thread, in evaluation
    /// order. A slow callback delays evaluation, never recording.
    #[must_use]
    pub fn on_event(mut self, f: impl FnMut(&AlertEvent) + Send + 'static) -> Self {
        self.callbacks.push(Box::new(f));
        self
    }

    /// Sends every event to `tx` (a receiver that went away is ignored).
    #[must_use]
    pub fn send_events(self, tx: mpsc::Sender<AlertEvent>) -> Self {
        self.on_event(move |e| {
            let _ = tx.send(e.clone());
        })
    }

    /// Also sends firing and resolved alerts to an Alertmanager, from a
    /// thread of its own (see [`crate::AlertmanagerOptions`]).
    #[cfg(feature = "alertmanager")]
    #[must_use]
    pub fn alertmanager(mut self, opts: crate::alertmanager::AlertmanagerOptions) -> Self {
        self.alertmanager = Some(opts);
        self
    }
}

/// What the sink and the evaluator thread share.
struct Shared {
    /// The newest sealed bound any seal pass reported (0: none yet).
    bound: AtomicU64,
    stop: AtomicBool,
    wake: Mutex<bool>,
    wake_cv: Condvar,
    /// The last evaluated tick (`None` before the first), and the states.
    progress: Mutex<Progress>,
    progress_cv: Condvar,
    evaluations: AtomicU64,
    query_errors: AtomicU64,
}

#[derive(Default)]
struct Progress {
    evaluated_through: Option<u64>,
    states: Vec<InstanceState>,
}

impl Shared {
    fn wake(&self) {
        *self.wake.lock() = true;
        self.wake_cv.notify_one();
    }
}

/// The store's hook: records the bound and wakes the evaluator. Holds the
/// shared state weakly (removed at stop; a seal pass under way may still
/// call it once, and then it does nothing).
struct Waker(Weak<Shared>);

impl Sink for Waker {
    fn sealed(&self, _series: &str, _interval: &Interval, _late: bool) {}

    fn sealed_through(&self, below: u64) {
        if let Some(s) = self.0.upgrade() {
            if s.bound.fetch_max(below, Relaxed) < below {
                s.wake();
            }
        }
    }
}

/// Counters of a running [`LiveEvaluator`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveStats {
    /// Ticks evaluated (every rule instance at one time).
    pub evaluations: u64,
    /// Store queries that failed (the instance's evaluation was skipped:
    /// nothing changed for it at that tick).
    pub query_errors: u64,
    /// Alertmanager posts that succeeded (0 without a sender).
    pub alertmanager_sent: u64,
    /// Alertmanager posts that failed after their retries.
    pub alertmanager_failed: u64,
    /// Notifications dropped because the sender's queue was full.
    pub alertmanager_dropped: u64,
}

/// Rules evaluated live over a store, on a thread of their own.
///
/// Start it with [`LiveEvaluator::start`]; dropping it (or
/// [`LiveEvaluator::stop`]) stops and joins its threads. It holds a
/// [`Store`] handle, so the store stays open while it runs.
pub struct LiveEvaluator {
    shared: Arc<Shared>,
    store: Store,
    sink: Arc<dyn Sink>,
    thread: Option<JoinHandle<()>>,
    #[cfg(feature = "alertmanager")]
    sender: Option<crate::alertmanager::Sender>,
}

impl fmt::Debug for LiveEvaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveEvaluator")
            .field("evaluated_through", &self.evaluated_through())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One alert instance of the live evaluator.
struct Instance {
    rule: usize,
    selector: Selector,
    labels: BTreeMap<String, String>,
    series: Option<String>,
    eval: Evaluator,
    firing_at: Option<u64>,
    value: Option<f64>,
    evaluated_at: u64,
}

impl LiveEvaluator {
    /// Attaches `rules` to `store` and starts evaluating them on a new
    /// thread (named `tailstore-rules`), as `opts` says.
    ///
    /// # Errors
    ///
    /// [`Error::Thread`] when a thread cannot be spawned.
    pub fn start(store: &Store, rules: Rules, opts: LiveOptions) -> Result<LiveEvaluator, Error> {
        let shared = Arc::new(Shared {
            bound: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: Mutex::new(false),
            wake_cv: Condvar::new(),
            progress: Mutex::new(Progress::default()),
            progress_cv: Condvar::new(),
            evaluations: AtomicU64::new(0),
            query_errors: AtomicU64::new(0),
        });
        let LiveOptions { start_s, callbacks, .. } = opts;
        #[cfg(feature = "alertmanager")]
        let (callbacks, sender) = {
            let mut callbacks = callbacks;
            let sender = match opts.alertmanager {
                Some(am) => {
                    let sender =
                        crate::alertmanager::Sender::start(am, rules.evaluation_interval_s())?;
                    let handle = sender.handle();
                    callbacks.push(Box::new(move |e| handle.notify(e)));
                    Some(sender)
                }
                None => None,
            };
            (callbacks, sender)
        };
        let mut worker = Worker {
            store: store.clone(),
            rules,
            shared: Arc::clone(&shared),
            next_s: start_s,
            instances: Vec::new(),
            callbacks,
        };
        let thread = std::thread::Builder::new()
            .name("tailstore-rules".into())
            .spawn(move || worker.run())
            .map_err(|source| Error::Thread { source })?;
        let sink: Arc<dyn Sink> = Arc::new(Waker(Arc::downgrade(&shared)));
        store.add_sink(Arc::clone(&sink));
        // A pass now reports the current bound (the clock thread's next one
        // would, within a tick).
        store.seal_now();
        Ok(LiveEvaluator {
            shared,
            store: store.clone(),
            sink,
            thread: Some(thread),
            #[cfg(feature = "alertmanager")]
            sender,
        })
    }

    /// The current state of every instance (instances of a `group_by:
    /// series` rule appear as their series do), in rule order.
    #[must_use]
    pub fn states(&self) -> Vec<InstanceState> {
        self.shared.progress.lock().states.clone()
    }

    /// The last tick evaluated, unix seconds (`None` before the first).
    #[must_use]
    pub fn evaluated_through(&self) -> Option<u64> {
        self.shared.progress.lock().evaluated_through
    }

    /// Waits until the tick at or after `t_s` has been evaluated, or for
    /// `timeout`; true when it was.
    #[must_use]
    pub fn wait_evaluated(&self, t_s: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut p = self.shared.progress.lock();
        loop {
            if p.evaluated_through.is_some_and(|e| e >= t_s) {
                return true;
            }
            if self.shared.progress_cv.wait_until(&mut p, deadline).timed_out() {
                return p.evaluated_through.is_some_and(|e| e >= t_s);
            }
        }
    }

    /// Counters: evaluations, query errors and the Alertmanager sender's.
    #[must_use]
    pub fn stats(&self) -> LiveStats {
        #[cfg_attr(
            not(feature = "alertmanager"),
            expect(unused_mut, reason = "set with the feature")
        )]
        let mut s = LiveStats {
            evaluations: self.shared.evaluations.load(Relaxed),
            query_errors: self.shared.query_errors.load(Relaxed),
            ..LiveStats::default()
        };
        #[cfg(feature = "alertmanager")]
        if let Some(sender) = &self.sender {
            let c = sender.counters();
            (s.alertmanager_sent, s.alertmanager_failed, s.alertmanager_dropped) =
                (c.sent, c.failed, c.dropped);
        }
        s
    }

    /// Stops evaluating and joins the evaluator thread (it finishes the
    /// tick under way: at most one evaluation of every rule), then stops
    /// the Alertmanager sender (which may make one last post of what was
    /// queued, bounded by its timeout). Idempotent; also done on drop.
    pub fn stop(&mut self) {
        self.store.remove_sink(&self.sink);
        self.shared.stop.store(true, Relaxed);
        self.shared.wake();
        if let Some(t) = self.thread.take() {
            // A panic of the evaluator thread (a callback's) already
            // reached stderr; there is nothing more to report here.
            let _ = t.join();
        }
        #[cfg(feature = "alertmanager")]
        if let Some(s) = self.sender.as_mut() {
            s.stop();
        }
    }
}

impl Drop for LiveEvaluator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The evaluator thread's state.
struct Worker {
    store: Store,
    rules: Rules,
    shared: Arc<Shared>,
    /// The next tick to evaluate (`None`: not chosen yet).
    next_s: Option<u64>,
    instances: Vec<Instance>,
    callbacks: Vec<Callback>,
}

/// How long the evaluator sleeps without a wake-up before it looks again
/// (a lost wake-up costs at most this).
const IDLE_WAIT: Duration = Duration::from_secs(1);

impl Worker {
    fn run(&mut self) {
        let interval = self.rules.evaluation_interval_s().max(1);
        loop {
            {
                let mut woken = self.shared.wake.lock();
                if !*woken && !self.shared.stop.load(Relaxed) {
                    let _ = self.shared.wake_cv.wait_for(&mut woken, IDLE_WAIT);
                }
                *woken = false;
            }
            if self.shared.stop.load(Relaxed) {
                return;
            }
            let bound = self.shared.bound.load(Relaxed);
            if bound == 0 {
                continue;
            }
            let mut t = *self.next_s.get_or_insert(bound - bound % interval);
            while t <= bound && !self.shared.stop.load(Relaxed) {
                self.evaluate(t);
                t += interval;
                self.next_s = Some(t);
            }
        }
    }

    /// Brings the instances up to date with the store's series.
    fn refresh_instances(&mut self) {
        let names = self.store.series_names();
        for (ri, rule) in self.rules.rules().iter().enumerate() {
            if rule.per_series {
                for n in names.iter().filter(|n| rule.series.selector.matches(n)) {
                    let known = self
                        .instances
                        .iter()
                        .any(|i| i.rule == ri && i.series.as_deref() == Some(n.as_str()));
                    if !known {
                        self.instances.push(instance(ri, rule, Selector::exact(n.as_str()), n));
                    }
                }
            } else if !self.instances.iter().any(|i| i.rule == ri) {
                let mut inst = instance(ri, rule, rule.series.selector.clone(), &rule.series.text);
                inst.series = None;
                self.instances.push(inst);
            }
        }
        // Rule order, then series order: what `states` lists.
        self.instances.sort_by(|a, b| (a.rule, &a.series).cmp(&(b.rule, &b.series)));
    }

    fn evaluate(&mut self, t: u64) {
        self.refresh_instances();
        let mut events = Vec::new();
        for inst in &mut self.instances {
            let Some(rule) = self.rules.rules().get(inst.rule) else { continue };
            let Some(windows) = query_windows(&self.store, rule, &inst.selector, t) else {
                self.shared.query_errors.fetch_add(1, Relaxed);
                continue;
            };
            let refs: Vec<(u64, &dyn WindowSource)> =
                windows.iter().map(|(l, w)| (*l, w as &dyn WindowSource)).collect();
            let (truth, value) = rule.condition.evaluate_windows(&refs);
            inst.value = value;
            inst.evaluated_at = t;
            for e in inst.eval.step(t, truth, value) {
                match e.transition {
                    Transition::Firing => inst.firing_at = Some(t),
                    Transition::Pending | Transition::Reset => inst.firing_at = None,
                    Transition::Resolved => {}
                }
                events.push(AlertEvent {
                    rule: rule.name.clone(),
                    labels: inst.labels.clone(),
                    state: match e.transition {
                        Transition::Pending => AlertState::Pending,
                        Transition::Firing => AlertState::Firing,
                        Transition::Resolved | Transition::Reset => AlertState::Inactive,
                    },
                    transition: e.transition,
                    value: e.value,
                    at: t,
                    firing_at: inst.firing_at,
                    annotations: rule.annotations(e.value, &inst.labels),
                });
                if e.transition == Transition::Resolved {
                    inst.firing_at = None;
                }
            }
        }
        for e in &events {
            for cb in &mut self.callbacks {
                cb(e);
            }
        }
        let states = self
            .instances
            .iter()
            .filter_map(|i| {
                let rule = self.rules.rules().get(i.rule)?;
                let state = i.eval.state();
                Some(InstanceState {
                    rule: rule.name.clone(),
                    labels: i.labels.clone(),
                    state,
                    pending_at: (state != AlertState::Inactive).then(|| i.eval.pending_at()),
                    firing_at: i.firing_at,
                    value: i.value,
                    evaluated_at: i.evaluated_at,
                })
            })
            .collect();
        self.shared.evaluations.fetch_add(1, Relaxed);
        let mut p = self.shared.progress.lock();
        p.states = states;
        p.evaluated_through = Some(t);
        self.shared.progress_cv.notify_all();
    }
}

fn instance(ri: usize, rule: &Rule, selector: Selector, series: &str) -> Instance {
    Instance {
        rule: ri,
        selector,
        labels: rule.instance_labels(series),
        series: Some(series.to_string()),
        eval: Evaluator::new(rule.for_s, rule.keep_firing_for_s, rule.no_data),
        firing_at: None,
        value: None,
        evaluated_at: 0,
    }
}

/// Every window the rule's condition reads, ending at `t`: one query each.
/// `None` when the store refuses one.
/// One window's answer for a live evaluation: the request statistics and
/// the values of the gauge metrics the rule reads over it.
struct LiveWindow {
    stats: WindowStats,
    gauges: Vec<(Metric, Option<f64>)>,
}

impl WindowSource for LiveWindow {
    fn window_s(&self) -> u64 {
        WindowSource::window_s(&self.stats)
    }
    fn requests(&self) -> u64 {
        WindowSource::requests(&self.stats)
    }
    fn errors(&self) -> u64 {
        WindowSource::errors(&self.stats)
    }
    fn latency_count(&self) -> u64 {
        WindowSource::latency_count(&self.stats)
    }
    fn quantile_s(&self, q: f64) -> Option<f64> {
        WindowSource::quantile_s(&self.stats, q)
    }
    fn count_at_most(&self, ns: u64) -> u64 {
        WindowSource::count_at_most(&self.stats, ns)
    }
    fn gauge(&self, metric: Metric) -> Option<f64> {
        self.gauges.iter().find(|(m, _)| *m == metric).and_then(|(_, v)| *v)
    }
}

fn query_windows(
    store: &Store,
    rule: &Rule,
    selector: &Selector,
    t: u64,
) -> Option<Vec<(u64, LiveWindow)>> {
    let gauge_metrics: Vec<(u64, Metric)> = rule
        .condition
        .compares()
        .filter_map(|c| match c.measure {
            Measure::Metric(m) if m.is_gauge() => Some((c.window_s, m)),
            _ => None,
        })
        .collect();
    let gauge_names = if gauge_metrics.is_empty() { Vec::new() } else { store.gauge_names() };
    rule.condition
        .windows_s()
        .into_iter()
        .map(|len| {
            let mut q = store.query(selector.clone());
            if let Some(e) = &rule.errors {
                q = q.errors(e.clone());
            }
            let stats = q
                .last(Duration::from_secs(len))
                .ending_at(UNIX_EPOCH + Duration::from_secs(t))
                .run()
                .ok()?;
            let gauges = gauge_metrics
                .iter()
                .filter(|(w, _)| *w == len)
                .map(|&(w, m)| {
                    let g = crate::gauges::gauge_for(&gauge_names, &rule.series.text, m);
                    (m, g.and_then(|g| crate::gauges::value(store, &g, m, w, t)))
                })
                .collect();
            Some((len, LiveWindow { stats, gauges }))
        })
        .collect()
}
