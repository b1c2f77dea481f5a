//! Calibration algorithms, as named in a table's header.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// The calibration algorithm named in a table's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `IInt8EntropyCalibrator2`, the recommended one for CNNs.
    EntropyCalibration2,
    /// `IInt8EntropyCalibrator` (legacy entropy).
    EntropyCalibration,
    /// `IInt8MinMaxCalibrator`.
    MinMaxCalibration,
    /// `IInt8LegacyCalibrator` (percentile/quantile).
    LegacyCalibration,
}

/// `s` is not one of the four header names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown calibration algorithm `{0}`: expected EntropyCalibration2, EntropyCalibration, \
     MinMaxCalibration or LegacyCalibration"
)]
pub struct UnknownAlgorithm(pub String);

impl Algorithm {
    /// All algorithms, in the order TensorRT's documentation lists them.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::EntropyCalibration2,
        Algorithm::EntropyCalibration,
        Algorithm::MinMaxCalibration,
        Algorithm::LegacyCalibration,
    ];

    /// The name in the header, e.g. `EntropyCalibration2`.
    pub fn header_name(&self) -> &'static str {
        match self {
            Algorithm::EntropyCalibration2 => "EntropyCalibration2",
            Algorithm::EntropyCalibration => "EntropyCalibration",
            Algorithm::MinMaxCalibration => "MinMaxCalibration",
            Algorithm::LegacyCalibration => "LegacyCalibration",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header_name())
    }
}

/// Accepts exactly the header names (case-sensitive, as TensorRT writes them).
impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.header_name() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// Serialized as its header name.
impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.header_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms() {
        for a in Algorithm::ALL {
            assert_eq!(a.to_string().parse::<Algorithm>().unwrap(), a);
        }
        assert_eq!(
            "entropycalibration2"
                .parse::<Algorithm>()
                .unwrap_err()
                .to_string(),
            "unknown calibration algorithm `entropycalibration2`: expected EntropyCalibration2, \
             EntropyCalibration, MinMaxCalibration or LegacyCalibration"
        );
    }
}
