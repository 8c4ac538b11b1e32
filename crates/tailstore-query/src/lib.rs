//! `tailstore-query`: selectors, windows, the planner over rollup levels,
//! the in-memory tier of sealed history, and window statistics.
//!
//! The planner covers a half-open window of whole seconds with the fewest
//! pieces: every whole hour inside the window from the hour level, the
//! remaining whole minutes from the minute level, the edge seconds from the
//! second level. A one-hour window at an arbitrary second merges at most
//! 59 + 59 + 59 pieces; a seven-day window about 168 + 118 + 118.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod format;
mod gauge;
mod plan;
mod selector;
mod slide;
mod stats;
mod tier;

pub use error::Error;
pub use format::{fmt_float, fmt_ms, fmt_ms_full, fmt_percent, fmt_rate, ms_f64, quantile_key};
pub use gauge::{GaugeStats, GaugeTier, MAX_GROWTH_POINTS, RESTART_DROP};
pub use plan::{plan, Plan, Segment};
pub use selector::Selector;
pub use slide::Slide;
pub use stats::WindowStats;
pub use tier::{Covered, LevelCoverage, LevelSpec, MemTier, PieceRef, PieceRefs, PieceSource};

impl WindowStats {
    /// Records what the plan covered: the first covered second, how many
    /// series and pieces were merged.
    #[must_use]
    pub fn with_plan_info(mut self, covered_start_s: u64, series: usize, pieces: usize) -> Self {
        self.start_s = covered_start_s.max(self.start_s);
        self.series = series;
        self.pieces = pieces;
        self
    }

    /// Records the sub-ranges of the window that no intact piece covers (of
    /// every merged series, in any order; see [`Covered::damaged`]):
    /// [`WindowStats::damaged_s`] is the length of their union inside the
    /// covered window. Call after [`WindowStats::with_plan_info`].
    #[must_use]
    pub fn with_damaged(mut self, mut ranges: Vec<(u64, u64)>) -> Self {
        tier::merge_ranges(&mut ranges);
        let (from, to) = (self.start_s, self.end_s);
        self.damaged_s = ranges.iter().map(|&(a, b)| b.min(to).saturating_sub(a.max(from))).sum();
        self
    }

    /// Takes the accumulator back (a sliding range query lends its running
    /// accumulator to each point's answer).
    #[must_use]
    pub fn into_accumulator(self) -> tailstore_hist::Accumulator {
        self.acc
    }

    /// The same answer holding only the used range of the counts (for
    /// keeping many answers, such as every point of a range).
    #[must_use]
    pub fn compact(&self) -> WindowStats {
        WindowStats { acc: self.acc.snapshot(), errors: self.errors.clone(), ..*self }
    }
}
