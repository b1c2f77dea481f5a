//! Every pixel against references computed by OpenCV (fixtures/make_reference.py).

use std::path::PathBuf;

use ndarray::{ArrayD, Axis};
use ndarray_npy::read_npy;
use trt_calib_data::{BatchSource, Input, Interpolation, Layout, Preprocess, Resize, Spec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Preprocess one image; return the sample (batch axis removed).
fn run(image: &str, pre: Preprocess) -> ArrayD<f32> {
    let mut src = Spec::new(1)
        .with_input(Input::image_list("x", [fixture(image)], pre))
        .open()
        .unwrap();
    let batch = src.next_batch().unwrap().unwrap();
    batch.get("x").unwrap().index_axis(Axis(0), 0).to_owned()
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ref_f32(name: &str) -> ArrayD<f32> {
    read_npy(fixture(name)).unwrap()
}

fn ref_u8(name: &str) -> ArrayD<f32> {
    let a: ArrayD<u8> = read_npy(fixture(name)).unwrap();
    a.mapv(f32::from)
}

#[test]
fn imagenet_style_short_side_crop_matches_opencv_exactly() {
    let pre = Preprocess::rgb()
        .with_resize(Resize::ShortSideCrop {
            short_side: 64,
            crop_width: 56,
            crop_height: 56,
        })
        .with_mean([123.675, 116.28, 103.53])
        .with_std([58.395, 57.12, 57.375]);
    let ours = run("chelsea_150x100.png", pre);
    let reference = ref_f32("ref_rgb_ss64_crop56_std.npy");
    assert_eq!(ours.shape(), &[3, 56, 56]);
    // Bit-exact port of INTER_LINEAR + identical f32 normalisation: not a single ulp apart.
    assert_eq!(max_abs_diff(&ours, &reference), 0.0);
}

#[test]
fn seed_case_bgr_caffe_mean_matches_opencv_exactly() {
    let pre = Preprocess::bgr()
        .with_mean([102.9801, 115.9465, 122.7717])
        .with_scale(1.0)
        .with_resize(Resize::Exact {
            width: 48,
            height: 40,
        });
    let ours = run("chelsea_150x100.png", pre);
    let reference = ref_f32("ref_bgr_caffe_48x40.npy");
    assert_eq!(ours.shape(), &[3, 40, 48]);
    assert_eq!(max_abs_diff(&ours, &reference), 0.0);
    // A known pixel, by hand: channel 0 is blue, minus 102.9801.
    let v = ours[[0, 10, 20]];
    assert!(
        (v + 102.9801).fract().abs() < 1e-3,
        "{v} is not an integer minus the blue mean"
    );
}

#[test]
fn upscaling_linear_matches_opencv_exactly() {
    let pre = Preprocess::rgb()
        .with_resize(Resize::ShortSideCrop {
            short_side: 128,
            crop_width: 64,
            crop_height: 48,
        })
        .with_layout(Layout::Nhwc);
    let ours = run("chelsea_150x100.png", pre);
    assert_eq!(
        max_abs_diff(&ours, &ref_u8("ref_rgb_ss128_crop64x48_u8.npy")),
        0.0
    );
}

#[test]
fn nearest_matches_opencv_exactly() {
    let pre = Preprocess::rgb()
        .with_resize(Resize::Exact {
            width: 37,
            height: 23,
        })
        .with_interpolation(Interpolation::Nearest)
        .with_layout(Layout::Nhwc);
    let ours = run("chelsea_150x100.png", pre);
    assert_eq!(
        max_abs_diff(&ours, &ref_u8("ref_rgb_nearest_37x23_u8.npy")),
        0.0
    );
}

#[test]
fn grayscale_matches_opencv_exactly() {
    let pre = Preprocess::gray()
        .with_resize(Resize::Exact {
            width: 28,
            height: 28,
        })
        .with_mean(127.5)
        .with_std(127.5);
    let ours = run("camera_64x64.png", pre);
    assert_eq!(ours.shape(), &[1, 28, 28]);
    assert_eq!(max_abs_diff(&ours, &ref_f32("ref_gray_28x28.npy")), 0.0);

    let up = run(
        "camera_64x64.png",
        Preprocess::gray().with_resize(Resize::Exact {
            width: 100,
            height: 90,
        }),
    );
    let reference = ref_u8("ref_gray_up_100x90_u8.npy").insert_axis(Axis(0));
    assert_eq!(max_abs_diff(&up, &reference), 0.0);
}

#[test]
fn jpeg_within_decoder_tolerance_of_opencv() {
    // Resize and normalisation are exact; the JPEG decoders (zune-jpeg vs libjpeg-turbo) may
    // round the IDCT / chroma upsampling differently. Measured on the fixture: max 3, mean 0.33 (0..255 units).
    let pre = Preprocess::bgr()
        .with_resize(Resize::ShortSideCrop {
            short_side: 48,
            crop_width: 40,
            crop_height: 40,
        })
        .with_scale(1.0 / 255.0);
    let ours = run("chelsea_150x100.jpg", pre);
    let reference = ref_f32("ref_jpeg_bgr_ss48_crop40.npy");
    let d = max_abs_diff(&ours, &reference) * 255.0;
    let mean = ours
        .iter()
        .zip(reference.iter())
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / ours.len() as f32
        * 255.0;
    eprintln!("JPEG max abs diff {d:.3} / 255, mean {mean:.4} / 255");
    assert!(d <= 3.0 + 1e-3, "max abs diff {d} (0..255 units)");
}

#[test]
fn nhwc_is_the_transpose_of_nchw() {
    let base = Preprocess::rgb()
        .with_resize(Resize::Exact {
            width: 30,
            height: 20,
        })
        .with_mean([1.0, 2.0, 3.0]);
    let nchw = run("chelsea_150x100.png", base.clone());
    let nhwc = run("chelsea_150x100.png", base.with_layout(Layout::Nhwc));
    assert_eq!(nhwc.shape(), &[20, 30, 3]);
    assert_eq!(nchw.permuted_axes(vec![1, 2, 0]), nhwc);
}

#[test]
fn channel_mismatch_names_the_file_unless_converting() {
    let err = Spec::new(1)
        .with_input(Input::image_list(
            "x",
            [fixture("camera_64x64.png")],
            Preprocess::rgb(),
        ))
        .open()
        .unwrap()
        .next_batch()
        .unwrap()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("camera_64x64.png") && msg.contains("1 channel"),
        "{msg}"
    );

    let rgb = run(
        "camera_64x64.png",
        Preprocess::rgb().with_convert_channels(true),
    );
    let gray = run("camera_64x64.png", Preprocess::gray());
    assert_eq!(rgb.shape(), &[3, 64, 64]);
    for c in 0..3 {
        assert_eq!(rgb.index_axis(Axis(0), c), gray.index_axis(Axis(0), 0));
    }
}

#[test]
fn antialias_is_close_to_but_not_opencv_linear() {
    let base = Preprocess::rgb()
        .with_resize(Resize::Exact {
            width: 48,
            height: 40,
        })
        .with_layout(Layout::Nhwc);
    let linear = run("chelsea_150x100.png", base.clone());
    let aa = run(
        "chelsea_150x100.png",
        base.with_interpolation(Interpolation::Antialias),
    );
    let mean = linear
        .iter()
        .zip(aa.iter())
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / linear.len() as f32;
    assert!(mean > 0.0 && mean < 12.0, "mean abs diff {mean}");
}
