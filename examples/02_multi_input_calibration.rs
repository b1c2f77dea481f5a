//! A network with several inputs, calibrated from one array file per input, matched by name.
//!
//!     cargo run --release --example 02_multi_input_calibration -- \
//!         mtcnn_rnet_onet.onnx rnet_input=rnet.npy onet_input=onet.npy mtcnn.engine
use trt::data::{Input, Spec};
use trt::{BuildConfig, Builder, DataCalibrator, Precision, TablePolicy, TacticSources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        return Err(
            "usage: 02_multi_input_calibration MODEL.onnx NAME=FILE.npy... OUT.engine".into(),
        );
    }
    let (model, engine, arrays) = (&args[0], &args[args.len() - 1], &args[1..args.len() - 1]);
    let builder = Builder::new()?;
    let mut network = builder.network_from_onnx_file(model)?;
    let batch = network.inputs()?[0].shape[0] as usize;
    let mut spec = Spec::new(batch);
    for a in arrays {
        let (name, file) = a
            .split_once('=')
            .ok_or(format!("expected NAME=FILE.npy, got {a}"))?;
        spec = spec.with_input(Input::npy(name, file));
    }
    let mut calibrator = DataCalibrator::new(spec.open()?);
    let table = format!("{engine}.calib");
    let config = BuildConfig::new(Precision::Int8)
        .with_calibration_table(TablePolicy::read_write(&table))
        .with_tactic_sources(TacticSources::tensorrt_only());
    let out = builder.build_calibrated(&mut network, &config, &mut calibrator)?;
    trt::write_atomic(engine, &out.plan)?;
    let t = trt::table::CalibrationTable::read(&table)?;
    for input in network.inputs()? {
        let e = t
            .get(&input.name)
            .ok_or(format!("{} missing from the table", input.name))?;
        println!(
            "{:12} scale {:.6} range {:.4}",
            input.name,
            e.scale,
            e.dynamic_range()
        );
    }
    println!(
        "{engine}: {} calibration batches, table {table} ({} tensors)",
        out.calibration_batches,
        t.entries.len()
    );
    Ok(())
}
