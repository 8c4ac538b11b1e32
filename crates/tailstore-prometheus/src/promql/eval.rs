//! Evaluating a compiled query at its points: each cell's windows (one
//! sliding range query where the points allow), then the tree per point.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tailstore::{GaugeStats, Selector, WindowStats};

use super::compile::outs_of;
use super::{
    at_s, bad, strs, AggOp, BinOp, Cell, Ctx, Grouping, Labels, Node, Over, PromqlError, Red,
    Sample, Src, Val, Win, LOOKBACK_S, MAX_SAMPLES, MAX_STORE_QUERIES,
};

/// One cell's values at every point: presence, and `outs.len()` values each.
pub(super) struct CellVals {
    pub(super) present: Vec<bool>,
    pub(super) vals: Vec<f64>,
    /// Per value, the first window end at which it exists (a status first
    /// seen in the data's second `x` exists from `x + 1` on, as a scrape
    /// then would have listed it); `None`: all values exist with the cell.
    pub(super) from: Option<Vec<u64>>,
    /// Points whose window has seconds no intact stored piece covers.
    pub(super) damaged_points: u64,
}

impl Ctx<'_> {
    /// Evaluates `node` at every point (unix ms).
    pub(super) fn evaluate(
        mut self,
        node: &Node,
        points: &[u64],
    ) -> Result<(Vec<Val>, Vec<String>), PromqlError> {
        // Finish the fused cells' label sets.
        let bounds = self.api.bounds.clone();
        for leaf in &mut self.leaves {
            for c in &mut leaf.cells {
                if c.outs.is_empty() {
                    c.outs = outs_of(&c.red, &c.base, &bounds);
                }
            }
        }
        let total: u64 = self
            .leaves
            .iter()
            .flat_map(|l| l.cells.iter().map(|c| c.outs.len() as u64))
            .sum::<u64>()
            .saturating_mul(points.len() as u64);
        if total > MAX_SAMPLES {
            return Err(bad(format!(
                "query processing would load too many samples into memory ({total}, more than \
                 {MAX_SAMPLES}): select fewer series, or use a larger step"
            )));
        }
        // Each point's window ends at the first whole second at or after
        // it (as `tailstore query --last D --at T` does).
        let ends: Vec<u64> = points.iter().map(|t| t.div_ceil(1000)).collect();
        // Store queries: one sliding query per cell of a range window when
        // the points are whole seconds apart, else one per point.
        let slides = uniform(&ends);
        let queries: u64 = self
            .leaves
            .iter()
            .flat_map(|l| l.cells.iter())
            .map(|c| match (&c.src, c.win) {
                (Src::Store { .. }, Win::Range { .. }) if slides => 1,
                _ => points.len() as u64,
            })
            .sum();
        if queries > MAX_STORE_QUERIES {
            return Err(bad(format!(
                "the query needs {queries} store queries (at most {MAX_STORE_QUERIES}): select \
                 fewer series, use a larger step, or a whole-second step with rate()/increase()"
            )));
        }
        let mut values: Vec<Vec<CellVals>> = Vec::with_capacity(self.leaves.len());
        let mut damaged = 0;
        for leaf in &self.leaves {
            let mut lv = Vec::with_capacity(leaf.cells.len());
            for c in &leaf.cells {
                let cv = self.cell_values(c, &ends)?;
                damaged += cv.damaged_points;
                lv.push(cv);
            }
            values.push(lv);
        }
        if damaged > 0 {
            // As `tailstore query` warns (and exits 3): the answer covers
            // the intact seconds only.
            self.warnings.push(format!(
                "{damaged} windows have seconds that no intact stored piece covers (damaged \
                 segment files, see `tailstore check`): their numbers cover the other seconds only"
            ));
        }
        let mut out = Vec::with_capacity(points.len());
        for (k, &t) in points.iter().enumerate() {
            out.push(self.eval(node, k, t, &values)?);
        }
        Ok((out, self.warnings))
    }

    pub(super) fn cell_values(&self, c: &Cell, ends: &[u64]) -> Result<CellVals, PromqlError> {
        let n = c.outs.len();
        let mut cv = CellVals {
            present: vec![false; ends.len()],
            vals: vec![f64::NAN; ends.len() * n],
            from: None,
            damaged_points: 0,
        };
        match &c.src {
            Src::Store { names, first_s, end_s, .. } => {
                let sel = if let [one] = names.as_slice() {
                    Selector::exact(one.as_str())
                } else {
                    let alt: Vec<String> = names.iter().map(|s| regex::escape(s)).collect();
                    Selector::regex(&alt.join("|"))
                        .map_err(|e| PromqlError::Store(tailstore::Error::Query(e)))?
                };
                if let Red::Requests { expand: Some(codes), .. } = &c.red {
                    cv.from = Some(self.first_seen(&sel, codes, (*first_s, *end_s), ends)?);
                }
                let bounds = &self.api.bounds;
                let mut put = |k: usize, w: &WindowStats| {
                    cv.present[k] = true;
                    cv.damaged_points += u64::from(w.damaged_s() > 0);
                    let vals = &mut cv.vals[k * n..(k + 1) * n];
                    reduce(&c.red, w, bounds, vals);
                    let f = scale_of(c.win, &c.red, w);
                    #[expect(clippy::float_cmp, reason = "1.0 exactly: nothing to scale")]
                    if f != 1.0 {
                        for v in vals.iter_mut() {
                            *v *= f;
                        }
                    }
                };
                match c.win {
                    Win::Range { secs, .. } => {
                        if uniform(ends) {
                            let (e0, step) = (ends[0], ends[1] - ends[0]);
                            let e_last = ends[ends.len() - 1];
                            self.store.query(sel).last(Duration::from_secs(secs)).range_with(
                                at_s(e0),
                                at_s(e_last),
                                Duration::from_secs(step),
                                |t, w| {
                                    let k = usize::try_from((t - e0) / step).unwrap_or(usize::MAX);
                                    if k < ends.len() && *first_s < t {
                                        put(k, w);
                                    }
                                },
                            )?;
                        } else {
                            for (k, &e) in ends.iter().enumerate() {
                                if *first_s < e {
                                    let w = self
                                        .store
                                        .query(sel.clone())
                                        .last(Duration::from_secs(secs))
                                        .ending_at(at_s(e))
                                        .run()?;
                                    put(k, &w);
                                }
                            }
                        }
                    }
                    Win::Cumulative | Win::Lookback => {
                        for (k, &e) in ends.iter().enumerate() {
                            if *first_s < e {
                                let w = self
                                    .store
                                    .query(sel.clone())
                                    .between(at_s(*first_s), at_s(e))
                                    .run()?;
                                put(k, &w);
                            }
                        }
                    }
                }
            }
            Src::Gauge { name } => {
                for (k, &e) in ends.iter().enumerate() {
                    let len = match c.win {
                        Win::Range { secs, .. } => secs,
                        Win::Lookback | Win::Cumulative => LOOKBACK_S,
                    };
                    let st = self
                        .store
                        .gauge_query(Selector::exact(name.as_str()))
                        .between(at_s(e.saturating_sub(len)), at_s(e))
                        .run()?;
                    if let Some(v) = gauge_value(&c.red, &st, len) {
                        cv.present[k] = true;
                        cv.vals[k * n] = v;
                    }
                }
            }
        }
        Ok(cv)
    }

    /// For each status of `codes`, the first window end at which the
    /// series of `sel` hold one: `C(x)`, the count in `[first, x)`, is 0 at
    /// `first` and positive at `end`; a binary search finds the smallest
    /// `x` where it is positive (one planned query per step), except for
    /// the statuses already there at the first point.
    pub(super) fn first_seen(
        &self,
        sel: &Selector,
        codes: &[u16],
        (first, end): (u64, u64),
        ends: &[u64],
    ) -> Result<Vec<u64>, PromqlError> {
        let counts = |x: u64| -> Result<tailstore::StatusCounts, PromqlError> {
            Ok(self.store.query(sel.clone()).between(at_s(first), at_s(x)).run()?.status_counts())
        };
        let e0 = ends.iter().copied().min().unwrap_or(end).clamp(first, end);
        let at_e0 = counts(e0)?;
        let mut out = Vec::with_capacity(codes.len());
        for &code in codes {
            if at_e0.get(code) > 0 {
                out.push(first);
                continue;
            }
            let (mut lo, mut hi) = (e0, end);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if counts(mid)?.get(code) > 0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            out.push(hi);
        }
        Ok(out)
    }

    pub(super) fn eval(
        &self,
        node: &Node,
        k: usize,
        t: u64,
        values: &[Vec<CellVals>],
    ) -> Result<Val, PromqlError> {
        Ok(match node {
            Node::Num(v) => Val::Scalar(*v),
            #[expect(clippy::cast_precision_loss, reason = "ms below 2^53: exact")]
            Node::Time => Val::Scalar(t as f64 / 1000.0),
            Node::Leaf(i) => {
                let mut out = Vec::new();
                for (c, cv) in self.leaves[*i].cells.iter().zip(&values[*i]) {
                    if !cv.present[k] {
                        continue;
                    }
                    let n = c.outs.len();
                    let end_s = t.div_ceil(1000);
                    for (j, (l, v)) in c.outs.iter().zip(&cv.vals[k * n..(k + 1) * n]).enumerate() {
                        if cv.from.as_ref().is_some_and(|f| f.get(j).is_some_and(|&x| x > end_s)) {
                            continue;
                        }
                        out.push(Sample { labels: Arc::clone(l), v: *v });
                    }
                }
                Val::Vector(out)
            }
            Node::Neg(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(-v),
                Val::Vector(s) => Val::Vector(
                    s.into_iter()
                        .map(|x| Sample { labels: drop_name(&x.labels), v: -x.v })
                        .collect(),
                ),
            },
            Node::Math { f, inner } => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(f.apply(v)),
                Val::Vector(s) => Val::Vector(
                    s.into_iter()
                        .map(|x| Sample { labels: drop_name(&x.labels), v: f.apply(x.v) })
                        .collect(),
                ),
            },
            Node::Scalar(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => Val::Scalar(v),
                Val::Vector(s) => Val::Scalar(if s.len() == 1 { s[0].v } else { f64::NAN }),
            },
            Node::Vector(inner) => match self.eval(inner, k, t, values)? {
                Val::Scalar(v) => {
                    Val::Vector(vec![Sample { labels: Arc::new(Labels::default()), v }])
                }
                v @ Val::Vector(_) => v,
            },
            Node::Bin { op, lhs, rhs, bool_, on } => {
                let a = self.eval(lhs, k, t, values)?;
                let b = self.eval(rhs, k, t, values)?;
                binary(*op, *bool_, on.as_ref(), a, b)?
            }
            Node::Agg { op, by, inner } => {
                let Val::Vector(s) = self.eval(inner, k, t, values)? else {
                    return Err(bad("expected an instant vector in an aggregation"));
                };
                Val::Vector(aggregate(*op, by, &s))
            }
        })
    }
}

/// Whether the window ends are evenly spaced, a whole step apart (so the
/// windows slide).
pub(super) fn uniform(ends: &[u64]) -> bool {
    ends.len() > 1
        && ends[1] > ends[0]
        && ends.windows(2).all(|w| w[1].checked_sub(w[0]) == Some(ends[1] - ends[0]))
}

#[expect(clippy::cast_precision_loss, reason = "counts below 2^53 are exact in f64")]
pub(super) fn reduce(red: &Red, w: &WindowStats, bounds: &[(u64, String)], out: &mut [f64]) {
    match red {
        Red::Buckets { les, collapse } => {
            let at = |i: usize| -> f64 {
                match bounds.get(i) {
                    Some((ns, _)) => w.count_at_most(Duration::from_nanos(*ns)) as f64,
                    None => w.latency_count() as f64,
                }
            };
            if *collapse {
                out[0] = les.iter().map(|&i| at(i)).sum();
            } else {
                for (o, &i) in out.iter_mut().zip(les) {
                    *o = at(i);
                }
            }
        }
        Red::Count => out[0] = w.latency_count() as f64,
        Red::Sum => out[0] = w.accumulator().sum_ns() as f64 / 1e9,
        Red::Requests { status, expand } => {
            let counts = w.status_counts();
            match expand {
                Some(codes) => {
                    for (o, c) in out.iter_mut().zip(codes) {
                        *o = counts.get(*c) as f64;
                    }
                }
                None => {
                    out[0] = counts
                        .iter()
                        .filter(|(c, _)| status.iter().all(|m| m.is_match(&c.to_string())))
                        .map(|(_, n)| n as f64)
                        .sum();
                }
            }
        }
        Red::Quantile(q) => {
            out[0] = if q.is_nan() {
                f64::NAN
            } else if *q < 0.0 {
                f64::NEG_INFINITY
            } else if *q > 1.0 {
                f64::INFINITY
            } else {
                w.quantile(*q).map_or(f64::NAN, |d| d.as_nanos() as f64 / 1e9)
            };
        }
        Red::GaugeLast | Red::GaugeOver(_) | Red::Cpu { .. } => {}
    }
}

/// The factor of a cell's values at a point: `rate()` is the exact count
/// over the window's seconds (its covered part, as `tailstore query`'s
/// `rate_per_s`); `increase()` and a counter's value are the count itself.
pub(super) fn scale_of(win: Win, red: &Red, w: &WindowStats) -> f64 {
    let (start, end) = w.bounds_s();
    match (win, red) {
        (_, Red::Quantile(_)) => 1.0,
        #[expect(clippy::cast_precision_loss, reason = "a window's seconds, far below 2^53")]
        (Win::Range { rate: true, .. }, _) if end > start => 1.0 / (end - start) as f64,
        _ => 1.0,
    }
}

pub(super) fn gauge_value(red: &Red, st: &GaugeStats, len_s: u64) -> Option<f64> {
    #[expect(clippy::cast_precision_loss, reason = "counts and window seconds below 2^53")]
    match red {
        Red::GaugeLast | Red::GaugeOver(Over::Last) => st.last(),
        Red::GaugeOver(Over::Avg) => st.mean(),
        Red::GaugeOver(Over::Min) => st.min(),
        Red::GaugeOver(Over::Max) => st.max(),
        Red::GaugeOver(Over::Count) => (st.count() > 0).then(|| st.count() as f64),
        Red::GaugeOver(Over::Sum) => (st.count() > 0).then(|| st.sum()),
        Red::Cpu { increase } => {
            let cores = st.mean()? / 100.0;
            Some(if *increase { cores * len_s as f64 } else { cores })
        }
        _ => None,
    }
}

pub(super) fn drop_name(l: &Arc<Labels>) -> Arc<Labels> {
    if l.get("__name__").is_empty() {
        Arc::clone(l)
    } else {
        Arc::new(l.without(&["__name__"]))
    }
}

#[expect(clippy::many_single_char_names, reason = "operands and sides: a, b, l, r, x, y")]
pub(super) fn binary(
    op: BinOp,
    bool_: bool,
    on: Option<&Grouping>,
    a: Val,
    b: Val,
) -> Result<Val, PromqlError> {
    let cmp = op.is_comparison();
    // The value a sample pair gives, `None` when a comparison filters it out.
    let pick = |x: f64, y: f64, keep: f64| -> Option<f64> {
        let r = op.apply(x, y);
        if !cmp || bool_ {
            Some(r)
        } else if r > 0.5 {
            // A comparison gives exactly 1 (holds) or 0.
            Some(keep)
        } else {
            None
        }
    };
    let labels_of = |l: &Arc<Labels>| if cmp && !bool_ { Arc::clone(l) } else { drop_name(l) };
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(op.apply(x, y)),
        (Val::Vector(v), Val::Scalar(y)) => Val::Vector(
            v.into_iter()
                .filter_map(|s| {
                    pick(s.v, y, s.v).map(|r| Sample { labels: labels_of(&s.labels), v: r })
                })
                .collect(),
        ),
        (Val::Scalar(x), Val::Vector(v)) => Val::Vector(
            v.into_iter()
                .filter_map(|s| {
                    pick(x, s.v, s.v).map(|r| Sample { labels: labels_of(&s.labels), v: r })
                })
                .collect(),
        ),
        (Val::Vector(l), Val::Vector(r)) => {
            let sig = |x: &Labels| match on {
                None => x.without(&["__name__"]),
                Some(Grouping::By(names)) => x.only(&strs(names)),
                Some(Grouping::Without(names)) => {
                    let mut n = strs(names);
                    n.push("__name__");
                    x.without(&n)
                }
            };
            let mut right: HashMap<Labels, &Sample> = HashMap::new();
            for s in &r {
                if right.insert(sig(&s.labels), s).is_some() {
                    return Err(PromqlError::Execution(
                        "found duplicate series for the match group on the right hand-side of the \
                         operation: many-to-many matching not allowed"
                            .into(),
                    ));
                }
            }
            let mut seen: std::collections::HashSet<Labels> = std::collections::HashSet::new();
            let mut out = Vec::new();
            for s in &l {
                let key = sig(&s.labels);
                let Some(m) = right.get(&key) else { continue };
                if !seen.insert(key.clone()) {
                    return Err(PromqlError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit \
                         (group_left/group_right)"
                            .into(),
                    ));
                }
                let Some(v) = pick(s.v, m.v, s.v) else { continue };
                // As Prometheus's resultMetric: the left side's labels, its
                // name dropped by arithmetic and `bool`, then only the `on`
                // labels kept, or the `ignoring` ones removed.
                let kept = if cmp && !bool_ { Arc::clone(&s.labels) } else { drop_name(&s.labels) };
                let labels = match on {
                    Some(Grouping::By(_)) => Arc::new(key),
                    Some(Grouping::Without(names)) => Arc::new(kept.without(&strs(names))),
                    None => kept,
                };
                out.push(Sample { labels, v });
            }
            Val::Vector(out)
        }
    })
}

pub(super) fn aggregate(op: AggOp, by: &Grouping, s: &[Sample]) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut acc: HashMap<Labels, (f64, u64)> = HashMap::new();
    for x in s {
        let key = x.labels.group(by);
        let e = acc.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            match op {
                AggOp::Min => (f64::INFINITY, 0),
                AggOp::Max => (f64::NEG_INFINITY, 0),
                _ => (0.0, 0),
            }
        });
        e.1 += 1;
        match op {
            AggOp::Sum | AggOp::Avg => e.0 += x.v,
            // As Prometheus: a NaN is replaced by any later value.
            AggOp::Min => {
                if e.1 == 1 || x.v < e.0 || e.0.is_nan() {
                    e.0 = x.v;
                }
            }
            AggOp::Max => {
                if e.1 == 1 || x.v > e.0 || e.0.is_nan() {
                    e.0 = x.v;
                }
            }
            AggOp::Count | AggOp::Group => {}
        }
    }
    order
        .into_iter()
        .map(|key| {
            let (v, n) = acc[&key];
            #[expect(clippy::cast_precision_loss, reason = "a count of samples, far below 2^53")]
            let v = match op {
                AggOp::Sum | AggOp::Min | AggOp::Max => v,
                AggOp::Avg => v / n as f64,
                AggOp::Count => n as f64,
                AggOp::Group => 1.0,
            };
            Sample { labels: Arc::new(key), v }
        })
        .collect()
}
