//! Compiling `promql-parser`'s AST into cells (store queries) and a small
//! expression tree; `sum` over a served family fused into the cells.

use std::collections::HashMap;
use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self as pp, Expr, LabelModifier, VectorMatchCardinality};
use tailstore::Selector;

use super::{
    at_s, bad, check_shape, unsupported, whole_secs, AggOp, BinOp, Cell, Ctx, Fam, Grouping,
    Labels, Leaf, MathFn, Metric, Node, Over, PromqlError, Red, Src, Win, CPU_CONTAINER,
    CPU_PROCESS, CPU_SECONDS,
};

impl Ctx<'_> {
    pub(super) fn compile_top(&mut self, expr: &str) -> Result<Node, PromqlError> {
        if expr.trim().is_empty() {
            return Err(bad("empty query"));
        }
        check_shape(expr)?;
        let e = pp::parse(expr).map_err(|e| bad(format!("parse error: {e}")))?;
        let n = self.compile(&e)?;
        if let Expr::MatrixSelector(_) = e {
            return Err(unsupported("a range vector as the result"));
        }
        Ok(n)
    }

    pub(super) fn leaf(&mut self, cells: Vec<Cell>) -> Node {
        self.leaves.push(Leaf { cells });
        Node::Leaf(self.leaves.len() - 1)
    }

    pub(super) fn compile(&mut self, e: &Expr) -> Result<Node, PromqlError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Node::Num(n.val)),
            Expr::Paren(p) => self.compile(&p.expr),
            Expr::Unary(u) => Ok(Node::Neg(Box::new(self.compile(&u.expr)?))),
            Expr::StringLiteral(_) => Err(unsupported("a string literal")),
            Expr::Subquery(_) => Err(unsupported("subqueries")),
            Expr::Extension(_) => Err(unsupported("extension expressions")),
            Expr::MatrixSelector(_) => {
                Err(unsupported("a range vector outside rate(), increase() or *_over_time()"))
            }
            Expr::VectorSelector(vs) => {
                let cells = self.select(vs, true, None)?;
                Ok(self.leaf(cells))
            }
            Expr::Binary(b) => {
                let op_s = b.op.to_string();
                let op = BinOp::parse(&op_s)
                    .ok_or_else(|| unsupported(format!("the binary operator {op_s:?}")))?;
                let (mut bool_, mut on) = (false, None);
                if let Some(m) = &b.modifier {
                    bool_ = m.return_bool;
                    match &m.card {
                        VectorMatchCardinality::OneToOne => {}
                        _ => return Err(unsupported("group_left / group_right")),
                    }
                    if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                        return Err(unsupported("fill modifiers"));
                    }
                    on = m.matching.as_ref().map(|lm| match lm {
                        LabelModifier::Include(l) => Grouping::By(l.labels.clone()),
                        LabelModifier::Exclude(l) => Grouping::Without(l.labels.clone()),
                    });
                }
                let lhs = self.compile(&b.lhs)?;
                let rhs = self.compile(&b.rhs)?;
                if op.is_comparison() && lhs.is_scalar() && rhs.is_scalar() && !bool_ {
                    return Err(bad("comparisons between scalars must use BOOL modifier"));
                }
                Ok(Node::Bin { op, lhs: Box::new(lhs), rhs: Box::new(rhs), bool_, on })
            }
            Expr::Aggregate(a) => {
                let op_s = a.op.to_string();
                let op = match op_s.as_str() {
                    "sum" => AggOp::Sum,
                    "avg" => AggOp::Avg,
                    "min" => AggOp::Min,
                    "max" => AggOp::Max,
                    "count" => AggOp::Count,
                    "group" => AggOp::Group,
                    _ => return Err(unsupported(format!("the aggregation {op_s}"))),
                };
                if a.param.is_some() {
                    return Err(unsupported(format!("{op_s} with a parameter")));
                }
                let by = match &a.modifier {
                    None => Grouping::By(vec![]),
                    Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
                };
                let inner = self.compile(&a.expr)?;
                if inner.is_scalar() {
                    return Err(bad(format!("expected type instant vector in aggregation {op_s}")));
                }
                if op == AggOp::Sum {
                    if let Node::Leaf(i) = inner {
                        if let Some(cells) = fuse(&self.leaves[i].cells, &by) {
                            self.leaves[i].cells = cells;
                            return Ok(Node::Leaf(i));
                        }
                    }
                }
                Ok(Node::Agg { op, by, inner: Box::new(inner) })
            }
            Expr::Call(c) => self.call(c),
        }
    }

    pub(super) fn call(&mut self, c: &pp::Call) -> Result<Node, PromqlError> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| -> Result<&Expr, PromqlError> {
            args.get(i).map(|b| &**b).ok_or_else(|| bad(format!("{name}: missing argument {i}")))
        };
        match name {
            "rate" | "increase" => {
                if let Expr::Subquery(_) = arg(0)? {
                    return Err(unsupported("subqueries"));
                }
                let Expr::MatrixSelector(ms) = arg(0)? else {
                    return Err(bad(format!("{name}: expected a range vector selector")));
                };
                let secs = whole_secs(ms.range, &format!("{name}(…[{}])", ms.range.as_secs()))?;
                let win = Win::Range { secs, rate: name == "rate" };
                let cells = self.select(&ms.vs, false, Some((win, name)))?;
                Ok(self.leaf(cells))
            }
            "avg_over_time" | "min_over_time" | "max_over_time" | "last_over_time"
            | "count_over_time" | "sum_over_time" => {
                let Expr::MatrixSelector(ms) = arg(0)? else {
                    return Err(bad(format!("{name}: expected a range vector selector")));
                };
                let secs = whole_secs(ms.range, name)?;
                let win = Win::Range { secs, rate: false };
                let cells = self.select(&ms.vs, name == "last_over_time", Some((win, name)))?;
                Ok(self.leaf(cells))
            }
            "histogram_quantile" => {
                let Expr::NumberLiteral(q) = arg(0)? else {
                    return Err(unsupported(
                        "histogram_quantile with a quantile that is not a number",
                    ));
                };
                let inner = self.compile(arg(1)?)?;
                let msg = "histogram_quantile over anything but rate()/increase() of a latency \
                           _bucket family (optionally summed by le and other labels)";
                let Node::Leaf(i) = inner else { return Err(unsupported(msg)) };
                let mut cells = Vec::new();
                for cell in &self.leaves[i].cells {
                    let Src::Store { fam: Fam::Bucket, .. } = cell.src else {
                        return Err(unsupported(msg));
                    };
                    let Red::Buckets { les, collapse: false } = &cell.red else {
                        // Summed over le: Prometheus finds no le label and
                        // answers nothing.
                        continue;
                    };
                    if les.len() != self.api.bounds.len() + 1 {
                        return Err(unsupported(
                            "histogram_quantile over a subset of the le buckets",
                        ));
                    }
                    let base = cell.base.without(&["__name__"]);
                    cells.push(Cell {
                        src: cell.src.clone(),
                        win: cell.win,
                        red: Red::Quantile(q.val),
                        outs: vec![Arc::new(base.clone())],
                        base,
                    });
                }
                Ok(self.leaf(cells))
            }
            "scalar" => {
                let inner = self.compile(arg(0)?)?;
                Ok(Node::Scalar(Box::new(inner)))
            }
            "vector" => {
                let inner = self.compile(arg(0)?)?;
                Ok(Node::Vector(Box::new(inner)))
            }
            "time" => Ok(Node::Time),
            _ => match MathFn::parse(name) {
                Some(f) if args.len() == 1 => {
                    let inner = self.compile(arg(0)?)?;
                    Ok(Node::Math { f, inner: Box::new(inner) })
                }
                _ => Err(unsupported(format!("the function {name}()"))),
            },
        }
    }

    /// The metrics the API answers, by name.
    pub(super) fn metrics(&self) -> Vec<(String, Metric)> {
        let n = self.api.names;
        let h = n.histogram();
        let mut m = vec![
            (format!("{h}_bucket"), Metric::Store(Fam::Bucket)),
            (format!("{h}_count"), Metric::Store(Fam::Count)),
            (format!("{h}_sum"), Metric::Store(Fam::Sum)),
            (n.counter_sample().to_string(), Metric::Store(Fam::Requests)),
        ];
        for g in &self.gauges {
            m.push((g.clone(), Metric::Gauge(g.clone())));
        }
        let cpu =
            [CPU_CONTAINER, CPU_PROCESS].into_iter().find(|c| self.gauges.iter().any(|g| g == c));
        if let Some(c) = cpu {
            if !self.gauges.iter().any(|g| g == CPU_SECONDS) {
                m.push((CPU_SECONDS.to_string(), Metric::Cpu(c.to_string())));
            }
        }
        m
    }

    /// The statuses series `name` holds over its whole data (what a scrape
    /// lists), read once per query.
    pub(super) fn statuses_of(
        &mut self,
        name: &str,
        (first_s, end_s): (u64, u64),
    ) -> Result<Vec<u16>, PromqlError> {
        if let Some(codes) = self.statuses.get(name) {
            return Ok(codes.clone());
        }
        let w =
            self.store.query(Selector::exact(name)).between(at_s(first_s), at_s(end_s)).run()?;
        let codes: Vec<u16> = w.status_counts().iter().map(|(c, _)| c).collect();
        self.statuses.insert(name.to_string(), codes.clone());
        Ok(codes)
    }

    /// The cells of a vector selector, one per series (per gauge), each
    /// with its `le`/`status` values expanded. `keep_name` keeps
    /// `__name__` in the labels; `func` is the range function around it.
    #[expect(clippy::too_many_lines, reason = "one selector, every family's labels")]
    pub(super) fn select(
        &mut self,
        vs: &pp::VectorSelector,
        keep_name: bool,
        func: Option<(Win, &str)>,
    ) -> Result<Vec<Cell>, PromqlError> {
        if vs.offset.is_some() {
            return Err(unsupported("the offset modifier"));
        }
        if vs.at.is_some() {
            return Err(unsupported("the @ modifier"));
        }
        if !vs.matchers.or_matchers.is_empty() {
            return Err(unsupported("`or` inside a selector"));
        }
        let mut matchers: Vec<Matcher> = vs.matchers.matchers.clone();
        if let Some(n) = &vs.name {
            if !matchers.iter().any(|m| m.name == "__name__") {
                matchers.push(Matcher::new(MatchOp::Equal, "__name__", n));
            }
        }
        let label = self.api.names.series_label();
        let nb = self.api.bounds.len();
        let mut cells = Vec::new();
        let mut any_metric = false;
        for (metric, kind) in self.metrics() {
            if !matchers.iter().filter(|m| m.name == "__name__").all(|m| m.is_match(&metric)) {
                continue;
            }
            any_metric = true;
            let name_labels = if keep_name {
                Labels::default().with("__name__", &metric)
            } else {
                Labels::default()
            };
            match kind {
                Metric::Store(fam) => {
                    let win = match func {
                        None => Win::Cumulative,
                        Some((w @ Win::Range { .. }, f)) if f == "rate" || f == "increase" => w,
                        Some((_, f)) => {
                            return Err(unsupported(format!(
                                "{f}() of {metric} (a counter: use rate() or increase())"
                            )))
                        }
                    };
                    let mut les: Vec<usize> = (0..=nb).collect();
                    let mut status: Vec<Matcher> = Vec::new();
                    let mut ok = true;
                    let mut series_m: Vec<&Matcher> = Vec::new();
                    for m in &matchers {
                        match m.name.as_str() {
                            "__name__" => {}
                            n if n == label => series_m.push(m),
                            "le" if fam == Fam::Bucket => {
                                les.retain(|&i| m.is_match(self.le_text(i)));
                            }
                            "status" if fam == Fam::Requests => status.push(m.clone()),
                            _ => ok &= m.is_match(""),
                        }
                    }
                    if !ok {
                        continue;
                    }
                    let chosen: Vec<(String, u64, u64)> = self
                        .series
                        .iter()
                        .filter(|s| series_m.iter().all(|m| m.is_match(&s.name)))
                        .map(|s| (s.name.clone(), s.first_s, s.end_s))
                        .collect();
                    for (name, first_s, end_s) in chosen {
                        let base = name_labels.clone().with(label, &name);
                        let red = match fam {
                            Fam::Bucket => Red::Buckets { les: les.clone(), collapse: false },
                            Fam::Count => Red::Count,
                            Fam::Sum => Red::Sum,
                            Fam::Requests => {
                                let mut codes = self.statuses_of(&name, (first_s, end_s))?;
                                codes.retain(|c| status.iter().all(|m| m.is_match(&c.to_string())));
                                Red::Requests { status: status.clone(), expand: Some(codes) }
                            }
                        };
                        let src = Src::Store { fam, names: vec![name], first_s, end_s };
                        cells.push(self.make_cell(src, win, red, base));
                    }
                }
                Metric::Gauge(ref g) | Metric::Cpu(ref g) => {
                    let (cpu, g) = (matches!(kind, Metric::Cpu(_)), g.clone());
                    let (win, red) = match func {
                        None if cpu && self.listing => (Win::Lookback, Red::GaugeLast),
                        None if cpu => {
                            return Err(unsupported(format!(
                                "{CPU_SECONDS} outside rate() or increase() (tailstore keeps CPU \
                                 percentages, not the cumulative counter)"
                            )))
                        }
                        None => (Win::Lookback, Red::GaugeLast),
                        Some((w, f)) if cpu && (f == "rate" || f == "increase") => {
                            (w, Red::Cpu { increase: f == "increase" })
                        }
                        Some((w, f)) if !cpu && f.ends_with("_over_time") => {
                            let over = match f {
                                "avg_over_time" => Over::Avg,
                                "min_over_time" => Over::Min,
                                "max_over_time" => Over::Max,
                                "last_over_time" => Over::Last,
                                "count_over_time" => Over::Count,
                                _ => Over::Sum,
                            };
                            (w, Red::GaugeOver(over))
                        }
                        Some((_, f)) => {
                            return Err(unsupported(format!(
                                "{f}() of {metric} (a gauge: use avg_over_time, min_over_time, \
                                 max_over_time, last_over_time, count_over_time, sum_over_time)"
                            )))
                        }
                    };
                    let mut base = name_labels.clone();
                    for (k, v) in &self.api.gauge_labels.0 {
                        base = base.with(k, v);
                    }
                    if !matchers
                        .iter()
                        .filter(|m| m.name != "__name__")
                        .all(|m| m.is_match(base.get(&m.name)))
                    {
                        continue;
                    }
                    let src = Src::Gauge { name: g };
                    cells.push(self.make_cell(src, win, red, base));
                }
            }
        }
        if !any_metric {
            let name = matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map_or_else(|| "{…}".to_string(), |m| m.value.clone());
            self.warnings.push(format!(
                "no metric {name:?} here: tailstore serves {}",
                self.metrics().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(cells)
    }

    pub(super) fn le_text(&self, i: usize) -> &str {
        self.api.bounds.get(i).map_or("+Inf", |b| b.1.as_str())
    }

    pub(super) fn make_cell(&self, src: Src, win: Win, red: Red, base: Labels) -> Cell {
        let outs = outs_of(&red, &base, &self.api.bounds);
        Cell { src, win, red, base, outs }
    }
}

/// The label sets of a cell's values.
pub(super) fn outs_of(red: &Red, base: &Labels, bounds: &[(u64, String)]) -> Vec<Arc<Labels>> {
    match red {
        Red::Buckets { les, collapse: false } => les
            .iter()
            .map(|&i| {
                Arc::new(base.clone().with("le", bounds.get(i).map_or("+Inf", |b| b.1.as_str())))
            })
            .collect(),
        Red::Requests { expand: Some(codes), .. } => {
            codes.iter().map(|c| Arc::new(base.clone().with("status", &c.to_string()))).collect()
        }
        _ => vec![Arc::new(base.clone())],
    }
}

/// `sum by/without (…)` of store cells, merged into one cell per group so
/// that the group's histogram is merged exactly (and queried once). `None`
/// when the cells cannot be merged (gauges, several families).
pub(super) fn fuse(cells: &[Cell], by: &Grouping) -> Option<Vec<Cell>> {
    let fam0 = match cells.first().map(|c| &c.src) {
        Some(Src::Store { fam, .. }) => *fam,
        _ => return None,
    };
    let mut groups: Vec<(Labels, Cell)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for c in cells {
        let Src::Store { fam, names, first_s, end_s } = &c.src else { return None };
        if *fam != fam0 {
            return None;
        }
        let key = c.base.group(by);
        let keep_exp = match fam0 {
            Fam::Bucket => by.keeps("le"),
            Fam::Requests => by.keeps("status"),
            Fam::Count | Fam::Sum => false,
        };
        let red = match &c.red {
            Red::Buckets { les, .. } => Red::Buckets { les: les.clone(), collapse: !keep_exp },
            Red::Requests { status, expand } => Red::Requests {
                status: status.clone(),
                expand: if keep_exp { expand.clone() } else { None },
            },
            r => r.clone(),
        };
        if let Some(&k) = index.get(&key) {
            {
                let g = &mut groups[k].1;
                if let Src::Store { names: gn, first_s: gf, end_s: ge, .. } = &mut g.src {
                    gn.extend(names.iter().cloned());
                    *gf = (*gf).min(*first_s);
                    *ge = (*ge).max(*end_s);
                }
                if let (
                    Red::Requests { expand: Some(a), .. },
                    Red::Requests { expand: Some(b), .. },
                ) = (&mut g.red, &red)
                {
                    a.extend(b.iter().copied());
                    a.sort_unstable();
                    a.dedup();
                }
            }
        } else {
            index.insert(key.clone(), groups.len());
            let src =
                Src::Store { fam: fam0, names: names.clone(), first_s: *first_s, end_s: *end_s };
            groups.push((key.clone(), Cell { src, win: c.win, red, base: key, outs: vec![] }));
        }
    }
    Some(groups.into_iter().map(|(_, c)| c).collect())
}
