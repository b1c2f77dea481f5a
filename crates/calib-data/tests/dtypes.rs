//! Every input in its own dtype: integer, bool and float16 arrays, float16 images, exact
//! conversions only.

use std::path::PathBuf;

use ndarray::{array, Array, ArrayD};
use trt_calib_data::{f16, BatchSource, DType, Error, Expected, Input, Preprocess, Spec};

fn tmp(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("calib-dtypes-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn int32_and_int64_arrays_make_exact_int32_batches() {
    let dir = tmp("ints");
    let a32 = array![[i32::MIN, 7], [2_000_000_001, -3], [5, 6], [8, 9]];
    let a64 = array![[i64::from(i32::MAX)], [-1], [16_777_217], [0]];
    ndarray_npy::write_npy(dir.join("a32.npy"), &a32).unwrap();
    ndarray_npy::write_npy(dir.join("a64.npy"), &a64).unwrap();
    // One input asks for int32 itself; the other follows the network's type.
    let mut src = Spec::new(2)
        .with_input(Input::npy("a", dir.join("a32.npy")).with_dtype(DType::I32))
        .with_input(Input::npy("b", dir.join("a64.npy")))
        .with_default_dtype("b", DType::I32)
        .open()
        .unwrap();
    assert_eq!(
        src.input_dtypes(),
        [("a".to_string(), DType::I32), ("b".to_string(), DType::I32)]
    );
    let first = src.next_batch().unwrap().unwrap();
    assert_eq!(first.dtype("b"), Some(DType::I32));
    assert_eq!(
        first.slice::<i32>("a").unwrap(),
        &[i32::MIN, 7, 2_000_000_001, -3]
    );
    assert_eq!(first.slice::<i32>("b").unwrap(), &[i32::MAX, -1]);
    let second = src.next_batch().unwrap().unwrap();
    assert_eq!(
        second.view::<i32>("b").unwrap(),
        array![[16_777_217], [0]].into_dyn()
    );
    // The bytes a calibrator copies: native-endian int32, no conversion.
    let want: Vec<u8> = [5i32, 6, 8, 9]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    assert_eq!(second.bytes("a").unwrap(), &want[..]);
    assert!(
        second.get("a").is_none() && second.as_slice("b").is_none(),
        "not f32"
    );
    assert!(src.next_batch().is_none());
}

#[test]
fn int64_out_of_int32_range_names_the_file_value_and_index() {
    let dir = tmp("range");
    let a = array![[1i64, 2], [3, 3_000_000_000], [-5_000_000_000, 0]];
    let path = dir.join("big.npy");
    ndarray_npy::write_npy(&path, &a).unwrap();
    let err = Spec::new(1)
        .with_input(Input::npy("ids", &path).with_dtype(DType::I32))
        .open()
        .unwrap_err();
    assert!(matches!(err, Error::Convert { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "input `ids`: cannot use {}: int64 value 3000000000 at index [1, 1] is out of the \
             int32 range -2147483648..=2147483647; store the array as int32 or fix the value",
            path.display()
        )
    );
    // Through the network's type at check time: the same error, in the check's list.
    let mut src = Spec::new(1)
        .with_input(Input::npy("ids", &path))
        .open()
        .unwrap();
    assert_eq!(src.input_dtypes()[0].1, DType::I64);
    let err = src
        .check(&[Expected::new("ids", [1, 2], DType::I32)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("int64 value 3000000000 at index [1, 1]"),
        "{err}"
    );
    assert!(err.contains("big.npy"), "{err}");
    // Still int64 and usable after the refused conversion.
    assert_eq!(src.input_dtypes()[0].1, DType::I64);
    let b = src.next_batch().unwrap().unwrap();
    assert_eq!(b.slice::<i64>("ids").unwrap(), &[1, 2]);
}

#[test]
fn float32_to_float16_is_exact_for_representable_values() {
    let dir = tmp("half");
    let exact = [0.5f32, -1.25, 1024.0, 2f32.powi(-14), 65504.0, -0.0];
    let a = Array::from_shape_vec((3, 2), exact.to_vec()).unwrap();
    ndarray_npy::write_npy(dir.join("x.npy"), &a).unwrap();
    let mut src = Spec::new(3)
        .with_input(Input::npy("x", dir.join("x.npy")).with_dtype(DType::F16))
        .open()
        .unwrap();
    let b = src.next_batch().unwrap().unwrap();
    assert_eq!(b.dtype("x"), Some(DType::F16));
    let back: Vec<f32> = b
        .slice::<f16>("x")
        .unwrap()
        .iter()
        .map(|h| h.to_f32())
        .collect();
    assert_eq!(back, exact);
    assert_eq!(b.bytes("x").unwrap().len(), 6 * 2);
    // 0.5 is 0x3800 in IEEE binary16.
    assert_eq!(&b.bytes("x").unwrap()[..2], &0x3800u16.to_ne_bytes());
    // Written as .npy float16 and read back as what the engine receives.
    let out = dir.join("out.npy");
    b.write_npy("x", &out).unwrap();
    let again = Spec::new(3)
        .with_input(Input::npy("x", &out))
        .open()
        .unwrap()
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(
        again.dtype("x"),
        Some(DType::F16),
        "float16 files stay float16"
    );
    assert_eq!(again.bytes("x"), b.bytes("x"));

    // 1e5 does not fit: an error, not an infinity.
    ndarray_npy::write_npy(dir.join("big.npy"), &array![[1e5f32]]).unwrap();
    let err = Spec::new(1)
        .with_input(Input::npy("x", dir.join("big.npy")).with_dtype(DType::F16))
        .open()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("float32 value 100000 at index [0, 0] overflows float16"),
        "{err}"
    );
}

#[test]
fn floats_never_become_integers_and_integers_become_floats_only_exactly() {
    let dir = tmp("refuse");
    ndarray_npy::write_npy(dir.join("f.npy"), &array![[1.0f32, 2.0]]).unwrap();
    let err = Spec::new(1)
        .with_input(Input::npy("x", dir.join("f.npy")).with_dtype(DType::I32))
        .open()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "the array is float32 and the input is int32; floats are not converted to integers"
        ),
        "{err}"
    );
    ndarray_npy::write_npy(dir.join("i.npy"), &array![[16_777_216i64, -3]]).unwrap();
    let b = Spec::new(1)
        .with_input(Input::npy("x", dir.join("i.npy")).with_dtype(DType::F32))
        .open()
        .unwrap()
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(b.as_slice("x").unwrap(), &[16_777_216.0, -3.0]);
    ndarray_npy::write_npy(dir.join("j.npy"), &array![[0i64, 16_777_217]]).unwrap();
    let err = Spec::new(1)
        .with_input(Input::npy("x", dir.join("j.npy")).with_dtype(DType::F32))
        .open()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("16777217 at index [0, 1] is not exactly representable in float32"),
        "{err}"
    );
}

#[test]
fn bool_uint8_and_npz_int64_keep_their_types() {
    let dir = tmp("bool");
    ndarray_npy::write_npy(dir.join("mask.npy"), &array![[true, false], [false, true]]).unwrap();
    ndarray_npy::write_npy(dir.join("u8.npy"), &array![[255u8], [7]]).unwrap();
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extra_4.npz");
    let mut src = Spec::new(2)
        .with_input(Input::npy("mask", dir.join("mask.npy")))
        .with_input(Input::npy("pixels", dir.join("u8.npy")))
        .with_input(Input::npz("ids", &fixture, "ids").with_dtype(DType::F32))
        .with_limit(2)
        .open();
    // 2, 2 and 4 samples: the counts must agree before a limit applies.
    let err = src
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "inputs yield different numbers of samples: `mask` has 2, `pixels` has 2, `ids` has 4"
    );
    src = Spec::new(2)
        .with_input(Input::npy("mask", dir.join("mask.npy")))
        .with_input(Input::npy("pixels", dir.join("u8.npy")))
        .open();
    let b = src.unwrap().next_batch().unwrap().unwrap();
    assert_eq!(b.dtype("mask"), Some(DType::Bool));
    assert_eq!(b.bytes("mask").unwrap(), &[1, 0, 0, 1]);
    assert_eq!(b.slice::<u8>("pixels").unwrap(), &[255, 7]);
    let ids = Spec::new(4)
        .with_input(Input::npz("ids", &fixture, "ids").with_dtype(DType::F32))
        .open()
        .unwrap()
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(ids.as_slice("ids").unwrap(), &[0.0, 1.0, 2.0, 3.0]);
}

#[test]
fn raw_files_take_their_element_type_from_the_dtype() {
    let dir = tmp("raw");
    let path = dir.join("x.bin");
    let values: Vec<i64> = vec![-1, 2, i64::MAX, 4, 5, 6];
    std::fs::write(
        &path,
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let b = Spec::new(1)
        .with_input(Input::raw("x", &path, [3]).with_dtype(DType::I64))
        .open()
        .unwrap()
        .next_batch()
        .unwrap()
        .unwrap();
    assert_eq!(b.slice::<i64>("x").unwrap(), &[-1, 2, i64::MAX]);
    // Without a dtype it is float32: 48 bytes are 12 floats, 4 samples of 3.
    let src = Spec::new(1)
        .with_input(Input::raw("x", &path, [3]))
        .open()
        .unwrap();
    assert_eq!(src.input_shapes()[0].1, [1, 3]);
    assert_eq!(src.sample_count(), 4);
    assert_eq!(src.input_dtypes()[0].1, DType::F32);
}

#[test]
fn float16_images_are_the_float32_values_rounded() {
    let dir = tmp("f16img");
    image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([(x * 40) as u8, (y * 70) as u8, 3]))
        .save(dir.join("a.png"))
        .unwrap();
    let pre = Preprocess::rgb()
        .with_mean([123.675, 116.28, 103.53])
        .with_std([58.395, 57.12, 57.375]);
    let run = |dtype| {
        Spec::new(1)
            .with_input(Input::images("img", &dir, pre.clone()).with_dtype(dtype))
            .open()
            .unwrap()
            .next_batch()
            .unwrap()
            .unwrap()
    };
    let (full, half) = (run(DType::F32), run(DType::F16));
    let want: ArrayD<f16> = full.get("img").unwrap().mapv(f16::from_f32);
    assert_eq!(half.view::<f16>("img").unwrap(), want);
    assert_eq!(
        half.view::<f16>("img").unwrap()[[0, 0, 0, 1]],
        f16::from_f32((40.0 - 123.675) / 58.395)
    );

    let err = Spec::new(1)
        .with_input(Input::images("img", &dir, pre).with_dtype(DType::I32))
        .open()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("images are preprocessed into float32 or float16, not int32"),
        "{err}"
    );
}

#[test]
fn toml_dtype_key() {
    let dir = tmp("toml");
    ndarray_npy::write_npy(dir.join("ids.npy"), &array![[1i64, 2], [3, 4]]).unwrap();
    let spec = Spec::from_toml_str(
        "batch_size = 2\n[[input]]\nname = \"ids\"\nnpy = \"ids.npy\"\ndtype = \"int32\"\n",
        &dir,
    )
    .unwrap();
    assert_eq!(spec.inputs()[0].dtype(), Some(DType::I32));
    let b = spec.open().unwrap().next_batch().unwrap().unwrap();
    assert_eq!(b.slice::<i32>("ids").unwrap(), &[1, 2, 3, 4]);

    let err = Spec::from_toml_str(
        "batch_size = 2\n[[input]]\nname = \"img\"\nimages = \".\"\nchannel_order = \"rgb\"\ndtype = \"int8\"\n",
        &dir,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("input `img`: images are preprocessed into float32 or float16, not int8"),
        "{err}"
    );
    let err = Spec::from_toml_str(
        "batch_size = 2\n[[input]]\nname = \"ids\"\nnpy = \"ids.npy\"\ndtype = \"float64\"\n",
        &dir,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown dtype `float64`"), "{err}");
}

#[test]
fn toml_inputs_are_checked_key_by_key() {
    let dir = tmp("toml-keys");
    let refused = |input: &str| {
        Spec::from_toml_str(
            &format!("batch_size = 2\n[[input]]\nname = \"x\"\n{input}"),
            &dir,
        )
        .unwrap_err()
        .to_string()
    };
    let cases = [
        ("npy = \"a.npy\"\nraw = \"a.bin\"\n", "input `x`: give exactly one of `images`, `npy`, `npz`, `raw` (found 2)"),
        ("", "input `x`: give exactly one of `images`, `npy`, `npz`, `raw` (found 0)"),
        ("npy = \"a.npy\"\nmean = 127\n", "input `x`: preprocessing keys (channel_order, resize, mean, ...) apply to `images` only"),
        ("npz = \"a.npz\"\n", "input `x`: `npz` needs `array = \"name\"`"),
        ("raw = \"a.bin\"\n", "input `x`: `raw` needs `shape = [...]` (the shape of one sample)"),
        ("images = \".\"\nchannel_order = \"rgb\"\nshape = [3]\n", "input `x`: `array` and `shape` belong to `npz` and `raw` inputs"),
        ("images = \".\"\n", "input `x`: image inputs need `channel_order"),
        ("images = \".\"\nchannel_order = \"rgb\"\nscale = 1\nstd = 2\n", "input `x`: give `scale` or `std`, not both"),
        ("images = \".\"\nchannel_order = \"rgb\"\nresize = { width = 4 }\n", "input `x`: `resize` is `{ width = W, height = H }`"),
    ];
    for (input, want) in cases {
        let err = refused(input);
        assert!(err.contains(want), "{input:?}: {err}");
    }
}
