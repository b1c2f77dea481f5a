//! Diffs between the real table and modified copies.

use trt_calib_table::{diff, Algorithm, CalibrationTable, Changed, Entry, TrtVersion};

fn fixture() -> CalibrationTable {
    CalibrationTable::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/resnet18-random-weights.calib.cache"
    ))
    .unwrap()
}

#[test]
fn identical_to_itself() {
    let d = diff(&fixture(), &fixture());
    assert!(d.is_identical());
    assert_eq!(d.unchanged, 74);
}

#[test]
fn modified_copy() {
    let a = fixture();
    let mut b = a.clone();
    b.version = "10.3".parse::<TrtVersion>().unwrap();
    b.algorithm = Algorithm::MinMaxCalibration;
    // input: double the scale (+100%); logits: +10%; drop one tensor, add one.
    let input = f32::from_bits(0x3d2020d2);
    b.entries[0].scale = input * 2.0;
    let logits = b.entries.iter_mut().find(|e| e.tensor == "logits").unwrap();
    logits.scale *= 1.1;
    b.entries.retain(|e| e.tensor != "onnx::Conv_251");
    b.entries.push(Entry::new("extra", 0.5));
    // A zero scale becomes non-zero: infinite relative change, sorted first.
    b.entries[1].scale = 0.25;

    let d = diff(&a, &b);
    assert!(!d.is_identical());
    assert_eq!(
        d.version,
        Some(Changed {
            a: "8.5.3".parse().unwrap(),
            b: "10.3".parse().unwrap()
        })
    );
    assert_eq!(
        d.algorithm,
        Some(Changed {
            a: Algorithm::EntropyCalibration2,
            b: Algorithm::MinMaxCalibration
        })
    );
    assert_eq!(d.only_in_a.len(), 1);
    assert_eq!(d.only_in_a[0].tensor, "onnx::Conv_251");
    assert_eq!(d.only_in_b, vec![Entry::new("extra", 0.5)]);
    assert_eq!(d.unchanged, 74 - 1 - 3);

    let names: Vec<_> = d.changed.iter().map(|c| c.tensor.as_str()).collect();
    assert_eq!(
        names,
        ["(Unnamed Layer* 0) [Constant]_output", "input", "logits"]
    );
    assert_eq!(d.changed[0].rel_change, None);
    assert_eq!(d.changed[0].range_b, 0.25 * 127.0);
    let c = &d.changed[1];
    assert_eq!(c.range_a, f64::from(input) * 127.0);
    assert_eq!(c.range_b, f64::from(input * 2.0) * 127.0);
    assert_eq!(c.abs_change, c.range_a);
    assert_eq!(c.rel_change, Some(1.0));
    let rel = d.changed[2].rel_change.unwrap();
    assert!((rel - 0.1).abs() < 1e-6, "{rel}");

    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["version"]["a"], "8.5.3");
    assert_eq!(json["version"]["b"], "10.3.0");
    assert_eq!(json["changed"][0]["rel_change"], serde_json::Value::Null);
    assert_eq!(json["changed"][1]["rel_change"], 1.0);
    assert_eq!(json["only_in_a"][0]["tensor"], "onnx::Conv_251");
}

#[test]
fn order_does_not_matter() {
    let a = fixture();
    let mut b = a.clone();
    b.entries.reverse();
    assert!(diff(&a, &b).is_identical());
}
