//! ONNX + a folder of images -> INT8 engine, calibrated in Rust; writes the calibration table too.
//!
//!     cargo run --release --example 01_build_int8 -- \
//!         models/fashion-mnist/fashion_mnist.onnx models/fashion-mnist/calib fashion.engine
//!
//! Preprocessing follows the network input: 1 channel = Fashion-MNIST normalisation,
//! 3 channels = RGB, short side then centre crop, (x - 127) / 128.
use trt::data::{BatchSource, Input, Preprocess, Resize, Spec};
use trt::{BuildConfig, Builder, DataCalibrator, Precision, TablePolicy, TacticSources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, images, engine] = &args[..] else {
        return Err("usage: 01_build_int8 MODEL.onnx IMAGE_DIR OUT.engine".into());
    };
    let builder = Builder::new()?;
    let mut network = builder.network_from_onnx_file(model)?;
    let input = network.inputs()?.remove(0);
    let (n, c, h, w) = match input.shape[..] {
        [n, c, h, w] => (n as usize, c, h as u32, w as u32),
        _ => return Err(format!("expected an NCHW input, got {:?}", input.shape).into()),
    };
    let pre = if c == 1 {
        Preprocess::gray()
            .with_mean([0.2860 * 255.0])
            .with_std([0.3530 * 255.0])
            .with_resize(Resize::Exact {
                width: w,
                height: h,
            })
    } else {
        Preprocess::rgb()
            .with_resize(Resize::ShortSideCrop {
                short_side: h * 8 / 7,
                crop_width: w,
                crop_height: h,
            })
            .with_mean([127.0; 3])
            .with_scale([1.0 / 128.0; 3])
    };
    let data = Spec::new(n)
        .with_input(Input::images(&input.name, images, pre))
        .open()?;
    let batches = data.batch_count();
    let mut calibrator = DataCalibrator::new(data)
        .with_progress(move |done, _| eprint!("\rcalibration batch {done}/{batches}"));
    let table = format!("{engine}.calib");
    let config = BuildConfig::new(Precision::Int8)
        .with_calibration_table(TablePolicy::read_write(&table))
        .with_tactic_sources(TacticSources::tensorrt_only());
    let out = builder.build_calibrated(&mut network, &config, &mut calibrator)?;
    eprintln!();
    trt::write_atomic(engine, &out.plan)?;
    let report = trt::Runtime::new()?.deserialize(&out.plan)?.inspect()?;
    println!(
        "{engine}: {} bytes in {:.1} s; {} calibration batches; table {table}; layers by precision {:?}",
        out.plan.len(),
        out.build_time.as_secs_f64(),
        out.calibration_batches,
        report.precision_counts()
    );
    Ok(())
}
