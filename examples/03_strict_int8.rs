//! Strict INT8: force every INT8-capable layer, build twice from the same table, compare audits.
//!
//!     cargo run --release --example 03_strict_int8 -- resnet18.onnx resnet18.calib
use trt::{BuildConfig, Builder, Precision, TablePolicy, TacticSources};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, table] = &args[..] else {
        return Err("usage: 03_strict_int8 MODEL.onnx TABLE.calib".into());
    };
    let builder = Builder::new()?;
    let mut network = builder.network_from_onnx_file(model)?;
    let config = BuildConfig::new(Precision::StrictInt8)
        .with_calibration_table(TablePolicy::require(table))
        .with_tactic_sources(TacticSources::tensorrt_only());
    let a = builder
        .build(&mut network, &config)?
        .strict
        .expect("strict report");
    let b = builder
        .build(&mut network, &config)?
        .strict
        .expect("strict report");
    for (name, why) in &a.released {
        println!("released {name}: {why}");
    }
    let precisions = |r: &trt::StrictReport| {
        r.layers
            .iter()
            .map(|l| (l.name.clone(), l.precision.clone()))
            .collect::<Vec<_>>()
    };
    println!(
        "forced layers running INT8: {}; skipped {}; released {}; engine layers by precision {:?}",
        a.forced_int8,
        a.skipped.len(),
        a.released.len(),
        a.engine_precisions
    );
    if precisions(&a) == precisions(&b) {
        println!("two builds: identical per-layer precisions");
        Ok(())
    } else {
        Err("two builds gave different per-layer precisions".into())
    }
}
