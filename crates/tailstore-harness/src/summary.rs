//! The run's summary: corrected and uncorrected latencies side by side,
//! and the per-second pieces a run's `.hlog` is written from.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::format::fmt_ms;
use tailstore::{Selector, Store, WindowStats};

use crate::error::Error;
use crate::hlog::SeriesPieces;
use crate::open_loop::uncorrected_name;

/// Quantiles of the summary table's columns.
pub const SUMMARY_QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// The window statistics of a harness's two series over one run.
#[derive(Clone, Debug)]
pub struct Summary {
    name: String,
    corrected: WindowStats,
    uncorrected: WindowStats,
}

impl Summary {
    /// Queries `name` and `name:uncorrected` over the whole seconds that
    /// `[start, end)` touches: from `start`'s second to the end of `end`'s
    /// (a run that starts at 12.6 s and ends at 22.3 s is answered over
    /// `[12, 23)`).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when the store cannot answer.
    pub fn query(
        store: &Store,
        name: &str,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Summary, Error> {
        let (a, b) = (floor_s(start), floor_s(end) + 1);
        let (a, b) = (UNIX_EPOCH + Duration::from_secs(a), UNIX_EPOCH + Duration::from_secs(b));
        let q = |n: &str| store.query(Selector::exact(n)).between(a, b).run();
        Ok(Summary {
            name: name.to_owned(),
            corrected: q(name)?,
            uncorrected: q(&uncorrected_name(name))?,
        })
    }

    /// `NAME`'s statistics: latencies from the intended send times.
    #[must_use]
    pub fn corrected(&self) -> &WindowStats {
        &self.corrected
    }

    /// `NAME:uncorrected`'s statistics: latencies from the actual sends.
    #[must_use]
    pub fn uncorrected(&self) -> &WindowStats {
        &self.uncorrected
    }

    /// Writes the table: one row per series with its count, P50, P90, P99,
    /// P99.9 and max in milliseconds (3 decimals).
    ///
    /// ```text
    /// series                        count    p50 ms    p90 ms    p99 ms  p99.9 ms    max ms
    /// /predict                       2000     1.234 …
    /// /predict:uncorrected           2000     1.201 …
    /// ```
    ///
    /// # Errors
    ///
    /// The writer's error.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let width = self.name.len() + uncorrected_name("").len();
        let width = width.max(6);
        writeln!(
            out,
            "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "series", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
        )?;
        for (name, w) in [
            (self.name.clone(), &self.corrected),
            (uncorrected_name(&self.name), &self.uncorrected),
        ] {
            let q = w.quantiles(&SUMMARY_QUANTILES);
            writeln!(
                out,
                "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                w.latency_count(),
                fmt_ms(q[0], 3),
                fmt_ms(q[1], 3),
                fmt_ms(q[2], 3),
                fmt_ms(q[3], 3),
                fmt_ms(w.max(), 3),
            )?;
        }
        Ok(())
    }
}

/// The unix second of `t` (0 before 1970).
fn floor_s(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The one-second pieces of series `name` over unix seconds
/// `[start_s, end_s)`, each answered by a window query (so seconds not
/// sealed yet are included, unlike [`Store::pieces`]); seconds without a
/// latency sample are left out. What a harness writes its `.hlog` from
/// right after a run.
///
/// # Errors
///
/// [`Error::Query`] when the store cannot answer.
pub fn pieces_per_second(
    store: &Store,
    name: &str,
    start_s: u64,
    end_s: u64,
) -> Result<SeriesPieces, Error> {
    let mut pieces = Vec::new();
    for s in start_s..end_s {
        let a = UNIX_EPOCH + Duration::from_secs(s);
        let w = store.query(Selector::exact(name)).between(a, a + Duration::from_secs(1)).run()?;
        if w.latency_count() > 0 {
            pieces.push(w.accumulator().to_interval(s, 1));
        }
    }
    Ok(SeriesPieces { name: name.to_owned(), pieces })
}
