//! Element types of network inputs ([`DType`]), typed batch buffers, and exact conversions.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use half::f16;

use crate::error::{Error, Result};

/// The element type of a network input, as TensorRT receives it.
///
/// Names (TOML `dtype = "..."`, [`FromStr`]): `float32`/`f32`, `float16`/`f16`/`half`, `int32`,
/// `int64`, `int8`, `uint8`, `bool` (also `i32`, `i64`, `i8`, `u8`).
///
/// ```
/// use trt_calib_data::DType;
/// assert_eq!("half".parse::<DType>().unwrap(), DType::F16);
/// assert_eq!(DType::I64.size(), 8);
/// assert_eq!(DType::I32.to_string(), "int32");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// 32-bit signed integer.
    I32,
    /// 64-bit signed integer.
    I64,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// One byte, 0 or 1.
    Bool,
}

impl DType {
    /// Every dtype.
    pub const ALL: [DType; 7] = [
        DType::F32,
        DType::F16,
        DType::I32,
        DType::I64,
        DType::I8,
        DType::U8,
        DType::Bool,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 => 2,
            DType::I64 => 8,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// The canonical name: `float32`, `float16`, `int32`, `int64`, `int8`, `uint8`, `bool`
    /// (NumPy's names).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }

    /// `float32` or `float16`.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    /// The `.npy` type descriptor in this machine's byte order (`<f4`, `|b1`, ...).
    pub(crate) fn npy_descr(self) -> String {
        let order = if cfg!(target_endian = "little") {
            '<'
        } else {
            '>'
        };
        match self {
            DType::F32 => format!("{order}f4"),
            DType::F16 => format!("{order}f2"),
            DType::I32 => format!("{order}i4"),
            DType::I64 => format!("{order}i8"),
            DType::I8 => "|i1".into(),
            DType::U8 => "|u1".into(),
            DType::Bool => "|b1".into(),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "float32" | "f32" => DType::F32,
            "float16" | "f16" | "half" => DType::F16,
            "int32" | "i32" => DType::I32,
            "int64" | "i64" => DType::I64,
            "int8" | "i8" => DType::I8,
            "uint8" | "u8" => DType::U8,
            "bool" => DType::Bool,
            _ => {
                return Err(Error::spec(format!(
                    "unknown dtype `{s}`; use one of float32 (f32), float16 (f16, half), int32, \
                     int64, int8, uint8, bool"
                )))
            }
        })
    }
}

impl<'de> serde::Deserialize<'de> for DType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|e: Error| match e {
            Error::Spec { message, .. } => serde::de::Error::custom(message),
            other => serde::de::Error::custom(other),
        })
    }
}

impl serde::Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that is the element of a [`DType`]: `f32`, [`f16`](half::f16), `i32`, `i64`,
/// `i8`, `u8`, `bool`. Used by [`Batch::view`](crate::Batch::view) and
/// [`Batch::slice`](crate::Batch::slice).
pub trait Element: Copy + Send + Sync + sealed::Sealed + 'static {
    /// The dtype of this type.
    const DTYPE: DType;
    #[doc(hidden)]
    fn slice_of(buf: &Buffer) -> Option<&[Self]>;
}

/// One contiguous, typed buffer (a batch's data for one input, or a whole loaded array).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq)]
pub enum Buffer {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

/// One sample's slot in a batch buffer.
pub(crate) enum SampleMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [f16]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    I8(&'a mut [i8]),
    U8(&'a mut [u8]),
    Bool(&'a mut [bool]),
}

macro_rules! elements {
    ($($t:ty => $v:ident),+) => {
        $(
            impl sealed::Sealed for $t {}
            impl Element for $t {
                const DTYPE: DType = DType::$v;
                fn slice_of(buf: &Buffer) -> Option<&[Self]> {
                    match buf {
                        Buffer::$v(v) => Some(v),
                        _ => None,
                    }
                }
            }
        )+
    };
}
elements!(f32 => F32, f16 => F16, i32 => I32, i64 => I64, i8 => I8, u8 => U8, bool => Bool);

/// `$body` with `$v` bound to the inner `Vec` of every variant of a [`Buffer`].
macro_rules! each {
    ($buf:expr, $v:ident => $body:expr) => {
        match $buf {
            Buffer::F32($v) => $body,
            Buffer::F16($v) => $body,
            Buffer::I32($v) => $body,
            Buffer::I64($v) => $body,
            Buffer::I8($v) => $body,
            Buffer::U8($v) => $body,
            Buffer::Bool($v) => $body,
        }
    };
}

impl Buffer {
    /// `len` zeros (false) of `dtype`.
    pub(crate) fn zeros(dtype: DType, len: usize) -> Self {
        match dtype {
            DType::F32 => Buffer::F32(vec![0.0; len]),
            DType::F16 => Buffer::F16(vec![f16::ZERO; len]),
            DType::I32 => Buffer::I32(vec![0; len]),
            DType::I64 => Buffer::I64(vec![0; len]),
            DType::I8 => Buffer::I8(vec![0; len]),
            DType::U8 => Buffer::U8(vec![0; len]),
            DType::Bool => Buffer::Bool(vec![false; len]),
        }
    }

    pub(crate) fn dtype(&self) -> DType {
        match self {
            Buffer::F32(_) => DType::F32,
            Buffer::F16(_) => DType::F16,
            Buffer::I32(_) => DType::I32,
            Buffer::I64(_) => DType::I64,
            Buffer::I8(_) => DType::I8,
            Buffer::U8(_) => DType::U8,
            Buffer::Bool(_) => DType::Bool,
        }
    }

    /// Elements.
    pub(crate) fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// The elements as bytes, in this machine's byte order (no copy).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        each!(self, v => {
            let bytes = std::mem::size_of_val(&v[..]);
            // SAFETY: every element type (f32, f16 = repr(transparent) u16, integers, bool) is
            // plain data without padding, so each byte of the slice is initialised; u8 needs no
            // alignment; the borrow of `self` keeps the memory alive and unchanged.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), bytes) }
        })
    }

    pub(crate) fn slice<T: Element>(&self) -> Option<&[T]> {
        T::slice_of(self)
    }

    /// `copy_within` on the elements.
    pub(crate) fn copy_within(&mut self, src: Range<usize>, dest: usize) {
        each!(self, v => v.copy_within(src, dest))
    }

    /// Calls `f(j, slot)` for the `j`-th `len`-element chunk of `range`.
    pub(crate) fn for_each_chunk_mut<'a>(
        &'a mut self,
        range: Range<usize>,
        len: usize,
        mut f: impl FnMut(usize, SampleMut<'a>),
    ) {
        match self {
            Buffer::F32(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::F32(c))),
            Buffer::F16(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::F16(c))),
            Buffer::I32(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::I32(c))),
            Buffer::I64(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::I64(c))),
            Buffer::I8(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::I8(c))),
            Buffer::U8(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::U8(c))),
            Buffer::Bool(v) => v[range]
                .chunks_mut(len)
                .enumerate()
                .for_each(|(j, c)| f(j, SampleMut::Bool(c))),
        }
    }

    /// Copy elements `range` into `out` (same dtype, same length).
    pub(crate) fn copy_range_to(&self, range: Range<usize>, out: &mut SampleMut<'_>) -> Result<()> {
        match (self, out) {
            (Buffer::F32(s), SampleMut::F32(d)) => d.copy_from_slice(&s[range]),
            (Buffer::F16(s), SampleMut::F16(d)) => d.copy_from_slice(&s[range]),
            (Buffer::I32(s), SampleMut::I32(d)) => d.copy_from_slice(&s[range]),
            (Buffer::I64(s), SampleMut::I64(d)) => d.copy_from_slice(&s[range]),
            (Buffer::I8(s), SampleMut::I8(d)) => d.copy_from_slice(&s[range]),
            (Buffer::U8(s), SampleMut::U8(d)) => d.copy_from_slice(&s[range]),
            (Buffer::Bool(s), SampleMut::Bool(d)) => d.copy_from_slice(&s[range]),
            (s, _) => {
                return Err(Error::Worker(format!(
                    "internal: a {} array copied into a batch of another dtype",
                    s.dtype()
                )))
            }
        }
        Ok(())
    }
}

// ---- Arrays as read from files, and exact conversions ------------------------------------------

/// An array's elements in the file's own type (C order). Covers every [`DType`] plus the NumPy
/// types TensorRT has no input type for (float64, int16, uint16, uint32).
#[derive(Debug)]
pub(crate) enum FileData {
    Known(Buffer),
    F64(Vec<f64>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl FileData {
    /// NumPy's name of the file's type.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            FileData::Known(b) => b.dtype().name(),
            FileData::F64(_) => "float64",
            FileData::I16(_) => "int16",
            FileData::U16(_) => "uint16",
            FileData::U32(_) => "uint32",
        }
    }

    fn is_float(&self) -> bool {
        match self {
            FileData::Known(b) => b.dtype().is_float(),
            FileData::F64(_) => true,
            _ => false,
        }
    }

    /// The dtype an array of this type gets when nothing asks for another: its own when TensorRT
    /// has it, else float64 -> float32, int16/uint16 -> int32, uint32 -> int64.
    pub(crate) fn natural_dtype(&self) -> DType {
        match self {
            FileData::Known(b) => b.dtype(),
            FileData::F64(_) => DType::F32,
            FileData::I16(_) | FileData::U16(_) => DType::I32,
            FileData::U32(_) => DType::I64,
        }
    }
}

impl From<Buffer> for FileData {
    fn from(b: Buffer) -> Self {
        FileData::Known(b)
    }
}

/// A value on its way between types.
#[derive(Clone, Copy)]
enum Scalar {
    I(i64),
    F(f64),
    B(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::I(v) => write!(f, "{v}"),
            Scalar::F(v) => write!(f, "{v}"),
            Scalar::B(v) => write!(f, "{v}"),
        }
    }
}

trait ToScalar: Copy {
    fn scalar(self) -> Scalar;
}
macro_rules! to_scalar {
    ($kind:ident: $($t:ty),+) => { $(impl ToScalar for $t {
        #[allow(clippy::unnecessary_cast)]
        fn scalar(self) -> Scalar { Scalar::$kind(self as _) }
    })+ };
}
to_scalar!(I: i8, u8, i16, u16, i32, u32, i64);
to_scalar!(F: f32, f64);
impl ToScalar for f16 {
    fn scalar(self) -> Scalar {
        Scalar::F(self.to_f64())
    }
}
impl ToScalar for bool {
    fn scalar(self) -> Scalar {
        Scalar::B(self)
    }
}

/// Converts one value to `T`; `None` when that is not exact (integers out of range, integers a
/// float type cannot hold exactly, finite floats that overflow to infinity, non-0/1 to bool).
/// Floats to a narrower float round to nearest; floats to integers never get here.
trait FromScalar: Sized {
    fn from_scalar(s: Scalar) -> Option<Self>;
}
macro_rules! from_scalar_int {
    ($($t:ty),+) => { $(impl FromScalar for $t {
        fn from_scalar(s: Scalar) -> Option<Self> {
            match s {
                Scalar::I(v) => <$t>::try_from(v).ok(),
                Scalar::B(b) => Some(b as $t),
                Scalar::F(_) => None,
            }
        }
    })+ };
}
from_scalar_int!(i8, u8, i32, i64);
impl FromScalar for f32 {
    fn from_scalar(s: Scalar) -> Option<Self> {
        match s {
            Scalar::I(v) => {
                let x = v as f32;
                (x as i128 == v as i128).then_some(x)
            }
            Scalar::F(v) => {
                let x = v as f32;
                (x.is_finite() || !v.is_finite()).then_some(x)
            }
            Scalar::B(b) => Some(b as u8 as f32),
        }
    }
}
impl FromScalar for f16 {
    fn from_scalar(s: Scalar) -> Option<Self> {
        match s {
            Scalar::I(v) => {
                let x = f16::from_f64(v as f64);
                (x.is_finite() && x.to_f64() as i128 == v as i128).then_some(x)
            }
            Scalar::F(v) => {
                let x = f16::from_f64(v);
                (x.is_finite() || !v.is_finite()).then_some(x)
            }
            Scalar::B(b) => Some(if b { f16::ONE } else { f16::ZERO }),
        }
    }
}
impl FromScalar for bool {
    fn from_scalar(s: Scalar) -> Option<Self> {
        match s {
            Scalar::I(0) => Some(false),
            Scalar::I(1) => Some(true),
            Scalar::B(b) => Some(b),
            _ => None,
        }
    }
}

/// What a conversion is for, for error messages.
pub(crate) struct Target<'a> {
    pub path: &'a Path,
    pub input: &'a str,
    /// Full array shape (sample axis first), to turn a flat index into a multi-index.
    pub shape: &'a [usize],
}

fn multi_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            idx[i] = flat % d;
            flat /= d;
        }
    }
    idx
}

fn convert_vec<S: ToScalar, T: FromScalar>(
    src: &[S],
    wanted: DType,
    from: &str,
    t: &Target<'_>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(src.len());
    for (i, &v) in src.iter().enumerate() {
        match T::from_scalar(v.scalar()) {
            Some(x) => out.push(x),
            None => {
                let s = v.scalar();
                let why = match (s, wanted) {
                    (Scalar::I(_), DType::F32 | DType::F16) => {
                        format!("is not exactly representable in {wanted}")
                    }
                    (Scalar::F(_), _) => format!("overflows {wanted}"),
                    (_, DType::Bool) => "is neither 0 nor 1".to_string(),
                    _ => format!("is out of the {wanted} range {}", int_range(wanted)),
                };
                return Err(Error::Convert {
                    path: t.path.to_path_buf(),
                    input: t.input.to_string(),
                    message: format!(
                        "{from} value {s} at index {:?} {why}; store the array as {wanted} or \
                         fix the value",
                        multi_index(i, t.shape)
                    ),
                });
            }
        }
    }
    Ok(out)
}

fn int_range(d: DType) -> String {
    match d {
        DType::I32 => format!("{}..={}", i32::MIN, i32::MAX),
        DType::I64 => format!("{}..={}", i64::MIN, i64::MAX),
        DType::I8 => format!("{}..={}", i8::MIN, i8::MAX),
        DType::U8 => format!("{}..={}", u8::MIN, u8::MAX),
        _ => String::new(),
    }
}

/// Convert `data` to `wanted`, exactly: integers are range-checked, integers become floats only
/// when the float holds them exactly, floats never become integers or bool, float64 -> float32
/// and float32 -> float16 round to nearest (an overflow to infinity is an error).
/// The same type is moved, not copied.
pub(crate) fn convert(data: FileData, wanted: DType, t: &Target<'_>) -> Result<Buffer> {
    match data {
        FileData::Known(b) if b.dtype() == wanted => Ok(b),
        other => convert_ref(&other, wanted, t),
    }
}

/// [`convert`] into a new buffer.
pub(crate) fn convert_ref(data: &FileData, wanted: DType, t: &Target<'_>) -> Result<Buffer> {
    let from = data.type_name();
    if data.is_float() && !wanted.is_float() {
        return Err(Error::Convert {
            path: t.path.to_path_buf(),
            input: t.input.to_string(),
            message: format!(
                "the array is {from} and the input is {wanted}; floats are not converted to \
                 integers or bool (it would not be exact): store the array as {wanted}"
            ),
        });
    }
    macro_rules! to {
        ($src:expr) => {
            match wanted {
                DType::F32 => Buffer::F32(convert_vec($src, wanted, from, t)?),
                DType::F16 => Buffer::F16(convert_vec($src, wanted, from, t)?),
                DType::I32 => Buffer::I32(convert_vec($src, wanted, from, t)?),
                DType::I64 => Buffer::I64(convert_vec($src, wanted, from, t)?),
                DType::I8 => Buffer::I8(convert_vec($src, wanted, from, t)?),
                DType::U8 => Buffer::U8(convert_vec($src, wanted, from, t)?),
                DType::Bool => Buffer::Bool(convert_vec($src, wanted, from, t)?),
            }
        };
    }
    Ok(match data {
        FileData::Known(b) => each!(b, v => to!(v)),
        FileData::F64(v) => to!(v),
        FileData::I16(v) => to!(v),
        FileData::U16(v) => to!(v),
        FileData::U32(v) => to!(v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Target<'static> {
        Target {
            path: Path::new("x.npy"),
            input: "x",
            shape: &[2, 2],
        }
    }

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
        assert_eq!("f32".parse::<DType>().unwrap(), DType::F32);
        assert!("float64"
            .parse::<DType>()
            .unwrap_err()
            .to_string()
            .contains("unknown dtype `float64`"));
    }

    #[test]
    fn exactness_rules() {
        let ints = FileData::Known(Buffer::I64(vec![1, -2, 3, 16_777_217]));
        let err = convert(ints, DType::F32, &t()).unwrap_err().to_string();
        assert!(
            err.contains(
                "int64 value 16777217 at index [1, 1] is not exactly representable in float32"
            ),
            "{err}"
        );
        let ok = convert(
            FileData::Known(Buffer::I32(vec![0, 1, 1, 0])),
            DType::Bool,
            &t(),
        );
        assert_eq!(ok.unwrap(), Buffer::Bool(vec![false, true, true, false]));
        let f = convert(FileData::F64(vec![0.5; 4]), DType::I32, &t())
            .unwrap_err()
            .to_string();
        assert!(f.contains("floats are not converted to integers"), "{f}");
        let big = convert(FileData::Known(Buffer::F32(vec![1e5; 4])), DType::F16, &t())
            .unwrap_err()
            .to_string();
        assert!(
            big.contains("float32 value 100000 at index [0, 0] overflows float16"),
            "{big}"
        );
        assert_eq!(
            convert(FileData::U16(vec![0, 1, 65535, 7]), DType::I32, &t()).unwrap(),
            Buffer::I32(vec![0, 1, 65535, 7])
        );
    }
}
