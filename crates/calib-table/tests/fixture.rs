//! The real table that TensorRT 8.5.3 wrote for ResNet-18 (random weights, entropy calibration).

use trt_calib_table::{check, Algorithm, CalibrationTable, IncompatibilityReason, TrtVersion};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/resnet18-random-weights.calib.cache"
);

fn fixture() -> CalibrationTable {
    CalibrationTable::read(FIXTURE).expect("fixture parses")
}

#[test]
fn header_and_entry_count() {
    let table = fixture();
    assert_eq!(table.version, "8.5.3".parse::<TrtVersion>().unwrap());
    assert_eq!(table.version.header_number(), 8503);
    assert_eq!(table.algorithm, Algorithm::EntropyCalibration2);
    assert_eq!(table.header(), "TRT-8503-EntropyCalibration2");
    // 75 lines: the header and 74 tensors.
    assert_eq!(table.entries.len(), 74);
}

#[test]
fn input_scale_and_range() {
    let table = fixture();
    let input = table.get("input").unwrap();
    assert_eq!(input.scale.to_bits(), 0x3d2020d2);
    assert_eq!(input.scale, f32::from_bits(0x3d2020d2));
    assert!((input.scale - 0.0390938).abs() < 1e-7, "{}", input.scale);
    assert_eq!(input.dynamic_range(), f32::from_bits(0x3d2020d2) * 127.0);
    assert!((input.dynamic_range() - 4.964913).abs() < 1e-5);
    // First entry in file order.
    assert_eq!(table.entries[0].tensor, "input");
}

#[test]
fn names_with_spaces_brackets_and_zero_scales() {
    let table = fixture();
    let constant = table.get("(Unnamed Layer* 0) [Constant]_output").unwrap();
    assert_eq!(constant.scale, 0.0);
    assert_eq!(constant.dynamic_range(), 0.0);
    let shuffle = table.get("(Unnamed Layer* 71) [Shuffle]_output").unwrap();
    assert_eq!(shuffle.scale.to_bits(), 0x39b54516);
    let logits = table.entries.last().unwrap();
    assert_eq!(logits.tensor, "logits");
    assert_eq!(logits.scale.to_bits(), 0x3d4c89ac);
    assert!(table.get("no such tensor").is_none());
}

#[test]
fn round_trips_byte_for_byte() {
    let bytes = std::fs::read(FIXTURE).unwrap();
    assert_eq!(fixture().to_bytes(), bytes);
}

#[test]
fn crlf_copy_parses_to_the_same_table() {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(CalibrationTable::parse(crlf.as_bytes()).unwrap(), fixture());
}

#[test]
fn compatibility() {
    let table = fixture();
    assert!(check(&table, "8.5.3".parse().unwrap()).is_ok());
    assert!(check(&table, "8.5.2".parse().unwrap()).is_ok()); // JetPack 5.1
    let err = check(&table, "10.3".parse().unwrap()).unwrap_err();
    assert_eq!(err.reason, IncompatibilityReason::VersionMismatch);
    assert_eq!(
        err.to_string(),
        "table was written by TensorRT 8.5.3; TensorRT 10.3 cannot use it: calibration tables \
         are only valid for the same TensorRT major.minor (the optimized graph and tensor names \
         change between versions). Recalibrate with 10.3."
    );
    let err = check(&table, "8.6.2".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("Recalibrate with 8.6."), "{err}");
    let err = check(&table, "11.0".parse().unwrap()).unwrap_err();
    assert_eq!(err.reason, IncompatibilityReason::CalibrationRemoved);
    assert!(err
        .to_string()
        .contains("removed implicit INT8 calibration"));
}

#[test]
fn json_has_scale_and_dynamic_range() {
    let json = serde_json::to_value(fixture()).unwrap();
    assert_eq!(json["version"], "8.5.3");
    assert_eq!(json["algorithm"], "EntropyCalibration2");
    assert_eq!(json["entries"].as_array().unwrap().len(), 74);
    let input = &json["entries"][0];
    assert_eq!(input["tensor"], "input");
    assert_eq!(
        input["scale"].as_f64().unwrap() as f32,
        f32::from_bits(0x3d2020d2)
    );
    assert_eq!(
        input["dynamic_range"].as_f64().unwrap() as f32,
        f32::from_bits(0x3d2020d2) * 127.0
    );
}

#[test]
fn write_atomic_then_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.calib.cache");
    let mut table = fixture();
    table.write_atomic(&path).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(FIXTURE).unwrap()
    );
    // Overwrite in place; no temporary file is left behind.
    table.entries.truncate(3);
    table.write_atomic(&path).unwrap();
    assert_eq!(CalibrationTable::read(&path).unwrap(), table);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}
