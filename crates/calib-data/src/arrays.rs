//! `.npy`, `.npz` and raw f32 inputs, loaded whole and converted to f32.

use std::io::Cursor;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadNpyExt};

use crate::error::{Error, Result};

/// Try each supported element type `$T` in turn; `$read` yields `Result<ArrayD<$T>, E>`.
macro_rules! read_any {
    ($T:ident => $read:expr) => {
        read_any!($T => $read; f32, f64, u8, i8, u16, i16, u32, i32, i64)
    };
    ($T:ident => $read:expr; $($t:ty),+) => {{
        let mut first_err = None;
        $(
            #[allow(clippy::unnecessary_cast)]
            match { type $T = $t; let r: std::result::Result<ArrayD<$T>, _> = $read; r } {
                Ok(a) => return Ok(a.mapv(|v: $t| v as f32)),
                Err(e) => { if first_err.is_none() { first_err = Some(e.to_string()); } }
            }
        )+
        first_err.unwrap_or_default()
    }};
}

fn npy_bytes(bytes: &[u8]) -> std::result::Result<ArrayD<f32>, String> {
    let msg = read_any!(T => ArrayD::<T>::read_npy(Cursor::new(bytes)));
    Err(msg)
}

/// A `.npy` file as f32.
pub(crate) fn load_npy(path: &Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    npy_bytes(&bytes).map_err(|m| Error::array(path, m))
}

/// Array `name` of a `.npz` file as f32.
pub(crate) fn load_npz(path: &Path, name: &str) -> Result<ArrayD<f32>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut npz = NpzReader::new(file).map_err(|e| Error::array(path, e.to_string()))?;
    let names = npz.names().map_err(|e| Error::array(path, e.to_string()))?;
    if !names
        .iter()
        .any(|n| n == name || n.strip_suffix(".npy") == Some(name))
    {
        return Err(Error::array(
            path,
            format!("no array `{name}`; it has: {}", names.join(", ")),
        ));
    }
    let result: std::result::Result<ArrayD<f32>, String> = (|| {
        let msg = read_any!(T => npz.by_name::<ndarray::OwnedRepr<T>, IxDyn>(name));
        Err(msg)
    })();
    result.map_err(|m| Error::array(path, format!("array `{name}`: {m}")))
}

/// Raw little-endian f32 samples of `sample_shape`, back to back.
pub(crate) fn load_raw(path: &Path, sample_shape: &[usize]) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let per: usize = sample_shape.iter().product();
    if per == 0 {
        return Err(Error::array(
            path,
            format!("sample shape {sample_shape:?} has no elements"),
        ));
    }
    if bytes.len() % (4 * per) != 0 {
        return Err(Error::array(
            path,
            format!("{} bytes is not a whole number of f32 samples of shape {sample_shape:?} ({} bytes each)", bytes.len(), 4 * per),
        ));
    }
    let n = bytes.len() / (4 * per);
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut shape = vec![n];
    shape.extend_from_slice(sample_shape);
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| Error::array(path, e.to_string()))
}
