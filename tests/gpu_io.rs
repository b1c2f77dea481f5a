//! GPU tests of typed I/O: int32 / int64 / bool / f16 host tensors through `run`, your device
//! buffers through the borrow-checked `Bindings`, and the runtime's CUDA device. Behind the
//! `gpu` feature; they fail (never skip) when TensorRT, the GPU or the models are missing.
//! The models are committed in `models/io/` (`scripts/make_io_models.py`); every expected value
//! below is computed by hand from the model's definition.
//!
//!     TRT_LIB_DIR=/path/to/tensorrt/lib cargo test --features gpu --test gpu_io -- --test-threads=1
#![cfg(feature = "gpu")]

mod common;

use common::*;
use ndarray::{arr1, arr2, Array2};
use trt::cudarc::driver::CudaContext;
use trt::half::f16;
use trt::{
    DataType, Engine, Error, ExecutionContext, HostTensor, HostTensorView, Precision, Runtime,
};

fn plan(model: &str, precision: Precision) -> Vec<u8> {
    let b = builder();
    let mut net = b
        .network_from_onnx_file(require(repo(&format!("models/io/{model}"))))
        .unwrap();
    b.build(&mut net, &config(precision)).unwrap().plan
}

fn engine(model: &str, precision: Precision) -> Engine {
    deserialize(&plan(model, precision))
}

fn context(engine: &Engine) -> ExecutionContext {
    let stream = engine.cuda_context().new_stream().unwrap();
    engine.create_context(stream).unwrap()
}

fn output<'a>(outs: &'a [(String, HostTensor)], name: &str) -> &'a HostTensor {
    &outs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no output `{name}` in {outs:?}"))
        .1
}

// add_int.onnx: y = float(ids) + x, next = ids + 1.
const IDS: [[i32; 4]; 2] = [[0, 1, 2, 3], [1000, -7, 65535, 2147483]];
const X: [[f32; 4]; 2] = [[0.5, -1.25, 2.0, 0.0], [0.25, 3.5, -0.5, 1.5]];
/// By hand; every sum is exact in f32 (2147483 + 1.5 needs 23 significant bits).
const Y: [[f32; 4]; 2] = [[0.5, -0.25, 4.0, 3.0], [1000.25, -3.5, 65534.5, 2147484.5]];
const NEXT: [[i32; 4]; 2] = [[1, 2, 3, 4], [1001, -6, 65536, 2147484]];

fn flat<T: Copy, const N: usize>(rows: &[[T; N]]) -> Vec<T> {
    rows.iter().flatten().copied().collect()
}

#[test]
fn io_01_engine_io_types_are_the_models() {
    let e = engine("add_int.onnx", Precision::Fp32);
    let io: Vec<(String, DataType, Vec<i64>)> = e
        .io_tensors()
        .iter()
        .map(|t| (t.name.clone(), t.dtype, t.shape.clone()))
        .collect();
    for (name, dtype) in [
        ("ids", DataType::Int32),
        ("x", DataType::Float),
        ("y", DataType::Float),
        ("next", DataType::Int32),
    ] {
        assert!(
            io.contains(&(name.to_string(), dtype, vec![2, 4])),
            "{name}: {io:?}"
        );
    }
    assert_eq!(e.device(), 0);
}

#[test]
fn io_02_run_takes_int32_and_int64_ids_and_returns_typed_outputs() {
    let e = engine("add_int.onnx", Precision::Fp32);
    let mut ctx = context(&e);
    let ids = arr2(&IDS);
    let x = arr2(&X);
    let outs = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap();
    assert_eq!(outs.len(), 2);
    assert_eq!(output(&outs, "y"), &HostTensor::from(arr2(&Y)));
    assert_eq!(output(&outs, "next"), &HostTensor::from(arr2(&NEXT)));

    // int64 ids (numpy's and PyTorch's default) reach the int32 input through the range check.
    let ids64 = ids.mapv(i64::from);
    let outs64 = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids64)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap();
    assert_eq!(outs64, outs);

    let mut big = ids64.clone();
    big[[1, 2]] = 3_000_000_000;
    let err = ctx
        .run(&[
            ("ids", HostTensorView::from(&big)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap_err();
    assert!(
        matches!(err, Error::Shape { ref name, .. } if name == "ids"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "tensor `ids`: int64 value 3000000000 at index [1, 2] does not fit the engine's int32 input (-2147483648..=2147483647)"
    );
    // The refused call copied nothing: the next one still gives the known values.
    let again = ctx
        .run(&[
            ("x", HostTensorView::from(&x)),
            ("ids", HostTensorView::from(&ids64)),
        ])
        .unwrap();
    assert_eq!(again, outs);
}

#[test]
fn io_03_wrong_types_shapes_and_names_are_refused_before_any_copy() {
    let e = engine("add_int.onnx", Precision::Fp32);
    let mut ctx = context(&e);
    let ids = arr2(&IDS);
    let x = arr2(&X);
    let ids_f32 = ids.mapv(|v| v as f32);
    let err = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids_f32)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "tensor `ids`: the engine's input is int32; got float32 data (it takes int32, or int64 that fits in int32)"
    );
    let x_half = x.mapv(f16::from_f32);
    let err = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("x", HostTensorView::from(&x_half)),
        ])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `x`: the engine's input is float32; got float16 data (it takes float32)"
    );
    let wide = Array2::<f32>::zeros((2, 5));
    let err = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("x", HostTensorView::from(&wide)),
        ])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `x`: shape [2, 5] does not match the engine's [2, 4]"
    );
    let err = ctx.run(&[("ids", HostTensorView::from(&ids))]).unwrap_err();
    assert_eq!(err.to_string(), "tensor `x`: input not given");
    let err = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("ids", HostTensorView::from(&ids)),
        ])
        .unwrap_err();
    assert_eq!(err.to_string(), "tensor `ids`: input given twice");
    let err = ctx.run(&[("y", x.view())]).unwrap_err();
    assert_eq!(err.to_string(), "tensor `y`: is not an Input tensor");
    // After every refusal the context runs as before.
    let outs = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap();
    assert_eq!(output(&outs, "y"), &HostTensor::from(arr2(&Y)));
}

#[test]
fn io_04_int32_and_bool_outputs_come_back_in_their_types() {
    // int_out.onnx: idx = argmax(x, axis 1) as int32, pos = x > 0.
    let e = engine("int_out.onnx", Precision::Fp32);
    assert_eq!(e.tensor("idx").unwrap().dtype, DataType::Int32);
    assert_eq!(e.tensor("pos").unwrap().dtype, DataType::Bool);
    let mut ctx = context(&e);
    let x = arr2(&[
        [0.5f32, -1.0, 3.0, 2.0, -4.0],
        [-0.5, -0.25, -3.0, -0.125, -2.0],
    ]);
    // One f32 input: a plain ndarray view.
    let outs = ctx.run(&[("x", x.view())]).unwrap();
    assert_eq!(output(&outs, "idx"), &HostTensor::from(arr1(&[2i32, 3])));
    assert_eq!(
        output(&outs, "pos"),
        &HostTensor::from(arr2(&[
            [true, false, true, true, false],
            [false, false, false, false, false]
        ]))
    );
    let idx: ndarray::ArrayD<i32> = output(&outs, "idx").clone().into_array().unwrap();
    assert_eq!(idx.as_slice().unwrap(), &[2, 3]);
    assert!(output(&outs, "idx").as_array::<f32>().is_none());
}

#[test]
fn io_05_float16_inputs_and_outputs() {
    // half_io.onnx: y = x * 2 + 0.5, every value exact in f16.
    let e = engine("half_io.onnx", Precision::Fp16);
    assert_eq!(e.tensor("x").unwrap().dtype, DataType::Half);
    assert_eq!(e.tensor("y").unwrap().dtype, DataType::Half);
    let mut ctx = context(&e);
    let x = arr2(&[[1.0f32, -2.0, 0.5, 3.0], [0.25, 100.0, -0.125, 7.0]]).mapv(f16::from_f32);
    let outs = ctx.run(&[("x", x.view())]).unwrap();
    let want = arr2(&[[2.5f32, -3.5, 1.5, 6.5], [1.0, 200.5, 0.25, 14.5]]).mapv(f16::from_f32);
    assert_eq!(output(&outs, "y"), &HostTensor::from(want));
    let err = ctx.run(&[("x", x.mapv(f32::from).view())]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor `x`: the engine's input is float16; got float32 data (it takes float16)"
    );
}

#[test]
fn io_06_bindings_borrow_device_buffers_and_check_type_and_size() {
    let e = engine("add_int.onnx", Precision::Fp32);
    let mut ctx = context(&e);
    let stream = ctx.stream().clone();
    let ids = stream.clone_htod(&flat(&IDS)).unwrap();
    let x = stream.clone_htod(&flat(&X)).unwrap();
    let short = stream.alloc_zeros::<i32>(7).unwrap();
    let mut y = stream.alloc_zeros::<f32>(8).unwrap();
    let mut next = stream.alloc_zeros::<i32>(8).unwrap();
    {
        let mut b = ctx.bindings();
        let err = b.input("ids", &x).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "tensor `ids`: the buffer holds float32, the tensor is int32"
        );
        let err = b.input("ids", &short).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `ids`: buffer holds 28 bytes; shape [2, 4] of int32 needs 32"
        );
        let err = b.input("y", &x).unwrap_err();
        assert_eq!(err.to_string(), "tensor `y`: is not an Input tensor");
        b.input("ids", &ids).unwrap().input("x", &x).unwrap();
        let err = b.enqueue().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("Output not bound: bind every input and output before enqueue"),
            "{err}"
        );
        b.output("y", &mut y)
            .unwrap()
            .output("next", &mut next)
            .unwrap();
        b.enqueue().unwrap();
        b.enqueue().unwrap();
    }
    // The bindings are gone: the outputs can be read (on the context's stream, in order).
    let got: Vec<f32> = stream.clone_dtoh(&y).unwrap();
    assert_eq!(got, flat(&Y));
    let got: Vec<i32> = stream.clone_dtoh(&next).unwrap();
    assert_eq!(got, flat(&NEXT));

    // Bool outputs bind as `bool` buffers (and raw bytes work for any type).
    let e = engine("int_out.onnx", Precision::Fp32);
    let mut ctx = context(&e);
    let stream = ctx.stream().clone();
    let x: Vec<f32> = vec![0.5, -1.0, 3.0, 2.0, -4.0, -0.5, -0.25, -3.0, -0.125, -2.0];
    let x = stream.clone_htod(&x).unwrap();
    let mut idx = stream.alloc_zeros::<u8>(8).unwrap();
    let mut pos = stream.alloc_zeros::<bool>(10).unwrap();
    {
        let mut b = ctx.bindings();
        b.input("x", &x).unwrap();
        b.output_bytes("idx", &mut idx).unwrap();
        b.output("pos", &mut pos).unwrap();
        b.enqueue().unwrap();
    }
    let idx: Vec<u8> = stream.clone_dtoh(&idx).unwrap();
    assert_eq!(idx, [2i32.to_ne_bytes(), 3i32.to_ne_bytes()].concat());
    let pos: Vec<bool> = stream.clone_dtoh(&pos).unwrap();
    assert_eq!(
        pos,
        [true, false, true, true, false, false, false, false, false, false]
    );
}

#[test]
fn io_07_buffers_of_another_stream_are_ordered_by_cudarc_events() {
    // The buffers live on `other`; the engine runs on the context's stream. Nobody synchronizes
    // the context's stream: the events recorded at bind and after each enqueue order the copies
    // on `other` after the engine's work.
    let e = engine("add_int.onnx", Precision::Fp32);
    let mut ctx = context(&e);
    let other = e.cuda_context().new_stream().unwrap();
    let ids = other.clone_htod(&flat(&IDS)).unwrap();
    let x = other.clone_htod(&flat(&X)).unwrap();
    let mut y = other.alloc_zeros::<f32>(8).unwrap();
    let mut next = other.alloc_zeros::<i32>(8).unwrap();
    for round in 0..20 {
        {
            let mut b = ctx.bindings();
            b.input("ids", &ids).unwrap().input("x", &x).unwrap();
            b.output("y", &mut y)
                .unwrap()
                .output("next", &mut next)
                .unwrap();
            b.enqueue().unwrap();
        }
        let got: Vec<f32> = other.clone_dtoh(&y).unwrap();
        assert_eq!(got, flat(&Y), "round {round}");
        let got: Vec<i32> = other.clone_dtoh(&next).unwrap();
        assert_eq!(got, flat(&NEXT), "round {round}");
        other.memset_zeros(&mut y).unwrap();
        other.memset_zeros(&mut next).unwrap();
    }
    // Freed right after an enqueue with no synchronization: the frees wait on the events.
    let ids2 = other.clone_htod(&flat(&IDS)).unwrap();
    {
        let mut b = ctx.bindings();
        b.input("ids", &ids2).unwrap().input("x", &x).unwrap();
        b.output("y", &mut y)
            .unwrap()
            .output("next", &mut next)
            .unwrap();
        b.enqueue().unwrap();
    }
    drop(ids2);
    let got: Vec<f32> = other.clone_dtoh(&y).unwrap();
    assert_eq!(got, flat(&Y));
    ctx.stream().synchronize().unwrap();
    e.cuda_context().check_err().unwrap();
}

#[test]
fn io_08_runtime_on_an_explicit_device_and_a_bad_index() {
    let count = CudaContext::device_count().unwrap() as usize;
    assert!(count >= 1);
    let rt = Runtime::on_device(0).unwrap();
    assert_eq!(rt.device(), 0);
    let e = rt
        .deserialize(&plan("add_int.onnx", Precision::Fp32))
        .unwrap();
    assert_eq!(e.device(), 0);
    let stream = rt.cuda_context().new_stream().unwrap();
    let mut ctx = e.create_context(stream).unwrap();
    let (ids, x) = (arr2(&IDS), arr2(&X));
    let outs = ctx
        .run(&[
            ("ids", HostTensorView::from(&ids)),
            ("x", HostTensorView::from(&x)),
        ])
        .unwrap();
    assert_eq!(output(&outs, "y"), &HostTensor::from(arr2(&Y)));

    let devices = if count == 1 {
        "1 CUDA device (0)".to_string()
    } else {
        format!("{count} CUDA devices (0 to {})", count - 1)
    };
    let err = Runtime::on_device(count)
        .err()
        .expect("bad index")
        .to_string();
    assert_eq!(
        err,
        format!("CUDA device {count} does not exist: this machine has {devices}")
    );
    let logger = std::sync::Arc::new(trt::Logger::new().unwrap());
    let err = Runtime::with_logger_on_device(logger, 99)
        .err()
        .expect("bad index");
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    if count >= 2 {
        // A stream of another device is refused by name of both devices.
        let s = CudaContext::new(1).unwrap().new_stream().unwrap();
        let err = e.create_context(s).err().expect("other device").to_string();
        assert!(
            err.starts_with("the stream is on CUDA device 1, the engine on device 0"),
            "{err}"
        );
    }
    record("io_devices", serde_json::json!({ "device_count": count }));
}

#[test]
fn io_09_seeded_inputs_follow_each_inputs_type() {
    let e = engine("add_int.onnx", Precision::Fp32);
    let inputs = e.seeded_inputs(5).unwrap();
    let ids = inputs.iter().find(|(n, _)| n == "ids").unwrap().1.clone();
    let x = inputs.iter().find(|(n, _)| n == "x").unwrap().1.clone();
    let ids = ids.into_array::<i32>().unwrap();
    let x = x.into_array::<f32>().unwrap();
    assert!(ids.iter().all(|v| (0..16).contains(v)), "{ids}");
    assert!(x.iter().all(|v| (-1.0..1.0).contains(v)), "{x}");
    let mut ctx = context(&e);
    let views: Vec<(&str, HostTensorView<'_>)> =
        inputs.iter().map(|(n, t)| (n.as_str(), t.view())).collect();
    let outs = ctx.run(&views).unwrap();
    // One correctly rounded f32 addition per element, on the GPU as here.
    let want = ids.mapv(|v| v as f32) + &x;
    assert_eq!(output(&outs, "y"), &HostTensor::from(want));
    assert_eq!(
        output(&outs, "next"),
        &HostTensor::from(ids.mapv(|v| v + 1))
    );
    // The replay comparison runs integer-input engines too.
    let cmp = trt::repro::compare_outputs(&[e.clone(), e.clone()], 0, 5).unwrap();
    assert!(cmp.bit_identical());
    assert_eq!(cmp.per_build[0].elements, 16);
}
