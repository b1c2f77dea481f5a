//! The one error type of the crate.

/// What went wrong while collecting statistics, choosing thresholds or comparing outputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A batch held NaN or an infinity; a range cannot be computed from it.
    #[error(
        "tensor `{tensor}`: value {value} at index {index} of the batch is not finite; \
         calibration needs finite activations (check the model's inputs and preprocessing)"
    )]
    NonFinite {
        /// The tensor (or output) name.
        tensor: String,
        /// Index of the first non-finite value in the batch.
        index: usize,
        /// The value (NaN or an infinity).
        value: f32,
    },
    /// The fill pass of a two-pass collection saw a tensor the range pass did not.
    #[error(
        "tensor `{tensor}` was not seen in the range pass; a two-pass collection fills \
         histograms only for the tensors whose range it measured (run the same batches twice)"
    )]
    UnknownTensor {
        /// The tensor name.
        tensor: String,
    },
    /// A threshold was asked for a tensor without any value.
    #[error(
        "tensor `{tensor}` has no values; add at least one batch before asking for a threshold"
    )]
    Empty {
        /// The tensor name.
        tensor: String,
    },
    /// A method name that is not one of `minmax`, `entropy`, `percentile=P`, `mse`.
    #[error("unknown calibration method `{0}`: use minmax, entropy, mse or percentile=P (e.g. percentile=99.99)")]
    UnknownMethod(String),
    /// A percentile outside `(0, 100]`.
    #[error("percentile {0} is outside (0, 100]; use e.g. 99.99")]
    BadPercentile(f64),
    /// Histogram counts of the wrong length or range.
    #[error("a histogram needs {expected} counts and a finite range >= 0; got {got} counts and range {amax}")]
    BadHistogram {
        /// [`crate::BINS`].
        expected: usize,
        /// Counts given.
        got: usize,
        /// Range given.
        amax: f32,
    },
    /// Two outputs being compared do not have the same shape.
    #[error(
        "output `{output}`: {what}; both outputs must be rows of {classes} logits \
         (reference has {reference} values, candidate {candidate})"
    )]
    Shape {
        /// The output name.
        output: String,
        /// What is wrong.
        what: &'static str,
        /// Logits per row.
        classes: usize,
        /// Values in the reference.
        reference: usize,
        /// Values in the candidate.
        candidate: usize,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
