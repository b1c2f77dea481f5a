//! Activation statistics collected by this crate, not by TensorRT's calibrator: the network's
//! float activations are marked as outputs, an FP32 engine runs every calibration batch, and a
//! [`Collector`](trt_calib_stats::Collector) takes each output by tensor name; thresholds and a table come from
//! `trt_calib_stats` ([`table_from_activations`]).
//!
//! ```no_run
//! use trt::{collect_activations, table_from_activations, BuildConfig, Builder, CollectOptions, Precision};
//! use trt::stats::Method;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let builder = Builder::new()?;
//! let mut network = builder.network_from_onnx_file("model.onnx")?;
//! let mut data = trt::data::Spec::from_toml_file("calib.toml")?.open()?;
//! let config = BuildConfig::new(Precision::Fp32);
//! let acts = collect_activations(&builder, &mut network, &mut data, &CollectOptions::new(), &config)?;
//! let table = table_from_activations(&acts, Method::Percentile(99.99), builder.library().version())?;
//! table.write_atomic("model.calib")?; // build with it: CalibrationAlgorithm::MinMax, TablePolicy::require
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use trt_calib_data::BatchSource;

use trt_calib_stats::{to_table, Method};
use trt_calib_table::{CalibrationTable, TrtVersion};

mod engine;
mod select;
mod types;
mod weights;

pub(crate) use engine::CollectionPlan;
pub use types::{Activations, CollectOptions};

use crate::build::Builder;
use crate::config::BuildConfig;
use crate::error::Result;
use crate::network::Network;

/// Collects activation statistics of `network` over every batch of `data`: marks the float
/// activations (or `options`' tensors) as network outputs, builds an FP32 engine with
/// `config`'s settings (profiles, tactic sources, workspace, device; its precision, tables and
/// tactics are not used), takes the marks off again, then runs every batch through the engine
/// and feeds each output, by tensor name, into a [`Collector`](trt_calib_stats::Collector). Float network inputs are
/// collected from the batches themselves. Padding samples of a padded last batch are left out
/// wherever a tensor's first dimension is the batch.
///
/// Before TensorRT builds anything, fails for tensors the network does not have (each listed
/// with the names closest to it) or that are not float activations, and for data that does not
/// fit the network's inputs or has no batch. The network's outputs are the same afterwards,
/// also when the build fails.
pub fn collect_activations<S: BatchSource + ?Sized>(
    builder: &Builder,
    network: &mut Network,
    data: &mut S,
    options: &CollectOptions,
    config: &BuildConfig,
) -> Result<Activations> {
    let plan = CollectionPlan::new(network, options, config)?;
    plan.check(data)?;
    let engine = plan.build(builder, network, config, None)?;
    engine.run(data, options.passes())
}

/// A TensorRT calibration table of the collected thresholds by `method`, then the weights'
/// ranges (their largest |value|, whatever the method, as TensorRT's calibrators also give
/// constants a scale), headed for `version` with [`Method::table_algorithm`]
/// (`EntropyCalibration2` for entropy, `MinMaxCalibration` otherwise: build percentile, MSE and
/// MinMax tables with the MinMax calibrator).
pub fn table_from_activations(
    activations: &Activations,
    method: Method,
    version: TrtVersion,
) -> Result<CalibrationTable> {
    let mut thresholds = activations.collector.thresholds(method)?;
    let collected: HashSet<String> = thresholds.iter().map(|t| t.tensor.clone()).collect();
    thresholds.extend(
        activations
            .weights
            .iter()
            .filter(|w| !collected.contains(&w.tensor))
            .cloned(),
    );
    Ok(to_table(&thresholds, version, method.table_algorithm()))
}

#[cfg(test)]
mod tests {
    use super::engine::without_padding;
    use super::select::{closest, distance, select, Selection};
    use super::*;
    use crate::error::Error;
    use crate::network::{DataType, LayerInfo, TensorInfo};

    fn layer(index: usize, name: &str, kind: &str, outputs: &[(&str, DataType)]) -> LayerInfo {
        // Each layer reads the one before it (the first, the input image); constants read nothing.
        let inputs = match (kind, index) {
            ("CONSTANT", _) => vec![],
            (_, 1) => vec![
                Some("image".into()),
                Some("(Unnamed Layer* 0) [Constant]_output".into()),
            ],
            (_, 2) | (_, 3) => vec![Some("/conv1/Conv_output_0".into())],
            _ => vec![Some("(Unnamed Layer* 0) [Constant]_output".into())],
        };
        LayerInfo {
            index,
            name: name.into(),
            kind: kind.into(),
            precision: DataType::Float,
            precision_is_set: false,
            inputs,
            outputs: outputs.iter().map(|(n, d)| (n.to_string(), *d)).collect(),
        }
    }

    fn net() -> (Vec<TensorInfo>, Vec<LayerInfo>) {
        let inputs = vec![
            TensorInfo {
                name: "image".into(),
                shape: vec![8, 1, 28, 28],
                dtype: DataType::Float,
            },
            TensorInfo {
                name: "ids".into(),
                shape: vec![8, 4],
                dtype: DataType::Int32,
            },
        ];
        let layers = vec![
            layer(
                0,
                "w",
                "CONSTANT",
                &[("(Unnamed Layer* 0) [Constant]_output", DataType::Float)],
            ),
            layer(
                1,
                "/conv1/Conv",
                "CONVOLUTION",
                &[("/conv1/Conv_output_0", DataType::Float)],
            ),
            layer(
                2,
                "/Shape",
                "SHAPE",
                &[("/Shape_output_0", DataType::Int32)],
            ),
            layer(
                3,
                "/relu/Relu",
                "ACTIVATION",
                &[("/relu/Relu_output_0", DataType::Float)],
            ),
            // The transpose TensorRT's ONNX parser puts on a Gemm's weights: constant-derived.
            layer(
                4,
                "(Unnamed Layer* 16) [Shuffle]",
                "SHUFFLE",
                &[("(Unnamed Layer* 16) [Shuffle]_output", DataType::Float)],
            ),
        ];
        (inputs, layers)
    }

    #[test]
    fn every_float_activation_is_selected_in_network_order_constants_and_ints_are_not() {
        let (inputs, layers) = net();
        assert_eq!(
            select(&inputs, &layers, None).unwrap(),
            Selection {
                inputs: vec!["image".into()],
                activations: vec!["/conv1/Conv_output_0".into(), "/relu/Relu_output_0".into()],
            }
        );
        let weights = ["(Unnamed Layer* 16) [Shuffle]_output".to_string()];
        let e = select(&inputs, &layers, Some(&weights))
            .unwrap_err()
            .to_string();
        assert!(e.contains("from constants only"), "{e}");
        let some = ["/relu/Relu_output_0".to_string(), "image".into()];
        assert_eq!(
            select(&inputs, &layers, Some(&some)).unwrap(),
            Selection {
                inputs: vec!["image".into()],
                activations: vec!["/relu/Relu_output_0".into()],
            }
        );
    }

    #[test]
    fn unknown_and_unfit_names_are_refused_together_with_the_closest_names() {
        let (inputs, layers) = net();
        let asked = [
            "/conv1/conv_output".to_string(),
            "/relu/Relu_output_0".into(),
            "ids".into(),
            "/Shape_output_0".into(),
            "(Unnamed Layer* 0) [Constant]_output".into(),
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz".into(),
        ];
        let e = select(&inputs, &layers, Some(&asked))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot collect 5 of the tensors asked for: "),
            "{e}"
        );
        assert!(
            e.contains("`/conv1/conv_output` is not a tensor of the network (closest: `/conv1/Conv_output_0`)"),
            "{e}"
        );
        assert!(e.contains("`ids` is a Int32 input, not a float one"), "{e}");
        assert!(
            e.contains("`/Shape_output_0` is a Int32 output of layer `/Shape`"),
            "{e}"
        );
        assert!(e.contains("output of constant layer `w`"), "{e}");
        assert!(
            e.contains("`zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz` is not a tensor of the network;"),
            "{e}"
        );
        assert!(
            e.ends_with("1 float input(s) and 2 float activation(s) (Network::layers lists them)"),
            "{e}"
        );
        assert!(select(&inputs, &layers, Some(&[])).is_err());
    }

    #[test]
    fn closest_names_by_edit_distance_then_containment() {
        let names = [
            "/conv1/Conv_output_0",
            "/conv2/Conv_output_0",
            "/relu/Relu_output_0",
            "logits",
        ];
        assert_eq!(
            closest("/conv1/Conv_output_1", names.iter().copied(), 3),
            ["/conv1/Conv_output_0", "/conv2/Conv_output_0"]
        );
        assert_eq!(closest("logit", names.iter().copied(), 3), ["logits"]);
        assert!(closest("nothing-like-it-at-all", names.iter().copied(), 3).is_empty());
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn padding_samples_are_left_out_where_the_first_dimension_is_the_batch() {
        let v: Vec<f32> = (0..16).map(|i| i as f32).collect();
        assert_eq!(without_padding(&v, &[4, 4], (3, 4)), &v[..12]);
        assert_eq!(without_padding(&v, &[4, 4], (4, 4)), &v[..]);
        // Not batch-major (e.g. after a transpose): everything.
        assert_eq!(without_padding(&v, &[2, 8], (3, 4)), &v[..]);
    }

    #[test]
    fn the_collection_table_has_the_methods_header_and_scales_and_the_weights_ranges() {
        let mut c = trt_calib_stats::Collector::one_pass();
        c.add("image", &[-2.54, 1.0, 0.5]).unwrap();
        let weight = |tensor: &str, amax| trt_calib_stats::Threshold {
            tensor: tensor.into(),
            amax,
        };
        let acts = Activations {
            collector: c,
            // A weight that was also collected keeps its collected threshold.
            weights: vec![weight("slope", 0.25), weight("image", 9.0)],
            marked: vec![],
            batches: 1,
            samples: 3,
            build_time: Default::default(),
            collect_time: Default::default(),
            histogram_time: Default::default(),
        };
        let v: TrtVersion = "8.5.3".parse().unwrap();
        let t = table_from_activations(&acts, Method::MinMax, v).unwrap();
        assert_eq!(t.header(), "TRT-8503-MinMaxCalibration");
        assert_eq!(t.get("image").unwrap().scale, 2.54 / 127.0);
        assert_eq!(t.get("slope").unwrap().scale, 0.25 / 127.0);
        assert_eq!(t.entries.len(), 2);
        let t = table_from_activations(&acts, Method::Entropy, v).unwrap();
        assert_eq!(t.header(), "TRT-8503-EntropyCalibration2");
        assert_eq!(t.get("slope").unwrap().scale, 0.25 / 127.0);
        let e = table_from_activations(&acts, Method::Percentile(120.0), v).unwrap_err();
        assert!(matches!(e, Error::Stats(_)), "{e}");
    }
}
