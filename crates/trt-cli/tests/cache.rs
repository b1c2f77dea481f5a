//! `trt cache ...` run as a process, on the real TensorRT 8.5.3 table and modified copies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../calib-table/tests/fixtures/resnet18-random-weights.calib.cache")
}

fn trt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trt"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run trt")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A copy of the fixture with `edit` applied to its text.
fn modified(dir: &Path, name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn show_prints_header_and_aligned_scales() {
    let o = trt(&["cache", "show", s(&fixture())]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "version    TensorRT 8.5.3");
    assert_eq!(lines[1], "algorithm  EntropyCalibration2");
    assert_eq!(lines[2], "tensors    74");
    let scale = f32::from_bits(0x3d2020d2);
    let input: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(input, ["input", "3d2020d2", "0.0390938", "4.9649124"]);
    assert_eq!(input[2].parse::<f32>().unwrap(), scale);
    assert_eq!(input[3].parse::<f32>().unwrap(), scale * 127.0);
    // Columns line up: HEX starts at the same place in every row.
    let hex_col = lines[4].find("HEX").unwrap();
    assert_eq!(&lines[5][hex_col..hex_col + 8], "3d2020d2");
    let logits = lines.iter().find(|l| l.starts_with("logits ")).unwrap();
    assert_eq!(&logits[hex_col..hex_col + 8], "3d4c89ac");
    assert_eq!(lines.len(), 5 + 74);
}

#[test]
fn show_json() {
    let o = trt(&["cache", "show", "--json", s(&fixture())]);
    assert_eq!(o.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["version"], "8.5.3");
    assert_eq!(json["algorithm"], "EntropyCalibration2");
    assert_eq!(json["entries"].as_array().unwrap().len(), 74);
    assert_eq!(json["entries"][0]["tensor"], "input");
    let scale = json["entries"][0]["scale"].as_f64().unwrap() as f32;
    assert_eq!(scale, f32::from_bits(0x3d2020d2));
    let range = json["entries"][0]["dynamic_range"].as_f64().unwrap() as f32;
    assert_eq!(range, f32::from_bits(0x3d2020d2) * 127.0);
}

#[test]
fn check_same_major_minor_is_compatible() {
    for version in ["8.5.3", "8.5.2", "8.5"] {
        let o = trt(&["cache", "check", s(&fixture()), "--trt", version]);
        assert_eq!(o.status.code(), Some(0), "{version}");
        assert_eq!(
            stdout(&o),
            "compatible: table written by TensorRT 8.5.3 is valid for TensorRT 8.5\n"
        );
    }
}

#[test]
fn check_other_version_is_incompatible_with_the_reason() {
    let o = trt(&["cache", "check", s(&fixture()), "--trt", "10.3"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "incompatible: table was written by TensorRT 8.5.3; TensorRT 10.3 cannot use it: \
         calibration tables are only valid for the same TensorRT major.minor (the optimized graph \
         and tensor names change between versions). Recalibrate with 10.3.\n"
    );
    let o = trt(&["cache", "check", s(&fixture()), "--trt", "8.6.2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("Recalibrate with 8.6."));
}

#[test]
fn check_a_10x_table() {
    let dir = tempfile::tempdir().unwrap();
    let table = modified(dir.path(), "10.cache", |t| {
        t.replace("TRT-8503-", "TRT-100300-")
    });
    let o = trt(&["cache", "check", s(&table), "--trt", "10.3.1"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("TensorRT 10.3.0 is valid for TensorRT 10.3"));
}

#[test]
fn corrupt_table_is_an_error_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = modified(dir.path(), "corrupt.cache", |t| {
        t.replace("onnx::Conv_248: 0", "onnx::Conv_248: 0zz")
    });
    for args in [
        vec!["cache", "show", s(&corrupt)],
        vec!["cache", "check", s(&corrupt), "--trt", "8.5"],
        vec!["cache", "diff", s(&fixture()), s(&corrupt)],
    ] {
        let o = trt(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&o),
            format!(
                "error: invalid calibration table `{}`\ncaused by: line 5: bad hex scale `0zz` \
                 for tensor `onnx::Conv_248`: expected 1 to 8 hex digits (the bits of a float32)\n",
                corrupt.display()
            )
        );
        assert_eq!(stdout(&o), "");
    }
}

#[test]
fn truncated_and_missing_tables() {
    let dir = tempfile::tempdir().unwrap();
    // Cut inside the last line's name (`logits: 3d4c89ac\n` -> `logits`). A cut inside the hex
    // digits cannot be told from a shorter scale: TensorRT writes hex without leading zeros.
    let cut = modified(dir.path(), "cut.cache", |t| t[..t.len() - 11].to_owned());
    let o = trt(&["cache", "show", s(&cut)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("caused by: line 75: line cut short"),
        "{}",
        stderr(&o)
    );

    let missing = dir.path().join("missing.cache");
    let o = trt(&["cache", "check", s(&missing), "--trt", "8.5"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.starts_with(&format!(
        "error: cannot read calibration table `{}`\ncaused by: ",
        missing.display()
    )));
}

#[test]
fn bad_version_argument_is_an_error() {
    let o = trt(&["cache", "check", s(&fixture()), "--trt", "8.x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`8.x` is not a TensorRT version"));
}

#[test]
fn diff_identical() {
    let o = trt(&["cache", "diff", s(&fixture()), s(&fixture())]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "identical (74 tensors)\n");
}

#[test]
fn diff_modified_copy() {
    let dir = tempfile::tempdir().unwrap();
    let b = modified(dir.path(), "b.cache", |t| {
        t.replace("input: 3d2020d2", "input: 3da020d2") // scale x 2
            .replace("onnx::Conv_251: 0\n", "")
            + "extra: 3f000000\n"
    });
    let o = trt(&["cache", "diff", s(&fixture()), s(&b)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("only in A (1):\n"), "{out}");
    assert!(out.contains("  onnx::Conv_251  0\n"), "{out}");
    assert!(out.contains("  extra   63.5\n"), "{out}");
    assert!(out.contains("changed ranges (1), largest relative change first:"));
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.trim_start().starts_with("input"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["input", "4.9649124", "9.929825", "+4.9649124", "+100.00%"]
    );
    assert!(out.ends_with("unchanged  72 tensors\n"), "{out}");

    let o = trt(&["cache", "diff", "--json", s(&fixture()), s(&b)]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["version"], serde_json::Value::Null);
    assert_eq!(json["only_in_a"][0]["tensor"], "onnx::Conv_251");
    assert_eq!(json["only_in_b"][0]["dynamic_range"], 63.5);
    assert_eq!(json["changed"][0]["tensor"], "input");
    assert_eq!(json["changed"][0]["rel_change"], 1.0);
    assert_eq!(json["unchanged"], 72);
}

#[test]
fn every_command_has_an_example_in_its_help() {
    for args in [
        vec!["--help"],
        vec!["cache", "show", "--help"],
        vec!["cache", "check", "--help"],
        vec!["cache", "diff", "--help"],
    ] {
        let o = trt(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let help = stdout(&o);
        assert!(help.contains("Examples:\n  trt "), "{args:?}:\n{help}");
    }
}

#[test]
fn verbosity_flags() {
    let o = trt(&["-v", "cache", "show", s(&fixture())]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).starts_with("info: "), "{}", stderr(&o));
    assert!(stderr(&o).contains("TensorRT 8.5.3, EntropyCalibration2, 74 tensors"));
    let o = trt(&["cache", "show", "-q", s(&fixture())]);
    assert_eq!(stderr(&o), "");
}
