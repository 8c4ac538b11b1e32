//! The Alertmanager sender of a live evaluator: firing and resolved alerts
//! posted to `/api/v2/alerts` from a thread of its own, fed through a
//! bounded queue that drops its oldest notification when full, so a slow
//! or absent Alertmanager never blocks evaluation (nor, a fortiori,
//! recording).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::error::Error;
use crate::live::AlertEvent;
use crate::state::Transition;

/// Where and how a live evaluator sends alerts to an Alertmanager
/// ([`crate::LiveOptions::alertmanager`]).
///
/// ```
/// use std::time::Duration;
/// use tailstore_rules::AlertmanagerOptions;
///
/// let am = AlertmanagerOptions::new("http://127.0.0.1:9093")
///     .resend_every(Duration::from_secs(60))
///     .timeout(Duration::from_secs(5))
///     .retries(3);
/// # drop(am);
/// ```
#[derive(Clone, Debug)]
pub struct AlertmanagerOptions {
    url: String,
    resend_every: Duration,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    queue_capacity: usize,
    generator_url: Option<String>,
}

impl AlertmanagerOptions {
    /// An Alertmanager at `base_url` (`http://host:port`, optionally with a
    /// path prefix; alerts go to `{base_url}/api/v2/alerts`). Defaults:
    /// firing alerts re-sent every minute, 10 s timeout per attempt, 3
    /// retries 250 ms apart (doubling), a queue of 1024 notifications.
    #[must_use]
    pub fn new(base_url: impl Into<String>) -> AlertmanagerOptions {
        AlertmanagerOptions {
            url: base_url.into(),
            resend_every: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(250),
            queue_capacity: 1024,
            generator_url: None,
        }
    }

    /// How often every firing alert is posted again (Alertmanager expires
    /// an alert that is not re-sent; default one minute).
    #[must_use]
    pub fn resend_every(mut self, d: Duration) -> Self {
        self.resend_every = d.max(Duration::from_millis(10));
        self
    }

    /// The bound on one attempt: connecting, sending and reading the answer.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Attempts after a failed one (connection refused, timeout, 5xx), each
    /// after a pause that doubles from [`AlertmanagerOptions::backoff`].
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// The pause before the first retry (default 250 ms).
    #[must_use]
    pub fn backoff(mut self, d: Duration) -> Self {
        self.backoff = d;
        self
    }

    /// Notifications waiting for the sender thread; when full, the oldest
    /// is dropped and counted ([`crate::LiveStats::alertmanager_dropped`]).
    #[must_use]
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    /// The `generatorURL` every alert carries (a link back to its source).
    #[must_use]
    pub fn generator_url(mut self, url: impl Into<String>) -> Self {
        self.generator_url = Some(url.into());
        self
    }
}

/// One alert as Alertmanager sees it.
#[derive(Clone, Debug, PartialEq)]
struct AmAlert {
    /// `alertname` (the rule) and the instance's labels.
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// The firing evaluation, unix seconds (data time).
    starts_at: u64,
    /// The resolving evaluation, for a resolved alert.
    ends_at: Option<u64>,
}

/// The sender's counters.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
}

struct Shared {
    queue: Mutex<VecDeque<AmAlert>>,
    cv: Condvar,
    capacity: usize,
    stop: AtomicBool,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// What the evaluator's callback holds: pushes notifications, never waits
/// for the network.
pub(crate) struct Handle(Arc<Shared>);

impl Handle {
    /// Queues a firing or resolved alert (other transitions are not
    /// Alertmanager's business).
    pub(crate) fn notify(&self, e: &AlertEvent) {
        let ends_at = match e.transition {
            Transition::Firing => None,
            Transition::Resolved => Some(e.at),
            Transition::Pending | Transition::Reset => return,
        };
        let mut labels = e.labels.clone();
        labels.insert("alertname".into(), e.rule.clone());
        let alert = AmAlert {
            labels,
            annotations: e.annotations.clone(),
            starts_at: e.firing_at.unwrap_or(e.at),
            ends_at,
        };
        let mut q = self.0.queue.lock();
        if q.len() >= self.0.capacity {
            q.pop_front();
            self.0.dropped.fetch_add(1, Relaxed);
        }
        q.push_back(alert);
        drop(q);
        self.0.cv.notify_one();
    }
}

/// The sender thread and its queue.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts the sender thread (`tailstore-alertmanager`).
    pub(crate) fn start(opts: AlertmanagerOptions, interval_s: u64) -> Result<Sender, Error> {
        if !opts.url.starts_with("http://") {
            return Err(Error::Alertmanager {
                reason: format!("the URL {:?} is not http://host:port (no TLS)", opts.url),
            });
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            capacity: opts.queue_capacity,
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        // Direct connections: no proxy from the environment.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .proxy(None)
            .build()
            .into();
        // Alertmanager expires a firing alert at `endsAt`: four resends
        // (or evaluations) ahead, as Prometheus does.
        let hold = 4 * opts.resend_every.max(Duration::from_secs(interval_s));
        let mut worker = Worker {
            url: format!("{}/api/v2/alerts", opts.url.trim_end_matches('/')),
            opts,
            agent,
            shared: Arc::clone(&shared),
            firing: BTreeMap::new(),
            unsent_resolved: Vec::new(),
            hold,
        };
        let thread = std::thread::Builder::new()
            .name("tailstore-alertmanager".into())
            .spawn(move || worker.run())
            .map_err(|source| Error::Thread { source })?;
        Ok(Sender { shared, thread: Some(thread) })
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle(Arc::clone(&self.shared))
    }

    pub(crate) fn counters(&self) -> Counters {
        Counters {
            sent: self.shared.sent.load(Relaxed),
            failed: self.shared.failed.load(Relaxed),
            dropped: self.shared.dropped.load(Relaxed),
        }
    }

    /// Stops the thread after one last attempt (no retries) at what is
    /// queued, and joins it: bounded by the attempt's timeout.
    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        self.shared.cv.notify_one();
        if let Some(t) = self.thread.take() {
            // A panic there already reached stderr.
            let _ = t.join();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    opts: AlertmanagerOptions,
    url: String,
    agent: ureq::Agent,
    shared: Arc<Shared>,
    /// Firing alerts by labels: re-sent every `resend_every`.
    firing: BTreeMap<BTreeMap<String, String>, AmAlert>,
    /// Resolved alerts whose post failed: they go with the next one.
    unsent_resolved: Vec<AmAlert>,
    /// How far ahead of now a firing alert's `endsAt` is.
    hold: Duration,
}

impl Worker {
    fn run(&mut self) {
        let mut next_resend = Instant::now() + self.opts.resend_every;
        loop {
            let fresh: Vec<AmAlert> = {
                let mut q = self.shared.queue.lock();
                if q.is_empty() && !self.shared.stop.load(Relaxed) {
                    let _ = self.shared.cv.wait_until(&mut q, next_resend);
                }
                q.drain(..).collect()
            };
            let stopping = self.shared.stop.load(Relaxed);
            let mut batch = std::mem::take(&mut self.unsent_resolved);
            for a in fresh {
                if a.ends_at.is_some() {
                    self.firing.remove(&a.labels);
                } else {
                    self.firing.insert(a.labels.clone(), a.clone());
                }
                batch.push(a);
            }
            let now = Instant::now();
            if now >= next_resend {
                next_resend = now + self.opts.resend_every;
                // Every firing alert, once (fresh ones are in `firing` too).
                batch.retain(|a| a.ends_at.is_some());
                batch.extend(self.firing.values().cloned());
            }
            if !batch.is_empty() {
                let tries = if stopping { 0 } else { self.opts.retries };
                if self.post(&batch, tries) {
                    self.shared.sent.fetch_add(1, Relaxed);
                } else {
                    self.shared.failed.fetch_add(1, Relaxed);
                    // Firing alerts go again with the next resend; resolved
                    // ones only if kept (bounded like the queue).
                    self.unsent_resolved =
                        batch.into_iter().filter(|a| a.ends_at.is_some()).collect();
                    let excess =
                        self.unsent_resolved.len().saturating_sub(self.opts.queue_capacity);
                    self.unsent_resolved.drain(..excess);
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Posts `alerts`, retrying `tries` times; true when one attempt got 2xx.
    fn post(&self, alerts: &[AmAlert], tries: u32) -> bool {
        let body = self.body(alerts);
        let mut pause = self.opts.backoff;
        for attempt in 0..=tries {
            if attempt > 0 {
                if self.shared.stop.load(Relaxed) {
                    return false;
                }
                self.pause(pause);
                pause = pause.saturating_mul(2);
            }
            match self
                .agent
                .post(&self.url)
                .header("Content-Type", "application/json")
                .send(body.as_str())
            {
                Ok(_) => return true,
                // Alertmanager refused the alerts themselves: no retry helps.
                Err(ureq::Error::StatusCode(code)) if (400..500).contains(&code) => return false,
                Err(_) => {}
            }
        }
        false
    }

    /// Sleeps for `d`, or until the sender is stopped.
    fn pause(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut q = self.shared.queue.lock();
        while !self.shared.stop.load(Relaxed) {
            if self.shared.cv.wait_until(&mut q, deadline).timed_out() {
                return;
            }
        }
    }

    fn body(&self, alerts: &[AmAlert]) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let hold = self.hold.as_secs().max(1);
        let items: Vec<serde_json::Value> = alerts
            .iter()
            .map(|a| {
                let ends = a.ends_at.unwrap_or_else(|| now.max(a.starts_at) + hold);
                let mut o = serde_json::json!({
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(ends),
                });
                if let (Some(g), Some(m)) = (&self.opts.generator_url, o.as_object_mut()) {
                    m.insert("generatorURL".into(), serde_json::Value::String(g.clone()));
                }
                o
            })
            .collect();
        serde_json::Value::Array(items).to_string()
    }
}

/// Unix second `s` as RFC 3339 in UTC (`2023-11-14T22:13:20Z`).
fn rfc3339(s: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::AlertState;

    fn event(rule: &str, transition: Transition, at: u64) -> AlertEvent {
        AlertEvent {
            rule: rule.into(),
            labels: BTreeMap::from([("series".into(), "/a".into())]),
            state: AlertState::Firing,
            transition,
            value: Some(1.0),
            at,
            firing_at: Some(at),
            annotations: BTreeMap::new(),
        }
    }

    /// A full queue drops its oldest notification and counts it; pending
    /// and reset transitions are not queued at all.
    #[test]
    fn full_queue_drops_the_oldest() {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            capacity: 2,
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let h = Handle(Arc::clone(&shared));
        h.notify(&event("p", Transition::Pending, 1));
        h.notify(&event("a", Transition::Firing, 2));
        h.notify(&event("b", Transition::Firing, 3));
        h.notify(&event("r", Transition::Reset, 4));
        h.notify(&event("a", Transition::Resolved, 5));
        let q = shared.queue.lock();
        let got: Vec<(&str, u64, Option<u64>)> =
            q.iter().map(|a| (a.labels["alertname"].as_str(), a.starts_at, a.ends_at)).collect();
        assert_eq!(got, [("b", 3, None), ("a", 5, Some(5))]);
        assert_eq!(shared.dropped.load(Relaxed), 1);
    }

    #[test]
    fn rfc3339_is_utc_seconds() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
