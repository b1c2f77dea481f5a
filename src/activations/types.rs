//! What a collection is asked for ([`CollectOptions`]) and what it gathered ([`Activations`]).

use std::time::Duration;

use trt_calib_stats::{Collector, Passes, Threshold};

/// What [`collect_activations`](crate::collect_activations) collects, and how.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    tensors: Option<Vec<String>>,
    passes: Passes,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions::new()
    }
}

impl CollectOptions {
    /// Every float activation (and float input) of the network, in two passes.
    pub fn new() -> Self {
        CollectOptions {
            tensors: None,
            passes: Passes::Two,
        }
    }

    /// Only these tensors (network inputs or layer outputs, by name).
    #[must_use]
    pub fn with_tensors<I, T>(mut self, tensors: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tensors = Some(tensors.into_iter().map(Into::into).collect());
        self
    }

    /// One pass (histogram ranges grow with the data) or two (a range pass, then histograms
    /// over exactly `[0, max |x|]`: the data runs through the engine twice).
    #[must_use]
    pub fn with_passes(mut self, passes: Passes) -> Self {
        self.passes = passes;
        self
    }

    /// The tensors asked for (`None`: every float activation).
    pub fn tensors(&self) -> Option<&[String]> {
        self.tensors.as_deref()
    }

    /// One or two passes.
    pub fn passes(&self) -> Passes {
        self.passes
    }
}

/// What [`collect_activations`](crate::collect_activations) gathered.
#[derive(Debug)]
pub struct Activations {
    /// Statistics and histograms by tensor name: the network's float inputs first (from the
    /// batches), then the activations in layer order.
    pub collector: Collector,
    /// Ranges of the network's weights (constants, and their reshapes), read from the network
    /// (see [`table_from_activations`](crate::table_from_activations)); empty when only named
    /// tensors were collected.
    pub weights: Vec<Threshold>,
    /// Tensors marked as network outputs for the collection (and unmarked after the build).
    pub marked: Vec<String>,
    /// Batches in one pass.
    pub batches: usize,
    /// Samples in one pass, padding left out.
    pub samples: usize,
    /// Building the FP32 collection engine.
    pub build_time: Duration,
    /// Running the batches and collecting their outputs, every pass (the build not included).
    pub collect_time: Duration,
    /// The part of `collect_time` spent in the collector (statistics and histograms).
    pub histogram_time: Duration,
}
