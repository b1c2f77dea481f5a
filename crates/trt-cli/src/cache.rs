//! `trt cache`: INT8 calibration tables.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use trt_calib_table::{check, diff, CalibrationTable, RangeChange, TableDiff, TrtVersion};

use crate::exit::Outcome;

/// Calibration table commands.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// Print a table's TensorRT version, algorithm, and each tensor's scale and dynamic range.
    #[command(after_help = "Examples:\n  \
        trt cache show resnet18.calib.cache\n  \
        trt cache show resnet18.calib.cache --json")]
    Show {
        /// The calibration table (e.g. `model.calib.cache`).
        table: PathBuf,
        /// Print JSON: {version, algorithm, entries: [{tensor, scale, dynamic_range}]}.
        #[arg(long)]
        json: bool,
    },

    /// Check that a TensorRT version can use a table (same major.minor).
    ///
    /// TensorRT silently recalibrates when it rejects a table; check before building.
    /// Exit code: 0 compatible, 1 incompatible, 2 unreadable or corrupt table.
    #[command(after_help = "Examples:\n  \
        trt cache check resnet18.calib.cache --trt 8.5.2     # JetPack 5.1\n  \
        trt cache check resnet18.calib.cache --trt 10.3      # JetPack 6.1/6.2")]
    Check {
        /// The calibration table.
        table: PathBuf,
        /// The TensorRT version that is to use it: MAJOR.MINOR[.PATCH], e.g. 8.5.3 or 10.16.
        #[arg(long = "trt", value_name = "VERSION")]
        target: TrtVersion,
    },

    /// Compare two tables: version, algorithm, tensors added or removed, ranges changed.
    ///
    /// Changed ranges are sorted by relative change, largest first.
    /// Exit code: 0 identical, 1 different, 2 unreadable or corrupt table.
    #[command(after_help = "Examples:\n  \
        trt cache diff old.calib.cache new.calib.cache\n  \
        trt cache diff old.calib.cache new.calib.cache --json")]
    Diff {
        /// Table A (e.g. the old one).
        a: PathBuf,
        /// Table B (e.g. the new one).
        b: PathBuf,
        /// Print JSON: {version, algorithm, only_in_a, only_in_b, changed, unchanged}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one `trt cache` command, writing its report to `out`.
pub fn run(command: CacheCommand, out: &mut dyn Write) -> Result<Outcome> {
    match command {
        CacheCommand::Show { table, json } => show(&table, json, out),
        CacheCommand::Check { table, target } => check_table(&table, target, out),
        CacheCommand::Diff { a, b, json } => diff_tables(&a, &b, json, out),
    }
}

fn read(path: &Path) -> Result<CalibrationTable> {
    let table = CalibrationTable::read(path)?;
    log::info!(
        "{}: TensorRT {}, {}, {} tensors",
        path.display(),
        table.version,
        table.algorithm,
        table.entries.len()
    );
    Ok(table)
}

fn show(path: &Path, json: bool, out: &mut dyn Write) -> Result<Outcome> {
    let table = read(path)?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &table).context("cannot write JSON")?;
        writeln!(out)?;
        return Ok(Outcome::Success);
    }
    writeln!(out, "version    TensorRT {}", table.version)?;
    writeln!(out, "algorithm  {}", table.algorithm)?;
    writeln!(out, "tensors    {}", table.entries.len())?;
    writeln!(out)?;
    let rows: Vec<[String; 4]> = table
        .entries
        .iter()
        .map(|e| {
            [
                e.tensor.clone(),
                format!("{:x}", e.scale.to_bits()),
                number(f64::from(e.scale)),
                number(f64::from(e.dynamic_range())),
            ]
        })
        .collect();
    write_columns(out, ["TENSOR", "HEX", "SCALE", "DYNAMIC RANGE"], &rows)?;
    Ok(Outcome::Success)
}

fn check_table(path: &Path, target: TrtVersion, out: &mut dyn Write) -> Result<Outcome> {
    let table = read(path)?;
    match check(&table, target) {
        Ok(()) => {
            writeln!(
                out,
                "compatible: table written by TensorRT {} is valid for TensorRT {}",
                table.version,
                target.major_minor()
            )?;
            Ok(Outcome::Success)
        }
        Err(why) => {
            writeln!(out, "incompatible: {why}")?;
            Ok(Outcome::Negative)
        }
    }
}

fn diff_tables(a: &Path, b: &Path, json: bool, out: &mut dyn Write) -> Result<Outcome> {
    let (table_a, table_b) = (read(a)?, read(b)?);
    let d = diff(&table_a, &table_b);
    if json {
        serde_json::to_writer_pretty(&mut *out, &d).context("cannot write JSON")?;
        writeln!(out)?;
    } else {
        write_diff(&d, out)?;
    }
    Ok(if d.is_identical() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn write_diff(d: &TableDiff, out: &mut dyn Write) -> Result<()> {
    if d.is_identical() {
        writeln!(out, "identical ({} tensors)", d.unchanged)?;
        return Ok(());
    }
    if let Some(v) = &d.version {
        writeln!(out, "version    TensorRT {} -> {}", v.a, v.b)?;
    }
    if let Some(a) = &d.algorithm {
        writeln!(out, "algorithm  {} -> {}", a.a, a.b)?;
    }
    for (label, entries) in [("only in A", &d.only_in_a), ("only in B", &d.only_in_b)] {
        if entries.is_empty() {
            continue;
        }
        writeln!(out, "\n{label} ({}):", entries.len())?;
        let rows: Vec<[String; 2]> = entries
            .iter()
            .map(|e| {
                let range = number(f64::from(e.dynamic_range()));
                [format!("  {}", e.tensor), range]
            })
            .collect();
        write_columns(out, ["  TENSOR", "DYNAMIC RANGE"], &rows)?;
    }
    if !d.changed.is_empty() {
        writeln!(
            out,
            "\nchanged ranges ({}), largest relative change first:",
            d.changed.len()
        )?;
        let rows: Vec<[String; 5]> = d.changed.iter().map(change_row).collect();
        write_columns(
            out,
            ["  TENSOR", "RANGE A", "RANGE B", "CHANGE", "RELATIVE"],
            &rows,
        )?;
    }
    writeln!(out, "\nunchanged  {} tensors", d.unchanged)?;
    Ok(())
}

fn change_row(c: &RangeChange) -> [String; 5] {
    let sign = if c.abs_change >= 0.0 { "+" } else { "" };
    let relative = match c.rel_change {
        Some(r) => format!("{sign}{:.2}%", r * 100.0),
        None => "(A is 0)".to_owned(),
    };
    [
        format!("  {}", c.tensor),
        number(c.range_a),
        number(c.range_b),
        format!("{sign}{}", number(c.abs_change)),
        relative,
    ]
}

/// Shortest form that reads back to the same `f32`; exponent notation when very small or large.
fn number(x: f64) -> String {
    let x32 = x as f32;
    if x32 != 0.0 && x32.is_finite() && !(1e-4..1e7).contains(&x32.abs()) {
        format!("{x32:e}")
    } else {
        format!("{x32}")
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
fn write_columns<const N: usize>(
    out: &mut dyn Write,
    header: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; N]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(header)?;
    for row in rows {
        line(row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_read_back_as_the_same_f32() {
        assert_eq!(number(f64::from(f32::from_bits(0x3d2020d2))), "0.0390938");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1e-5), "1e-5");
        assert_eq!(number(12345678.0), "1.2345678e7");
        assert_eq!(number(-2.5), "-2.5");
    }
}
