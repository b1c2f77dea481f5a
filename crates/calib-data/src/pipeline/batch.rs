//! A batch: one array per input, and typed views of its bytes.

use std::path::Path;

use half::f16;
use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn};

use crate::arrays;
use crate::dtype::{Buffer, DType, Element};
use crate::error::{Error, Result};

/// One calibration batch: per input name, an `[N, ...]` array of the input's [`DType`] in one
/// contiguous, standard-layout (C order) buffer.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(super) index: usize,
    pub(super) size: usize,
    pub(super) real: usize,
    pub(super) inputs: Vec<BatchInput>,
}

#[derive(Debug, Clone)]
pub(super) struct BatchInput {
    pub(super) name: String,
    /// Inline for up to 4 dimensions: no allocation per batch.
    pub(super) shape: IxDyn,
    pub(super) data: Buffer,
}

/// A read-only `[N, ...]` view of one input of a [`Batch`], in its own element type.
#[derive(Debug, Clone)]
pub enum TypedView<'a> {
    /// float32.
    F32(ArrayViewD<'a, f32>),
    /// float16.
    F16(ArrayViewD<'a, f16>),
    /// int32.
    I32(ArrayViewD<'a, i32>),
    /// int64.
    I64(ArrayViewD<'a, i64>),
    /// int8.
    I8(ArrayViewD<'a, i8>),
    /// uint8.
    U8(ArrayViewD<'a, u8>),
    /// bool.
    Bool(ArrayViewD<'a, bool>),
}

impl TypedView<'_> {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TypedView::F32(_) => DType::F32,
            TypedView::F16(_) => DType::F16,
            TypedView::I32(_) => DType::I32,
            TypedView::I64(_) => DType::I64,
            TypedView::I8(_) => DType::I8,
            TypedView::U8(_) => DType::U8,
            TypedView::Bool(_) => DType::Bool,
        }
    }
    /// `[N, ...]`.
    pub fn shape(&self) -> &[usize] {
        match self {
            TypedView::F32(a) => a.shape(),
            TypedView::F16(a) => a.shape(),
            TypedView::I32(a) => a.shape(),
            TypedView::I64(a) => a.shape(),
            TypedView::I8(a) => a.shape(),
            TypedView::U8(a) => a.shape(),
            TypedView::Bool(a) => a.shape(),
        }
    }
    /// A float64 copy (for statistics; exact except for int64 beyond 2^53), bool as 0 / 1.
    pub fn to_f64(&self) -> ArrayD<f64> {
        match self {
            TypedView::F32(a) => a.mapv(f64::from),
            TypedView::F16(a) => a.mapv(f64::from),
            TypedView::I32(a) => a.mapv(f64::from),
            TypedView::I64(a) => a.mapv(|v| v as f64),
            TypedView::I8(a) => a.mapv(f64::from),
            TypedView::U8(a) => a.mapv(f64::from),
            TypedView::Bool(a) => a.mapv(|v| f64::from(u8::from(v))),
        }
    }
}

impl BatchInput {
    fn typed(&self) -> Option<TypedView<'_>> {
        let shape = self.shape.clone();
        Some(match &self.data {
            Buffer::F32(v) => TypedView::F32(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::F16(v) => TypedView::F16(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I32(v) => TypedView::I32(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I64(v) => TypedView::I64(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::I8(v) => TypedView::I8(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::U8(v) => TypedView::U8(ArrayViewD::from_shape(shape, v).ok()?),
            Buffer::Bool(v) => TypedView::Bool(ArrayViewD::from_shape(shape, v).ok()?),
        })
    }
}

impl Batch {
    fn find(&self, name: &str) -> Option<&BatchInput> {
        self.inputs.iter().find(|i| i.name == name)
    }
    /// The float32 array of input `name`, shape `[N, ...]`; `None` when the input has another
    /// dtype (see [`Batch::view`]).
    pub fn get(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.view::<f32>(name)
    }
    /// The contiguous float32 data of input `name`; `None` for another dtype (see
    /// [`Batch::slice`], [`Batch::bytes`]).
    pub fn as_slice(&self, name: &str) -> Option<&[f32]> {
        self.slice::<f32>(name)
    }
    /// The array of input `name` as `T` (`f32`, [`f16`](struct@half::f16), `i32`, `i64`, `i8`, `u8`, `bool`);
    /// `None` when the input has another dtype.
    pub fn view<T: Element>(&self, name: &str) -> Option<ArrayViewD<'_, T>> {
        let i = self.find(name)?;
        ArrayViewD::from_shape(i.shape.clone(), i.data.slice::<T>()?).ok()
    }
    /// The contiguous data of input `name` as `T`; `None` when the input has another dtype.
    pub fn slice<T: Element>(&self, name: &str) -> Option<&[T]> {
        self.find(name)?.data.slice::<T>()
    }
    /// The contiguous data of input `name` as bytes, in this machine's byte order: what a
    /// calibrator copies to the device (`N * product(dims) * dtype.size()` bytes, no copy made).
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        Some(self.find(name)?.data.as_bytes())
    }
    /// The dtype of input `name`.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        Some(self.find(name)?.data.dtype())
    }
    /// `[N, ...]` of input `name`.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        Some(self.find(name)?.shape.slice())
    }
    /// Input `name` in its own element type.
    pub fn typed(&self, name: &str) -> Option<TypedView<'_>> {
        self.find(name)?.typed()
    }
    /// Input names, in spec order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|i| i.name.as_str())
    }
    /// `(name, array)` for every input, in spec order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, TypedView<'_>)> {
        self.inputs
            .iter()
            .filter_map(|i| Some((i.name.as_str(), i.typed()?)))
    }
    /// Write input `name` to `path` as `.npy`, in its dtype (float16 as `<f2`, bool as `|b1`).
    pub fn write_npy(&self, name: &str, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let i = self
            .find(name)
            .ok_or_else(|| Error::spec(format!("the batch has no input `{name}`")))?;
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        arrays::write_npy(std::io::BufWriter::new(file), i.shape.slice(), &i.data)
            .map_err(|e| Error::io(path, e))
    }
    /// Position of this batch in the stream (0-based).
    pub fn index(&self) -> usize {
        self.index
    }
    /// N, the batch size (padding included).
    pub fn size(&self) -> usize {
        self.size
    }
    /// Samples that are not padding (`size()` except for a padded last batch).
    pub fn real_samples(&self) -> usize {
        self.real
    }
}
