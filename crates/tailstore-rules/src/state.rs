//! The alert state machine of one alert instance (a rule, or a rule and one
//! series): a pure function of (truth at `t`, previous state) → state and
//! events, shared by the backtest and a live evaluator.

use crate::condition::Truth;

/// What a rule does when its condition has no data (see [`Truth::NoData`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoData {
    /// `ok` (default): no data counts as false (a pending alert resets, a
    /// firing one resolves).
    #[default]
    Ok,
    /// `alerting`: no data counts as true.
    Alerting,
    /// `keep_state`: the evaluation is skipped; nothing changes, and it
    /// does not break the run of true evaluations a pending alert needs.
    KeepState,
}

/// The state of an alert instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertState {
    /// Not active.
    Inactive,
    /// The condition holds, for less than `for` so far.
    Pending,
    /// The condition has held for `for`, and has not been false for
    /// `keep_firing_for` since.
    Firing,
}

/// A state change at one evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transition {
    /// Inactive → pending.
    Pending,
    /// Pending → firing.
    Firing,
    /// Firing → inactive: resolved.
    Resolved,
    /// Pending → inactive without firing.
    Reset,
}

/// One transition of an instance, with the time and value of that evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StateEvent {
    /// What changed.
    pub transition: Transition,
    /// Evaluation time, unix seconds.
    pub at: u64,
    /// The condition's value at `at` (its first comparison), if it had one.
    pub value: Option<f64>,
}

/// The state machine of one alert instance; feed it one evaluation at a
/// time, in increasing time order (see the crate docs for the semantics).
#[derive(Clone, Debug)]
pub struct Evaluator {
    for_s: u64,
    keep_firing_for_s: u64,
    no_data: NoData,
    state: AlertState,
    /// When the current episode went pending.
    pending_at: u64,
    /// First evaluation of the current run of false ones while firing.
    false_since: Option<u64>,
}

impl Evaluator {
    /// An inactive instance of a rule with these `for`, `keep_firing_for`
    /// (seconds) and no-data policy.
    #[must_use]
    pub fn new(for_s: u64, keep_firing_for_s: u64, no_data: NoData) -> Evaluator {
        Evaluator {
            for_s,
            keep_firing_for_s,
            no_data,
            state: AlertState::Inactive,
            pending_at: 0,
            false_since: None,
        }
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> AlertState {
        self.state
    }

    /// When the current episode went pending (meaningful unless inactive).
    #[must_use]
    pub fn pending_at(&self) -> u64 {
        self.pending_at
    }

    /// Takes the evaluation at `t` (after every earlier one) and returns the
    /// transitions it causes: none, one, or pending and firing together
    /// when `for` is 0.
    pub fn step(&mut self, t: u64, truth: Truth, value: Option<f64>) -> Vec<StateEvent> {
        let holds = match (truth, self.no_data) {
            (Truth::True, _) | (Truth::NoData, NoData::Alerting) => true,
            (Truth::False, _) | (Truth::NoData, NoData::Ok) => false,
            (Truth::NoData, NoData::KeepState) => return Vec::new(),
        };
        let ev = |transition| StateEvent { transition, at: t, value };
        let mut out = Vec::new();
        match (self.state, holds) {
            (AlertState::Inactive, false) => {}
            (AlertState::Inactive, true) => {
                self.state = AlertState::Pending;
                self.pending_at = t;
                out.push(ev(Transition::Pending));
                if self.for_s == 0 {
                    self.fire();
                    out.push(ev(Transition::Firing));
                }
            }
            (AlertState::Pending, true) => {
                if t.saturating_sub(self.pending_at) >= self.for_s {
                    self.fire();
                    out.push(ev(Transition::Firing));
                }
            }
            (AlertState::Pending, false) => {
                self.state = AlertState::Inactive;
                out.push(ev(Transition::Reset));
            }
            (AlertState::Firing, true) => self.false_since = None,
            (AlertState::Firing, false) => {
                let since = *self.false_since.get_or_insert(t);
                if t.saturating_sub(since) >= self.keep_firing_for_s {
                    self.state = AlertState::Inactive;
                    self.false_since = None;
                    out.push(ev(Transition::Resolved));
                }
            }
        }
        out
    }

    fn fire(&mut self) {
        self.state = AlertState::Firing;
        self.false_since = None;
    }
}
