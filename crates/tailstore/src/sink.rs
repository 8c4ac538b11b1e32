//! Subscribers to sealed data: the hook for work that follows the data
//! (alert rules, SLO burn rates, exposition, mirrors to another system).

use tailstore_hist::Interval;

/// Receives every sealed interval, and the bound below which everything is
/// sealed after each seal pass ([`crate::Store::add_sink`]).
///
/// Called from a sealing thread, after the interval is visible to queries,
/// in ascending time order per series for sealed seconds. A forced seal
/// (`flush`, `compact`, drop) seals series in parallel, one thread per core:
/// the calls for one series still come from one thread, in order. `late`
/// deltas are additions to a second sealed earlier.
///
/// Sealing waits for a sink, so a sink must be quick: one that queries the
/// store (a rule evaluator) records the bound and wakes its own thread. It
/// must not hold a [`crate::Store`] handle (that would keep the store open
/// forever); keep what it needs from the calls, or a channel.
pub trait Sink: Send + Sync {
    /// One sealed one-second interval (or late delta) of `series`.
    fn sealed(&self, series: &str, interval: &Interval, late: bool);

    /// After a seal pass: every second below `below` (unix seconds) is
    /// sealed in every series, so a window ending at or before it has its
    /// final answer, but for late samples that may still arrive (they come
    /// as `late` deltas through [`Sink::sealed`]). The bound follows data
    /// time (the newest sample minus the lateness window, everything at a
    /// flush), so a replay of old logs drives a subscriber exactly as live
    /// traffic does. Never decreases from one call to the next. The default
    /// does nothing.
    fn sealed_through(&self, below: u64) {
        let _ = below;
    }
}
