//! TensorRT versions and calibration algorithms, as named in a table's header.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A TensorRT version, as written in a calibration table's header.
///
/// Only versions that a header can encode exist: major 1 to 9 with a one-digit minor
/// (`8503` = 8.5.3), or major 10 and up with a two-digit minor (`100300` = 10.3.0); the patch
/// has two digits in both encodings.
///
/// ```
/// use trt_calib_table::TrtVersion;
///
/// let v: TrtVersion = "10.16".parse()?;
/// assert_eq!(v.header_number(), 101600);
/// assert_eq!(TrtVersion::from_header_number(8503), Some("8.5.3".parse()?));
/// # Ok::<(), trt_calib_table::VersionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrtVersion {
    major: u32,
    minor: u32,
    patch: u32,
}

/// Why a string or number is not a TensorRT version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not `MAJOR.MINOR[.PATCH[.BUILD]]` with decimal numbers.
    #[error("`{0}` is not a TensorRT version: expected MAJOR.MINOR[.PATCH], e.g. 8.5.3 or 10.16")]
    Syntax(String),
    /// Numbers that no calibration table header can encode.
    #[error(
        "TensorRT {major}.{minor}.{patch} cannot be written in a calibration table header \
         (major 1-9 takes a minor of 0-9, major 10 and up a minor of 0-99; patch 0-99)"
    )]
    OutOfRange {
        /// Major version.
        major: u32,
        /// Minor version.
        minor: u32,
        /// Patch version.
        patch: u32,
    },
}

impl TrtVersion {
    /// Largest major whose header number still fits in a `u32`.
    const MAX_MAJOR: u32 = (u32::MAX - 9999) / 10000;

    /// The version `major.minor.patch`, if a header can encode it.
    pub fn new(major: u32, minor: u32, patch: u32) -> Result<Self, VersionError> {
        let ok = match major {
            0 => false,
            1..=9 => minor <= 9 && patch <= 99,
            _ => major <= Self::MAX_MAJOR && minor <= 99 && patch <= 99,
        };
        if ok {
            Ok(Self {
                major,
                minor,
                patch,
            })
        } else {
            Err(VersionError::OutOfRange {
                major,
                minor,
                patch,
            })
        }
    }

    /// Major version (8 in 8.5.3).
    pub fn major(&self) -> u32 {
        self.major
    }

    /// Minor version (5 in 8.5.3).
    pub fn minor(&self) -> u32 {
        self.minor
    }

    /// Patch version (3 in 8.5.3).
    pub fn patch(&self) -> u32 {
        self.patch
    }

    /// Decodes the number of a header (`TRT-<number>-...`), which is also what TensorRT's
    /// `getInferLibVersion()` returns: below 10000 it is `major*1000 + minor*100 + patch`
    /// (TensorRT 9 and earlier), from 100000 on `major*10000 + minor*100 + patch` (TensorRT 10
    /// and later). Numbers in neither range (below 1000, or 10000 to 99999) give `None`.
    pub fn from_header_number(number: u32) -> Option<Self> {
        let (major, minor) = match number {
            1000..=9999 => (number / 1000, number / 100 % 10),
            100_000.. => (number / 10000, number / 100 % 100),
            _ => return None,
        };
        Self::new(major, minor, number % 100).ok()
    }

    /// The number this version has in a table header: `8503` for 8.5.3, `100300` for 10.3.0.
    pub fn header_number(&self) -> u32 {
        if self.major < 10 {
            self.major * 1000 + self.minor * 100 + self.patch
        } else {
            self.major * 10000 + self.minor * 100 + self.patch
        }
    }

    /// Whether a table written by `self` is valid for `other`: same major and minor.
    ///
    /// The patch and the hardware do not matter (calibrate on an x86 GPU, build on a Jetson).
    pub fn is_table_compatible(&self, other: &TrtVersion) -> bool {
        self.major == other.major && self.minor == other.minor
    }

    /// `major.minor`, the part of the version that decides table compatibility.
    pub fn major_minor(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `MAJOR.MINOR`, `MAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH.BUILD` (the build number of
/// e.g. 8.5.3.1 is ignored: tables do not record it).
impl FromStr for TrtVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || VersionError::Syntax(s.to_owned());
        let parts: Vec<&str> = s.trim().split('.').collect();
        if !(2..=4).contains(&parts.len()) {
            return Err(syntax());
        }
        let mut numbers = [0u32; 4];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            *slot = part.parse().map_err(|_| syntax())?;
        }
        Self::new(numbers[0], numbers[1], numbers[2])
    }
}

/// Serialized as its string form, `"8.5.3"`.
impl Serialize for TrtVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

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

    fn v(major: u32, minor: u32, patch: u32) -> TrtVersion {
        TrtVersion::new(major, minor, patch).unwrap()
    }

    #[test]
    fn header_numbers_of_real_versions() {
        // 8.x and earlier: major*1000 + minor*100 + patch.
        assert_eq!(v(8, 5, 3).header_number(), 8503);
        assert_eq!(v(8, 6, 2).header_number(), 8602);
        assert_eq!(v(7, 1, 3).header_number(), 7103);
        // 10.x: major*10000 + minor*100 + patch.
        assert_eq!(v(10, 3, 0).header_number(), 100300);
        assert_eq!(v(10, 13, 2).header_number(), 101302);
        assert_eq!(v(10, 16, 0).header_number(), 101600);
        assert_eq!(TrtVersion::from_header_number(8503), Some(v(8, 5, 3)));
        assert_eq!(TrtVersion::from_header_number(8602), Some(v(8, 6, 2)));
        assert_eq!(TrtVersion::from_header_number(100300), Some(v(10, 3, 0)));
        assert_eq!(TrtVersion::from_header_number(101600), Some(v(10, 16, 0)));
        assert_eq!(TrtVersion::from_header_number(110000), Some(v(11, 0, 0)));
    }

    #[test]
    fn header_numbers_outside_both_encodings() {
        for n in [0, 1, 999, 10000, 50000, 99999] {
            assert_eq!(TrtVersion::from_header_number(n), None, "{n}");
        }
        assert!(TrtVersion::from_header_number(u32::MAX).is_none());
    }

    #[test]
    fn header_number_round_trips() {
        for n in (1000..10000).chain((100_000..200_000).step_by(7)) {
            let version = TrtVersion::from_header_number(n).unwrap();
            assert_eq!(version.header_number(), n);
        }
    }

    #[test]
    fn parse_and_display() {
        assert_eq!("8.5.3".parse::<TrtVersion>().unwrap(), v(8, 5, 3));
        assert_eq!("10.16".parse::<TrtVersion>().unwrap(), v(10, 16, 0));
        assert_eq!("8.5.3.1".parse::<TrtVersion>().unwrap(), v(8, 5, 3));
        assert_eq!(v(10, 16, 0).to_string(), "10.16.0");
        assert_eq!(v(10, 16, 0).major_minor(), "10.16");
    }

    #[test]
    fn parse_errors() {
        for bad in ["", "8", "8.", "8.5.x", "a.b", "8.5.3.1.2", "+8.5", "8.-5"] {
            let err = bad.parse::<TrtVersion>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "`{bad}` is not a TensorRT version: expected MAJOR.MINOR[.PATCH], e.g. 8.5.3 or 10.16"
                )
            );
        }
        let err = "8.10".parse::<TrtVersion>().unwrap_err();
        assert_eq!(
            err,
            VersionError::OutOfRange {
                major: 8,
                minor: 10,
                patch: 0
            }
        );
        assert!(err
            .to_string()
            .starts_with("TensorRT 8.10.0 cannot be written"));
        assert!("0.1".parse::<TrtVersion>().is_err());
        assert!("10.100".parse::<TrtVersion>().is_err());
        assert!("10.1.100".parse::<TrtVersion>().is_err());
        assert!("999999.1".parse::<TrtVersion>().is_err());
    }

    #[test]
    fn compatibility_is_major_minor() {
        assert!(v(8, 5, 3).is_table_compatible(&v(8, 5, 2)));
        assert!(!v(8, 5, 3).is_table_compatible(&v(8, 6, 2)));
        assert!(!v(8, 5, 3).is_table_compatible(&v(10, 3, 0)));
        assert!(v(10, 3, 0).is_table_compatible(&v(10, 3, 1)));
    }

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
