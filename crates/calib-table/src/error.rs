//! Errors: parsing a table, reading or writing its file.

use std::fmt;
use std::path::PathBuf;

/// Why bytes are not a calibration table, and on which line (1-based).
///
/// `Display` gives `line N: <what is wrong>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    kind: ParseErrorKind,
}

/// What is wrong, without the line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// No bytes at all, or only blank lines.
    #[error(
        "empty file: a calibration table starts with a header such as `TRT-8503-EntropyCalibration2`"
    )]
    Empty,
    /// Invalid UTF-8 or a NUL byte: a binary file, or a table that was overwritten.
    #[error("not a text file ({what}); a calibration table is text")]
    Binary {
        /// `NUL byte` or `invalid UTF-8 byte 0x..`.
        what: String,
    },
    /// The first line is not `TRT-<number>-<algorithm>`.
    #[error(
        "no calibration table header: expected `TRT-<version>-<algorithm>` \
         (e.g. `TRT-8503-EntropyCalibration2`), found `{found}`"
    )]
    MissingHeader {
        /// The first line (shortened).
        found: String,
    },
    /// A `TRT-` header with a bad version or algorithm.
    #[error("bad header `{found}`: {reason}")]
    BadHeader {
        /// The header line (shortened).
        found: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line without `: `, e.g. a file cut off in the middle of a line.
    #[error("line cut short: expected `<tensor name>: <hex scale>`, found `{found}` (no `: `)")]
    NoSeparator {
        /// The line (shortened).
        found: String,
    },
    /// `: <hex>` with nothing before it.
    #[error("empty tensor name before `: {hex}`")]
    EmptyTensorName {
        /// The scale's hex digits (shortened).
        hex: String,
    },
    /// The scale is empty or not hexadecimal.
    #[error("bad hex scale `{hex}` for tensor `{tensor}`: expected 1 to 8 hex digits (the bits of a float32)")]
    BadHex {
        /// Tensor name (shortened).
        tensor: String,
        /// What stood after `: ` (shortened).
        hex: String,
    },
    /// More than 8 hex digits: does not fit in a float32.
    #[error(
        "hex scale `{hex}` for tensor `{tensor}` has {digits} digits; a float32 has at most 8"
    )]
    HexTooLong {
        /// Tensor name (shortened).
        tensor: String,
        /// The digits (shortened).
        hex: String,
        /// How many digits there are.
        digits: usize,
    },
    /// The same tensor twice: TensorRT would keep only one of the scales.
    #[error("duplicate tensor `{tensor}` (first on line {first_line})")]
    DuplicateTensor {
        /// Tensor name (shortened).
        tensor: String,
        /// Where it first appeared.
        first_line: usize,
    },
}

impl ParseError {
    pub(crate) fn new(line: usize, kind: ParseErrorKind) -> Self {
        Self { line, kind }
    }

    /// 1-based line number of the problem.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Reading or writing a table file; every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The file could not be read.
    #[error("cannot read calibration table `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid table.
    #[error("invalid calibration table `{}`", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        #[source]
        source: ParseError,
    },
    /// The table could not be written (temporary file, write or rename).
    #[error("cannot write calibration table `{}`", path.display())]
    Write {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A tensor name that the format cannot hold.
    #[error(
        "cannot write calibration table `{}`: tensor name `{tensor}` is empty or contains a line break",
        path.display()
    )]
    Unwritable {
        /// The destination.
        path: PathBuf,
        /// The offending tensor name (escaped).
        tensor: String,
    },
}

/// Shortens `s` for an error message, at a character boundary.
pub(crate) fn shorten(s: &str) -> String {
    const MAX_CHARS: usize = 80;
    match s.char_indices().nth(MAX_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}...", &s[..cut]),
    }
}
