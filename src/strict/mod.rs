//! Strict INT8: which layers to force, how, and the audit that proves what ran.
//!
//! The naive recipe (INT8 precision on every non-constant layer, precision constraints obeyed)
//! fails on real ONNX models under TensorRT 8.5: e.g. ResNet-18 exported by PyTorch feeds conv
//! biases through `Identity` layers on constant tensors, and forcing those to INT8 leaves the
//! fused conv with "No supported formats". What works:
//! - force only layers on the **activation path**: a layer whose inputs all come from constants
//!   (weights, biases, their identities/reshapes) is weight preprocessing that TensorRT folds;
//! - never force index or shape computations (SHAPE, GATHER on indices, non-float outputs):
//!   "cannot use precision Int8 for layer that computes indices";
//! - force the layer's float outputs to INT8 too, so the engine's formats are INT8, not just its
//!   kernels; a layer producing a network output computes INT8 but writes the output's declared
//!   float type (TensorRT: "requires output to be in floating point precision");
//! - some forced layers still have no INT8 implementation under the constraints ("No supported
//!   formats for /layer2/layer2.0/conv2/Conv" on ResNet-18, TensorRT 8.5): the build *obeys* the
//!   constraints, TensorRT names the layer it cannot implement, and that layer is pinned to the
//!   fallback precision before the next (fast, timing-cached) attempt. Only when TensorRT refuses
//!   without naming a layer does a build with the constraints *preferred* find them. Every
//!   layer's precision is then fixed, which is what makes rebuilds agree;
//! - audit the engine through the inspector: every forced layer that survived must run INT8.
//!
//! | file | what |
//! |---|---|
//! | `rules.rs` | which layers to force, constraints, release, audit ([`StrictPlan`], [`StrictReport`]) |
//! | `build.rs` | the enforce / audit (and, when needed, probe) passes that apply the rules, in one build session |
//! | `budget.rs` | the smallest set of layers kept out of INT8 that meets an accuracy budget ([`budget::search`]) |

pub mod budget;
mod build;
pub(crate) mod rules;

pub(crate) use build::build;
pub use rules::{
    apply, audit, keep_out, plan, AuditedLayer, StrictPlan, StrictReport, Violation,
    EXCLUDED_BY_USER, NEVER_FORCED,
};
