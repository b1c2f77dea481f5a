//! The TensorRT version type shared by the `trt` crates.
//!
//! | where a version comes from | how to get a [`TrtVersion`] |
//! | --- | --- |
//! | a calibration table header, `TRT-8503-...` | [`TrtVersion::from_header_number`] |
//! | the loaded library, `getInferLibVersion()` | [`TrtVersion::from_lib_version`] |
//! | a user or a file, `"8.5"`, `"10.16.1"` | [`str::parse`] (`MAJOR.MINOR[.PATCH[.BUILD]]`) |
//! | where the patch matters (engines), `"8.5.3"` | [`TrtVersion::parse_full`] |
//! | numbers | [`TrtVersion::new`] |
//!
//! Only versions that TensorRT's own number encoding can hold exist, so every `TrtVersion` has a
//! [`header_number`](TrtVersion::header_number). It serializes as its string form, `"8.5.3"`.
//!
//! ```
//! use trt_version::TrtVersion;
//!
//! let lib = TrtVersion::from_lib_version(101601).unwrap();
//! assert_eq!(lib.to_string(), "10.16.1");
//! assert_eq!(lib, TrtVersion::parse_full("10.16.1")?);
//! assert!(TrtVersion::parse_full("10.16").is_err()); // an engine needs the patch
//!
//! let table: TrtVersion = "10.16".parse()?; // a table only needs major.minor
//! assert!(table.is_table_compatible(&lib));
//! assert_eq!(serde_json::to_string(&lib).unwrap(), r#""10.16.1""#);
//! # Ok::<(), trt_version::VersionError>(())
//! ```
#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};

/// A TensorRT version, `major.minor.patch`: who wrote a calibration table, which library is
/// loaded, which TensorRT built an engine.
///
/// Only versions that a header can encode exist: major 1 to 9 with a one-digit minor
/// (`8503` = 8.5.3), or major 10 and up with a two-digit minor (`100300` = 10.3.0); the patch
/// has two digits in both encodings. The order is the release order (8.6.1 < 10.0.0).
///
/// ```
/// use trt_version::TrtVersion;
///
/// let v: TrtVersion = "10.16".parse()?;
/// assert_eq!(v.header_number(), 101600);
/// assert_eq!(TrtVersion::from_header_number(8503), Some("8.5.3".parse()?));
/// # Ok::<(), trt_version::VersionError>(())
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
    /// Not `MAJOR.MINOR.PATCH[.BUILD]` with decimal numbers, what [`TrtVersion::parse_full`]
    /// requires.
    #[error(
        "`{0}` is not a full TensorRT version: expected MAJOR.MINOR.PATCH, e.g. 8.5.3 or 10.16.1"
    )]
    FullSyntax(String),
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

    /// Decodes what TensorRT's `getInferLibVersion()` returns (an `int32_t`): the same encoding
    /// as a table header, `8503` = 8.5.3, `101601` = 10.16.1 (see
    /// [`from_header_number`](Self::from_header_number)). Negative numbers and numbers in
    /// neither encoding give `None`.
    ///
    /// ```
    /// use trt_version::TrtVersion;
    ///
    /// assert_eq!(TrtVersion::from_lib_version(8503), TrtVersion::new(8, 5, 3).ok());
    /// assert_eq!(TrtVersion::from_lib_version(-1), None);
    /// ```
    pub fn from_lib_version(encoded: i32) -> Option<Self> {
        u32::try_from(encoded)
            .ok()
            .and_then(Self::from_header_number)
    }

    /// The number this version has in a table header: `8503` for 8.5.3, `100300` for 10.3.0.
    pub fn header_number(&self) -> u32 {
        if self.major < 10 {
            self.major * 1000 + self.minor * 100 + self.patch
        } else {
            self.major * 10000 + self.minor * 100 + self.patch
        }
    }

    /// Parses `MAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH.BUILD` (the build number is ignored),
    /// for where the patch matters: an engine runs only on the exact major.minor.patch that
    /// built it. `"8.5"` is refused ([`VersionError::FullSyntax`]); the lenient form is
    /// [`str::parse`].
    ///
    /// ```
    /// use trt_version::TrtVersion;
    ///
    /// assert_eq!(TrtVersion::parse_full("8.5.3.1")?, TrtVersion::new(8, 5, 3)?);
    /// assert!(TrtVersion::parse_full("8.5").is_err());
    /// # Ok::<(), trt_version::VersionError>(())
    /// ```
    pub fn parse_full(s: &str) -> Result<Self, VersionError> {
        parse(s, 3, VersionError::FullSyntax)
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

/// `MAJOR.MINOR[.PATCH[.BUILD]]` with at least `min_parts` numbers; `syntax` makes the error.
fn parse(
    s: &str,
    min_parts: usize,
    syntax: fn(String) -> VersionError,
) -> Result<TrtVersion, VersionError> {
    let bad = || syntax(s.to_owned());
    let parts: Vec<&str> = s.trim().split('.').collect();
    if !(min_parts..=4).contains(&parts.len()) {
        return Err(bad());
    }
    let mut numbers = [0u32; 4];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = part.parse().map_err(|_| bad())?;
    }
    TrtVersion::new(numbers[0], numbers[1], numbers[2])
}

impl fmt::Display for TrtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `MAJOR.MINOR`, `MAJOR.MINOR.PATCH` or `MAJOR.MINOR.PATCH.BUILD` (the build number of
/// e.g. 8.5.3.1 is ignored: tables do not record it). A missing patch is 0.
impl FromStr for TrtVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s, 2, VersionError::Syntax)
    }
}

/// Serialized as its string form, `"8.5.3"`.
impl Serialize for TrtVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialized from its string form, as [`str::parse`] reads it (`"8.5.3"`, `"10.16"`).
impl<'de> Deserialize<'de> for TrtVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;

        impl Visitor<'_> for VersionVisitor {
            type Value = TrtVersion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TensorRT version string such as \"8.5.3\" or \"10.16\"")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<TrtVersion, E> {
                s.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(VersionVisitor)
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
    fn lib_versions_of_real_libraries() {
        assert_eq!(TrtVersion::from_lib_version(8503), Some(v(8, 5, 3)));
        assert_eq!(TrtVersion::from_lib_version(8600), Some(v(8, 6, 0)));
        assert_eq!(TrtVersion::from_lib_version(8601), Some(v(8, 6, 1)));
        assert_eq!(TrtVersion::from_lib_version(100300), Some(v(10, 3, 0)));
        assert_eq!(TrtVersion::from_lib_version(101601), Some(v(10, 16, 1)));
        assert_eq!(TrtVersion::from_lib_version(110400), Some(v(11, 4, 0)));
        assert_eq!(
            TrtVersion::from_lib_version(7103).map(|v| v.to_string()),
            Some("7.1.3".to_owned())
        );
    }

    #[test]
    fn lib_versions_in_neither_encoding() {
        for n in [i32::MIN, -8503, -1, 0, 999, 10000, 85030, 99999] {
            assert_eq!(TrtVersion::from_lib_version(n), None, "{n}");
        }
        // The largest i32 is still a (far-off) 10.x-style number.
        assert_eq!(
            TrtVersion::from_lib_version(i32::MAX),
            Some(v(214748, 36, 47))
        );
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
    fn parse_full_needs_the_patch() {
        assert_eq!(TrtVersion::parse_full("8.5.3").unwrap(), v(8, 5, 3));
        assert_eq!(TrtVersion::parse_full(" 10.16.1 ").unwrap(), v(10, 16, 1));
        assert_eq!(TrtVersion::parse_full("8.5.3.1").unwrap(), v(8, 5, 3));
        assert_eq!(TrtVersion::parse_full("10.3.0").unwrap(), v(10, 3, 0));
        let err = TrtVersion::parse_full("8.5").unwrap_err();
        assert_eq!(err, VersionError::FullSyntax("8.5".to_owned()));
        assert_eq!(
            err.to_string(),
            "`8.5` is not a full TensorRT version: expected MAJOR.MINOR.PATCH, e.g. 8.5.3 or 10.16.1"
        );
        for bad in ["", "8", "10.16", "8.5.", "8.5.x", "8.5.3.1.2", "+8.5.3"] {
            assert_eq!(
                TrtVersion::parse_full(bad),
                Err(VersionError::FullSyntax(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            TrtVersion::parse_full("8.10.0"),
            Err(VersionError::OutOfRange {
                major: 8,
                minor: 10,
                patch: 0
            })
        );
    }

    #[test]
    fn compatibility_is_major_minor() {
        assert!(v(8, 5, 3).is_table_compatible(&v(8, 5, 2)));
        assert!(!v(8, 5, 3).is_table_compatible(&v(8, 6, 2)));
        assert!(!v(8, 5, 3).is_table_compatible(&v(10, 3, 0)));
        assert!(v(10, 3, 0).is_table_compatible(&v(10, 3, 1)));
    }

    #[test]
    fn order_is_release_order() {
        assert!(v(8, 5, 3) < v(8, 6, 0));
        assert!(v(8, 6, 1) < v(10, 0, 0));
        assert!(v(10, 3, 0) < v(10, 16, 0));
    }

    #[test]
    fn serde_uses_the_string_form() {
        assert_eq!(serde_json::to_string(&v(8, 5, 3)).unwrap(), r#""8.5.3""#);
        assert_eq!(
            serde_json::from_str::<TrtVersion>(r#""10.16.1""#).unwrap(),
            v(10, 16, 1)
        );
        // As lenient as `parse`: a missing patch is 0.
        assert_eq!(
            serde_json::from_str::<TrtVersion>(r#""10.16""#).unwrap(),
            v(10, 16, 0)
        );
        let round: Vec<TrtVersion> =
            serde_json::from_str(&serde_json::to_string(&[v(7, 1, 3), v(10, 13, 2)]).unwrap())
                .unwrap();
        assert_eq!(round, [v(7, 1, 3), v(10, 13, 2)]);
        let err = serde_json::from_str::<TrtVersion>(r#""8.10""#).unwrap_err();
        assert!(
            err.to_string()
                .contains("TensorRT 8.10.0 cannot be written"),
            "{err}"
        );
        let err = serde_json::from_str::<TrtVersion>("8503").unwrap_err();
        assert!(
            err.to_string().contains("a TensorRT version string"),
            "{err}"
        );
    }
}
