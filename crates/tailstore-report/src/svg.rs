//! Hand-written inline SVG: axes, lines, stacked areas and the heatmap.
//! Every chart is `WIDTH` x `HEIGHT` user units; coordinates are written
//! with one decimal. Text that comes from data goes through
//! [`crate::html::esc`].

use std::fmt::Write as _;

use crate::html::{esc, utc};

pub(crate) const WIDTH: f64 = 720.0;
pub(crate) const HEIGHT: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// Seconds as an f64 coordinate.
#[expect(
    clippy::cast_precision_loss,
    reason = "unix seconds and counts stay far below 2^53, where f64 is exact"
)]
pub(crate) fn f(x: u64) -> f64 {
    x as f64
}

/// The time axis: `[t_lo, t_hi]` unix seconds across the plot.
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    pub t_lo: u64,
    pub t_hi: u64,
}

impl Frame {
    pub(crate) fn x(self, t: f64) -> f64 {
        let span = f(self.t_hi.saturating_sub(self.t_lo).max(1));
        LEFT + (t - f(self.t_lo)) / span * PLOT_W
    }

    /// Round tick times (at most 8) and their labels, UTC.
    fn ticks(self) -> Vec<(u64, String)> {
        const EVERY: [u64; 16] = [
            1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400,
            172_800,
        ];
        let span = self.t_hi.saturating_sub(self.t_lo).max(1);
        let every = EVERY
            .iter()
            .copied()
            .find(|e| span / e <= 8)
            .unwrap_or_else(|| span.div_ceil(8).div_ceil(86_400) * 86_400);
        let long = span > 86_400;
        let mut out = Vec::new();
        let mut t = self.t_lo.div_ceil(every) * every;
        while t <= self.t_hi {
            let full = utc(t); // "2025-12-01 00:05:00"
            let label = if every >= 86_400 {
                full[5..10].to_owned()
            } else if long {
                format!("{} {}", &full[5..10], &full[11..16])
            } else if every < 60 {
                full[11..19].to_owned()
            } else {
                full[11..16].to_owned()
            };
            out.push((t, label));
            t += every;
        }
        out
    }
}

/// A value axis.
#[derive(Clone, Copy)]
pub(crate) enum Scale {
    /// `0 ..= top`.
    Linear { top: f64 },
    /// `10^lo ..= 10^hi`.
    Log { lo: f64, hi: f64 },
}

impl Scale {
    pub(crate) fn y(self, v: f64) -> f64 {
        let frac = match self {
            Scale::Linear { top } => v / top,
            Scale::Log { lo, hi } => (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo),
        };
        TOP + PLOT_H * (1.0 - frac.clamp(0.0, 1.0))
    }

    /// Bottom of the plot.
    fn base() -> f64 {
        TOP + PLOT_H
    }
}

/// The smallest of 1, 2, 2.5, 5 x 10^k at or above `v` (at least `floor`),
/// and its four tick steps.
pub(crate) fn nice_top(v: f64, floor: f64) -> f64 {
    let v = v.max(floor);
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v * (1.0 - 1e-12)).unwrap_or(v)
}

/// A panel: a titled figure around one SVG.
pub(crate) struct Panel {
    svg: String,
    frame: Frame,
    scale: Scale,
}

/// One line of a line chart.
pub(crate) struct Line<'a> {
    pub colour: &'a str,
    /// `(x in seconds, value)`; `None` breaks the line.
    pub values: Vec<(f64, Option<f64>)>,
}

impl Panel {
    pub(crate) fn new(frame: Frame, scale: Scale, aria: &str) -> Panel {
        let mut svg = String::with_capacity(8 * 1024);
        let _ = write!(
            svg,
            r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
            esc(aria)
        );
        Panel { svg, frame, scale }
    }

    /// Grid lines, value labels (`label` of each tick value) and time labels.
    pub(crate) fn axes(&mut self, y_ticks: &[f64], label: impl Fn(f64) -> String) {
        let mut grid = String::new();
        let mut text = String::new();
        for v in y_ticks {
            let y = self.scale.y(*v);
            let _ = write!(grid, "M{LEFT} {y:.1}H{:.1}", WIDTH - RIGHT);
            let _ = write!(
                text,
                r#"<text x="{:.1}" y="{:.1}" class="yl">{}</text>"#,
                LEFT - 4.0,
                y + 3.5,
                esc(&label(*v))
            );
        }
        for (t, l) in self.frame.ticks() {
            let x = self.frame.x(f(t));
            let _ = write!(grid, "M{x:.1} {TOP}V{:.1}", Scale::base());
            let _ = write!(
                text,
                r#"<text x="{x:.1}" y="{:.1}" class="xl">{}</text>"#,
                Scale::base() + 16.0,
                esc(&l)
            );
        }
        let _ = write!(
            self.svg,
            r#"<path class="grid" d="{grid}"/><path class="axis" d="M{LEFT} {TOP}V{b:.1}H{r:.1}"/>{text}"#,
            b = Scale::base(),
            r = WIDTH - RIGHT
        );
    }

    /// A horizontal threshold line at `v`, labelled above it: the label's
    /// right end is at the plot's right, moved left by `slot` label widths
    /// (so the labels of close lines do not overlap).
    pub(crate) fn threshold(&mut self, v: f64, colour: &str, label: &str, slot: u32) {
        let y = self.scale.y(v);
        let x = WIDTH - RIGHT - 2.0 - f64::from(slot) * 120.0;
        let _ = write!(
            self.svg,
            r#"<path class="thr" stroke="{colour}" d="M{LEFT} {y:.1}H{:.1}"/><text x="{:.1}" y="{:.1}" class="tl" fill="{colour}">{}</text>"#,
            WIDTH - RIGHT,
            x,
            y - 3.0,
            esc(label)
        );
    }

    /// Polylines; a `None` value or a gap of more than one step between
    /// points breaks the line. A lone point is drawn as a dot.
    pub(crate) fn line(&mut self, line: &Line<'_>) {
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (x, v) in &line.values {
            match v {
                Some(v) => {
                    if let Some(run) = runs.last_mut() {
                        run.push((self.frame.x(*x), self.scale.y(*v)));
                    }
                }
                None => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|r| !r.is_empty()) {
            if let [(x, y)] = run.as_slice() {
                let _ = write!(
                    self.svg,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.8" fill="{}"/>"#,
                    line.colour
                );
                continue;
            }
            let pts = run.iter().fold(String::new(), |mut s, (x, y)| {
                let _ = write!(s, "{x:.1},{y:.1} ");
                s
            });
            let _ = write!(
                self.svg,
                r#"<polyline class="ln" stroke="{}" points="{}"/>"#,
                line.colour,
                pts.trim_end()
            );
        }
    }

    /// Stacked areas: `layers[i].1[j]` is layer `i`'s value at `xs[j]`,
    /// drawn on top of the layers before it.
    pub(crate) fn stacked(&mut self, xs: &[f64], layers: &[(String, &str, Vec<f64>)]) {
        let mut below = vec![0.0; xs.len()];
        for (_, colour, values) in layers {
            let above: Vec<f64> = below.iter().zip(values).map(|(b, v)| b + v).collect();
            let mut d = String::new();
            for (j, x) in xs.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}",
                    if j == 0 { "M" } else { "L" },
                    self.frame.x(*x),
                    self.scale.y(above[j])
                );
            }
            for (j, x) in xs.iter().enumerate().rev() {
                let _ = write!(d, "L{:.1} {:.1}", self.frame.x(*x), self.scale.y(below[j]));
            }
            let _ = write!(self.svg, r#"<path fill="{colour}" d="{d}Z"/>"#);
            below = above;
        }
    }

    /// Filled cells `[x0, x1) x [v0, v1)` per colour class, one path per
    /// class (`cells[c]`: the cells of class `c`, drawn with class `h{c}`).
    pub(crate) fn cells(&mut self, cells: &[Vec<(f64, f64, f64, f64)>]) {
        for (c, list) in cells.iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            let mut d = String::new();
            for (x0, x1, v0, v1) in list {
                let (px0, px1) = (self.frame.x(*x0), self.frame.x(*x1));
                let (py0, py1) = (self.scale.y(*v1), self.scale.y(*v0));
                let _ = write!(
                    d,
                    "M{px0:.1} {py0:.1}h{:.1}v{:.1}h{:.1}z",
                    px1 - px0,
                    py1 - py0,
                    px0 - px1
                );
            }
            let _ = write!(self.svg, r#"<path class="h{c}" d="{d}"/>"#);
        }
    }

    /// Hover areas: a transparent column per `(t0, t1, text)` whose
    /// `<title>` the browser shows as a tooltip.
    pub(crate) fn hover(&mut self, columns: &[(u64, u64, String)]) {
        self.svg.push_str(r#"<g class="hov">"#);
        for (t0, t1, text) in columns {
            let (x0, x1) = (self.frame.x(f(*t0)), self.frame.x(f(*t1)));
            let _ = write!(
                self.svg,
                r#"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{PLOT_H}"><title>{}</title></rect>"#,
                x1 - x0,
                esc(text)
            );
        }
        self.svg.push_str("</g>");
    }

    /// The SVG, closed.
    pub(crate) fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_and_clamp() {
        let lin = Scale::Linear { top: 200.0 };
        assert!((lin.y(0.0) - (TOP + PLOT_H)).abs() < 1e-9);
        assert!((lin.y(200.0) - TOP).abs() < 1e-9);
        assert!((lin.y(100.0) - (TOP + PLOT_H / 2.0)).abs() < 1e-9);
        assert!((lin.y(1e9) - TOP).abs() < 1e-9, "above the top is clamped to it");
        let log = Scale::Log { lo: 0.0, hi: 3.0 }; // 1 .. 1000
        assert!((log.y(10.0) - (TOP + PLOT_H * 2.0 / 3.0)).abs() < 1e-9);
        assert!((log.y(0.0) - (TOP + PLOT_H)).abs() < 1e-9, "0 on a log axis sits at the bottom");
        let fr = Frame { t_lo: 100, t_hi: 200 };
        assert!((fr.x(100.0) - LEFT).abs() < 1e-9);
        assert!((fr.x(200.0) - (WIDTH - RIGHT)).abs() < 1e-9);
    }

    #[test]
    fn nice_tops() {
        for (v, want) in [(0.0, 1.0), (0.7, 1.0), (1.0, 1.0), (1.2, 2.0), (2.2, 2.5), (3.0, 5.0)] {
            assert!((nice_top(v, 0.0) - want).abs() < 1e-12, "{v}");
        }
        assert!((nice_top(1234.0, 0.0) - 2000.0).abs() < 1e-9);
        assert!((nice_top(0.3, 1.5) - 2.0).abs() < 1e-12, "the floor counts");
        assert!((nice_top(f64::NAN, 0.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn time_ticks_are_round_and_few() {
        // 2025-12-01 00:00:00 UTC and ten minutes on.
        let fr = Frame { t_lo: 1_764_547_200, t_hi: 1_764_547_800 };
        let ticks = fr.ticks();
        assert_eq!(ticks.first().unwrap(), &(1_764_547_200, "00:00".to_owned()));
        assert_eq!(ticks.len(), 6, "{ticks:?}");
        assert!(ticks.iter().all(|(t, _)| t % 120 == 0));
        let week = Frame { t_lo: 1_764_547_200, t_hi: 1_764_547_200 + 7 * 86_400 };
        let ticks = week.ticks();
        assert!(ticks.len() <= 8 && ticks.len() >= 3, "{ticks:?}");
        assert_eq!(ticks[0].1, "12-01");
    }

    #[test]
    fn lines_break_at_gaps_and_dots_stand_alone() {
        let mut p = Panel::new(Frame { t_lo: 0, t_hi: 10 }, Scale::Linear { top: 10.0 }, "t");
        p.line(&Line {
            colour: "#000",
            values: vec![
                (0.0, Some(1.0)),
                (1.0, Some(2.0)),
                (2.0, None),
                (3.0, Some(3.0)),
                (4.0, None),
                (5.0, Some(4.0)),
                (6.0, Some(5.0)),
            ],
        });
        let svg = p.finish();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn stacked_layers_sum() {
        let mut p = Panel::new(Frame { t_lo: 0, t_hi: 2 }, Scale::Linear { top: 10.0 }, "t");
        let xs = [0.0, 2.0];
        p.stacked(
            &xs,
            &[("a".into(), "#111", vec![2.0, 4.0]), ("b".into(), "#222", vec![3.0, 6.0])],
        );
        let svg = p.finish();
        // The second layer's top edge is at 2+3 and 4+6.
        let (y5, y10) = (Scale::Linear { top: 10.0 }.y(5.0), Scale::Linear { top: 10.0 }.y(10.0));
        assert!(svg.contains(&format!("{LEFT:.1} {y5:.1}L{:.1} {y10:.1}", WIDTH - RIGHT)), "{svg}");
    }
}
