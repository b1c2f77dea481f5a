//! Run an engine on `.npy` inputs (by name), write the outputs as `.npy`, time it.
//!
//!     cargo run --release --example 04_run_engine -- fashion.engine image=batch.npy
use ndarray::ArrayD;
use trt::Runtime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (engine_path, inputs) = args
        .split_first()
        .ok_or("usage: 04_run_engine ENGINE NAME=FILE.npy...")?;
    let engine = Runtime::new()?.load(engine_path)?;
    let stream = trt::cudarc::driver::CudaContext::new(0)?.new_stream()?;
    let mut ctx = engine.create_context(stream)?;
    let mut arrays = Vec::new();
    for a in inputs {
        let (name, file) = a
            .split_once('=')
            .ok_or(format!("expected NAME=FILE.npy, got {a}"))?;
        let array: ArrayD<f32> = ndarray_npy::read_npy(file)?;
        arrays.push((name.to_string(), array));
    }
    let views: Vec<(&str, _)> = arrays.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let outputs = ctx.run(&views)?;
    let t = std::time::Instant::now();
    let iterations = 100;
    for _ in 0..iterations {
        ctx.run(&views)?;
    }
    for (name, array) in &outputs {
        let file = format!("{name}.npy");
        ndarray_npy::write_npy(&file, array)?;
        println!("{name}: shape {:?} -> {file}", array.shape());
    }
    println!(
        "run() with host copies: {:.3} ms per call",
        t.elapsed().as_secs_f64() * 1e3 / iterations as f64
    );
    Ok(())
}
