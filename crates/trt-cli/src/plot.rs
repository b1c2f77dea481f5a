//! `trt calib --method ... --plot DIR`: one SVG per tensor, its histogram of `|x|` with the
//! thresholds of all four methods computed from the same statistics (crate `trt-plot`).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use trt::stats::{Collector, Method, TensorStats};

/// The methods every plot shows, in legend order.
pub const METHODS: [Method; 4] = [
    Method::MinMax,
    Method::Entropy,
    Method::Percentile(99.99),
    Method::Mse,
];

/// Tensors plotted when none is named: those whose thresholds disagree most.
pub const DEFAULT_TENSORS: usize = 8;

/// `--plot` and `--plot-tensor` of `trt calib`.
#[derive(Args, Debug, Default, Clone)]
pub struct PlotArgs {
    /// With --method: write DIR/<tensor>.svg (created if missing), a tensor's histogram of |x|
    /// with the thresholds of minmax, entropy, percentile=99.99 and mse, all from the same
    /// statistics; by default for the 8 tensors whose thresholds disagree most (largest
    /// max/min).
    #[arg(long, value_name = "DIR", requires = "method")]
    pub plot: Option<PathBuf>,
    /// With --plot: plot this tensor instead (repeatable); an unknown name is refused, with the
    /// closest names, before any plot is written.
    #[arg(long, value_name = "NAME", requires = "plot")]
    pub plot_tensor: Vec<String>,
}

/// One tensor to plot: its record and the four thresholds, in [`METHODS`] order.
struct Plot<'a> {
    tensor: &'a TensorStats,
    thresholds: [f32; 4],
}

impl Plot<'_> {
    /// The largest threshold over the smallest: 1 when they agree, infinite when one is 0.
    fn disagreement(&self) -> f64 {
        let lo = self.thresholds.iter().fold(f32::INFINITY, |m, &t| m.min(t)) as f64;
        let hi = self.thresholds.iter().fold(0.0f32, |m, &t| m.max(t)) as f64;
        if hi == 0.0 {
            1.0
        } else {
            hi / lo
        }
    }
}

/// Writes the plots `args` asks for and prints one line per file; does nothing without --plot.
/// Every named tensor is checked before the first file is written.
pub fn write_plots(args: &PlotArgs, collector: &Collector, out: &mut dyn Write) -> Result<()> {
    let Some(dir) = &args.plot else {
        return Ok(());
    };
    let plots = if args.plot_tensor.is_empty() {
        most_disagreeing(collector, DEFAULT_TENSORS)
    } else {
        named(collector, &args.plot_tensor)?
    };
    if plots.is_empty() {
        writeln!(
            out,
            "plot       nothing to plot: no tensor has values other than 0"
        )?;
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plot directory {}", dir.display()))?;
    let mut taken = HashSet::new();
    for p in &plots {
        let path = dir.join(file_name(&p.tensor.name, &mut taken));
        let h = &p.tensor.histogram;
        let thresholds: Vec<(String, f32)> = METHODS
            .iter()
            .zip(p.thresholds)
            .map(|(m, t)| (m.to_string(), t))
            .collect();
        trt_plot::histogram_svg(&path, &p.tensor.name, h.counts(), h.amax(), &thresholds)
            .with_context(|| format!("cannot plot tensor `{}`", p.tensor.name))?;
        writeln!(out, "plot       {}", describe(&path, p))?;
    }
    Ok(())
}

/// `DIR/x.svg  tensor (max/min 2.43: minmax 22.77, entropy 10.26, ...)`.
fn describe(path: &Path, p: &Plot) -> String {
    let values: Vec<String> = METHODS
        .iter()
        .zip(p.thresholds)
        .map(|(m, t)| format!("{m} {t}"))
        .collect();
    format!(
        "{}  `{}` (max/min {:.2}: {})",
        path.display(),
        p.tensor.name,
        p.disagreement(),
        values.join(", ")
    )
}

/// The four thresholds of one tensor.
fn thresholds(t: &TensorStats) -> trt::stats::Result<[f32; 4]> {
    let mut out = [0.0; 4];
    for (o, m) in out.iter_mut().zip(METHODS) {
        *o = m.threshold(&t.name, &t.stats, &t.histogram)?;
    }
    Ok(out)
}

/// Up to `n` tensors by disagreement, largest first (ties in collection order). Tensors without
/// values or with only zeros are left out: they have nothing to draw.
fn most_disagreeing(collector: &Collector, n: usize) -> Vec<Plot<'_>> {
    let tensors = collector.tensors();
    // Every tensor's thresholds, tensors in parallel; one by one when a tensor has none (no
    // values), so that it alone is left out.
    let all: Vec<Option<[f32; 4]>> = match METHODS
        .iter()
        .map(|&m| collector.thresholds(m))
        .collect::<trt::stats::Result<Vec<_>>>()
    {
        Ok(by_method) => (0..tensors.len())
            .map(|i| Some([0, 1, 2, 3].map(|m| by_method[m][i].amax)))
            .collect(),
        Err(_) => tensors.iter().map(|t| thresholds(t).ok()).collect(),
    };
    let mut plots: Vec<Plot> = tensors
        .iter()
        .zip(all)
        .filter(|(t, _)| t.histogram.amax() > 0.0)
        .filter_map(|(tensor, thresholds)| thresholds.map(|thresholds| Plot { tensor, thresholds }))
        .collect();
    plots.sort_by(|a, b| b.disagreement().total_cmp(&a.disagreement()));
    plots.truncate(n);
    plots
}

/// The named tensors (each once, in the order named). Unknown names are refused together, each
/// with the closest collected names.
fn named<'a>(collector: &'a Collector, names: &[String]) -> Result<Vec<Plot<'a>>> {
    let mut seen = HashSet::new();
    let names: Vec<&String> = names.iter().filter(|n| seen.insert(*n)).collect();
    let unknown: Vec<String> = names
        .iter()
        .filter(|n| collector.get(n).is_none())
        .map(|n| {
            let all = collector.tensors().iter().map(|t| t.name.as_str());
            let close = closest(n, all, 3);
            if close.is_empty() {
                format!("`{n}`")
            } else {
                let close: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
                format!("`{n}` (closest: {})", close.join(", "))
            }
        })
        .collect();
    if !unknown.is_empty() {
        bail!(
            "--plot-tensor: no tensor {} among the {} collected; nothing was plotted",
            unknown.join(", no tensor "),
            collector.tensors().len()
        );
    }
    let mut plots = Vec::new();
    for n in names {
        let tensor = collector.get(n).expect("checked above");
        if tensor.histogram.amax() == 0.0 {
            bail!("--plot-tensor: every value of `{n}` is 0, there is no histogram to plot; nothing was plotted");
        }
        let thresholds = thresholds(tensor).with_context(|| format!("cannot plot tensor `{n}`"))?;
        plots.push(Plot { tensor, thresholds });
    }
    Ok(plots)
}

/// A file name for `tensor`: characters other than ASCII letters, digits, `-`, `_` and `.` become
/// `_` (so do a leading `.`), at most 100 of them, then `.svg`; a name already `taken` gets
/// `-2`, `-3`, ... before the extension.
fn file_name(tensor: &str, taken: &mut HashSet<String>) -> String {
    let mut stem: String = tensor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if stem.is_empty() {
        stem.push_str("tensor");
    }
    if stem.starts_with('.') {
        stem.replace_range(..1, "_");
    }
    let mut name = format!("{stem}.svg");
    let mut k = 2;
    while !taken.insert(name.clone()) {
        name = format!("{stem}-{k}.svg");
        k += 1;
    }
    name
}

/// Up to `n` of `names` closest to `name` (edit distance, ignoring case; names containing it or
/// contained in it first), nearest first; none farther than a third of `name`'s length.
fn closest<'a>(name: &str, names: impl Iterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let lower = name.to_lowercase();
    let limit = (lower.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|c| {
            let cl = c.to_lowercase();
            let d = if cl.contains(&lower) || lower.contains(&cl) {
                0
            } else {
                distance(&lower, &cl)
            };
            (d <= limit).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten tensors of Laplace-like values (|x| < 10) with an outlier `10 k` in `/layer{k}/...`, a
    /// tensor of zeros and one without values (which has no thresholds), collected in two passes.
    fn collector() -> Collector {
        collector_with(true)
    }

    fn collector_with(empty: bool) -> Collector {
        let bulk: Vec<f32> = (0..20_000)
            .map(|i| {
                let u = (i as f64 + 0.5) / 20_000.0;
                let x = if u < 0.5 {
                    (2.0 * u).ln()
                } else {
                    -(2.0 * (1.0 - u)).ln()
                };
                x as f32
            })
            .collect();
        let mut batches: Vec<(String, Vec<f32>)> = (1..=10)
            .map(|k| {
                let mut d = bulk.clone();
                d[7] = 10.0 * k as f32;
                (format!("/layer{k}/Relu_output_0"), d)
            })
            .collect();
        batches.push(("zeros".into(), vec![0.0; 100]));
        if empty {
            batches.push(("empty".into(), vec![]));
        }
        let mut c = Collector::two_pass();
        for (n, d) in &batches {
            c.add(n, d).unwrap();
        }
        c.finish_range_pass();
        for (n, d) in &batches {
            c.add(n, d).unwrap();
        }
        c
    }

    fn args(dir: &Path, tensors: &[&str]) -> PlotArgs {
        PlotArgs {
            plot: Some(dir.to_owned()),
            plot_tensor: tensors.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut f: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        f.sort();
        f
    }

    #[test]
    fn by_default_the_eight_most_disagreeing_tensors_are_plotted_with_four_thresholds() {
        let c = collector();
        let dir = tempfile::tempdir().unwrap();
        let plots = dir.path().join("plots");
        let mut out = Vec::new();
        write_plots(&args(&plots, &[]), &c, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        // Without the empty tensor, thresholds come from `Collector::thresholds` in parallel:
        // the same plots.
        let full = collector_with(false);
        assert!(full.thresholds(Method::Mse).is_ok() && c.thresholds(Method::Mse).is_err());
        let mut again = Vec::new();
        write_plots(&args(&plots, &[]), &full, &mut again).unwrap();
        assert_eq!(String::from_utf8(again).unwrap(), out);
        // The larger the outlier, the larger MinMax over the others: layers 10 down to 3.
        let want: Vec<String> = (3..=10)
            .rev()
            .map(|k| format!("_layer{k}_Relu_output_0.svg"))
            .collect();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 8, "{out}");
        for (line, file) in lines.iter().zip(&want) {
            let path = plots.join(file);
            assert!(
                line.starts_with(&format!("plot       {}  `/layer", path.display())),
                "{line}"
            );
            let svg = std::fs::read_to_string(&path).unwrap();
            for m in ["minmax", "entropy", "percentile=99.99", "mse"] {
                assert!(line.contains(&format!(" {m} ")), "{line}");
                assert!(svg.contains(&format!("\n{m}\n")), "{file}: {m}");
            }
        }
        let mut sorted = want.clone();
        sorted.sort();
        assert_eq!(files(&plots), sorted);
        // Layer 10: the outlier 100 is MinMax's threshold; entropy and percentile stay near the
        // bulk (|x| < 10), MSE keeps most of the outlier.
        let t = thresholds(c.get("/layer10/Relu_output_0").unwrap()).unwrap();
        assert_eq!(t[0], 100.0);
        assert!(t[1..3].iter().all(|&x| x > 5.0 && x < 30.0), "{t:?}");
        assert!(t[3] > 30.0 && t[3] < 100.0, "{t:?}");
        assert!(
            lines[0].contains("(max/min 10.11: minmax 100, entropy 9.91"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn named_tensors_are_plotted_once_each_and_unknown_names_refused_first() {
        let c = collector();
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let e = write_plots(
            &args(
                dir.path(),
                &["/layer1/Relu_output_0", "/layer2/Relu_outptu_0", "fc"],
            ),
            &c,
            &mut out,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "--plot-tensor: no tensor `/layer2/Relu_outptu_0` (closest: `/layer2/Relu_output_0`, \
             `/layer1/Relu_output_0`, `/layer3/Relu_output_0`), no tensor `fc` among the 12 \
             collected; nothing was plotted"
        );
        assert!(files(dir.path()).is_empty() && out.is_empty());
        let e = write_plots(&args(dir.path(), &["zeros"]), &c, &mut out).unwrap_err();
        assert!(e.to_string().contains("every value of `zeros` is 0"), "{e}");

        let named = ["/layer2/Relu_output_0", "/layer1/Relu_output_0"];
        let twice = [named[0], named[1], named[0]];
        write_plots(&args(dir.path(), &twice), &c, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out
            .lines()
            .next()
            .unwrap()
            .contains("`/layer2/Relu_output_0`"));
        assert_eq!(
            files(dir.path()),
            ["_layer1_Relu_output_0.svg", "_layer2_Relu_output_0.svg"]
        );
    }

    #[test]
    fn without_plot_nothing_happens() {
        let mut out = Vec::new();
        write_plots(&PlotArgs::default(), &collector(), &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        let mut taken = HashSet::new();
        let mut f = |n: &str| file_name(n, &mut taken);
        assert_eq!(
            f("(Unnamed Layer* 3) [Convolution]_output"),
            "_Unnamed_Layer__3___Convolution__output.svg"
        );
        assert_eq!(f("a/b"), "a_b.svg");
        assert_eq!(f("a:b"), "a_b-2.svg");
        assert_eq!(f("a b"), "a_b-3.svg");
        assert_eq!(f(".."), "_..svg");
        assert_eq!(f(""), "tensor.svg");
        assert_eq!(f(&"x".repeat(300)).len(), 104);
    }
}
