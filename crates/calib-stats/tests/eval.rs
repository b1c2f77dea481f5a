//! Agreement metrics on hand-made logits with answers worked out by hand.

use trt_calib_stats::eval::Agreement;
use trt_calib_stats::Error;

/// 4 samples of 6 classes. The candidate agrees on top-1 for samples 0, 1 and 3; for sample 2
/// the reference's class 4 drops to the candidate's 2nd place (top-5 still agrees); every
/// difference is 0 except those listed.
#[test]
fn three_of_four_agree_on_top1_all_on_top5() {
    #[rustfmt::skip]
    let reference = [
        0.0, 5.0, 1.0, 0.0, 0.0, 0.0,
        3.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 4.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0, 2.0,
    ];
    let mut candidate = reference;
    candidate[12 + 2] = 4.5; // sample 2: class 2 overtakes class 4 (4.0)
    candidate[1] = 4.0; // sample 0: class 1 still first (4.0 > 1.0)
    let a = Agreement::compute("prob", &reference, &candidate, 6).unwrap();
    assert_eq!((a.samples, a.classes), (4, 6));
    assert_eq!((a.top1_agree, a.top1), (3, 0.75));
    assert_eq!((a.top5_agree, a.top5), (4, 1.0));
    assert_eq!(a.max_abs_diff, 4.5);
    // Σ r² = 26 + 9 + 16 + 4 = 55 (by sample); noise = (5 - 4)² + 4.5² = 21.25.
    let sqnr = 10.0 * (55.0f64 / 21.25).log10();
    assert!((a.sqnr_db.unwrap() - sqnr).abs() < 1e-12);
    assert!((a.sqnr_db.unwrap() - 4.130038).abs() < 1e-6);
    // r·c = 21 + 9 + 16 + 4 = 50; Σ c² = 17 + 9 + 36.25 + 4 = 66.25.
    let cosine = 50.0 / (55.0f64.sqrt() * 66.25f64.sqrt());
    assert!((a.cosine - cosine).abs() < 1e-12);
    assert!((a.cosine - 0.828315).abs() < 1e-6);
}

/// The reference's class must be among the candidate's 5 largest: here it is 6th of 7.
#[test]
fn top5_misses_when_the_class_falls_to_sixth() {
    let reference = [9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0];
    let fifth = [4.5, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]; // 9 -> 4.5: class 0 is 2nd
    let sixth = [1.5, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]; // 1.5: below 2, 3, 4, 5 and above 1: 5th
    let seventh = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]; // 0.5: 6th
    let tied = [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]; // tie with class 1, lower index wins: 5th
    let cases = [(fifth, 1), (sixth, 1), (seventh, 0), (tied, 1)];
    for (candidate, top5) in cases {
        let a = Agreement::compute("y", &reference, &candidate, 7).unwrap();
        assert_eq!((a.top1_agree, a.top5_agree), (0, top5), "{candidate:?}");
    }
}

#[test]
fn identical_outputs_have_no_noise_and_serialize() {
    let r = [1.0, -2.0, 3.0, 0.5];
    let a = Agreement::compute("out", &r, &r, 2).unwrap();
    assert_eq!(
        (a.top1, a.top5, a.max_abs_diff, a.sqnr_db),
        (1.0, 1.0, 0.0, None)
    );
    assert!((a.cosine - 1.0).abs() < 1e-15);
    let json = serde_json::to_string(&a).unwrap();
    assert!(
        json.contains(r#""output":"out""#) && json.contains(r#""sqnr_db":null"#),
        "{json}"
    );
    let back: Agreement = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn shapes_and_values_are_checked() {
    let r = [1.0, 2.0, 3.0, 4.0];
    let e = Agreement::compute("out", &r, &r[..3], 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        "output `out`: the lengths differ; both outputs must be rows of 2 logits \
         (reference has 4 values, candidate 3)"
    );
    assert!(matches!(
        Agreement::compute("out", &r, &r, 3),
        Err(Error::Shape {
            what: "the length is not a multiple of the classes",
            ..
        })
    ));
    assert!(Agreement::compute("out", &r, &r, 0).is_err());
    assert!(Agreement::compute("out", &[], &[], 2).is_err());
    let bad = [1.0, f32::NAN, 3.0, 4.0];
    assert!(matches!(
        Agreement::compute("out", &r, &bad, 2),
        Err(Error::NonFinite { index: 1, .. })
    ));
}
