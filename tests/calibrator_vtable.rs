//! The C++ calibrator objects, called through their IInt8EntropyCalibrator2 / IInt8MinMaxCalibrator
//! vtables exactly as TensorRT calls them (no GPU, no TensorRT library: bindings live in host
//! memory here, which the shim cannot tell from device memory).

use std::ffi::{c_char, c_void, CString};
use std::ptr;

use trt::sys;
use trt::vtable::{Harness, SessionSpec};
use trt::{
    CalibrationAlgorithm, CalibrationBatch, CalibrationInput, Calibrator, DataType, Error,
    TablePolicy,
};

fn inputs() -> Vec<CalibrationInput> {
    vec![
        CalibrationInput {
            name: "image".into(),
            shape: vec![2, 3],
            dtype: DataType::Float,
        },
        CalibrationInput {
            name: "im_info".into(),
            shape: vec![2, 2],
            dtype: DataType::Float,
        },
    ]
}

/// Batch k fills `image` with k*10 + i and `im_info` with -(k*10 + i).
struct Counting {
    batches: usize,
    next: usize,
    algorithm: CalibrationAlgorithm,
}

impl Calibrator for Counting {
    fn algorithm(&self) -> CalibrationAlgorithm {
        self.algorithm
    }
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        if self.next == self.batches {
            return Ok(false);
        }
        let k = self.next as f32;
        let image: Vec<f32> = (0..6).map(|i| k * 10.0 + i as f32).collect();
        let info: Vec<f32> = (0..4).map(|i| -(k * 10.0 + i as f32)).collect();
        // Filled in the opposite order of registration, on purpose.
        batch.copy_from_host("im_info", &info)?;
        batch.copy_from_host("image", &image)?;
        self.next += 1;
        Ok(true)
    }
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Calls getBatch through the vtable with TensorRT-style names[] / bindings[].
fn get_batch(h: &Harness<'_>, names: &[&str]) -> (bool, Vec<*mut c_void>) {
    let cnames: Vec<CString> = names.iter().map(|n| CString::new(*n).unwrap()).collect();
    let mut name_ptrs: Vec<*const c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
    let mut bindings: Vec<*mut c_void> = vec![ptr::null_mut(); names.len()];
    let mut ok = -1;
    // SAFETY: a live calibrator; `names.len()` name pointers (NUL-terminated, alive in `cnames`)
    // and as many binding slots, as TensorRT passes them.
    let status = unsafe {
        sys::trt_calibrator_vcall_get_batch(
            h.raw(),
            bindings.as_mut_ptr(),
            name_ptrs.as_mut_ptr(),
            names.len() as i32,
            &mut ok,
        )
    };
    assert_eq!(status, 0);
    (ok == 1, bindings)
}

#[test]
fn fills_every_input_by_name_whatever_the_order_of_names() {
    let mut c = Counting {
        batches: 2,
        next: 0,
        algorithm: CalibrationAlgorithm::Entropy2,
    };
    let h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();

    // TensorRT's order differs from registration order.
    let (ok, bindings) = get_batch(&h, &["im_info", "image"]);
    assert!(ok);
    assert_eq!(bindings[0] as u64, h.binding_ptr("im_info").unwrap());
    assert_eq!(bindings[1] as u64, h.binding_ptr("image").unwrap());
    assert_eq!(
        floats(h.host_data("image").unwrap()),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    assert_eq!(
        floats(h.host_data("im_info").unwrap()),
        vec![-0.0, -1.0, -2.0, -3.0]
    );

    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(ok);
    assert_eq!(floats(h.host_data("image").unwrap())[5], 15.0);
    assert_eq!(floats(h.host_data("im_info").unwrap())[3], -13.0);

    // End of data.
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    assert_eq!(h.batches(), 2);
}

#[test]
fn algorithm_and_batch_size_through_the_vtable() {
    for (algorithm, raw) in [
        (
            CalibrationAlgorithm::Entropy2,
            sys::TRT_CALIBRATION_ENTROPY2,
        ),
        (CalibrationAlgorithm::MinMax, sys::TRT_CALIBRATION_MINMAX),
    ] {
        let mut c = Counting {
            batches: 1,
            next: 0,
            algorithm,
        };
        let h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
        let mut got = -1;
        assert_eq!(
            // SAFETY: a live calibrator and a valid out-pointer.
            unsafe { sys::trt_calibrator_vcall_algorithm(h.raw(), &mut got) },
            0
        );
        assert_eq!(got, raw as i32);
        let mut bs = -1;
        assert_eq!(
            // SAFETY: a live calibrator and a valid out-pointer.
            unsafe { sys::trt_calibrator_vcall_batch_size(h.raw(), &mut bs) },
            0
        );
        assert_eq!(bs, 1, "explicit-batch networks: TensorRT expects 1");
    }
}

struct Failing;
impl Calibrator for Failing {
    fn next_batch(&mut self, _: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        Err(Error::Calibration("camera disconnected".into()))
    }
}

struct Panicking;
impl Calibrator for Panicking {
    fn next_batch(&mut self, _: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        panic!("index out of bounds in my preprocessing")
    }
}

#[test]
fn an_error_returns_false_and_comes_back_afterwards() {
    let mut c = Failing;
    let mut h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    let err = h.take_error().expect("stored error");
    assert_eq!(err.to_string(), "calibration: camera disconnected");
}

#[test]
fn a_panic_does_not_unwind_into_cpp_and_comes_back_as_an_error() {
    let mut c = Panicking;
    let mut h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    let err = h.take_error().expect("stored error").to_string();
    assert!(
        err.contains("the calibrator panicked: index out of bounds in my preprocessing"),
        "{err}"
    );
    // Later calls keep failing cleanly.
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
}

#[test]
fn unknown_binding_name_is_an_error_naming_the_known_ones() {
    let mut c = Counting {
        batches: 1,
        next: 0,
        algorithm: CalibrationAlgorithm::Entropy2,
    };
    let mut h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let (ok, _) = get_batch(&h, &["image", "data"]);
    assert!(!ok);
    let err = h.take_error().unwrap().to_string();
    assert!(err.contains("unknown tensor `data`"), "{err}");
    assert!(err.contains("image, im_info"), "{err}");
}

struct FillsOne;
impl Calibrator for FillsOne {
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        batch.copy_from_host("image", &[0f32; 6])?;
        Ok(true)
    }
}

#[test]
fn an_input_left_unfilled_is_an_error() {
    let mut c = FillsOne;
    let mut h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    assert_eq!(
        h.take_error().unwrap().to_string(),
        "calibration: next_batch did not fill input `im_info`"
    );
}

struct WrongSize;
impl Calibrator for WrongSize {
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        batch.copy_from_host("image", &[0f32; 5])?;
        Ok(true)
    }
}

#[test]
fn a_buffer_of_the_wrong_size_is_an_error() {
    let mut c = WrongSize;
    let mut h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    let err = h.take_error().unwrap().to_string();
    assert!(
        err.contains("tensor `image`: host data has 5 elements, the network input [2, 3] needs 6"),
        "{err}"
    );
}

#[test]
fn cache_round_trip_and_rejected_table_detection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.calib");
    let table = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/calib-table/tests/fixtures/resnet18-random-weights.calib.cache"
    ))
    .unwrap();

    // writeCalibrationCache: held in memory; the file is written only when the session ends
    // after a complete calibration (what a successful build does).
    let mut c = Counting {
        batches: 1,
        next: 0,
        algorithm: CalibrationAlgorithm::Entropy2,
    };
    let h = Harness::new(
        SessionSpec::new(&mut c, inputs()).with_cache_policy(TablePolicy::read_write(&path)),
    )
    .unwrap();
    assert!(get_batch(&h, &["image", "im_info"]).0);
    assert!(!get_batch(&h, &["image", "im_info"]).0, "end of data");
    assert_eq!(
        // SAFETY: a live calibrator and `table.len()` readable bytes.
        unsafe {
            sys::trt_calibrator_vcall_write_cache(h.raw(), table.as_ptr().cast(), table.len())
        },
        0
    );
    assert!(!path.exists(), "the callback itself writes no file");
    assert_eq!(h.table_written().unwrap(), &table[..]);
    // Without a table given, readCalibrationCache says "none".
    let (mut data, mut len) = (ptr::null(), 99usize);
    assert_eq!(
        // SAFETY: a live calibrator and valid out-pointers.
        unsafe { sys::trt_calibrator_vcall_read_cache(h.raw(), &mut data, &mut len) },
        0
    );
    assert!(data.is_null());
    assert_eq!(len, 0);
    let (error, written) = h.finish_and_save().unwrap();
    assert!(error.is_none());
    assert!(written);
    assert_eq!(std::fs::read(&path).unwrap(), table);

    // readCalibrationCache hands TensorRT the given table, byte for byte.
    let mut c = Counting {
        batches: 1,
        next: 0,
        algorithm: CalibrationAlgorithm::Entropy2,
    };
    let mut h = Harness::new(
        SessionSpec::new(&mut c, inputs())
            .with_table(table.clone())
            .with_cache_policy(TablePolicy::read_write(&path)),
    )
    .unwrap();
    assert_eq!(
        // SAFETY: a live calibrator and valid out-pointers.
        unsafe { sys::trt_calibrator_vcall_read_cache(h.raw(), &mut data, &mut len) },
        0
    );
    assert_eq!(
        // SAFETY: readCalibrationCache handed out `len` bytes of the session's table, alive
        // as long as the harness.
        unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) },
        &table[..]
    );
    // ...and if TensorRT then asks for data, it rejected the table: refuse to recalibrate silently.
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok);
    let err = h.take_error().unwrap().to_string();
    assert!(
        err.contains("TensorRT rejected the calibration table"),
        "{err}"
    );
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn data_calibrator_over_a_real_pipeline_fills_inputs_by_name() {
    use ndarray::Array;
    use trt_calib_data::{Input, Spec};
    let dir = tempfile::tempdir().unwrap();
    // Five samples; batch 2 with the last partial batch dropped => 2 batches.
    let image = Array::from_shape_fn((5, 3), |(s, i)| (s * 100 + i) as f32);
    let info = Array::from_shape_fn((5, 2), |(s, i)| -((s * 100 + i) as f32));
    ndarray_npy::write_npy(dir.path().join("image.npy"), &image).unwrap();
    ndarray_npy::write_npy(dir.path().join("info.npy"), &info).unwrap();
    let spec = Spec::new(2)
        .with_input(Input::npy("im_info", dir.path().join("info.npy")))
        .with_input(Input::npy("image", dir.path().join("image.npy")));
    let mut c =
        trt::DataCalibrator::new(spec.open().unwrap()).with_algorithm(CalibrationAlgorithm::MinMax);
    assert_eq!(c.batch_count(), Some(2));
    let h = Harness::new(SessionSpec::new(&mut c, inputs())).unwrap();
    let mut algo = -1;
    // SAFETY: a live calibrator and a valid out-pointer.
    let status = unsafe { sys::trt_calibrator_vcall_algorithm(h.raw(), &mut algo) };
    assert_eq!(status, 0);
    assert_eq!(algo, sys::TRT_CALIBRATION_MINMAX as i32);

    let (ok, b) = get_batch(&h, &["im_info", "image"]);
    assert!(ok);
    assert_eq!(b[1] as u64, h.binding_ptr("image").unwrap());
    assert_eq!(
        floats(h.host_data("image").unwrap()),
        vec![0.0, 1.0, 2.0, 100.0, 101.0, 102.0]
    );
    assert_eq!(
        floats(h.host_data("im_info").unwrap()),
        vec![-0.0, -1.0, -100.0, -101.0]
    );
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(ok);
    assert_eq!(floats(h.host_data("image").unwrap())[3], 300.0);
    let (ok, _) = get_batch(&h, &["image", "im_info"]);
    assert!(!ok, "two batches, then the end");
}

#[test]
fn data_calibrator_refuses_data_that_does_not_match_the_network() {
    use ndarray::Array;
    use trt_calib_data::{Input, Spec};
    let dir = tempfile::tempdir().unwrap();
    ndarray_npy::write_npy(dir.path().join("good.npy"), &Array::<f32, _>::zeros((4, 3))).unwrap();
    ndarray_npy::write_npy(
        dir.path().join("image.npy"),
        &Array::<f32, _>::zeros((4, 4)),
    )
    .unwrap();
    let spec = Spec::new(2).with_input(Input::npy("image", dir.path().join("good.npy")));
    let mut c = trt::DataCalibrator::new(spec.open().unwrap());
    let err = Harness::new(SessionSpec::new(&mut c, inputs()))
        .err()
        .expect("mismatch")
        .to_string();
    assert!(
        err.contains("the network input `im_info` has no calibration data"),
        "{err}"
    );

    let spec = Spec::new(2)
        .with_input(Input::npy("image", dir.path().join("image.npy")))
        .with_input(Input::npy("im_info", dir.path().join("image.npy")));
    let mut c = trt::DataCalibrator::new(spec.open().unwrap());
    let err = Harness::new(SessionSpec::new(&mut c, inputs()))
        .err()
        .expect("mismatch")
        .to_string();
    // One error lists every mismatching input.
    assert!(
        err.contains("input `image`: one sample is [4], the network expects [3]"),
        "{err}"
    );
    assert!(
        err.contains("input `im_info`: one sample is [4], the network expects [2]"),
        "{err}"
    );
}

/// An int32 network input (token ids) is filled with int32 bytes; int64 ids in the file are
/// converted (with a range check) because the network's dtype is the default.
#[test]
fn data_calibrator_fills_integer_inputs_in_their_own_type() {
    use ndarray::Array;
    use trt_calib_data::{Input, Spec};
    let dir = tempfile::tempdir().unwrap();
    let ids = Array::from_shape_vec((4, 3), (0..12i64).map(|v| v * 1000).collect()).unwrap();
    ndarray_npy::write_npy(dir.path().join("ids.npy"), &ids).unwrap();
    let image = Array::from_shape_vec((4, 3), (0..12).map(|v| v as f32).collect()).unwrap();
    ndarray_npy::write_npy(dir.path().join("image.npy"), &image).unwrap();
    let spec = Spec::new(2)
        .with_input(Input::npy("image", dir.path().join("image.npy")))
        .with_input(Input::npy("ids", dir.path().join("ids.npy")));
    let mut c = trt::DataCalibrator::new(spec.open().unwrap());
    let inputs = vec![
        CalibrationInput {
            name: "image".into(),
            shape: vec![2, 3],
            dtype: DataType::Float,
        },
        CalibrationInput {
            name: "ids".into(),
            shape: vec![2, 3],
            dtype: DataType::Int32,
        },
    ];
    let h = Harness::new(SessionSpec::new(&mut c, inputs.clone())).unwrap();
    assert!(get_batch(&h, &["ids", "image"]).0);
    assert!(get_batch(&h, &["ids", "image"]).0);
    let ids: Vec<i32> = h
        .host_data("ids")
        .unwrap()
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(ids, [6000, 7000, 8000, 9000, 10000, 11000]);
    assert_eq!(
        floats(h.host_data("image").unwrap()),
        [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    );
    drop(h);

    // Out of the int32 range: refused before TensorRT would see a batch, naming the value.
    let big = Array::from_shape_vec((4, 3), vec![3_000_000_000i64; 12]).unwrap();
    ndarray_npy::write_npy(dir.path().join("big.npy"), &big).unwrap();
    let spec = Spec::new(2)
        .with_input(Input::npy("image", dir.path().join("image.npy")))
        .with_input(Input::npy("ids", dir.path().join("big.npy")));
    let mut c = trt::DataCalibrator::new(spec.open().unwrap());
    let err = Harness::new(SessionSpec::new(&mut c, inputs))
        .err()
        .expect("out of range")
        .to_string();
    assert!(err.contains("3000000000"), "{err}");
    assert!(err.contains("int32"), "{err}");
}

/// Fills batches 0 and 1, then fails: what a bad file in the third batch does.
struct FailsAtThird {
    next: usize,
}

impl Calibrator for FailsAtThird {
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        if self.next == 2 {
            return Err(Error::Calibration(
                "photo_17.jpg: 1 channel, expected 3".into(),
            ));
        }
        batch.copy_from_host("image", &[0.5f32; 6])?;
        batch.copy_from_host("im_info", &[1.0f32; 4])?;
        self.next += 1;
        Ok(true)
    }
}

/// A calibration that fails at its third batch, after which TensorRT still calls
/// writeCalibrationCache with the table it computed from two batches: no file appears, and a
/// table that was already there is left byte for byte as it was.
#[test]
fn a_failed_calibration_creates_or_replaces_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let partial = b"TRT-8503-EntropyCalibration2\nimage: 3c010a14\n".to_vec();
    for existing in [
        None,
        Some(b"TRT-8503-EntropyCalibration2\nimage: 3d2020d2\n".to_vec()),
    ] {
        let path = dir.path().join("x.calib");
        let _ = std::fs::remove_file(&path);
        if let Some(old) = &existing {
            std::fs::write(&path, old).unwrap();
        }
        let mut c = FailsAtThird { next: 0 };
        // Recalibrate: the policy that replaces an existing table.
        let h = Harness::new(
            SessionSpec::new(&mut c, inputs()).with_cache_policy(TablePolicy::recalibrate(&path)),
        )
        .unwrap();
        assert!(get_batch(&h, &["image", "im_info"]).0);
        assert!(get_batch(&h, &["image", "im_info"]).0);
        assert!(
            !get_batch(&h, &["image", "im_info"]).0,
            "the third batch fails"
        );
        assert_eq!(
            // SAFETY: a live calibrator and `partial.len()` readable bytes.
            unsafe {
                sys::trt_calibrator_vcall_write_cache(
                    h.raw(),
                    partial.as_ptr().cast(),
                    partial.len(),
                )
            },
            0
        );
        let (error, written) = h.finish_and_save().unwrap();
        let error = error.expect("the batch error comes back").to_string();
        assert!(error.contains("photo_17.jpg"), "{error}");
        assert!(!written);
        match &existing {
            None => assert!(
                !path.exists(),
                "a table appeared after a failed calibration"
            ),
            Some(old) => assert_eq!(&std::fs::read(&path).unwrap(), old),
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "x.calib")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

/// TensorRT may write a table although the calibrator never reached the end of its data (a
/// panic in the callback): that table is incomplete and never saved either.
#[test]
fn a_panicking_calibrator_saves_no_table() {
    struct Panics;
    impl Calibrator for Panics {
        fn next_batch(&mut self, _: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
            panic!("decoder bug")
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.calib");
    let mut c = Panics;
    let h = Harness::new(
        SessionSpec::new(&mut c, inputs()).with_cache_policy(TablePolicy::read_write(&path)),
    )
    .unwrap();
    assert!(!get_batch(&h, &["image", "im_info"]).0);
    let t = b"TRT-8503-EntropyCalibration2\n";
    // SAFETY: a live calibrator and `t.len()` readable bytes.
    unsafe { sys::trt_calibrator_vcall_write_cache(h.raw(), t.as_ptr().cast(), t.len()) };
    let (error, written) = h.finish_and_save().unwrap();
    assert!(error.unwrap().to_string().contains("decoder bug"));
    assert!(!written);
    assert!(!path.exists());
}
