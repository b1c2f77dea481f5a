//! `.npy`, `.npz` and raw inputs, loaded whole in the file's own element type, and `.npy` writing.

use std::io::{Cursor, Read, Write};
use std::path::Path;

use half::f16;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{
    NpzReader, ReadDataError, ReadNpyError, ReadNpyExt, ReadNpzError, ReadableElement,
};
use py_literal::Value as PyValue;

use crate::dtype::{Buffer, DType, FileData};
use crate::error::{Error, Result};

/// A loaded array: its elements in C order and its shape (sample axis first).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub data: FileData,
    pub shape: Vec<usize>,
}

/// `.npy` float16 (`<f2`, `>f2`), which ndarray-npy does not read itself.
#[derive(Clone, Copy)]
struct NpyF16(f16);

impl ReadableElement for NpyF16 {
    fn read_to_end_exact_vec<R: Read>(
        mut reader: R,
        type_desc: &PyValue,
        len: usize,
    ) -> std::result::Result<Vec<Self>, ReadDataError> {
        let little = match type_desc {
            PyValue::String(s) if s == "<f2" || s == "f2" => true,
            PyValue::String(s) if s == ">f2" => false,
            other => return Err(ReadDataError::WrongDescriptor(other.clone())),
        };
        let n = len.checked_mul(2).ok_or(ReadDataError::MissingData)?;
        let mut bytes = vec![0u8; n];
        reader.read_exact(&mut bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ReadDataError::MissingData
            } else {
                ReadDataError::Io(e)
            }
        })?;
        let extra = reader.read_to_end(&mut Vec::new())?;
        if extra != 0 {
            return Err(ReadDataError::ExtraBytes(extra));
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|b| {
                let bits = if little {
                    u16::from_le_bytes([b[0], b[1]])
                } else {
                    u16::from_be_bytes([b[0], b[1]])
                };
                NpyF16(f16::from_bits(bits))
            })
            .collect())
    }
}

/// Elements of `a` in C order, without a copy when it already is.
fn c_order<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let (v, offset) = a.into_raw_vec_and_offset();
        debug_assert!(offset.unwrap_or(0) == 0);
        v
    } else {
        a.iter().cloned().collect()
    }
}

/// What one read attempt gave: an array, a wrong element type (try the next), or a real error.
enum Attempt<T> {
    Ok(ArrayD<T>),
    Wrong(String),
    Failed(String),
}

fn npy_attempt<T: ReadableElement>(r: std::result::Result<ArrayD<T>, ReadNpyError>) -> Attempt<T> {
    match r {
        Ok(a) => Attempt::Ok(a),
        Err(ReadNpyError::WrongDescriptor(d)) => Attempt::Wrong(d.to_string()),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

fn npz_attempt<T: ReadableElement>(r: std::result::Result<ArrayD<T>, ReadNpzError>) -> Attempt<T> {
    match r {
        Ok(a) => Attempt::Ok(a),
        Err(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(d))) => Attempt::Wrong(d.to_string()),
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

/// One attempt at element type `$t`: return the array, remember a wrong type, or fail.
macro_rules! read_one {
    ($T:ident => $read:expr, $wrong:ident, $t:ty, $wrap:expr) => {
        match {
            type $T = $t;
            $read
        } {
            Attempt::Ok(a) => {
                let shape = a.shape().to_vec();
                return Ok(Loaded {
                    data: $wrap(c_order(a)),
                    shape,
                });
            }
            Attempt::Wrong(d) => $wrong.push(d),
            Attempt::Failed(m) => return Err(m),
        }
    };
}

/// Try every supported element type `$T`; `$read` gives an [`Attempt<$T>`]. The element type is
/// only known after the header: a wrong type costs a header parse, no data is read.
macro_rules! read_typed {
    ($T:ident => $read:expr) => {{
        let mut wrong: Vec<String> = Vec::new();
        read_one!($T => $read, wrong, f32, |v| FileData::Known(Buffer::F32(v)));
        read_one!($T => $read, wrong, f64, FileData::F64);
        read_one!($T => $read, wrong, NpyF16, |v: Vec<NpyF16>| FileData::Known(Buffer::F16(
            v.into_iter().map(|x| x.0).collect()
        )));
        read_one!($T => $read, wrong, i32, |v| FileData::Known(Buffer::I32(v)));
        read_one!($T => $read, wrong, i64, |v| FileData::Known(Buffer::I64(v)));
        read_one!($T => $read, wrong, i8, |v| FileData::Known(Buffer::I8(v)));
        read_one!($T => $read, wrong, u8, |v| FileData::Known(Buffer::U8(v)));
        read_one!($T => $read, wrong, bool, |v| FileData::Known(Buffer::Bool(v)));
        read_one!($T => $read, wrong, i16, FileData::I16);
        read_one!($T => $read, wrong, u16, FileData::U16);
        read_one!($T => $read, wrong, u32, FileData::U32);
        Err(format!(
            "unsupported element type {}; use float32, float64, float16, int64, int32, \
             int16, int8, uint32, uint16, uint8 or bool",
            wrong.first().map(String::as_str).unwrap_or("?")
        ))
    }};
}

fn npy_bytes(bytes: &[u8]) -> std::result::Result<Loaded, String> {
    read_typed!(T => npy_attempt(ArrayD::<T>::read_npy(Cursor::new(bytes))))
}

/// A `.npy` file.
pub(crate) fn load_npy(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    npy_bytes(&bytes).map_err(|m| Error::array(path, m))
}

/// Array `name` of a `.npz` file.
pub(crate) fn load_npz(path: &Path, name: &str) -> Result<Loaded> {
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
    let mut read = || -> std::result::Result<Loaded, String> {
        read_typed!(T => npz_attempt(npz.by_name::<ndarray::OwnedRepr<T>, IxDyn>(name)))
    };
    read().map_err(|m| Error::array(path, format!("array `{name}`: {m}")))
}

/// Raw samples of `sample_shape` and `dtype`, back to back, in little-endian byte order.
pub(crate) fn load_raw(path: &Path, sample_shape: &[usize], dtype: DType) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let per: usize = sample_shape.iter().product();
    if per == 0 {
        return Err(Error::array(
            path,
            format!("sample shape {sample_shape:?} has no elements"),
        ));
    }
    let size = dtype.size();
    if bytes.len() % (size * per) != 0 {
        return Err(Error::array(
            path,
            format!(
                "{} bytes is not a whole number of {dtype} samples of shape {sample_shape:?} \
                 ({} bytes each)",
                bytes.len(),
                size * per
            ),
        ));
    }
    let n = bytes.len() / (size * per);
    macro_rules! le {
        ($t:ty, $w:literal) => {
            bytes
                .chunks_exact($w)
                .map(|b| <$t>::from_le_bytes(b.try_into().expect("chunk size")))
                .collect()
        };
    }
    let data = match dtype {
        DType::F32 => Buffer::F32(le!(f32, 4)),
        DType::F16 => Buffer::F16(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
        ),
        DType::I32 => Buffer::I32(le!(i32, 4)),
        DType::I64 => Buffer::I64(le!(i64, 8)),
        DType::I8 => Buffer::I8(bytes.iter().map(|&b| b as i8).collect()),
        DType::U8 => Buffer::U8(bytes),
        DType::Bool => {
            if let Some(i) = bytes.iter().position(|&b| b > 1) {
                return Err(Error::array(
                    path,
                    format!("byte {i} is {}; bool data must be 0 or 1", bytes[i]),
                ));
            }
            Buffer::Bool(bytes.iter().map(|&b| b == 1).collect())
        }
    };
    let mut shape = vec![n];
    shape.extend_from_slice(sample_shape);
    Ok(Loaded {
        data: FileData::Known(data),
        shape,
    })
}

/// Write `data` with `shape` as a version 1.0 `.npy` file (C order, this machine's byte order).
pub(crate) fn write_npy(mut w: impl Write, shape: &[usize], data: &Buffer) -> std::io::Result<()> {
    let dims = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        data.dtype().npy_descr()
    );
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let len = u16::try_from(dict.len())
        .map_err(|_| std::io::Error::other("npy header longer than 65535 bytes"))?;
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(dict.as_bytes())?;
    w.write_all(data.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_npy_reads_back_with_ndarray_npy_and_here() {
        let data = Buffer::I32(vec![1, -2, 3, 2_000_000_000, 5, 6]);
        let mut bytes = Vec::new();
        write_npy(&mut bytes, &[2, 3], &data).unwrap();
        assert_eq!((bytes.len() - data.as_bytes().len()) % 64, 0);
        let a = ArrayD::<i32>::read_npy(Cursor::new(&bytes)).unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a[[1, 0]], 2_000_000_000);

        let halves = Buffer::F16(vec![f16::from_f32(0.5), f16::from_f32(-1.25)]);
        let mut bytes = Vec::new();
        write_npy(&mut bytes, &[2], &halves).unwrap();
        let back = npy_bytes(&bytes).unwrap();
        assert_eq!(back.shape, vec![2]);
        match back.data {
            FileData::Known(b) => assert_eq!(b, halves),
            other => panic!("read back as {}", other.type_name()),
        }
    }
}
