//! Oracles: the alert semantics restated over a whole sequence of
//! evaluations (not step by step), and exact window metrics over raw
//! samples kept in a `Vec`.

use tailstore_rules::{NoData, Truth};

/// One episode as the oracle sees it: `(pending_at, firing_at, resolved_at)`.
pub type Ep = (u64, Option<u64>, Option<u64>);

/// The episodes of a sequence of evaluations `(t, truth)`, straight from
/// the crate docs' definitions.
#[expect(clippy::many_single_char_names, reason = "indices named as in the docs' definitions")]
pub fn episodes(evals: &[(u64, Truth)], for_s: u64, keep_s: u64, no_data: NoData) -> Vec<Ep> {
    // keep_state removes the evaluation; ok / alerting make it false / true.
    let seq: Vec<(u64, bool)> = evals
        .iter()
        .filter_map(|&(t, truth)| match (truth, no_data) {
            (Truth::True, _) | (Truth::NoData, NoData::Alerting) => Some((t, true)),
            (Truth::False, _) | (Truth::NoData, NoData::Ok) => Some((t, false)),
            (Truth::NoData, _) => None,
        })
        .collect();
    let n = seq.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !seq[i].1 {
            i += 1;
            continue;
        }
        let (p, tp) = (i, seq[i].0);
        // The run of trues from p, and the first of it that is `for` after p.
        let run_end = (p..n).find(|&j| !seq[j].1).unwrap_or(n);
        let Some(f) = (p..run_end).find(|&j| seq[j].0 - tp >= for_s) else {
            // Never fired: reset at the first false, or still pending.
            out.push((tp, None, (run_end < n).then(|| seq[run_end].0)));
            i = run_end + 1;
            continue;
        };
        // Resolved at the first false evaluation that is `keep_s` after the
        // first false of its streak.
        let mut resolved = None;
        let mut streak: Option<u64> = None;
        for (j, &(t, b)) in seq.iter().enumerate().skip(f + 1) {
            if b {
                streak = None;
            } else {
                let s = *streak.get_or_insert(t);
                if t - s >= keep_s {
                    resolved = Some(j);
                    break;
                }
            }
        }
        out.push((tp, Some(seq[f].0), resolved.map(|j| seq[j].0)));
        i = resolved.map_or(n, |j| j + 1);
    }
    out
}

/// A raw request: (second, latency ns, status).
pub type Sample = (u64, u64, u16);

/// Exact numbers of a window `[from, to)` of raw samples (sorted by second).
pub struct Win<'a> {
    inside: &'a [Sample],
    errors: &'a tailstore::ErrorSet,
    pub len_s: u64,
}

impl<'a> Win<'a> {
    pub fn of(samples: &'a [Sample], from: u64, to: u64, errors: &'a tailstore::ErrorSet) -> Self {
        let a = samples.partition_point(|s| s.0 < from);
        let b = samples.partition_point(|s| s.0 < to);
        Win { inside: &samples[a..b], errors, len_s: to - from }
    }

    pub fn requests(&self) -> u64 {
        self.inside.len() as u64
    }

    pub fn errors(&self) -> u64 {
        self.inside.iter().filter(|s| self.errors.contains(s.2)).count() as u64
    }

    fn sorted(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.inside.iter().map(|s| s.1).collect();
        v.sort_unstable();
        v
    }

    /// Nearest-rank quantile, seconds.
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "test windows hold far fewer than 2^52 samples and q is in [0, 1]"
    )]
    pub fn q(&self, q: f64) -> Option<f64> {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return None;
        }
        let n = sorted.len() as f64;
        let k = ((q * n) - (q * n) * 1e-12).ceil().max(1.0) as usize;
        Some(sorted[k - 1] as f64 / 1e9)
    }

    #[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^53")]
    pub fn error_pct(&self) -> Option<f64> {
        let n = self.requests();
        (n > 0).then(|| 100.0 * self.errors() as f64 / n as f64)
    }

    #[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^53")]
    pub fn per_s(&self) -> f64 {
        self.requests() as f64 / self.len_s as f64
    }

    /// Bad requests over total, divided by the budget; `None` when empty.
    #[expect(clippy::cast_precision_loss, reason = "test counts are far below 2^53")]
    pub fn burn(&self, budget: f64) -> Option<f64> {
        let n = self.requests();
        (n > 0).then(|| self.errors() as f64 / n as f64 / budget)
    }

    pub fn at_most(&self, ns: u64) -> u64 {
        self.inside.iter().filter(|s| s.1 <= ns).count() as u64
    }
}
