//! The record of an accuracy-budget search ([`crate::strict::budget`]) as the build report
//! keeps it.

use serde::{Deserialize, Serialize};

/// One unit's cost in INT8, as ranked: layers TensorRT fuses, kept out of INT8 together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    /// The network layers' names (what `keep_layer_out_of_int8` takes): a compute layer and
    /// the activation fused into it.
    pub layers: Vec<String>,
    /// The tensor it reads or writes with the lowest SQNR.
    pub tensor: String,
    /// That tensor's SQNR in dB under the table's threshold (or the weights', per-channel);
    /// `None`: not measurable (no histogram or no scale).
    pub sqnr_db: Option<f64>,
    /// Its place in the network: units are numbered in network order.
    #[serde(default)]
    pub position: usize,
    /// When measured: the score gained (0..1) by keeping this unit alone out of INT8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// With group measurement: the score gained by keeping its whole group out of INT8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_gain: Option<f64>,
    /// Several units of one group joined into one entry (how many): measured alone, none of
    /// them explained the group's gain, so the search keeps them out together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub together: Option<usize>,
}

impl LayerSensitivity {
    /// How to name it in one line: its layers joined by `+`; an entry of units kept out
    /// together by its first and last layer and how many units it holds.
    pub fn label(&self) -> String {
        match (self.together, self.layers.first(), self.layers.last()) {
            (Some(n), Some(first), Some(last)) if self.layers.len() > 2 => {
                format!("{first} .. {last} ({n} units together)")
            }
            _ => self.layers.join(" + "),
        }
    }
}

/// One trial of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// How many of the ranking's worst entries were kept out of INT8 (an entry is a unit, or
    /// units kept out together: [`LayerSensitivity::together`]).
    pub kept_out: usize,
    /// A probe (measurement before the search): the unit, or the group of units (joined by
    /// `" | "`), kept out alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alone: Option<String>,
    /// Its score: top-1 agreement with the reference, or accuracy with labels (0..1).
    pub score: f64,
    /// The score met the target.
    pub met: bool,
    /// Compute layers that ran INT8 in its engine.
    pub int8_layers: usize,
    /// Seconds building it.
    pub build_s: f64,
    /// Seconds evaluating it.
    pub eval_s: f64,
}

/// How [`crate::strict::budget::search`] chose the exclusions, for the build report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetSearch {
    /// The budget: points (percent) of top-1 the INT8 engine may lose.
    pub budget_points: f64,
    /// What is measured: `top-1 agreement with the FP32 reference` or `top-1 accuracy`.
    pub measure: String,
    /// The reference's own score (1 for agreement; its accuracy with labels).
    pub reference_score: f64,
    /// The score a trial must reach: `reference_score - budget_points / 100`.
    pub target: f64,
    /// Evaluation samples.
    pub samples: usize,
    /// Every unit of forced layers, worst first.
    pub ranking: Vec<LayerSensitivity>,
    /// With `measure_each`: one probe per unit (that unit alone kept out), before the search.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Trial>,
    /// Every trial of the search, in the order run.
    pub trials: Vec<Trial>,
    /// The layers kept out of INT8 in the chosen engine.
    pub chosen: Vec<String>,
    /// The chosen engine met the target (else: the best trial is chosen).
    pub met: bool,
    /// Seconds of the whole search (builds and evaluations).
    pub total_s: f64,
}
