//! Run an engine on `.npy` inputs (by name; float32, int32 or int64), write the outputs as `.npy`
//! in their own types, and time `run()` (host copies) against enqueue on bound device buffers.
//!
//!     cargo run --release --example 04_run_engine -- fashion.engine image=batch.npy
//!     TRT_DEVICE=1 cargo run --release --example 04_run_engine -- bert.engine ids=ids.npy
use ndarray::ArrayD;
use ndarray_npy::{read_npy, write_npy};
use trt::{HostTensor, HostTensorView, Runtime};

/// A float32, int32 or int64 `.npy` file (int64 feeds an int32 input after a range check).
fn load(file: &str) -> Result<HostTensor, Box<dyn std::error::Error>> {
    if let Ok(a) = read_npy::<_, ArrayD<f32>>(file) {
        return Ok(a.into());
    }
    if let Ok(a) = read_npy::<_, ArrayD<i64>>(file) {
        return Ok(a.into());
    }
    Ok(read_npy::<_, ArrayD<i32>>(file)?.into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (engine_path, inputs) = args
        .split_first()
        .ok_or("usage: 04_run_engine ENGINE NAME=FILE.npy...")?;
    let device = std::env::var("TRT_DEVICE").map_or(Ok(0), |d| d.parse())?;
    // An index past the device count is a clear error here.
    let runtime = Runtime::on_device(device)?;
    let engine = runtime.load(engine_path)?;
    let stream = runtime.cuda_context().new_stream()?;
    let mut ctx = engine.create_context(stream.clone())?;
    let mut arrays = Vec::new();
    for a in inputs {
        let (name, file) = a
            .split_once('=')
            .ok_or(format!("expected NAME=FILE.npy, got {a}"))?;
        let tensor = load(file)?.convert_for(name, engine.tensor(name)?.dtype)?;
        arrays.push((name.to_string(), tensor.into_standard_layout()));
    }
    let views: Vec<(&str, HostTensorView<'_>)> =
        arrays.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let outputs = ctx.run(&views)?;
    for (name, tensor) in &outputs {
        let file = format!("{name}.npy");
        match tensor {
            HostTensor::F32(a) => write_npy(&file, a)?,
            HostTensor::I32(a) => write_npy(&file, a)?,
            HostTensor::I64(a) => write_npy(&file, a)?,
            HostTensor::U8(a) => write_npy(&file, a)?,
            HostTensor::Bool(a) => write_npy(&file, a)?,
            other => {
                println!("{name}: {:?} output not written", other.dtype());
                continue;
            }
        }
        println!(
            "{name}: {:?} {:?} -> {file}",
            tensor.dtype(),
            tensor.shape()
        );
    }

    let iterations = 100;
    let t = std::time::Instant::now();
    for _ in 0..iterations {
        ctx.run(&views)?;
    }
    let with_copies = t.elapsed().as_secs_f64() * 1e3 / iterations as f64;

    // The copy-free path: device buffers borrowed by `Bindings` until it is dropped.
    let mut device_inputs = Vec::new();
    for (name, tensor) in &arrays {
        device_inputs.push((
            name.as_str(),
            stream.clone_htod(tensor.as_bytes().unwrap())?,
        ));
    }
    let mut device_outputs = Vec::new();
    for t in engine.outputs() {
        let n = ctx.tensor_shape(&t.name)?.iter().product::<usize>() * t.dtype.size();
        device_outputs.push((t.name.clone(), stream.alloc_zeros::<u8>(n.max(1))?));
    }
    let mut bound = ctx.bindings();
    for (name, buf) in &device_inputs {
        bound.input_bytes(name, buf)?;
    }
    for (name, buf) in &mut device_outputs {
        bound.output_bytes(name, buf)?;
    }
    let t = std::time::Instant::now();
    for _ in 0..iterations {
        bound.enqueue()?;
    }
    stream.synchronize()?;
    let bound_ms = t.elapsed().as_secs_f64() * 1e3 / iterations as f64;
    println!(
        "run() with host copies: {with_copies:.3} ms per call; bound buffers: {bound_ms:.3} ms"
    );
    Ok(())
}
