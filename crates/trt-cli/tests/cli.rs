//! `trt diff`, `data preview`, `bundle`/`verify-bundle`, argument checks and the missing-TensorRT
//! path, run as a process on the real fixtures. None of these need TensorRT or a GPU.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn inspector(name: &str) -> PathBuf {
    root()
        .join("tests/fixtures/trt-8.5.3")
        .join(format!("resnet18-int8-{name}.inspector.json"))
}

fn trt(args: &[&str]) -> Output {
    trt_env(args, &[])
}

fn trt_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trt"));
    c.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run trt")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------- diff ----------

#[test]
fn diff_plain_a_b_four_tactics_exit_1() {
    let (a, b) = (inspector("plain.a"), inspector("plain.b"));
    let o = trt(&["diff", s(&a), s(&b)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("different: 0 layer(s) only in A, 0 only in B, 0 precision change(s), 0 format change(s), 4 tactic change(s)"),
        "{out}"
    );
    assert!(
        out.contains("/layer2/layer2.0/conv1/Conv + /layer2/layer2.0/relu/Relu"),
        "{out}"
    );
    assert!(out.contains("0x671c943720ba8655"), "{out}");
}

#[test]
fn diff_identical_exit_0() {
    let a = inspector("plain.a");
    let o = trt(&["diff", s(&a), s(&a)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).lines().any(|l| l == "identical"));
}

#[test]
fn diff_json_has_the_fields() {
    let o = trt(&[
        "diff",
        s(&inspector("plain.a")),
        s(&inspector("plain.b")),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["identical"], false);
    assert_eq!(v["tactic_changes"].as_array().unwrap().len(), 4);
    assert_eq!(v["precision_changes"].as_array().unwrap().len(), 0);
    assert_eq!(v["format_changes"].as_array().unwrap().len(), 0);
    assert_eq!(v["layers_only_in_a"].as_array().unwrap().len(), 0);
    assert_eq!(v["layers_only_in_b"].as_array().unwrap().len(), 0);

    let o = trt(&[
        "diff",
        s(&inspector("plain.a")),
        s(&inspector("prefer.a")),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tactic_changes"].as_array().unwrap().len(), 8);
    assert_eq!(v["precision_changes"].as_array().unwrap().len(), 0);
}

#[test]
fn diff_reads_build_reports_and_rejects_other_json() {
    let dir = tempfile::tempdir().unwrap();
    // A build report holding plain.b's layers, compared with plain.a's inspector JSON.
    let layers: serde_json::Value = {
        let text = std::fs::read_to_string(inspector("plain.b")).unwrap();
        let r = trt::EngineInspection::from_json(&text).unwrap();
        serde_json::to_value(r.layers).unwrap()
    };
    let report = serde_json::json!({
        "trt_build_report": 1, "tensorrt_version": "8.5.3", "flags": serde_json::to_value(trt::report::BuildFlags::default()).unwrap(),
        "inputs": [], "outputs": [], "precision_counts": {}, "layers": layers,
        "calibration": null, "strict": null, "build_seconds": null, "warnings": []
    });
    let rp = dir.path().join("b.engine.report.json");
    std::fs::write(&rp, report.to_string()).unwrap();
    let o = trt(&["diff", s(&inspector("plain.a")), s(&rp), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["tactic_changes"].as_array().unwrap().len(), 4);

    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"hello\": 1}").unwrap();
    let o = trt(&["diff", s(&other), s(&rp)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("neither a build report"),
        "{}",
        stderr(&o)
    );

    let o = trt(&["diff", s(&dir.path().join("missing.json")), s(&rp)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));
}

// ---------- data preview ----------

fn fashion_calib() -> PathBuf {
    root().join("models/fashion-mnist/calib")
}

/// The first image (file-name order) and its pixel at (y, x), read independently with `image`.
fn first_pixel(y: u32, x: u32) -> f32 {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fashion_calib())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    let img = image::open(&files[0]).unwrap().to_luma8();
    assert_eq!(img.dimensions(), (28, 28));
    f32::from(img.get_pixel(x, y).0[0])
}

#[test]
fn preview_quick_form_writes_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("batch.npy");
    let o = trt(&[
        "data",
        "preview",
        "--images",
        s(&fashion_calib()),
        "--gray",
        "--mean",
        "72.93",
        "--std",
        "90.0",
        "--batch",
        "8",
        "--out",
        s(&npy),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("shape 8x1x28x28"), "{out}");
    assert!(out.contains("batches  4 of 8"), "{out}");
    let a: ndarray::ArrayD<f32> = ndarray_npy::read_npy(&npy).unwrap();
    assert_eq!(a.shape(), &[8, 1, 28, 28]);
    let want = (first_pixel(14, 14) - 72.93) / 90.0;
    assert!(
        (a[[0, 0, 14, 14]] - want).abs() < 1e-6,
        "{} vs {want}",
        a[[0, 0, 14, 14]]
    );
    // A pixel that is not background, so the check can fail.
    assert!(first_pixel(14, 14) > 0.0);
}

#[test]
fn preview_toml_spec_out_dir_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("calib.toml");
    std::fs::write(
        &toml,
        format!(
            "batch_size = 4\n[[input]]\nname = \"image\"\nimages = \"{}\"\nchannel_order = \"gray\"\nresize = {{ width = 14, height = 14 }}\nmean = 0.0\nscale = 0.00392156862745098\n",
            s(&fashion_calib())
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("preview");
    let o = trt(&[
        "data",
        "preview",
        s(&toml),
        "--out-dir",
        s(&out_dir),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["batches"], 8);
    assert_eq!(v["inputs"][0]["name"], "image");
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([4, 1, 14, 14]));
    let ch = &v["inputs"][0]["channels"][0];
    assert!(
        ch["min"].as_f64().unwrap() >= 0.0 && ch["max"].as_f64().unwrap() <= 1.0,
        "{ch}"
    );
    let a: ndarray::ArrayD<f32> = ndarray_npy::read_npy(out_dir.join("image.npy")).unwrap();
    assert_eq!(a.shape(), &[4, 1, 14, 14]);
}

#[test]
fn preview_needs_a_channel_order() {
    let o = trt(&[
        "data",
        "preview",
        "--images",
        s(&fashion_calib()),
        "--out",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--rgb, --bgr or --gray"),
        "{}",
        stderr(&o)
    );
}

// ---------- bundle / verify-bundle ----------

fn make_bundle(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("model.engine"),
        (0..4096u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::copy(
        root().join("crates/calib-table/tests/fixtures/resnet18-random-weights.calib.cache"),
        dir.join("model.calib.cache"),
    )
    .unwrap();
    std::fs::write(dir.join("model.onnx"), b"onnx bytes").unwrap();
    let out = dir.join("bundle");
    let o = trt(&[
        "bundle",
        "--engine",
        s(&dir.join("model.engine")),
        "--table",
        s(&dir.join("model.calib.cache")),
        "--onnx",
        s(&dir.join("model.onnx")),
        "-o",
        s(&out),
        "--trt",
        "8.5.3",
        "--compute-capability",
        "9.0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out
}

fn verify(dir: &Path, trt_version: &str, cc: &str) -> Output {
    trt(&[
        "verify-bundle",
        s(dir),
        "--trt",
        trt_version,
        "--compute-capability",
        cc,
    ])
}

#[test]
fn bundle_verifies_on_the_same_target() {
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bundle(tmp.path());
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["tensorrt_version"], "8.5.3");
    assert_eq!(m["gpu"]["compute_capability"], "9.0");
    assert_eq!(m["files"]["engine"]["size"], 4096);
    assert_eq!(m["files"]["engine"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["version_compatible"], false);
    let o = verify(&b, "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("ok: 3 files verified"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bundle_refuses_another_tensorrt_or_gpu() {
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bundle(tmp.path());
    let o = verify(&b, "8.5.2", "9.0");
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("built with TensorRT 8.5.3 but this target has TensorRT 8.5.2"),
        "{out}"
    );
    assert!(
        out.contains("--int8 --calib-cache") && out.contains("model.calib.cache --require-cache"),
        "{out}"
    );
    let o = verify(&b, "8.5.3", "8.7");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("compute capability 9.0 but this GPU is 8.7"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bundle_refuses_a_manifest_naming_another_version() {
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bundle(tmp.path());
    let path = b.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"8.5.3\"", "\"10.3.0\"");
    std::fs::write(&path, text).unwrap();
    let o = verify(&b, "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("TensorRT 10.3.0 but this target has TensorRT 8.5.3; engines need the exact same version"), "{out}");
    assert!(out.contains("same major.minor only"), "{out}");
}

#[test]
fn tampered_or_truncated_engine_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bundle(tmp.path());
    let engine = b.join("model.engine");
    let mut bytes = std::fs::read(&engine).unwrap();
    bytes[1234] ^= 0x40;
    std::fs::write(&engine, &bytes).unwrap();
    let o = verify(&b, "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("model.engine") && out.contains("sha256"),
        "{out}"
    );

    std::fs::write(&engine, &bytes[..4000]).unwrap();
    let o = verify(&b, "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("model.engine: the engine is 4000 bytes, the manifest says 4096"),
        "{}",
        stdout(&o)
    );

    std::fs::remove_file(&engine).unwrap();
    let o = verify(&b, "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("model.engine"), "{}", stdout(&o));
}

#[test]
fn verify_without_a_bundle_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let o = verify(tmp.path(), "8.5.3", "9.0");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
}

#[test]
fn bundle_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let b = make_bundle(tmp.path());
    let args = |force: bool| {
        let mut v = vec![
            "bundle".to_string(),
            "--engine".into(),
            s(&tmp.path().join("model.engine")).into(),
            "-o".into(),
            s(&b).into(),
            "--trt".into(),
            "8.5.3".into(),
            "--compute-capability".into(),
            "8.7".into(),
        ];
        if force {
            v.push("--force".into());
        }
        v
    };
    let o = trt(&args(false).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = trt(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(verify(&b, "8.5.3", "8.7").status.code(), Some(0));
}

// ---------- argument checks, help, missing TensorRT ----------

#[test]
fn build_checks_arguments_before_loading_tensorrt() {
    let onnx = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let o = trt(&["build", s(&onnx), "-o", "/tmp/never.engine", "--int8"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("INT8 needs calibration data"),
        "{}",
        stderr(&o)
    );

    let o = trt(&[
        "build",
        s(&onnx),
        "-o",
        "/tmp/never.engine",
        "--fp16",
        "--calib-cache",
        "x.cache",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("need --int8 or --strict-int8"),
        "{}",
        stderr(&o)
    );

    let o = trt(&[
        "build",
        s(&onnx),
        "-o",
        "/tmp/never.engine",
        "--int8",
        "--calib-cache",
        "/nonexistent/t.cache",
        "--require-cache",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no such calibration table"),
        "{}",
        stderr(&o)
    );

    let o = trt(&[
        "build",
        s(&onnx),
        "-o",
        "/tmp/never.engine",
        "--int8",
        "--fp16",
    ]);
    assert_eq!(o.status.code(), Some(2), "clap rejects two precisions");

    let o = trt(&[
        "build",
        s(&onnx),
        "-o",
        "/tmp/never.engine",
        "--profile",
        "input:8x1:4x1:1x1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("MIN <= OPT <= MAX"), "{}", stderr(&o));

    for (flag, value, says) in [
        ("--layer-timing-cache", "maybe", "expected on or off"),
        (
            "--hardware-compat",
            "turing",
            "expected none, ampere-plus or same-cc",
        ),
    ] {
        let o = trt(&["build", s(&onnx), "-o", "/tmp/never.engine", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    let o = trt(&["build", s(&onnx), "-o", "/tmp/never.engine", "--exact"]);
    assert_eq!(o.status.code(), Some(2), "--exact needs --check-identical");
}

#[test]
fn calib_method_is_checked_before_loading_tensorrt() {
    let onnx = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = fashion_calib();
    let base = [
        "calib",
        s(&onnx),
        "--calib",
        s(&calib),
        "--gray",
        "--calib-cache",
        "/tmp/never.calib",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        trt(&a)
    };
    let o = with(&["--method", "kl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("unknown calibration method `kl`: use minmax, entropy, mse or percentile=P"),
        "{}",
        stderr(&o)
    );
    let o = with(&["--method", "percentile=100.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("percentile 100.5 is outside (0, 100]"),
        "{}",
        stderr(&o)
    );
    let o = with(&["--method", "entropy", "--minmax"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--minmax is TensorRT's calibrator"
    );
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    let o = with(&["--one-pass"]);
    assert_eq!(o.status.code(), Some(2), "--one-pass needs --method");
    assert!(!std::path::Path::new("/tmp/never.calib").exists());
}

#[test]
fn calib_plot_needs_method_and_plot_tensor_needs_plot() {
    let onnx = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = fashion_calib();
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let base = [
        "calib",
        s(&onnx),
        "--calib",
        s(&calib),
        "--gray",
        "--calib-cache",
        "/tmp/never.calib",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        trt(&a)
    };
    let o = with(&["--plot", s(&plots)]);
    assert_eq!(o.status.code(), Some(2), "--plot needs --method");
    assert!(
        stderr(&o).contains("the following required arguments were not provided")
            && stderr(&o).contains("--method <METHOD>"),
        "{}",
        stderr(&o)
    );
    let o = with(&["--method", "entropy", "--plot-tensor", "input"]);
    assert_eq!(o.status.code(), Some(2), "--plot-tensor needs --plot");
    assert!(stderr(&o).contains("--plot <DIR>"), "{}", stderr(&o));
    assert!(!plots.exists());
    let o = trt(&["calib", "--help"]);
    assert!(stdout(&o).contains("--plot <DIR>") && stdout(&o).contains("--plot-tensor <NAME>"));
}

#[test]
fn calib_stability_is_checked_before_loading_tensorrt() {
    let onnx = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = fashion_calib();
    let base = [
        "calib",
        s(&onnx),
        "--calib",
        s(&calib),
        "--gray",
        "--calib-cache",
        "/tmp/never.stability.calib",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        trt(&a)
    };
    for (extra, says) in [
        (&["--stability", "0"][..], "--stability <K>"),
        (&["--stability", "many"][..], "--stability <K>"),
        (
            &["--stability", "2", "--stability-threshold", "-0.1"][..],
            "give a relative move >= 0, e.g. 0.05 for 5%",
        ),
        (
            &["--stability", "2", "--stability-threshold", "inf"][..],
            "give a relative move >= 0",
        ),
        (&["--stability-threshold", "0.1"][..], "--stability <K>"),
        (&["--json"][..], "--stability <K>"),
    ] {
        let o = with(extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{extra:?}: {}", stderr(&o));
    }
    assert!(!std::path::Path::new("/tmp/never.stability.calib").exists());
    let help = stdout(&trt(&["calib", "--help"]));
    assert!(
        help.contains("--stability <K>") && help.contains("Exit code: 0 stable, 1 a scale"),
        "{help}"
    );
}

#[test]
fn every_command_has_examples() {
    for cmd in [
        vec!["build"],
        vec!["calib"],
        vec!["inspect"],
        vec!["diff"],
        vec!["run"],
        vec!["bundle"],
        vec!["verify-bundle"],
        vec!["data", "preview"],
        vec!["cache", "show"],
        vec!["qdq", "export"],
        vec!["qdq", "compare"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let o = trt(&args);
        assert_eq!(o.status.code(), Some(0), "{cmd:?}");
        assert!(stdout(&o).contains("Examples:"), "{cmd:?}: {}", stdout(&o));
    }
}

#[test]
fn inspect_without_tensorrt_names_the_paths_and_trt_lib_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = tmp.path().join("some.engine");
    std::fs::write(&engine, [0u8; 128]).unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = trt_env(
        &["inspect", s(&engine)],
        &[("TRT_LIB_DIR", s(&empty)), ("LD_LIBRARY_PATH", "")],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    if err.contains("TensorRT library libnvinfer.so.") {
        assert!(
            err.starts_with("error: TensorRT library libnvinfer.so."),
            "{err}"
        );
        assert!(
            err.contains(&format!("{}/libnvinfer.so.", s(&empty))),
            "{err}"
        );
        assert!(err.contains("Set TRT_LIB_DIR"), "{err}");
    } else {
        // ld.so.cache found a TensorRT installed system-wide: then the 128 zero bytes are
        // refused as an engine (or, without a GPU, for want of the driver), never accepted.
        assert!(
            err.contains(s(&engine)) || err.contains("no CUDA driver"),
            "{err}"
        );
    }
}

// ---------- data check ----------

/// A fresh folder with these 8x6 images: `Some(v)` an RGB PNG of red `v`, `None` a grey PNG.
fn image_dir(files: &[(&str, Option<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, red) in files {
        let path = dir.path().join(name);
        match red {
            Some(v) => image::RgbImage::from_pixel(8, 6, image::Rgb([*v, 50, 200]))
                .save(&path)
                .unwrap(),
            None => image::GrayImage::from_pixel(8, 6, image::Luma([90]))
                .save(&path)
                .unwrap(),
        }
    }
    dir
}

#[test]
fn data_check_names_a_grey_image_among_colour_ones_and_the_flag() {
    let dir = image_dir(&[
        ("a.png", Some(1)),
        ("b.png", Some(2)),
        ("c_grey.png", None),
        ("d.png", Some(4)),
    ]);
    let o = trt(&[
        "data",
        "check",
        "--images",
        s(dir.path()),
        "--rgb",
        "--batch",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("calibration data check failed: 1 bad file(s)\n"),
        "{out}"
    );
    assert!(
        out.contains("c_grey.png (input `input`): has 1 channel(s), the input has 3"),
        "{out}"
    );
    assert!(
        out.contains("`convert_channels = true`") && out.contains("--convert-channels"),
        "{out}"
    );

    let o = trt(&[
        "data",
        "check",
        "--images",
        s(dir.path()),
        "--rgb",
        "--batch",
        "2",
        "--convert-channels",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("ok: 4 sample(s) per input, 2 batch(es) of 2, 0 skipped"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn data_check_and_preview_find_a_text_file_in_the_second_batch() {
    let dir = image_dir(&[("a.png", Some(1)), ("b.png", Some(2)), ("y.png", Some(3))]);
    // File-name order: a, b | x, y: the second batch of 2.
    std::fs::write(dir.path().join("x.jpg"), "not a picture\n").unwrap();
    let o = trt(&[
        "data",
        "check",
        "--images",
        s(dir.path()),
        "--rgb",
        "--batch",
        "2",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["bad_files"].as_array().unwrap().len(), 1);
    assert!(
        v["bad_files"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("x.jpg"),
        "{v}"
    );
    assert_eq!(v["bad_files"][0]["kind"], "undecodable");
    assert_eq!(v["bad_files"][0]["sample"], 2);

    // preview checks the whole set first, so it fails too, naming the file.
    let npy = dir.path().join("batch.npy");
    let o = trt(&[
        "data",
        "preview",
        "--images",
        s(dir.path()),
        "--rgb",
        "--batch",
        "2",
        "--out",
        s(&npy),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("x.jpg (input `input`): not a decodable image"),
        "{}",
        stderr(&o)
    );
    assert!(!npy.exists(), "nothing written");

    // Skipped: the counts are exact and the file is named.
    let o = trt(&[
        "data",
        "check",
        "--images",
        s(dir.path()),
        "--rgb",
        "--batch",
        "2",
        "--skip-bad-files",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("ok: 3 sample(s) per input, 1 batch(es) of 2, 1 skipped"),
        "{out}"
    );
    assert!(out.contains("skipped  ") && out.contains("x.jpg"), "{out}");
    assert!(stderr(&o).contains("x.jpg"), "a warning: {}", stderr(&o));
}

#[test]
fn data_check_refuses_a_truncated_jpeg_unless_skipping() {
    let dir = tempfile::tempdir().unwrap();
    let photo = root().join("crates/calib-data/tests/fixtures/chelsea_150x100.jpg");
    let bytes = std::fs::read(&photo).unwrap();
    assert!(bytes.len() > 3000);
    std::fs::write(dir.path().join("a.jpg"), &bytes).unwrap();
    std::fs::write(dir.path().join("b_cut.jpg"), &bytes[..3000]).unwrap();
    std::fs::write(dir.path().join("c.jpg"), &bytes).unwrap();
    let args = [
        "data",
        "check",
        "--images",
        s(dir.path()),
        "--rgb",
        "--size",
        "32x32",
        "--batch",
        "1",
    ];
    let o = trt(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("b_cut.jpg (input `input`): the JPEG data ends (3000 bytes)")
            && out.contains("end-of-image marker (FF D9)"),
        "{out}"
    );
    let mut skip = args.to_vec();
    skip.push("--skip-bad-files");
    let o = trt(&skip);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("ok: 2 sample(s) per input, 2 batch(es) of 1, 1 skipped"),
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("skipping calibration sample 1") && err.contains("b_cut.jpg"),
        "{err}"
    );
}

#[test]
fn data_preview_writes_each_input_in_its_dtype() {
    let dir = image_dir(&[("a.png", Some(10)), ("b.png", Some(20))]);
    let ids = ndarray::array![[1i64, -2], [2_000_000_000, 4]];
    ndarray_npy::write_npy(dir.path().join("ids.npy"), &ids).unwrap();
    let toml = dir.path().join("calib.toml");
    std::fs::write(
        &toml,
        "batch_size = 2\n[[input]]\nname = \"image\"\nimages = \".\"\nchannel_order = \"rgb\"\n\
         dtype = \"float16\"\n[[input]]\nname = \"ids\"\nnpy = \"ids.npy\"\n",
    )
    .unwrap();
    let out_dir = dir.path().join("preview");
    let o = trt(&[
        "data",
        "preview",
        s(&toml),
        "--dtype",
        "ids:int32",
        "--shape",
        "ids:2x2",
        "--out-dir",
        s(&out_dir),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("input `ids`  shape 2x2  int32"), "{out}");
    assert!(
        out.contains("input `image`  shape 2x3x6x8  float16"),
        "{out}"
    );
    let written: ndarray::ArrayD<i32> = ndarray_npy::read_npy(out_dir.join("ids.npy")).unwrap();
    assert_eq!(
        written,
        ndarray::array![[1, -2], [2_000_000_000, 4]].into_dyn()
    );
    // float16 on disk: header `<f2`, 2 bytes per element; red 20 of the second image is exact.
    let half = std::fs::read(out_dir.join("image.npy")).unwrap();
    let header = String::from_utf8_lossy(&half[..128]).to_string();
    assert!(header.contains("'descr': '<f2'"), "{header}");
    assert_eq!(half.len() % 64, (2 * 3 * 6 * 8 * 2) % 64);
    let data = &half[half.len() - 2 * 3 * 6 * 8 * 2..];
    let second_red = u16::from_le_bytes([data[3 * 6 * 8 * 2], data[3 * 6 * 8 * 2 + 1]]);
    assert_eq!(second_red, 0x4d00, "20.0 in binary16");

    // The same check with the network's shapes: a wrong batch dimension is exit 1.
    let o = trt(&["data", "check", s(&toml), "--shape", "image:4x3x6x8"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("batch_size is 2 but the network's batch dimension is 4"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn data_check_has_examples() {
    let o = trt(&["data", "check", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Examples:"), "{}", stdout(&o));
    assert!(stdout(&o).contains("--convert-channels"), "{}", stdout(&o));
}

#[test]
fn eval_and_accuracy_budget_refuse_bad_arguments_before_loading_tensorrt() {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("m.engine");
    std::fs::write(&engine, b"not a plan").unwrap();
    let model = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = root().join("models/fashion-mnist/calib");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "eval",
                s(&engine),
                "--reference",
                s(&engine),
                "--data",
                s(&calib),
                "--save-reference",
                "r.engine",
            ],
            "--save-reference needs an ONNX --reference",
        ),
        (
            vec![
                "eval",
                s(&engine),
                "--reference",
                s(&model),
                "--data",
                s(&calib),
                "--min-top1",
                "95",
            ],
            "--min-top1 is a fraction from 0 to 1",
        ),
        (
            vec![
                "eval",
                "missing.engine",
                "--reference",
                s(&model),
                "--data",
                s(&calib),
            ],
            "missing.engine: no such engine",
        ),
        (
            vec![
                "build",
                s(&model),
                "--int8",
                "--calib",
                s(&calib),
                "--accuracy-budget",
                "1",
                "--eval",
                s(&calib),
                "-o",
                "x.engine",
            ],
            "--accuracy-budget needs --strict-int8",
        ),
        (
            vec![
                "build",
                s(&model),
                "--strict-int8",
                "--calib",
                s(&calib),
                "--accuracy-budget",
                "1",
                "--eval",
                s(&calib),
                "-o",
                "x.engine",
            ],
            "--accuracy-budget searches on an existing calibration table",
        ),
        (
            vec![
                "build",
                s(&model),
                "--strict-int8",
                "--calib",
                s(&calib),
                "--accuracy-budget",
                "150",
                "--eval",
                s(&calib),
                "-o",
                "x.engine",
            ],
            "from 0 to 100, not 150",
        ),
    ];
    for (args, expected) in cases {
        let o = trt(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
    // --eval without --accuracy-budget is a usage error, and so are the measurement flags
    // without it, together, or with groups of 0.
    let o = trt(&["build", s(&model), "--eval", s(&calib), "-o", "x.engine"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--accuracy-budget"), "{}", stderr(&o));
    let budget = [
        "build",
        s(&model),
        "--strict-int8",
        "--calib-cache",
        "t.calib",
        "--eval",
        s(&calib),
        "-o",
        "x.engine",
    ];
    for (extra, expected) in [
        (&["--budget-measure-groups"][..], "--accuracy-budget"),
        (
            &[
                "--accuracy-budget",
                "1",
                "--budget-measure-groups",
                "--budget-measure-each",
            ][..],
            "cannot be used with",
        ),
        (
            &["--accuracy-budget", "1", "--budget-measure-groups", "0"][..],
            "0 is not in 1..",
        ),
    ] {
        let args: Vec<&str> = budget.iter().chain(extra).copied().collect();
        let o = trt(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
    assert!(!dir.path().join("x.engine").exists());
}

#[test]
fn calib_also_needs_method_and_a_file_of_its_own() {
    let model = root().join("models/fashion-mnist/fashion_mnist.onnx");
    let calib = root().join("models/fashion-mnist/calib");
    let base = [
        "calib",
        s(&model),
        "--calib",
        s(&calib),
        "--gray",
        "--calib-cache",
        "a.calib",
    ];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend(extra);
        trt(&a)
    };
    let o = run(&["--also", "mse:b.calib"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--method"), "{}", stderr(&o));
    let o = run(&["--method", "entropy", "--also", "mse:a.calib"]);
    assert!(
        stderr(&o).contains("--also a.calib: every table needs its own file"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--method", "entropy", "--also", "nonsense:b.calib"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nonsense"), "{}", stderr(&o));
    assert!(!Path::new("a.calib").exists() && !Path::new("b.calib").exists());
}
