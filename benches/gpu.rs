//! GPU benchmarks (not tests), each against a baseline measured in the same run:
//!
//! 1. calibration: our pipeline (images decoded and preprocessed on the fly, pinned staging,
//!    uploads) against the lower bound of the same calibration with every batch already resident
//!    on the GPU (a device-to-device copy per input). Same model, data, batch count. Target <= 1.10.
//! 2. inference: wall time of `ExecutionContext::enqueue` (+ a stream sync) against the engine's
//!    own GPU time (CUDA events around enqueue), batch 1. Target <= 1.02.
//!
//!     cargo bench --features gpu --bench gpu
#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use cudarc::driver::{sys::CUevent_flags, CudaSlice, CudaStream};
use trt::{CalibrationBatch, CalibrationInput, Calibrator, DataCalibrator, Precision};

/// Times the calibration phase: first getBatch to the end of data.
struct Timed<C> {
    inner: C,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl<C: Calibrator> Calibrator for Timed<C> {
    fn algorithm(&self) -> trt::CalibrationAlgorithm {
        self.inner.algorithm()
    }
    fn prepare(
        &mut self,
        inputs: &[CalibrationInput],
        stream: Option<&Arc<CudaStream>>,
    ) -> trt::Result<()> {
        self.inner.prepare(inputs, stream)
    }
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        self.first.get_or_insert_with(Instant::now);
        let more = self.inner.next_batch(batch)?;
        if !more {
            self.last = Some(Instant::now());
        }
        Ok(more)
    }
}

/// Every batch uploaded before calibration starts: the lower bound.
struct Resident {
    batches: Vec<CudaSlice<f32>>,
    next: usize,
}

impl Calibrator for Resident {
    fn next_batch(&mut self, batch: &mut CalibrationBatch<'_>) -> trt::Result<bool> {
        let Some(src) = self.batches.get(self.next) else {
            return Ok(false);
        };
        let stream = batch.stream().expect("gpu").clone();
        let dst = batch.buffer_mut("input")?;
        // SAFETY: `dst` is the device buffer of the float32 input `input`; any bytes are a valid
        // f32, the view is only written (by the copy below), and `transmute_mut` returns None
        // rather than a view longer than the buffer. cuMemAlloc memory is 256-byte aligned.
        let mut view = unsafe { dst.transmute_mut::<f32>(src.len()) }.expect("sizes match");
        stream.memcpy_dtod(src, &mut view)?;
        self.next += 1;
        Ok(true)
    }
}

fn calibration_phase<C: Calibrator>(c: C) -> (Duration, usize) {
    let b = builder();
    let mut net = b
        .network_from_onnx_file(require(assets().join("models/resnet18.onnx")))
        .unwrap();
    let mut timed = Timed {
        inner: c,
        first: None,
        last: None,
    };
    let out = b
        .build_calibrated(&mut net, &config(Precision::Int8), &mut timed)
        .unwrap();
    (
        timed.last.unwrap() - timed.first.unwrap(),
        out.calibration_batches,
    )
}

fn main() {
    // 1. Calibration.
    let spec = photo_spec("input", 0..64, 8);
    let stream = cudarc::driver::CudaContext::new(0)
        .unwrap()
        .new_stream()
        .unwrap();
    let resident: Vec<CudaSlice<f32>> = spec
        .open()
        .unwrap()
        .map(|b| {
            stream
                .clone_htod(b.unwrap().as_slice("input").unwrap())
                .unwrap()
        })
        .collect();
    stream.synchronize().unwrap();
    let (lower, n1) = calibration_phase(Resident {
        batches: resident,
        next: 0,
    });
    let (ours, n2) = calibration_phase(DataCalibrator::new(spec.open().unwrap()));
    assert_eq!(n1, n2);
    let ratio = ours.as_secs_f64() / lower.as_secs_f64();
    record(
        "bench_calibration",
        serde_json::json!({ "model": "resnet18", "batches": n1, "batch_size": 8, "ours_s": ours.as_secs_f64(),
                            "resident_lower_bound_s": lower.as_secs_f64(), "ratio": ratio, "target": 1.10 }),
    );

    // 2. Per-inference overhead at batch 1.
    let b = builder();
    let mut net = b
        .network_from_onnx_file(require(assets().join("models/efficientnet_lite0_b1.onnx")))
        .unwrap();
    let engine = deserialize(&b.build(&mut net, &config(Precision::Fp32)).unwrap().plan);
    let ctx0 = cudarc::driver::CudaContext::new(0).unwrap();
    let stream = ctx0.new_stream().unwrap();
    let mut ctx = engine.create_context(stream.clone()).unwrap();
    let input = stream.alloc_zeros::<f32>(3 * 224 * 224).unwrap();
    let mut output = stream.alloc_zeros::<f32>(1000).unwrap();
    let mut ctx = ctx.bindings();
    ctx.input("input", &input).unwrap();
    ctx.output("logits", &mut output).unwrap();
    let start = ctx0
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .unwrap();
    let end = ctx0
        .new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
        .unwrap();
    for _ in 0..50 {
        ctx.enqueue().unwrap();
    }
    stream.synchronize().unwrap();
    let iters = 2000;
    let (mut wall, mut gpu) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for _ in 0..iters {
        let t = Instant::now();
        start.record(&stream).unwrap();
        ctx.enqueue().unwrap();
        end.record(&stream).unwrap();
        stream.synchronize().unwrap();
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        gpu.push(start.elapsed_ms(&end).unwrap() as f64);
    }
    // Back to back (how a server runs): N enqueues, one sync, against N x GPU time.
    let t = Instant::now();
    start.record(&stream).unwrap();
    for _ in 0..iters {
        ctx.enqueue().unwrap();
    }
    end.record(&stream).unwrap();
    stream.synchronize().unwrap();
    let pipelined_wall = t.elapsed().as_secs_f64() * 1e3 / iters as f64;
    let pipelined_gpu = start.elapsed_ms(&end).unwrap() as f64 / iters as f64;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mw, mg) = (median(&mut wall), median(&mut gpu));
    record(
        "bench_inference",
        serde_json::json!({ "model": "efficientnet_lite0 fp32 batch 1", "iterations": iters,
                            "synced_wall_ms_median": mw, "gpu_ms_median": mg, "synced_ratio": mw / mg,
                            "pipelined_wall_ms": pipelined_wall, "pipelined_gpu_ms": pipelined_gpu,
                            "pipelined_ratio": pipelined_wall / pipelined_gpu, "target": 1.02 }),
    );
}
