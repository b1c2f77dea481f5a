//! The whole-dataset check: what the network expects ([`Expected`]), what was found
//! ([`CheckReport`], [`BadFile`]), and the one error listing every problem ([`CheckFailure`]).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::dtype::DType;
use crate::error::Error;

/// What the network expects of one input: name, full shape (batch dimension included) and dtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The input (binding) name.
    pub name: String,
    /// `[N, ...]`, the batch dimension first.
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
}

impl Expected {
    /// `name` with `shape` (batch dimension included) and `dtype`.
    pub fn new(name: impl Into<String>, shape: impl Into<Vec<usize>>, dtype: DType) -> Self {
        Expected {
            name: name.into(),
            shape: shape.into(),
            dtype,
        }
    }
}

/// One input as the data produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputInfo {
    /// The input (binding) name.
    pub name: String,
    /// `[N, ...]` of one batch.
    pub shape: Vec<usize>,
    /// The element type of the batches.
    pub dtype: DType,
    /// `images`, `npy`, `npz`, `raw`, or `custom` (a [`BatchSource`](crate::BatchSource) of
    /// another kind).
    pub source: &'static str,
}

/// What is wrong with a [`BadFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadFileKind {
    /// The file cannot be read (missing, permissions).
    Unreadable,
    /// The file is not a decodable image (wrong format, corrupt data).
    Undecodable,
    /// The file is cut short (a JPEG without its end-of-image marker).
    Truncated,
    /// The image has another channel count than the input (grey among colour).
    Channels,
    /// Without a resize, the image has another size than the input's first image.
    Size,
}

/// One image file that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadFile {
    /// The input the file belongs to.
    pub input: String,
    /// The file.
    pub path: PathBuf,
    /// Its sample index (position in the input's file list, before shuffling).
    pub sample: usize,
    /// What kind of problem.
    pub kind: BadFileKind,
    /// What is wrong, in words (the path not repeated).
    pub message: String,
}

impl fmt::Display for BadFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (input `{}`): {}",
            self.path.display(),
            self.input,
            self.message
        )
    }
}

impl BadFile {
    /// The bad file an error describes; `None` for errors that are not about one file.
    pub(crate) fn from_error(input: &str, sample: usize, e: &Error) -> Option<BadFile> {
        let (path, kind, message) = match e {
            Error::Io { path, source } => (
                path,
                BadFileKind::Unreadable,
                format!("cannot read: {source}"),
            ),
            Error::Decode { path, source } => (
                path,
                BadFileKind::Undecodable,
                format!("not a decodable image: {source}"),
            ),
            Error::Truncated { path, message } => (path, BadFileKind::Truncated, message.clone()),
            Error::Channels {
                path,
                expected,
                found,
                ..
            } => (
                path,
                BadFileKind::Channels,
                format!("has {found} channel(s), the input has {expected}"),
            ),
            Error::ImageSize {
                path,
                expected_w,
                expected_h,
                found_w,
                found_h,
                ..
            } => (
                path,
                BadFileKind::Size,
                format!(
                    "is {found_w}x{found_h}, the input's first image is {expected_w}x{expected_h} \
                     and there is no resize"
                ),
            ),
            _ => return None,
        };
        Some(BadFile {
            input: input.to_string(),
            path: path.clone(),
            sample,
            kind,
            message,
        })
    }
}

/// The result of a successful check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// N.
    pub batch_size: usize,
    /// Batches a full pass yields (exact: bad files are already left out).
    pub batches: usize,
    /// Samples per input (after shuffle, limit and skipped files; before batching).
    pub samples: usize,
    /// Every input: shape, dtype, kind of source.
    pub inputs: Vec<InputInfo>,
    /// Image files opened and decoded.
    pub images_checked: usize,
    /// Files left out under `on_bad_file = "skip"` (each one's sample is left out of every input).
    pub skipped: Vec<BadFile>,
    /// Seconds the file check took (decoding every image).
    pub seconds: f64,
}

/// Everything a check found wrong: the bad files, other problems (shapes, dtypes, names,
/// batch size), and how to fix them. [`Error::Check`]'s message lists the first 20 bad files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFailure {
    /// Files that cannot be used (under `on_bad_file = "error"`).
    pub bad_files: Vec<BadFile>,
    /// Other problems, one sentence each.
    pub problems: Vec<String>,
    /// What to do, one sentence per kind of problem.
    pub fixes: Vec<String>,
    /// Files that were left out (under `on_bad_file = "skip"`) before the other problems were found.
    pub skipped: Vec<BadFile>,
}

/// Bad files listed in [`CheckFailure`]'s message; the rest are counted.
pub const LISTED_BAD_FILES: usize = 20;

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, p) = (self.bad_files.len(), self.problems.len());
        write!(f, "calibration data check failed:")?;
        match (b, p) {
            (0, _) => write!(f, " {p} problem(s)")?,
            (_, 0) => write!(f, " {b} bad file(s)")?,
            _ => write!(f, " {b} bad file(s), {p} other problem(s)")?,
        }
        for bad in self.bad_files.iter().take(LISTED_BAD_FILES) {
            write!(f, "\n  {bad}")?;
        }
        if b > LISTED_BAD_FILES {
            write!(f, "\n  ... and {} more", b - LISTED_BAD_FILES)?;
        }
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        if !self.skipped.is_empty() {
            write!(f, "\n  ({} file(s) skipped)", self.skipped.len())?;
        }
        for fix in &self.fixes {
            write!(f, "\nfix: {fix}")?;
        }
        Ok(())
    }
}

/// One sentence per kind of bad file, in a fixed order.
pub(crate) fn fixes_for(bad: &[BadFile]) -> Vec<String> {
    let has = |k: BadFileKind| bad.iter().any(|b| b.kind == k);
    let mut fixes = Vec::new();
    if has(BadFileKind::Channels) {
        let mut inputs: Vec<&str> = bad
            .iter()
            .filter(|b| b.kind == BadFileKind::Channels)
            .map(|b| b.input.as_str())
            .collect();
        inputs.dedup();
        fixes.push(format!(
            "to convert grey and colour images to the input's channels, set \
             `convert_channels = true` for input `{}` in the TOML spec, or pass \
             --convert-channels (Preprocess::with_convert_channels(true))",
            inputs.join("`, `")
        ));
    }
    if has(BadFileKind::Size) {
        fixes.push(
            "give the input a `resize` (TOML) or --size WxH, so that every image gets one size"
                .into(),
        );
    }
    if has(BadFileKind::Unreadable) || has(BadFileKind::Undecodable) || has(BadFileKind::Truncated)
    {
        fixes.push(
            "replace or remove the unreadable, undecodable and truncated files, or set \
             `on_bad_file = \"skip\"` in the TOML spec (or pass --skip-bad-files) to leave them out"
                .into(),
        );
    }
    fixes
}

/// Names, batch size, sample shapes and dtypes of `inputs` against `expected`; one sentence per
/// problem. An empty `expected` (no network known) compares nothing.
pub(crate) fn compare(
    batch_size: usize,
    inputs: &[InputInfo],
    expected: &[Expected],
) -> Vec<String> {
    let mut problems = Vec::new();
    if expected.is_empty() {
        return problems;
    }
    let list = |names: &mut dyn Iterator<Item = &str>| names.collect::<Vec<_>>().join(", ");
    for e in expected {
        if !inputs.iter().any(|i| i.name == e.name) {
            problems.push(format!(
                "the network input `{}` has no calibration data; the data has: {}",
                e.name,
                list(&mut inputs.iter().map(|i| i.name.as_str()))
            ));
        }
    }
    for i in inputs {
        if !expected.iter().any(|e| e.name == i.name) {
            problems.push(format!(
                "the data has an input `{}`, which the network does not have; the network's \
                 inputs are: {}",
                i.name,
                list(&mut expected.iter().map(|e| e.name.as_str()))
            ));
        }
    }
    let batch_dims: Vec<usize> = expected
        .iter()
        .filter_map(|e| e.shape.first().copied())
        .collect();
    let batch_fix =
        |n: usize| format!("set `batch_size = {n}` in the TOML spec (or pass --batch {n})");
    let same_n = batch_dims.windows(2).all(|w| w[0] == w[1]);
    if same_n && batch_dims.first().is_some_and(|&n| n != batch_size) {
        let n = batch_dims[0];
        problems.push(format!(
            "batch_size is {batch_size} but the network's batch dimension is {n}: {}",
            batch_fix(n)
        ));
    }
    for e in expected {
        let Some(i) = inputs.iter().find(|i| i.name == e.name) else {
            continue;
        };
        let Some((&n, sample)) = e.shape.split_first() else {
            problems.push(format!(
                "the network input `{}` is a scalar (shape []); calibration data needs a batch axis",
                e.name
            ));
            continue;
        };
        if !same_n && n != batch_size {
            problems.push(format!(
                "input `{}`: batch_size is {batch_size} but the network's batch dimension is {n}",
                e.name
            ));
        }
        if i.shape[1..] != *sample {
            let hint = if i.source == "images" {
                "; for images set `resize` (--size WxH), `channel_order` (--rgb/--bgr/--gray) \
                 and `layout` (--nhwc) to match"
            } else {
                ""
            };
            problems.push(format!(
                "input `{}`: one sample is {:?}, the network expects {:?} (batch shape {:?}){hint}",
                e.name,
                &i.shape[1..],
                sample,
                e.shape
            ));
        }
        if i.dtype != e.dtype {
            problems.push(format!(
                "input `{}`: the data is {}, the network expects {}; set `dtype = \"{}\"` for it \
                 (or remove its `dtype`, so that it follows the network)",
                e.name, i.dtype, e.dtype, e.dtype
            ));
        }
    }
    problems
}

/// Whether a JPEG stream reaches its end-of-image marker (FF D9). Walks the marker segments and,
/// after each start-of-scan, the entropy-coded data up to the next marker, so data appended after
/// the image (phone metadata, motion-photo videos) does not matter. `Err` says where it ends.
pub(crate) fn jpeg_complete(bytes: &[u8]) -> Result<(), String> {
    let len = bytes.len();
    let cut = |at: &str| {
        Err(format!(
            "the JPEG data ends ({len} bytes) {at}, before the end-of-image marker (FF D9); \
             the file is cut short"
        ))
    };
    if len < 2 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return Err("no JPEG start-of-image marker (FF D8)".into());
    }
    let mut i = 2;
    loop {
        // Next marker: skip anything up to 0xFF, then fill bytes.
        match bytes[i..].iter().position(|&b| b == 0xFF) {
            Some(p) => i += p,
            None => return cut("between segments"),
        }
        while i < len && bytes[i] == 0xFF {
            i += 1;
        }
        if i >= len {
            return cut("at a marker");
        }
        let marker = bytes[i];
        i += 1;
        match marker {
            0xD9 => return Ok(()),
            // Standalone markers: SOI, RSTn, TEM.
            0xD8 | 0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        if i + 2 > len {
            return cut("in a segment header");
        }
        let seg = u16::from_be_bytes([bytes[i], bytes[i + 1]]) as usize;
        if seg < 2 {
            return Err(format!("corrupt JPEG segment length {seg} at byte {i}"));
        }
        i += seg;
        if i > len {
            return cut("inside a segment");
        }
        if marker == 0xDA {
            // Entropy-coded data: ends at the first marker that is not a stuffed 00 or an RSTn.
            loop {
                match bytes[i..].iter().position(|&b| b == 0xFF) {
                    Some(p) => i += p,
                    None => return cut("inside the image data"),
                }
                if i + 1 >= len {
                    return cut("inside the image data");
                }
                match bytes[i + 1] {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    0xFF => i += 1,
                    _ => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_end_marker_is_found_through_the_segments() {
        // SOI, APP0 (len 4, 2 bytes), SOS (len 2), data with a stuffed FF 00 and an RST0, EOI.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0xAA, 0xBB, 0xFF, 0xDA, 0, 2];
        j.extend([1, 2, 0xFF, 0x00, 3, 0xFF, 0xD0, 4, 0xFF, 0xD9]);
        assert_eq!(jpeg_complete(&j), Ok(()));
        // Appended data after the end does not matter.
        let mut appended = j.clone();
        appended.extend([0u8; 100]);
        assert_eq!(jpeg_complete(&appended), Ok(()));
        // An FF D9 inside a segment is not the end; cut inside the scan data is truncated.
        let cut = &j[..j.len() - 2];
        assert!(jpeg_complete(cut)
            .unwrap_err()
            .contains("ends (20 bytes) inside the image data"));
        let fake = [0xFF, 0xD8, 0xFF, 0xE0, 0, 6, 0xFF, 0xD9, 0, 0];
        assert!(jpeg_complete(&fake).is_err());
    }

    #[test]
    fn failure_lists_twenty_then_counts() {
        let bad: Vec<BadFile> = (0..23)
            .map(|i| BadFile {
                input: "data".into(),
                path: PathBuf::from(format!("/d/{i:02}.png")),
                sample: i,
                kind: BadFileKind::Channels,
                message: "has 1 channel(s), the input has 3".into(),
            })
            .collect();
        let f = CheckFailure {
            fixes: fixes_for(&bad),
            bad_files: bad,
            problems: vec![],
            skipped: vec![],
        };
        let text = f.to_string();
        assert!(text.starts_with("calibration data check failed: 23 bad file(s)\n  /d/00.png (input `data`): has 1 channel(s), the input has 3\n"), "{text}");
        assert!(
            text.contains("/d/19.png") && !text.contains("/d/20.png"),
            "{text}"
        );
        assert!(text.contains("\n  ... and 3 more\nfix: "), "{text}");
        assert!(
            text.contains("`convert_channels = true` for input `data`")
                && text.contains("--convert-channels"),
            "{text}"
        );
    }

    #[test]
    fn compare_names_batch_shape_dtype() {
        let inputs = [InputInfo {
            name: "data".into(),
            shape: vec![8, 3, 32, 32],
            dtype: DType::F32,
            source: "images",
        }];
        assert!(compare(8, &inputs, &[]).is_empty());
        let p = compare(
            8,
            &inputs,
            &[
                Expected::new("data", [4, 3, 30, 32], DType::F16),
                Expected::new("im_info", [4, 3], DType::F32),
            ],
        );
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p[0]
            .contains("the network input `im_info` has no calibration data; the data has: data"));
        assert!(p[1].starts_with(
            "batch_size is 8 but the network's batch dimension is 4: set `batch_size = 4`"
        ));
        assert!(p[2].contains("one sample is [3, 32, 32], the network expects [3, 30, 32]"));
        assert!(p[3].contains("the data is float32, the network expects float16"));
    }
}
