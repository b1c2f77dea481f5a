//! The one error type of this crate.

use std::path::PathBuf;

use crate::check::CheckFailure;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between a spec file and a batch.
///
/// Every variant that concerns a file names it; nothing in this crate panics on bad data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file or listing a folder failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An image file did not decode.
    #[error("cannot decode image {}: {source}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// What the decoder said.
        #[source]
        source: image::ImageError,
    },

    /// A file is cut short: a JPEG without its end-of-image marker (which the decoder accepts
    /// without a word, making up the missing part).
    #[error("image {} is truncated: {message}", path.display())]
    Truncated {
        /// The image file.
        path: PathBuf,
        /// Where the data ends.
        message: String,
    },

    /// A decoded image has a channel count other than the spec's.
    #[error(
        "image {} has {found} channel(s) but input `{input}` expects {expected}; \
         set `convert_channels = true` (or `Preprocess::with_convert_channels(true)`) to convert it",
        path.display()
    )]
    Channels {
        /// The image file.
        path: PathBuf,
        /// The input the image belongs to.
        input: String,
        /// Channels in the spec.
        expected: usize,
        /// Colour channels in the file (alpha not counted).
        found: usize,
    },

    /// Without a resize, every image of an input must have the size of the first one.
    #[error(
        "image {} is {found_w}x{found_h} but input `{input}` has no resize and its first image is \
         {expected_w}x{expected_h}; add a `resize`",
        path.display()
    )]
    ImageSize {
        /// The image file.
        path: PathBuf,
        /// The input.
        input: String,
        /// Width of the first image.
        expected_w: u32,
        /// Height of the first image.
        expected_h: u32,
        /// Width of this image.
        found_w: u32,
        /// Height of this image.
        found_h: u32,
    },

    /// A `.npy`/`.npz`/raw array could not be read or has an unusable shape or type.
    #[error("cannot read array {}: {message}", path.display())]
    Array {
        /// The array file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An array's values do not convert exactly to the input's dtype.
    #[error("input `{input}`: cannot use {}: {message}", path.display())]
    Convert {
        /// The array file.
        path: PathBuf,
        /// The input.
        input: String,
        /// The value, its index and the types.
        message: String,
    },

    /// [`Pipeline::check`](crate::Pipeline::check) found bad files or inputs that do not match:
    /// every problem in one list, with the fixes.
    #[error("{0}")]
    Check(Box<CheckFailure>),

    /// Inputs yield different numbers of samples.
    #[error("inputs yield different numbers of samples: {}", counts.iter().map(|(n, c)| format!("`{n}` has {c}")).collect::<Vec<_>>().join(", "))]
    SampleCountMismatch {
        /// `(input name, sample count)` for every input.
        counts: Vec<(String, usize)>,
    },

    /// The spec is inconsistent (unknown keys, bad values, missing sources...).
    #[error("invalid calibration data spec{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Spec {
        /// The TOML file, when the spec came from one.
        path: Option<PathBuf>,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The background thread that prepares batches died.
    #[error("the batch prefetch thread stopped unexpectedly: {0}")]
    Worker(String),
}

impl Error {
    pub(crate) fn spec(message: impl Into<String>) -> Self {
        Error::Spec {
            path: None,
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn array(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Array {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether this error concerns one bad sample file (and may be skipped with
    /// [`OnBadFile::Skip`](crate::OnBadFile::Skip)).
    pub fn is_bad_file(&self) -> bool {
        matches!(
            self,
            Error::Decode { .. }
                | Error::Truncated { .. }
                | Error::Channels { .. }
                | Error::ImageSize { .. }
                | Error::Io { .. }
        )
    }
}
