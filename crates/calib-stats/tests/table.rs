//! Thresholds to TensorRT tables, through calib-table's writer and parser.

use trt_calib_stats::{to_table, Collector, Method, Threshold};
use trt_calib_table::{check, Algorithm, CalibrationTable};

fn thresholds() -> Vec<Threshold> {
    vec![
        Threshold {
            tensor: "input".into(),
            amax: 2.64,
        },
        Threshold {
            tensor: "(Unnamed Layer* 3) [Convolution]_output".into(),
            amax: 12.7,
        },
        Threshold {
            tensor: "dead_relu".into(),
            amax: 0.0,
        },
    ]
}

#[test]
fn headers_name_the_version_and_the_method_algorithm() {
    let t = thresholds();
    let cases = [
        ("8.5.3", Method::Entropy, "TRT-8503-EntropyCalibration2"),
        ("8.6.0", Method::MinMax, "TRT-8600-MinMaxCalibration"),
        (
            "10.16",
            Method::Percentile(99.99),
            "TRT-101600-MinMaxCalibration",
        ),
        ("10.3.0", Method::Mse, "TRT-100300-MinMaxCalibration"),
    ];
    for (version, method, header) in cases {
        let table = to_table(&t, version.parse().unwrap(), method.table_algorithm());
        assert_eq!(table.header(), header);
        assert!(check(&table, version.parse().unwrap()).is_ok());
    }
}

#[test]
fn scales_are_amax_over_127_and_the_file_round_trips() {
    let table = to_table(
        &thresholds(),
        "8.5.3".parse().unwrap(),
        Algorithm::EntropyCalibration2,
    );
    let bytes = table.to_bytes();
    // 12.7 / 127 = 0.1f32 = 0x3dcccccd; 2.64 / 127 = 0.020787403 = 0x3caa4a58 (numpy float32).
    assert_eq!(
        String::from_utf8(bytes.clone()).unwrap(),
        "TRT-8503-EntropyCalibration2\n\
         input: 3caa4a58\n\
         (Unnamed Layer* 3) [Convolution]_output: 3dcccccd\n\
         dead_relu: 0\n"
    );
    assert_eq!(CalibrationTable::parse(&bytes).unwrap(), table);
    let conv = table
        .get("(Unnamed Layer* 3) [Convolution]_output")
        .unwrap();
    assert_eq!(conv.scale, 0.1);
    assert_eq!(conv.dynamic_range(), 12.7);

    let dir = tempfile_dir();
    let path = dir.join("model.calib");
    table.write_atomic(&path).unwrap();
    assert_eq!(CalibrationTable::read(&path).unwrap(), table);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_collection_becomes_a_table_in_first_seen_order() {
    let mut c = Collector::one_pass();
    c.add("b", &[-1.27, 0.5]).unwrap();
    c.add("a", &[254.0]).unwrap();
    let t = c.thresholds(Method::MinMax).unwrap();
    let table = to_table(&t, "8.6".parse().unwrap(), Method::MinMax.table_algorithm());
    let parsed = CalibrationTable::parse(&table.to_bytes()).unwrap();
    let names: Vec<&str> = parsed.entries.iter().map(|e| e.tensor.as_str()).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(parsed.entries[0].scale, 1.27f32 / 127.0);
    assert_eq!(parsed.entries[1].scale, 2.0);
    assert_eq!(parsed.header(), "TRT-8600-MinMaxCalibration");
}

/// A fresh directory under the target's temporary folder (no tempfile dependency needed).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("trt-calib-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
