//! A tiny SVG plotting toolkit: one chart with a title, two axes (linear,
//! log10 or categories) with ticks, grid and labels, lines with markers,
//! box plots and a legend. Only what the report's plots need; the output is
//! plain text, so the report needs no plotting dependency.
//!
//! Nothing here panics or writes a non-number into the SVG: a value that
//! cannot be placed on its axis (not finite, or not positive on a log
//! scale) is left out.

// Writing into a `String` cannot fail, so the `fmt::Result`s of `write!`
// below are dropped with `let _`.
use std::fmt::Write;

use crate::numbers::{finite, fixed, trim_zeros};

pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 420.0;
// The plot area. The legend sits to its right so it never hides data.
const PLOT_LEFT: f64 = 76.0;
const PLOT_RIGHT: f64 = 530.0;
const PLOT_TOP: f64 = 56.0;
const PLOT_BOTTOM: f64 = 350.0;
const LEGEND_LEFT: f64 = PLOT_RIGHT + 18.0;
/// Roughly how wide a character of the 12 px sans-serif labels is.
const CHAR_WIDTH: f64 = 7.0;

/// Okabe and Ito's colour-blind-safe colours, without the yellow, which
/// vanishes on white.
const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
const MARKERS: [Marker; 4] = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Diamond];

/// The shape drawn at each point of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Nothing,
}

/// How one series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: &'static str,
    pub marker: Marker,
    pub dashed: bool,
}

impl Style {
    /// The style of the `index`th series. Colours and marker shapes both
    /// cycle, so that lines still differ when printed in grey.
    pub fn series(index: usize) -> Style {
        Style { color: PALETTE[index % PALETTE.len()], marker: MARKERS[index % MARKERS.len()], dashed: false }
    }

    /// A grey dashed line without markers, for what data is compared with.
    pub fn reference() -> Style {
        Style { color: "#888888", marker: Marker::Nothing, dashed: true }
    }
}

/// One axis: where values fall along it and what its ticks say.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    Linear {
        min: f64,
        max: f64,
    },
    /// `min` and `max` are positive.
    Log10 {
        min: f64,
        max: f64,
    },
    /// Evenly spaced bands; the value `i` is the middle of the `i`th band.
    Categories(Vec<String>),
}

/// A tick: where along the axis (0 to 1) and its label.
struct Tick {
    at: f64,
    label: String,
}

impl Axis {
    /// A linear axis over the finite `values`, widened to round numbers
    /// (and to zero when `include_zero`).
    pub fn linear(values: impl IntoIterator<Item = f64>, include_zero: bool) -> Axis {
        let (mut min, mut max) = finite_bounds(values).unwrap_or((0.0, 1.0));
        if include_zero {
            min = min.min(0.0);
            max = max.max(0.0);
        }
        if max <= min {
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            max = min + pad;
            if !include_zero || min != 0.0 {
                min -= pad;
            }
        }
        let Some(step) = nice_step(max - min) else { return Axis::Linear { min, max } };
        match ((min / step).floor() * step, (max / step).ceil() * step) {
            (round_min, round_max) if round_min.is_finite() && round_max.is_finite() => {
                Axis::Linear { min: round_min, max: round_max }
            }
            // Near the ends of f64, rounding outwards can overflow.
            _ => Axis::Linear { min, max },
        }
    }

    /// A log10 axis from the power of ten below the smallest positive value
    /// to the one above the largest.
    pub fn log10(values: impl IntoIterator<Item = f64>) -> Axis {
        let positive = values.into_iter().filter(|value| *value > 0.0);
        let Some((min, max)) = finite_bounds(positive) else { return Axis::Log10 { min: 1.0, max: 10.0 } };
        let low = min.log10().floor().clamp(-300.0, 300.0) as i32;
        let high = (max.log10().ceil().clamp(-300.0, 300.0) as i32).max(low + 1);
        Axis::Log10 { min: 10f64.powi(low), max: 10f64.powi(high) }
    }

    /// The lowest and highest value a linear or log axis shows.
    pub fn range(&self) -> Option<(f64, f64)> {
        match self {
            Axis::Linear { min, max } | Axis::Log10 { min, max } => Some((*min, *max)),
            Axis::Categories(_) => None,
        }
    }

    /// Where `value` falls along the axis, 0 at its start and 1 at its end,
    /// or `None` when it cannot be placed. Far-off values are pulled in to
    /// just outside the plot, where the clip path hides them, so the SVG
    /// never holds huge coordinates.
    fn fraction(&self, value: f64) -> Option<f64> {
        let value = finite(value)?;
        let fraction = match self {
            Axis::Linear { min, max } => (value - min) / (max - min),
            Axis::Log10 { min, max } if value > 0.0 => (value.log10() - min.log10()) / (max.log10() - min.log10()),
            Axis::Log10 { .. } => return None,
            Axis::Categories(labels) if labels.is_empty() => return None,
            Axis::Categories(labels) => (value + 0.5) / labels.len() as f64,
        };
        finite(fraction).map(|fraction| fraction.clamp(-1.0, 2.0))
    }

    fn ticks(&self) -> Vec<Tick> {
        match self {
            Axis::Linear { min, max } => linear_ticks(*min, *max),
            Axis::Log10 { .. } => self.log_ticks(),
            Axis::Categories(labels) => {
                let count = labels.len() as f64;
                labels
                    .iter()
                    .enumerate()
                    .map(|(index, label)| Tick { at: (index as f64 + 0.5) / count, label: label.clone() })
                    .collect()
            }
        }
    }

    /// A tick per power of ten (every few when there are many decades),
    /// plus 2 and 5 times each when there are only one or two decades.
    fn log_ticks(&self) -> Vec<Tick> {
        let Axis::Log10 { min, max } = self else { return Vec::new() };
        let (low, high) = (min.log10().round() as i32, max.log10().round() as i32);
        let decades = (high - low).max(1);
        let stride = ((decades + 7) / 8).max(1) as usize;
        let mut values = Vec::new();
        for exponent in (low..=high).step_by(stride) {
            let decade = 10f64.powi(exponent);
            values.push(decade);
            if decades <= 2 && exponent < high {
                values.extend([2.0 * decade, 5.0 * decade]);
            }
        }
        values
            .into_iter()
            .filter_map(|value| Some(Tick { at: self.fraction(value)?, label: log_label(value) }))
            .collect()
    }
}

/// The smallest and largest finite value, if there is one.
fn finite_bounds(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter_map(finite).fold(None, |bounds, value| match bounds {
        None => Some((value, value)),
        Some((min, max)) => Some((f64::min(min, value), f64::max(max, value))),
    })
}

/// A round step (1, 2 or 5 times a power of ten) that cuts `span` into
/// about five.
fn nice_step(span: f64) -> Option<f64> {
    let raw = span / 5.0;
    if !(raw.is_finite() && raw > 0.0) {
        return None;
    }
    let magnitude = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|multiple| multiple * magnitude).find(|step| *step >= raw)?;
    finite(step).filter(|step| *step > 0.0)
}

fn linear_ticks(min: f64, max: f64) -> Vec<Tick> {
    let Some(step) = nice_step(max - min) else { return Vec::new() };
    let decimals = (-step.log10().floor()).clamp(0.0, 12.0) as usize;
    let first = (min / step).ceil();
    // A hundred is far more than a nice step gives; it only bounds the loop.
    (0..100)
        .map(|index| (first + index as f64) * step)
        .take_while(|value| *value <= max + step * 1e-9)
        .map(|value| Tick { at: (value - min) / (max - min), label: fixed(value, decimals) })
        .filter(|tick| tick.at.is_finite())
        .collect()
}

/// `0.01`, `5`, `1000`, and `1e-5` or `1e7` beyond those.
fn log_label(value: f64) -> String {
    if (1e-3..1e6).contains(&value) {
        let decimals = (-value.log10().floor()).max(0.0) as usize;
        trim_zeros(fixed(value, decimals))
    } else {
        format!("{value:e}")
    }
}

/// The five numbers a box plot shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub low: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub high: f64,
}

/// Where a box goes: in which category, and which of the side-by-side slots
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxPlace {
    pub category: usize,
    pub slot: usize,
    pub slots: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegendKey {
    Line,
    Swatch,
}

/// One chart, drawn into step by step and rendered once.
#[derive(Debug, Clone)]
pub struct Chart {
    title: String,
    note: String,
    x_label: String,
    y_label: String,
    x: Axis,
    y: Axis,
    marks: String,
    legend: Vec<(String, Style, LegendKey)>,
}

impl Chart {
    pub fn new(title: &str, x: Axis, y: Axis) -> Chart {
        Chart {
            title: title.into(),
            note: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x,
            y,
            marks: String::new(),
            legend: Vec::new(),
        }
    }

    pub fn with_labels(mut self, x_label: &str, y_label: &str) -> Chart {
        self.x_label = x_label.into();
        self.y_label = y_label.into();
        self
    }

    /// A small line under the title, e.g. how to read the chart.
    pub fn with_note(mut self, note: &str) -> Chart {
        self.note = note.into();
        self
    }

    /// A line through `points`, in order, with a marker at each. A point
    /// that cannot be placed breaks the line rather than being bridged.
    /// An empty `label` keeps the line out of the legend.
    pub fn line(&mut self, label: &str, style: Style, points: &[(f64, f64)]) {
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for &(x, y) in points {
            match (self.x.fraction(x), self.y.fraction(y)) {
                (Some(x), Some(y)) => {
                    if let Some(segment) = segments.last_mut() {
                        segment.push((x_pixel(x), y_pixel(y)));
                    }
                }
                _ => segments.push(Vec::new()),
            }
        }
        let dash = if style.dashed { r#" stroke-dasharray="6 4""# } else { "" };
        for segment in segments.iter().filter(|segment| segment.len() > 1) {
            let coordinates: Vec<String> = segment.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                self.marks,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
                coordinates.join(" "),
                style.color
            );
        }
        for &(x, y) in segments.iter().flatten() {
            self.marks.push_str(&marker(style, x, y));
        }
        if !label.is_empty() {
            self.legend.push((label.into(), style, LegendKey::Line));
        }
    }

    /// A box from `q1` to `q3` with a line at the median and whiskers out
    /// to `low` and `high`. Needs a category x axis; a box with a value
    /// that is not finite is left out. On a log axis, a value at or below
    /// zero is drawn at the axis' bottom.
    pub fn box_plot(&mut self, place: BoxPlace, style: Style, spread: Spread) {
        let Axis::Categories(labels) = &self.x else { return };
        if place.category >= labels.len() || place.slot >= place.slots {
            return;
        }
        let band = (PLOT_RIGHT - PLOT_LEFT) / labels.len() as f64;
        let slot_width = band * 0.8 / place.slots as f64;
        let center = PLOT_LEFT + band * place.category as f64 + band * 0.1 + slot_width * (place.slot as f64 + 0.5);
        let half = (slot_width * 0.35).min(18.0);
        let y_of = |value: f64| match (finite(value), self.y.fraction(value)) {
            (None, _) => None,
            (Some(_), Some(fraction)) => Some(y_pixel(fraction)),
            (Some(_), None) => Some(y_pixel(0.0)),
        };
        let (Some(low), Some(q1), Some(median), Some(q3), Some(high)) =
            (y_of(spread.low), y_of(spread.q1), y_of(spread.median), y_of(spread.q3), y_of(spread.high))
        else {
            return;
        };
        let color = style.color;
        let (box_top, box_bottom) = (q1.min(q3), q1.max(q3));
        let (left, right, cap) = (center - half, center + half, half * 0.6);
        let _ = writeln!(
            self.marks,
            r#"<g stroke="{color}" stroke-width="1.5"><line x1="{center:.1}" y1="{low:.1}" x2="{center:.1}" y2="{q1:.1}"/><line x1="{center:.1}" y1="{q3:.1}" x2="{center:.1}" y2="{high:.1}"/><line x1="{:.1}" y1="{low:.1}" x2="{:.1}" y2="{low:.1}"/><line x1="{:.1}" y1="{high:.1}" x2="{:.1}" y2="{high:.1}"/><rect x="{left:.1}" y="{box_top:.1}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.3"/><line x1="{left:.1}" y1="{median:.1}" x2="{right:.1}" y2="{median:.1}" stroke-width="3"/></g>"#,
            center - cap,
            center + cap,
            center - cap,
            center + cap,
            right - left,
            box_bottom - box_top,
        );
    }

    /// A legend entry shown as a filled square, for box plots.
    pub fn swatch(&mut self, label: &str, style: Style) {
        self.legend.push((label.into(), style, LegendKey::Swatch));
    }

    /// The chart as a standalone SVG document.
    pub fn render(&self) -> String {
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222222">"##
        );
        let _ = writeln!(svg, r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="24" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            escape(&self.title)
        );
        if !self.note.is_empty() {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="42" font-size="11" fill="#555555" text-anchor="middle">{}</text>"##,
                WIDTH / 2.0,
                escape(&self.note)
            );
        }
        self.render_axes(&mut svg);
        let _ = writeln!(
            svg,
            r#"<defs><clipPath id="plot-area"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/></clipPath></defs>"#,
            PLOT_LEFT - 8.0,
            PLOT_TOP - 8.0,
            PLOT_RIGHT - PLOT_LEFT + 16.0,
            PLOT_BOTTOM - PLOT_TOP + 16.0
        );
        let _ = writeln!(svg, r#"<g clip-path="url(#plot-area)">"#);
        svg.push_str(&self.marks);
        svg.push_str("</g>\n");
        self.render_legend(&mut svg);
        svg.push_str("</svg>\n");
        svg
    }

    fn render_axes(&self, svg: &mut String) {
        for tick in self.y.ticks() {
            let y = y_pixel(tick.at);
            let _ = writeln!(
                svg,
                r##"<line x1="{PLOT_LEFT:.1}" y1="{y:.1}" x2="{PLOT_RIGHT:.1}" y2="{y:.1}" stroke="#e6e6e6"/>"##
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                PLOT_LEFT - 6.0,
                y + 4.0,
                escape(&tick.label)
            );
        }
        let x_ticks = self.x.ticks();
        let band = (PLOT_RIGHT - PLOT_LEFT) / x_ticks.len().max(1) as f64;
        let widest = x_ticks.iter().map(|tick| tick.label.chars().count()).max().unwrap_or(0) as f64 * CHAR_WIDTH;
        // Category labels wider than their band are tilted so they do not
        // run into each other.
        let tilt = matches!(self.x, Axis::Categories(_)) && widest + 6.0 > band;
        for tick in x_ticks {
            let x = x_pixel(tick.at);
            if !matches!(self.x, Axis::Categories(_)) {
                let _ = writeln!(
                    svg,
                    r##"<line x1="{x:.1}" y1="{PLOT_TOP:.1}" x2="{x:.1}" y2="{PLOT_BOTTOM:.1}" stroke="#e6e6e6"/>"##
                );
            }
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{PLOT_BOTTOM:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333333"/>"##,
                PLOT_BOTTOM + 4.0
            );
            let y = PLOT_BOTTOM + 17.0;
            if tilt {
                let _ = writeln!(
                    svg,
                    r#"<text x="{x:.1}" y="{y:.1}" text-anchor="end" transform="rotate(-35 {x:.1} {y:.1})">{}</text>"#,
                    escape(&tick.label)
                );
            } else {
                let _ =
                    writeln!(svg, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#, escape(&tick.label));
            }
        }
        let _ = writeln!(
            svg,
            r##"<polyline points="{PLOT_LEFT:.1},{PLOT_TOP:.1} {PLOT_LEFT:.1},{PLOT_BOTTOM:.1} {PLOT_RIGHT:.1},{PLOT_BOTTOM:.1}" fill="none" stroke="#333333"/>"##
        );
        let x_label_y = if tilt { HEIGHT - 6.0 } else { PLOT_BOTTOM + 42.0 };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{x_label_y:.1}" font-size="13" text-anchor="middle">{}</text>"#,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            escape(&self.x_label)
        );
        let y_middle = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
        let _ = writeln!(
            svg,
            r#"<text x="18" y="{y_middle:.1}" font-size="13" text-anchor="middle" transform="rotate(-90 18 {y_middle:.1})">{}</text>"#,
            escape(&self.y_label)
        );
    }

    fn render_legend(&self, svg: &mut String) {
        for (index, (label, style, key)) in self.legend.iter().enumerate() {
            let y = PLOT_TOP + 8.0 + 20.0 * index as f64;
            match key {
                LegendKey::Line => {
                    let dash = if style.dashed { r#" stroke-dasharray="6 4""# } else { "" };
                    let _ = writeln!(
                        svg,
                        r#"<line x1="{LEGEND_LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"{dash}/>"#,
                        LEGEND_LEFT + 24.0,
                        style.color
                    );
                    svg.push_str(&marker(*style, LEGEND_LEFT + 12.0, y));
                }
                LegendKey::Swatch => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{color}" fill-opacity="0.3" stroke="{color}" stroke-width="1.5"/>"#,
                        LEGEND_LEFT + 6.0,
                        y - 6.0,
                        color = style.color
                    );
                }
            }
            let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, LEGEND_LEFT + 32.0, y + 4.0, escape(label));
        }
    }
}

fn x_pixel(fraction: f64) -> f64 {
    PLOT_LEFT + fraction * (PLOT_RIGHT - PLOT_LEFT)
}

fn y_pixel(fraction: f64) -> f64 {
    PLOT_BOTTOM - fraction * (PLOT_BOTTOM - PLOT_TOP)
}

/// The marker of `style` centred on (`x`, `y`), in pixels.
fn marker(style: Style, x: f64, y: f64) -> String {
    let color = style.color;
    match style.marker {
        Marker::Circle => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}"/>"#) + "\n",
        Marker::Square => {
            format!(r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{color}"/>"#, x - 3.5, y - 3.5) + "\n"
        }
        Marker::Triangle => {
            format!(
                r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{color}"/>"#,
                y - 4.5,
                x - 4.0,
                y + 3.0,
                x + 4.0,
                y + 3.0
            ) + "\n"
        }
        Marker::Diamond => {
            format!(
                r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{color}"/>"#,
                y - 4.5,
                x + 4.5,
                y + 4.5,
                x - 4.5
            ) + "\n"
        }
        Marker::Nothing => String::new(),
    }
}

/// `text` made safe for SVG text and attribute values: markup characters
/// escaped, and control characters XML does not allow dropped.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push(' '),
            control if control.is_control() => {}
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &Axis) -> Vec<String> {
        axis.ticks().into_iter().map(|tick| tick.label).collect()
    }

    #[test]
    fn linear_axes_end_on_round_numbers() {
        let axis = Axis::linear([0.3, 9.2], true);
        assert_eq!(axis, Axis::Linear { min: 0.0, max: 10.0 });
        assert_eq!(labels(&axis), ["0", "2", "4", "6", "8", "10"]);
        assert_eq!(labels(&Axis::linear([0.0, 0.25], true)), ["0.00", "0.05", "0.10", "0.15", "0.20", "0.25"]);
    }

    #[test]
    fn degenerate_linear_axes_still_have_a_span() {
        assert_eq!(Axis::linear([], true), Axis::Linear { min: 0.0, max: 1.0 });
        assert_eq!(Axis::linear([0.0, 0.0], true), Axis::Linear { min: 0.0, max: 1.0 });
        assert!(matches!(Axis::linear([5.0], false), Axis::Linear { min, max } if min < 5.0 && max > 5.0));
        assert!(
            matches!(Axis::linear([f64::NAN, f64::INFINITY], true), Axis::Linear { min, max } if min == 0.0 && max == 1.0)
        );
        let huge = Axis::linear([-f64::MAX, f64::MAX], false);
        assert!(huge.ticks().iter().all(|tick| tick.at.is_finite()));
    }

    #[test]
    fn log_axes_span_whole_decades() {
        let axis = Axis::log10([3.0, 0.0, -1.0, 250.0, f64::NAN]);
        assert_eq!(axis, Axis::Log10 { min: 1.0, max: 1000.0 });
        assert_eq!(labels(&axis), ["1", "10", "100", "1000"]);
        assert_eq!(labels(&Axis::log10([2.0, 50.0])), ["1", "2", "5", "10", "20", "50", "100"]);
        assert_eq!(labels(&Axis::log10([0.01, 0.5])), ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"]);
        assert_eq!(Axis::log10([]), Axis::Log10 { min: 1.0, max: 10.0 });
        assert_eq!(Axis::log10([7.0]), Axis::Log10 { min: 1.0, max: 10.0 });
    }

    #[test]
    fn values_off_the_axis_are_left_out() {
        let axis = Axis::Log10 { min: 1.0, max: 10.0 };
        assert_eq!(axis.fraction(0.0), None);
        assert_eq!(axis.fraction(f64::NAN), None);
        assert_eq!(axis.fraction(1e300), Some(2.0));
        assert_eq!(Axis::Categories(Vec::new()).fraction(0.0), None);
        assert_eq!(Axis::Categories(vec!["a".into(), "b".into()]).fraction(1.0), Some(0.75));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape(r#"a<b>&"c"'d'"#), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
        assert_eq!(escape("x\u{0}y\nz"), "xy z");
    }

    #[test]
    fn broken_points_break_the_line() {
        let mut chart = Chart::new("t", Axis::linear([0.0, 4.0], true), Axis::linear([0.0, 4.0], true));
        chart.line("s", Style::series(0), &[(0.0, 0.0), (1.0, 1.0), (2.0, f64::NAN), (3.0, 3.0), (4.0, 4.0)]);
        let svg = chart.render();
        assert_eq!(svg.matches("<polyline").count(), 3, "two segments and the axes");
        assert_eq!(svg.matches("<circle").count(), 5, "four points and the legend");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn boxes_need_categories_and_finite_values() {
        let spread = Spread { low: 1.0, q1: 2.0, median: 3.0, q3: 4.0, high: 5.0 };
        let place = BoxPlace { category: 0, slot: 0, slots: 1 };
        let mut linear = Chart::new("t", Axis::linear([0.0, 5.0], true), Axis::linear([0.0, 5.0], true));
        linear.box_plot(place, Style::series(0), spread);
        assert!(!linear.render().contains("fill-opacity"));
        let mut boxes = Chart::new("t", Axis::Categories(vec!["a".into()]), Axis::log10([1.0, 5.0]));
        boxes.box_plot(place, Style::series(0), Spread { low: f64::NAN, ..spread });
        boxes.box_plot(BoxPlace { slot: 1, ..place }, Style::series(0), spread);
        assert!(!boxes.render().contains("fill-opacity"));
        boxes.box_plot(place, Style::series(0), Spread { low: 0.0, ..spread });
        assert_eq!(boxes.render().matches("fill-opacity").count(), 1);
    }
}
