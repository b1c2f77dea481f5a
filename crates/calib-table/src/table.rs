//! The table itself: parse, write, read and write files.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::error::{shorten, ParseError, ParseErrorKind, TableError};
use crate::{Algorithm, TrtVersion, UnknownAlgorithm};

/// INT8 quantization is symmetric over `[-127, 127]`: dynamic range = scale x 127.
pub const INT8_MAX: f32 = 127.0;

/// One line of a table: a tensor and its INT8 scale.
///
/// Equality compares the scale's bits, so that a table equals what it parses back to even when
/// a scale is NaN.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Tensor name as TensorRT knows it, e.g. `input` or `(Unnamed Layer* 3) [Convolution]_output`.
    pub tensor: String,
    /// The scale (the float32 whose bits the hex encodes). Not validated: a table may hold
    /// zero (TensorRT writes `0` for tensors it did not calibrate), negative or NaN scales.
    pub scale: f32,
}

impl Entry {
    /// A tensor and its scale.
    pub fn new(tensor: impl Into<String>, scale: f32) -> Self {
        Self {
            tensor: tensor.into(),
            scale,
        }
    }

    /// The tensor's dynamic range: `scale * 127`, the `setDynamicRange` bound.
    pub fn dynamic_range(&self) -> f32 {
        self.scale * INT8_MAX
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.tensor == other.tensor && self.scale.to_bits() == other.scale.to_bits()
    }
}

impl Eq for Entry {}

/// Serialized as `{ "tensor", "scale", "dynamic_range" }`.
impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Entry", 3)?;
        s.serialize_field("tensor", &self.tensor)?;
        s.serialize_field("scale", &self.scale)?;
        s.serialize_field("dynamic_range", &self.dynamic_range())?;
        s.end()
    }
}

/// A TensorRT INT8 calibration table (calibration cache).
///
/// ```text
/// TRT-8503-EntropyCalibration2
/// input: 3d2020d2
/// (Unnamed Layer* 0) [Constant]_output: 0
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalibrationTable {
    /// The TensorRT version that wrote the table.
    pub version: TrtVersion,
    /// The calibration algorithm.
    pub algorithm: Algorithm,
    /// One entry per tensor, in file order.
    pub entries: Vec<Entry>,
}

impl CalibrationTable {
    /// An empty table.
    pub fn new(version: TrtVersion, algorithm: Algorithm) -> Self {
        Self {
            version,
            algorithm,
            entries: Vec::new(),
        }
    }

    /// The entry of `tensor`, if any.
    pub fn get(&self, tensor: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tensor == tensor)
    }

    /// The header line, without line ending: `TRT-8503-EntropyCalibration2`.
    pub fn header(&self) -> String {
        format!("TRT-{}-{}", self.version.header_number(), self.algorithm)
    }

    /// Parses a table as TensorRT writes it.
    ///
    /// Accepts `\n` or `\r\n` line endings, blank lines, and hex in either case with or without
    /// leading zeros. Tensor names may contain `: ` (the line is split at the last one).
    /// Never panics; the error says what is wrong and on which line.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let line_of = |offset: usize| bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.valid_up_to();
                let what = format!("invalid UTF-8 byte 0x{:02x}", bytes[at]);
                return Err(ParseError::new(
                    line_of(at),
                    ParseErrorKind::Binary { what },
                ));
            }
        };
        if let Some(at) = bytes.iter().position(|&b| b == 0) {
            let what = "NUL byte".to_owned();
            return Err(ParseError::new(
                line_of(at),
                ParseErrorKind::Binary { what },
            ));
        }
        if text.trim().is_empty() {
            return Err(ParseError::new(1, ParseErrorKind::Empty));
        }

        let mut lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .enumerate()
            .map(|(i, line)| (i + 1, line));
        // `text` is not blank, so there is a first line.
        let (_, header) = lines.next().unwrap_or((1, ""));
        let (version, algorithm) = parse_header(header).map_err(|kind| ParseError::new(1, kind))?;

        let mut table = CalibrationTable::new(version, algorithm);
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (number, line) in lines {
            if line.is_empty() {
                continue;
            }
            let (tensor, scale) =
                parse_entry(line).map_err(|kind| ParseError::new(number, kind))?;
            if let Some(&first_line) = seen.get(tensor) {
                let tensor = shorten(tensor);
                let kind = ParseErrorKind::DuplicateTensor { tensor, first_line };
                return Err(ParseError::new(number, kind));
            }
            seen.insert(tensor, number);
            table.entries.push(Entry::new(tensor, scale));
        }
        Ok(table)
    }

    /// The table in TensorRT's format: header, then `name: hex` with lowercase hex without
    /// leading zeros, every line ending in `\n`.
    ///
    /// A table parsed from TensorRT's output gives back the same bytes. Tensor names holding a
    /// line break cannot be represented; [`write_atomic`](Self::write_atomic) refuses them.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(32 + self.entries.len() * 48);
        out.push_str(&self.header());
        out.push('\n');
        for entry in &self.entries {
            out.push_str(&format!("{}: {:x}\n", entry.tensor, entry.scale.to_bits()));
        }
        out.into_bytes()
    }

    /// Reads and parses a table file. The error names the file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TableError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TableError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes).map_err(|source| TableError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes the table so that readers see the old file or the new one, never half of one:
    /// a temporary file in the same directory, synced, then renamed over `path`.
    ///
    /// An existing file keeps its permissions; a new one gets `0644` on Unix.
    pub fn write_atomic(&self, path: impl AsRef<Path>) -> Result<(), TableError> {
        let path = path.as_ref();
        if let Some(bad) = self
            .entries
            .iter()
            .find(|e| e.tensor.is_empty() || e.tensor.contains(['\n', '\r']))
        {
            return Err(TableError::Unwritable {
                path: path.to_owned(),
                tensor: shorten(&bad.tensor.escape_debug().to_string()),
            });
        }
        write_atomic(path, &self.to_bytes()).map_err(|source| TableError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never half of one:
/// a temporary file in the same directory (`.<file name>.<random>.tmp`), synced, then renamed
/// over `path`. No temporary file is left behind, whether the write succeeds or fails.
///
/// An existing file keeps its permissions; a new one gets `0644` on Unix.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("model.calib");
/// trt_calib_table::write_atomic(&path, b"TRT-8503-EntropyCalibration2\n")?;
/// assert_eq!(std::fs::read(&path)?, b"TRT-8503-EntropyCalibration2\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> std::io::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    if let Some(name) = path.file_name() {
        prefix.push(name);
        prefix.push(".");
    }
    let permissions = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => default_permissions(),
    };
    let mut file = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    if let Some(permissions) = permissions {
        file.as_file().set_permissions(permissions)?;
    }
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

fn parse_header(line: &str) -> Result<(TrtVersion, Algorithm), ParseErrorKind> {
    let Some(rest) = line.strip_prefix("TRT-") else {
        return Err(ParseErrorKind::MissingHeader {
            found: shorten(line),
        });
    };
    let bad = |reason: String| ParseErrorKind::BadHeader {
        found: shorten(line),
        reason,
    };
    let Some((number, algorithm)) = rest.split_once('-') else {
        return Err(bad(
            "expected `TRT-<version>-<algorithm>`, found no `-` after the version".to_owned(),
        ));
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "version `{}` is not a number",
            shorten(number)
        )));
    }
    let version = number
        .parse::<u32>()
        .ok()
        .and_then(TrtVersion::from_header_number)
        .ok_or_else(|| {
            bad(format!(
                "version number `{}` is not a TensorRT version \
                 (8.5.3 is written 8503, 10.3.0 is written 100300)",
                shorten(number)
            ))
        })?;
    let algorithm = algorithm
        .parse::<Algorithm>()
        .map_err(|_| bad(UnknownAlgorithm(shorten(algorithm)).to_string()))?;
    Ok((version, algorithm))
}

fn parse_entry(line: &str) -> Result<(&str, f32), ParseErrorKind> {
    let Some((tensor, hex)) = line.rsplit_once(": ") else {
        return Err(ParseErrorKind::NoSeparator {
            found: shorten(line),
        });
    };
    if tensor.is_empty() {
        return Err(ParseErrorKind::EmptyTensorName { hex: shorten(hex) });
    }
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseErrorKind::BadHex {
            tensor: shorten(tensor),
            hex: shorten(hex),
        });
    }
    if hex.len() > 8 {
        return Err(ParseErrorKind::HexTooLong {
            tensor: shorten(tensor),
            hex: shorten(hex),
            digits: hex.len(),
        });
    }
    // 1 to 8 hex digits always fit in a u32.
    let bits = u32::from_str_radix(hex, 16).map_err(|_| ParseErrorKind::BadHex {
        tensor: shorten(tensor),
        hex: shorten(hex),
    })?;
    Ok((tensor, f32::from_bits(bits)))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn leftovers(dir: &Path, keep: &str) -> Vec<OsString> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != keep)
            .collect()
    }

    #[test]
    fn write_atomic_keeps_an_existing_files_permissions_and_gives_new_files_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.plan");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(mode(&path), 0o644);

        // Neither the default for new files nor the temporary file's own 0600.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(mode(&path), 0o640);
        assert!(leftovers(dir.path(), "engine.plan").is_empty());

        let table =
            CalibrationTable::parse(b"TRT-8503-EntropyCalibration2\ninput: 3c55b689\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        table.write_atomic(&path).unwrap();
        assert_eq!(CalibrationTable::read(&path).unwrap(), table);
        assert_eq!(mode(&path), 0o604);
        assert!(leftovers(dir.path(), "engine.plan").is_empty());
    }

    #[test]
    fn a_failed_write_atomic_leaves_the_directory_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("t.cache");
        let e = write_atomic(&missing, b"x").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");

        // The rename fails (a directory stands at the path): the temporary file goes away.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"kept").unwrap();
        write_atomic(&path, b"x").unwrap_err();
        assert!(leftovers(dir.path(), "taken").is_empty());
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
    }
}
