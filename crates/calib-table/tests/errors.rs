//! Every parse and file error: its message and its line number.

use trt_calib_table::{CalibrationTable, ParseError, TableError};

fn err(text: &[u8]) -> ParseError {
    CalibrationTable::parse(text).unwrap_err()
}

fn assert_err(text: &[u8], line: usize, message: &str) {
    let e = err(text);
    assert_eq!(e.line(), line, "{e}");
    assert_eq!(e.to_string(), message);
}

const HEADER: &str = "TRT-8503-EntropyCalibration2\n";

#[test]
fn empty_file() {
    let msg = "line 1: empty file: a calibration table starts with a header such as \
               `TRT-8503-EntropyCalibration2`";
    assert_err(b"", 1, msg);
    assert_err(b"\n\r\n  \n", 1, msg);
}

#[test]
fn binary_garbage() {
    assert_err(
        b"\x89PNG\r\n",
        1,
        "line 1: not a text file (invalid UTF-8 byte 0x89); a calibration table is text",
    );
    assert_err(
        b"TRT-8503-EntropyCalibration2\ninput: 3d2020d2\nconv\xff: 0\n",
        3,
        "line 3: not a text file (invalid UTF-8 byte 0xff); a calibration table is text",
    );
    assert_err(
        b"TRT-8503-EntropyCalibration2\ninput: 3d\x002020d2\n",
        2,
        "line 2: not a text file (NUL byte); a calibration table is text",
    );
}

#[test]
fn no_header() {
    assert_err(
        b"input: 3d2020d2\n",
        1,
        "line 1: no calibration table header: expected `TRT-<version>-<algorithm>` \
         (e.g. `TRT-8503-EntropyCalibration2`), found `input: 3d2020d2`",
    );
    assert_err(
        b"\nTRT-8503-EntropyCalibration2\n",
        1,
        "line 1: no calibration table header: expected `TRT-<version>-<algorithm>` \
         (e.g. `TRT-8503-EntropyCalibration2`), found ``",
    );
}

#[test]
fn bad_header() {
    assert_err(
        b"TRT-8503\n",
        1,
        "line 1: bad header `TRT-8503`: expected `TRT-<version>-<algorithm>`, found no `-` after the version",
    );
    assert_err(
        b"TRT-85x3-EntropyCalibration2\n",
        1,
        "line 1: bad header `TRT-85x3-EntropyCalibration2`: version `85x3` is not a number",
    );
    assert_err(
        b"TRT-50000-EntropyCalibration2\n",
        1,
        "line 1: bad header `TRT-50000-EntropyCalibration2`: version number `50000` is not a \
         TensorRT version (8.5.3 is written 8503, 10.3.0 is written 100300)",
    );
    assert_err(
        b"TRT-99999999999-EntropyCalibration2\n",
        1,
        "line 1: bad header `TRT-99999999999-EntropyCalibration2`: version number `99999999999` \
         is not a TensorRT version (8.5.3 is written 8503, 10.3.0 is written 100300)",
    );
    assert_err(
        b"TRT-8503-Entropy\n",
        1,
        "line 1: bad header `TRT-8503-Entropy`: unknown calibration algorithm `Entropy`: expected \
         EntropyCalibration2, EntropyCalibration, MinMaxCalibration or LegacyCalibration",
    );
    assert_err(
        b"TRT-8503-\n",
        1,
        "line 1: bad header `TRT-8503-`: unknown calibration algorithm ``: expected \
         EntropyCalibration2, EntropyCalibration, MinMaxCalibration or LegacyCalibration",
    );
}

#[test]
fn line_cut_short() {
    let text = format!("{HEADER}input: 3d2020d2\nonnx::Conv_2");
    assert_err(
        text.as_bytes(),
        3,
        "line 3: line cut short: expected `<tensor name>: <hex scale>`, found `onnx::Conv_2` (no `: `)",
    );
    let text = format!("{HEADER}input:3d2020d2\n");
    assert_eq!(err(text.as_bytes()).line(), 2);
}

#[test]
fn empty_tensor_name() {
    let text = format!("{HEADER}: 3d2020d2\n");
    assert_err(
        text.as_bytes(),
        2,
        "line 2: empty tensor name before `: 3d2020d2`",
    );
}

#[test]
fn bad_hex() {
    for (hex, shown) in [
        ("3d20g0d2", "3d20g0d2"),
        ("", ""),
        ("0x3d", "0x3d"),
        ("3d2 ", "3d2 "),
    ] {
        let text = format!("{HEADER}input: 3d2020d2\nconv1: {hex}\n");
        assert_err(
            text.as_bytes(),
            3,
            &format!(
                "line 3: bad hex scale `{shown}` for tensor `conv1`: expected 1 to 8 hex digits \
                 (the bits of a float32)"
            ),
        );
    }
}

#[test]
fn hex_too_long() {
    let text = format!("{HEADER}(Unnamed Layer* 3) [Convolution]_output: 3c8d1e2a0\n");
    assert_err(
        text.as_bytes(),
        2,
        "line 2: hex scale `3c8d1e2a0` for tensor `(Unnamed Layer* 3) [Convolution]_output` has \
         9 digits; a float32 has at most 8",
    );
}

#[test]
fn duplicate_tensor() {
    let text = format!("{HEADER}input: 3d2020d2\nconv: 0\n\ninput: 3d2020d3\n");
    assert_err(
        text.as_bytes(),
        5,
        "line 5: duplicate tensor `input` (first on line 2)",
    );
}

#[test]
fn long_lines_are_shortened_in_messages() {
    let long = "x".repeat(10_000);
    let text = format!("{HEADER}{long}\n");
    let e = err(text.as_bytes());
    assert_eq!(e.line(), 2);
    assert!(e.to_string().len() < 200, "{e}");
    assert!(e.to_string().contains(&format!("`{}...`", "x".repeat(80))));
}

#[test]
fn lenient_where_tensorrt_is() {
    // CRLF, uppercase hex, leading zeros, no final newline, blank lines, `: ` inside names.
    let t = CalibrationTable::parse(
        b"TRT-101600-MinMaxCalibration\r\nA: 3D2020D2\r\n\r\nb: 00000001\r\nx: y: 0",
    )
    .unwrap();
    assert_eq!(t.version.to_string(), "10.16.0");
    assert_eq!(t.entries.len(), 3);
    assert_eq!(t.get("A").unwrap().scale.to_bits(), 0x3d2020d2);
    assert_eq!(t.get("b").unwrap().scale.to_bits(), 1);
    assert_eq!(t.get("x: y").unwrap().scale, 0.0);
    assert_eq!(
        t.to_bytes(),
        b"TRT-101600-MinMaxCalibration\nA: 3d2020d2\nb: 1\nx: y: 0\n"
    );
}

#[test]
fn read_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.cache");
    let e = CalibrationTable::read(&missing).unwrap_err();
    assert!(matches!(e, TableError::Read { .. }));
    assert_eq!(
        e.to_string(),
        format!("cannot read calibration table `{}`", missing.display())
    );
    let source = std::error::Error::source(&e).unwrap();
    assert!(source.to_string().contains("No such file"), "{source}");

    let corrupt = dir.path().join("corrupt.cache");
    std::fs::write(&corrupt, "TRT-8503-EntropyCalibration2\ninput: zz\n").unwrap();
    let e = CalibrationTable::read(&corrupt).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("invalid calibration table `{}`", corrupt.display())
    );
    let TableError::Parse { source, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(source.line(), 2);
}

#[test]
fn write_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = CalibrationTable::parse(b"TRT-8503-EntropyCalibration2\n").unwrap();
    let path = dir.path().join("no-such-dir").join("t.cache");
    let e = table.write_atomic(&path).unwrap_err();
    assert!(matches!(e, TableError::Write { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("cannot write calibration table `{}`", path.display())
    );

    table.entries.push(trt_calib_table::Entry::new("a\nb", 1.0));
    let path = dir.path().join("t.cache");
    let e = table.write_atomic(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot write calibration table `{}`: tensor name `a\\nb` is empty or contains a line break",
            path.display()
        )
    );
    assert!(!path.exists());
}
