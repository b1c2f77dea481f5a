//! SVG plots for INT8 calibration, drawn with [`plotters`] and written atomically.
//!
//! | concept | function | what it draws |
//! | --- | --- | --- |
//! | threshold plot | [`histogram_svg`] | a tensor's histogram of `|x|` (log-scale counts) with one labelled vertical line per calibration method's threshold |
//! | ranking | [`ranking_svg`] | horizontal bars, largest first, e.g. layers by agreement lost when quantized |
//! | errors | [`Error`] | bad input (nothing to plot, NaN, a range that is not positive), drawing, writing |
//!
//! Input is checked before anything is drawn: a bad call writes no file. A plot is drawn into
//! memory, then written to a temporary file beside `path` and renamed over it, so a reader never
//! sees half a file. Only SVG is written: text goes into `<text>` elements that the viewer lays
//! out, so no font or system library is needed (label widths are estimated).
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("conv1.svg");
//! // 2048 bins over [0, 4): heavy-tailed counts.
//! let counts: Vec<u64> = (0..2048u64).map(|k| 1_000_000 >> (k / 128)).collect();
//! let thresholds = [("minmax".to_string(), 4.0), ("percentile=99.99".to_string(), 1.7)];
//! trt_plot::histogram_svg(&path, "conv1", &counts, 4.0, &thresholds)?;
//! let svg = std::fs::read_to_string(&path)?;
//! assert!(svg.contains("<svg") && svg.contains("percentile=99.99"));
//!
//! let layers = [("conv1".to_string(), 0.4), ("fc".to_string(), 2.5)];
//! trt_plot::ranking_svg(dir.path().join("rank.svg"), "sensitivity", &layers, "top-1 points lost")?;
//! assert!(trt_plot::histogram_svg(dir.path().join("x.svg"), "x", &[], 1.0, &[]).is_err());
//! assert!(!dir.path().join("x.svg").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The most bars a histogram plot draws: more bins than this are summed in groups of equal size,
/// so that each bar is at least about 2 pixels wide.
pub const MAX_BARS: usize = 512;

/// Width of a ranking plot, in pixels.
const WIDTH: u32 = 1000;
/// Width of a histogram plot (with its legend panel), in pixels.
const HISTOGRAM_WIDTH: u32 = 1100;
/// Height of a histogram plot, in pixels.
const HISTOGRAM_HEIGHT: u32 = 600;
/// Width of a histogram plot's legend panel, right of the plot, in pixels.
const LEGEND_WIDTH: u32 = 200;
/// The fill of histogram and ranking bars; no threshold line uses it.
const BAR_COLOR: RGBColor = RGBColor(120, 144, 176);
/// Threshold line colours, in the order of the thresholds given (then again from the first).
const LINE_COLORS: [RGBColor; 8] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];
/// Layer names longer than this are shortened in the middle on a ranking's axis.
const MAX_LABEL_CHARS: usize = 60;

/// What can go wrong while plotting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing to draw: a histogram without bins or that counts no value, a ranking without items.
    #[error("{0}: nothing to plot")]
    Empty(String),
    /// A histogram's range `0..amax` must be finite and positive.
    #[error("histogram of `{tensor}`: the range 0..{amax} must be finite and positive")]
    BadRange {
        /// The tensor.
        tensor: String,
        /// The range given.
        amax: f32,
    },
    /// A threshold that is negative, NaN or infinite, or a ranking cost that is NaN or infinite.
    #[error("{what} is {value}: it must be a finite number{rule}")]
    BadValue {
        /// Which value, e.g. "threshold `entropy` of `conv1`".
        what: String,
        /// The value given.
        value: f64,
        /// The rule besides finiteness, e.g. ", at least 0".
        rule: &'static str,
    },
    /// A method or layer label that is empty (it could not be told apart in the plot).
    #[error("{0} has an empty label")]
    EmptyLabel(String),
    /// plotters failed to draw (should not happen for an in-memory SVG).
    #[error("cannot draw {}: {message}", path.display())]
    Draw {
        /// The plot's file.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The plot's file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes an SVG of one tensor's histogram of `|x|` with each method's threshold.
///
/// `counts` are histogram bins of equal width over `[0, amax]`, bin 0 first (e.g. the 2048 bins of
/// a `trt_calib_stats::Histogram`). They are drawn as bars on a logarithmic count axis
/// (activation histograms are heavy-tailed); empty bins draw nothing. More than [`MAX_BARS`] bins
/// are summed in groups of `ceil(bins / MAX_BARS)` adjacent bins, and the count axis says so.
/// Each `(label, threshold)` is a vertical line in the next of 8 colours, labelled at its top and,
/// with its value, in a legend right of the plot. The x axis spans `[0, max(amax, thresholds)]`.
///
/// Fails, writing nothing, for empty or all-zero `counts`, an `amax` that is not finite and
/// positive, a threshold that is negative or not finite, or an empty label.
pub fn histogram_svg(
    path: impl AsRef<Path>,
    tensor_name: &str,
    counts: &[u64],
    amax: f32,
    thresholds: &[(String, f32)],
) -> Result<()> {
    let path = path.as_ref();
    let what = || format!("histogram of `{tensor_name}`");
    if counts.is_empty() {
        return Err(Error::Empty(format!("{} (no bins)", what())));
    }
    if counts.iter().all(|&c| c == 0) {
        return Err(Error::Empty(format!("{} (no values counted)", what())));
    }
    if !(amax.is_finite() && amax > 0.0) {
        return Err(Error::BadRange {
            tensor: tensor_name.to_owned(),
            amax,
        });
    }
    for (label, t) in thresholds {
        if label.is_empty() {
            return Err(Error::EmptyLabel(format!("a threshold of `{tensor_name}`")));
        }
        if !(t.is_finite() && *t >= 0.0) {
            return Err(Error::BadValue {
                what: format!("threshold `{label}` of `{tensor_name}`"),
                value: *t as f64,
                rule: ", at least 0",
            });
        }
    }
    let bars = bars(counts, amax as f64);
    let group = counts.len().div_ceil(MAX_BARS);
    let x_max = thresholds
        .iter()
        .fold(amax as f64, |m, (_, t)| m.max(*t as f64));
    let top = bars.iter().fold(0, |m, b| m.max(b.2)) as f64 * 3.0;
    let total: u64 = counts.iter().sum();
    let y_desc = if group > 1 {
        format!("values per bar of {group} bins (log scale)")
    } else {
        "values per bin (log scale)".to_owned()
    };

    let svg = render(path, HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT, |root| {
        root.draw(&Text::new(
            format!("{tensor_name}: histogram of |x|, {total} values"),
            (HISTOGRAM_WIDTH as i32 / 2, 10),
            ("sans-serif", 20)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        let body = root.margin(40, 0, 0, 0);
        // The legend gets a panel of its own right of the plot, so that it hides no bar or label.
        let (plot, legend) = body.split_horizontally(HISTOGRAM_WIDTH - LEGEND_WIDTH);
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..x_max, (BOTTOM..top).log_scale())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .x_desc("|x|")
            .y_desc(y_desc)
            .y_label_formatter(&|v| format_count(*v))
            .draw()?;
        chart.draw_series(bars.iter().map(|&(x0, x1, c)| {
            Rectangle::new([(x0, BOTTOM), (x1, c as f64)], BAR_COLOR.filled())
        }))?;
        for (i, (label, t)) in thresholds.iter().enumerate() {
            let color = LINE_COLORS[i % LINE_COLORS.len()];
            let t = *t as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(t, BOTTOM), (t, top)],
                color.stroke_width(2),
            )))?;
            // The label at the line's top, rows staggered so that close lines stay readable.
            let (px, py) = chart.backend_coord(&(t, top));
            let (dx, h) = if t > 0.8 * x_max {
                (-4, HPos::Right)
            } else {
                (4, HPos::Left)
            };
            plot.draw(&Text::new(
                label.clone(),
                (px + dx, py + 4 + 16 * i as i32),
                ("sans-serif", 14)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(h, VPos::Top)),
            ))?;
            // Its legend row: a line sample, the label and the value.
            let y = 30 + 40 * i as i32;
            legend.draw(&PathElement::new(
                vec![(8, y + 8), (32, y + 8)],
                color.stroke_width(2),
            ))?;
            legend.draw(&Text::new(
                label.clone(),
                (40, y),
                ("sans-serif", 14).into_font().color(&color),
            ))?;
            legend.draw(&Text::new(
                format!("= {}", format_value(t)),
                (40, y + 17),
                ("sans-serif", 14).into_font().color(&BLACK),
            ))?;
        }
        Ok(())
    })?;
    write(path, &svg)
}

/// The bottom of the log-scale count axis: below 1, so that a bin counting one value shows.
const BOTTOM: f64 = 0.5;

/// Non-empty bars `(x0, x1, count)` of `counts` over `[0, amax]`, at most [`MAX_BARS`].
fn bars(counts: &[u64], amax: f64) -> Vec<(f64, f64, u64)> {
    let group = counts.len().div_ceil(MAX_BARS);
    let width = amax / counts.len() as f64;
    counts
        .chunks(group)
        .enumerate()
        .filter_map(|(i, c)| {
            let sum: u64 = c.iter().sum();
            let start = i * group;
            (sum > 0).then(|| (start as f64 * width, (start + c.len()) as f64 * width, sum))
        })
        .collect()
}

/// Writes an SVG ranking: one horizontal bar per `(label, cost)`, largest cost at the top (ties
/// keep their order), each bar labelled with its value.
///
/// Meant for layer sensitivity (e.g. top-1 agreement points lost when a layer runs in INT8):
/// pass the layers worth showing; the plot grows 24 pixels per item. Costs may be negative
/// (bars then go left of 0). Names longer than 60 characters are shortened in the middle.
///
/// Fails, writing nothing, for no items, an empty label, or a cost that is NaN or infinite.
pub fn ranking_svg(
    path: impl AsRef<Path>,
    title: &str,
    items: &[(String, f64)],
    x_label: &str,
) -> Result<()> {
    let path = path.as_ref();
    if items.is_empty() {
        return Err(Error::Empty(format!("ranking `{title}` (no items)")));
    }
    for (label, cost) in items {
        if label.is_empty() {
            return Err(Error::EmptyLabel(format!("an item of ranking `{title}`")));
        }
        if !cost.is_finite() {
            return Err(Error::BadValue {
                what: format!("the cost of `{label}` in ranking `{title}`"),
                value: *cost,
                rule: "",
            });
        }
    }
    let mut sorted: Vec<(String, f64)> = items
        .iter()
        .map(|(l, c)| (shorten(l, MAX_LABEL_CHARS), *c))
        .collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let n = sorted.len();
    let lo = sorted.iter().fold(0.0f64, |m, i| m.min(i.1));
    let hi = sorted.iter().fold(0.0f64, |m, i| m.max(i.1));
    let pad = if hi > lo { (hi - lo) * 0.12 } else { 1.0 };
    let (x0, x1) = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    let longest = sorted
        .iter()
        .map(|i| i.0.chars().count())
        .max()
        .unwrap_or(0);
    // 7 px per character of 13 px text (plotters' own estimate is 0.7 em, about the same).
    let label_area = (longest as u32 * 7 + 24).clamp(80, 460);
    let height = 110 + 24 * n as u32;
    // Row i from the top spans y in [n - 1 - i, n - i] (the y axis points up).
    let row = |i: usize| (n - 1 - i) as f64;
    let svg = render(path, WIDTH, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(label_area)
            .build_cartesian_2d(x0..x1, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_desc(x_label)
            .draw()?;
        chart.draw_series(sorted.iter().enumerate().map(|(i, (_, c))| {
            Rectangle::new(
                [(0.0, row(i) + 0.15), (*c, row(i) + 0.85)],
                BAR_COLOR.filled(),
            )
        }))?;
        let (left, _) = chart.backend_coord(&(x0, 0.0));
        for (i, (name, c)) in sorted.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(*c, row(i) + 0.5));
            root.draw(&Text::new(
                name.clone(),
                (left - 8, py),
                ("sans-serif", 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            let (dx, h) = if *c < 0.0 {
                (-4, HPos::Right)
            } else {
                (4, HPos::Left)
            };
            root.draw(&Text::new(
                format_value(*c),
                (px + dx, py),
                ("sans-serif", 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(h, VPos::Center)),
            ))?;
        }
        Ok(())
    })?;
    write(path, &svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// Draws into an in-memory SVG of `width` x `height` on a white background.
fn render(
    path: &Path,
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| Error::Draw {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
    }
    Ok(svg)
}

fn write(path: &Path, svg: &str) -> Result<()> {
    trt_calib_table::write_atomic(path, svg.as_bytes()).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// A threshold or cost for a label: 4 significant digits, scientific notation when far from 1.
fn format_value(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// A count axis label: 1, 10, 100, 1k, 10k, ..., 1M, ...
fn format_count(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{}G", v / 1e9),
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e3 => format!("{}k", v / 1e3),
        v => format!("{v}"),
    }
}

/// `s` with its middle replaced by `…` when longer than `max` characters.
fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_counts_are_formatted_for_reading() {
        assert_eq!(format_value(3.45678), "3.457");
        assert_eq!(format_value(0.012345), "0.01235");
        assert_eq!(format_value(1234.5), "1234");
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(-2.5), "-2.500");
        assert_eq!(format_value(1.5e-6), "1.500e-6");
        assert_eq!(format_count(1e6), "1M");
        assert_eq!(format_count(10.0), "10");
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten("abc", 5), "abc");
    }

    #[test]
    fn bins_are_grouped_into_at_most_max_bars() {
        let counts = vec![1u64; 2048];
        let b = bars(&counts, 2048.0);
        assert_eq!(b.len(), MAX_BARS);
        assert_eq!(b[1], (4.0, 8.0, 4));
        let mut few = vec![0u64; 10];
        few[3] = 7;
        assert_eq!(bars(&few, 1.0), vec![(0.30000000000000004, 0.4, 7)]);
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// The `<rect>`s filled with the bar colour.
    fn bar_count(svg: &str) -> usize {
        svg.matches(&format!("fill=\"{}\"", hex(BAR_COLOR))).count()
    }

    /// The `points` of every 2-pixel polyline stroked in `color`.
    fn lines_in(svg: &str, color: RGBColor) -> Vec<Vec<(i32, i32)>> {
        let stroke = format!("stroke=\"{}\" stroke-width=\"2\" points=\"", hex(color));
        svg.split(&stroke)
            .skip(1)
            .map(|rest| {
                rest[..rest.find('"').unwrap()]
                    .split_whitespace()
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    /// Every `<text>`: its `x`, `y` and content (as escaped in the SVG).
    fn texts(svg: &str) -> Vec<(i32, i32, String)> {
        svg.split("<text ")
            .skip(1)
            .map(|t| {
                let num = |key: &str| -> i32 {
                    let v = &t[t.find(key).unwrap() + key.len()..];
                    v[..v.find('"').unwrap()].parse().unwrap()
                };
                let body = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
                (num("x=\""), num(" y=\""), body.trim().to_owned())
            })
            .collect()
    }

    fn has_text(svg: &str, content: &str) -> usize {
        texts(svg).iter().filter(|t| t.2 == content).count()
    }

    fn four_methods() -> Vec<(String, f32)> {
        vec![
            ("minmax".into(), 4.0),
            ("entropy".into(), 1.25),
            ("percentile=99.99".into(), 2.5),
            ("mse".into(), 1.0),
        ]
    }

    #[test]
    fn a_histogram_has_a_bar_per_non_empty_group_and_a_line_per_method() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        // 2048 bins over [0, 4) are drawn as 512 bars of 4 bins: bins 0..100 fill bars 0..25,
        // bins 2000 and 2001 both fall in bar 500.
        let mut counts = vec![0u64; 2048];
        for (k, c) in counts.iter_mut().enumerate().take(100) {
            *c = 1 << (20 - k / 5);
        }
        counts[2000] = 1;
        counts[2001] = 2;
        let name = "(Unnamed Layer* 3) [Conv]_out<&>";
        histogram_svg(&path, name, &counts, 4.0, &four_methods()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            has_text(
                &svg,
                &format!(
                    "(Unnamed Layer* 3) [Conv]_out&lt;&amp;&gt;: histogram of |x|, {} values",
                    counts.iter().sum::<u64>()
                )
            ),
            1
        );
        assert_eq!(bar_count(&svg), 26);
        assert_eq!(has_text(&svg, "values per bar of 4 bins (log scale)"), 1);
        // Each method: its label twice (at the line, in the legend), its value, a vertical line
        // from the bottom to the top of the plot and a legend sample.
        let mut xs = Vec::new();
        for (i, (label, t)) in four_methods().iter().enumerate() {
            assert_eq!(has_text(&svg, label), 2, "{label}");
            let value = format!("= {}", format_value(*t as f64));
            assert_eq!(has_text(&svg, &value), 1, "{label}");
            let lines = lines_in(&svg, LINE_COLORS[i]);
            assert_eq!(lines.len(), 2, "{label}");
            let vertical = &lines[0];
            assert_eq!(vertical[0].0, vertical[1].0, "{label}: {vertical:?}");
            assert!(vertical[0].1 > vertical[1].1 + 300, "{label}: {vertical:?}");
            xs.push((*t, vertical[0].0));
        }
        // Lines stand where their thresholds are: x linear in t, minmax (4.0) at the right edge.
        let (x0, x4) = (bar_x(&svg), xs[0].1);
        for (t, x) in &xs {
            let want = x0 as f32 + t / 4.0 * (x4 - x0) as f32;
            assert!((*x as f32 - want).abs() <= 1.0, "{t} at {x}, want {want}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    /// The left edge of the first bar: x of |x| = 0.
    fn bar_x(svg: &str) -> i32 {
        let at = svg.find(&format!("fill=\"{}\"", hex(BAR_COLOR))).unwrap();
        let rect = &svg[svg[..at].rfind("<rect").unwrap()..at];
        let x = &rect[rect.find("x=\"").unwrap() + 3..];
        x[..x.find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn few_bins_are_bars_of_one_bin_and_thresholds_past_amax_widen_the_axis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.svg");
        std::fs::write(&path, "old").unwrap();
        let counts = [5u64, 0, 3, 0, 0, 0, 0, 0, 0, 1];
        histogram_svg(&path, "small", &counts, 1.0, &[("far".into(), 2.0)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(bar_count(&svg), 3);
        assert_eq!(has_text(&svg, "values per bin (log scale)"), 1);
        let line = &lines_in(&svg, LINE_COLORS[0])[0];
        // The axis runs to 2.0: the last bar ends halfway, the line at the right edge.
        let right = svg
            .split("<rect")
            .filter(|r| r.contains(&hex(BAR_COLOR)))
            .map(|r| {
                let num = |key: &str| -> i32 {
                    let v = &r[r.find(key).unwrap() + key.len()..];
                    v[..v.find('"').unwrap()].parse().unwrap()
                };
                num(" x=\"") + num(" width=\"")
            })
            .max()
            .unwrap();
        let left = bar_x(&svg);
        assert!(
            ((right - left) * 2 - (line[0].0 - left)).abs() <= 2,
            "{right} {left} {line:?}"
        );
    }

    #[test]
    fn bad_histograms_are_refused_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.svg");
        let ok = [1u64, 2, 3];
        let t = |label: &str, v: f32| vec![(label.to_string(), v)];
        type Case<'a> = (&'a [u64], f32, Vec<(String, f32)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                &[],
                1.0,
                vec![],
                "histogram of `x` (no bins): nothing to plot",
            ),
            (
                &[0, 0],
                1.0,
                vec![],
                "histogram of `x` (no values counted): nothing to plot",
            ),
            (
                &ok,
                0.0,
                vec![],
                "the range 0..0 must be finite and positive",
            ),
            (&ok, -1.0, vec![], "the range 0..-1 must be finite"),
            (&ok, f32::NAN, vec![], "the range 0..NaN must be finite"),
            (
                &ok,
                f32::INFINITY,
                vec![],
                "the range 0..inf must be finite",
            ),
            (
                &ok,
                1.0,
                t("mse", f32::NAN),
                "threshold `mse` of `x` is NaN: it must be a finite number, at least 0",
            ),
            (&ok, 1.0, t("mse", -0.5), "threshold `mse` of `x` is -0.5"),
            (
                &ok,
                1.0,
                t("", 0.5),
                "a threshold of `x` has an empty label",
            ),
        ];
        for (counts, amax, thresholds, says) in cases {
            let e = histogram_svg(&path, "x", counts, amax, &thresholds).unwrap_err();
            assert!(e.to_string().contains(says), "{e} / {says}");
            assert!(!path.exists(), "{says}");
        }
        // A failed call leaves an earlier plot as it was.
        std::fs::write(&path, "earlier").unwrap();
        assert!(histogram_svg(&path, "x", &[], 1.0, &[]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier");
    }

    #[test]
    fn a_ranking_puts_the_largest_cost_on_top() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank.svg");
        let long = format!("/backbone/{}/conv", "stage".repeat(20));
        let items = vec![
            ("fc".to_string(), 0.5),
            ("conv1".to_string(), 3.25),
            (long.clone(), -1.0),
            ("pool".to_string(), 0.5),
            ("conv2".to_string(), 12.0),
        ];
        ranking_svg(&path, "top-1 lost <INT8>", &items, "points").unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert_eq!(has_text(&svg, "top-1 lost &lt;INT8&gt;"), 1);
        assert_eq!(has_text(&svg, "points"), 1);
        assert_eq!(bar_count(&svg), 5);
        let short = shorten(&long, MAX_LABEL_CHARS);
        assert!(short.ends_with("stage/conv") && short.chars().count() == 60);
        assert!(!svg.contains(&long));
        // Names from top to bottom (the y of their <text>): by cost, ties in the order given.
        let all = texts(&svg);
        let y_of = |name: &str| all.iter().find(|t| t.2 == name).unwrap().1;
        let ys: Vec<i32> = ["conv2", "conv1", "fc", "pool", short.as_str()]
            .iter()
            .map(|n| y_of(n))
            .collect();
        assert!(ys.windows(2).all(|w| w[0] + 20 <= w[1]), "{ys:?}");
        for (v, n) in [("12.00", 1), ("3.250", 1), ("0.5000", 2), ("-1.000", 1)] {
            assert_eq!(has_text(&svg, v), n, "{v}");
        }
    }

    #[test]
    fn bad_rankings_are_refused_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank.svg");
        let cases: Vec<(Vec<(String, f64)>, &str)> = vec![
            (vec![], "ranking `r` (no items): nothing to plot"),
            (
                vec![("a".into(), f64::NAN)],
                "the cost of `a` in ranking `r` is NaN",
            ),
            (
                vec![("a".into(), f64::INFINITY)],
                "is inf: it must be a finite number",
            ),
            (
                vec![("".into(), 1.0)],
                "an item of ranking `r` has an empty label",
            ),
        ];
        for (items, says) in cases {
            let e = ranking_svg(&path, "r", &items, "x").unwrap_err();
            assert!(e.to_string().contains(says), "{e} / {says}");
            assert!(!path.exists());
        }
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir/t.svg");
        let e = ranking_svg(&path, "r", &[("a".into(), 1.0)], "x").unwrap_err();
        assert!(matches!(e, Error::Write { .. }), "{e}");
        assert!(e.to_string().contains("missing-dir/t.svg"), "{e}");
    }
}
