//! Owned and borrowed host tensors (one `ndarray` array per element type), and the element
//! types they hold with their TensorRT types and bytes. (One file: the element trait and the
//! tensor enum name each other.)

use half::f16;
use ndarray::{ArrayBase, ArrayD, ArrayView, ArrayViewD, Data, Dimension, IxDyn};

use super::convert::{dtype_name, feed, mismatch, narrow_i64, Feed};
use crate::error::{Error, Result};
use crate::network::DataType;

mod sealed {
    pub trait Sealed {}
}

/// The element types of [`HostTensor`]: `f32`, [`half::f16`], `i32`, `i64`, `i8`, `u8`, `bool`.
pub trait TensorElement: sealed::Sealed + Copy + std::fmt::Debug + 'static {
    /// The TensorRT type this element is.
    const DTYPE: DataType;
    #[doc(hidden)]
    fn wrap(a: ArrayD<Self>) -> HostTensor;
    #[doc(hidden)]
    fn wrap_view(a: ArrayViewD<'_, Self>) -> HostTensorView<'_>;
    #[doc(hidden)]
    fn unwrap(t: HostTensor) -> std::result::Result<ArrayD<Self>, HostTensor>;
    #[doc(hidden)]
    fn unwrap_ref(t: &HostTensor) -> Option<&ArrayD<Self>>;
    #[doc(hidden)]
    fn unwrap_view<'a>(t: &HostTensorView<'a>) -> Option<ArrayViewD<'a, Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident, $dtype:ident) => {
        impl sealed::Sealed for $t {}
        impl TensorElement for $t {
            const DTYPE: DataType = DataType::$dtype;
            fn wrap(a: ArrayD<Self>) -> HostTensor {
                HostTensor::$variant(a)
            }
            fn wrap_view(a: ArrayViewD<'_, Self>) -> HostTensorView<'_> {
                HostTensorView::$variant(a)
            }
            fn unwrap(t: HostTensor) -> std::result::Result<ArrayD<Self>, HostTensor> {
                match t {
                    HostTensor::$variant(a) => Ok(a),
                    other => Err(other),
                }
            }
            fn unwrap_ref(t: &HostTensor) -> Option<&ArrayD<Self>> {
                match t {
                    HostTensor::$variant(a) => Some(a),
                    _ => None,
                }
            }
            fn unwrap_view<'a>(t: &HostTensorView<'a>) -> Option<ArrayViewD<'a, Self>> {
                match t {
                    HostTensorView::$variant(a) => Some(a.clone()),
                    _ => None,
                }
            }
        }
    };
}

element!(f32, F32, Float);
element!(f16, F16, Half);
element!(i32, I32, Int32);
element!(i64, I64, Int64);
element!(i8, I8, Int8);
element!(u8, U8, Uint8);
element!(bool, Bool, Bool);

// Device buffers of `bool` bind to `Bool` tensors (`Bindings::input` / `output`).
impl crate::calibrator::HostElement for bool {
    const DTYPE: DataType = DataType::Bool;
}

/// Plain element types whose every bit pattern is a valid value (not `bool`).
pub(crate) trait Pod: Copy + Default + 'static {}
impl Pod for f32 {}
impl Pod for f16 {}
impl Pod for i32 {}
impl Pod for i64 {}
impl Pod for i8 {}
impl Pod for u8 {}

/// The bytes of a slice of elements that have no padding.
pub(crate) fn slice_bytes<T: TensorElement>(s: &[T]) -> &[u8] {
    // SAFETY: every TensorElement (f32, f16, i32, i64, i8, u8, bool) is a primitive without
    // padding bytes, so all `size_of_val(s)` bytes behind `s` are initialized; the byte slice
    // borrows `s` and is read-only.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
}

/// The bytes of a mutable slice of plain elements, to be overwritten.
pub(crate) fn slice_bytes_mut<T: Pod>(s: &mut [T]) -> &mut [u8] {
    // SAFETY: Pod types (f32, f16, i32, i64, i8, u8) have no padding and every bit pattern is a
    // valid value, so any bytes written through the view leave valid elements; it borrows `s`
    // mutably for its lifetime, so nothing else aliases it.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(s)) }
}

/// An owned host tensor of one of the element types engines take and give.
#[derive(Clone, Debug, PartialEq)]
pub enum HostTensor {
    /// `float32` (TensorRT `Float`).
    F32(ArrayD<f32>),
    /// `float16` (TensorRT `Half`).
    F16(ArrayD<f16>),
    /// `int32` (TensorRT `Int32`).
    I32(ArrayD<i32>),
    /// `int64` (TensorRT `Int64`).
    I64(ArrayD<i64>),
    /// `int8` (TensorRT `Int8`).
    I8(ArrayD<i8>),
    /// `uint8` (TensorRT `Uint8`).
    U8(ArrayD<u8>),
    /// `bool` (TensorRT `Bool`).
    Bool(ArrayD<bool>),
}

/// A borrowed host tensor: what [`crate::ExecutionContext::run`] reads its inputs from.
///
/// Every `ndarray` array or view of a [`TensorElement`] converts into one (`x.view().into()`,
/// `(&x).into()`), whatever its dimension type.
#[derive(Clone, Debug, PartialEq)]
pub enum HostTensorView<'a> {
    /// `float32` (TensorRT `Float`).
    F32(ArrayViewD<'a, f32>),
    /// `float16` (TensorRT `Half`).
    F16(ArrayViewD<'a, f16>),
    /// `int32` (TensorRT `Int32`).
    I32(ArrayViewD<'a, i32>),
    /// `int64` (TensorRT `Int64`).
    I64(ArrayViewD<'a, i64>),
    /// `int8` (TensorRT `Int8`).
    I8(ArrayViewD<'a, i8>),
    /// `uint8` (TensorRT `Uint8`).
    U8(ArrayViewD<'a, u8>),
    /// `bool` (TensorRT `Bool`).
    Bool(ArrayViewD<'a, bool>),
}

/// Runs `$e` with `$a` bound to the array inside any variant of `$t` (a `HostTensor` or a
/// `HostTensorView`, given as `$ty`).
macro_rules! each {
    ($ty:ident, $t:expr, $a:ident => $e:expr) => {
        match $t {
            $ty::F32($a) => $e,
            $ty::F16($a) => $e,
            $ty::I32($a) => $e,
            $ty::I64($a) => $e,
            $ty::I8($a) => $e,
            $ty::U8($a) => $e,
            $ty::Bool($a) => $e,
        }
    };
}

impl HostTensor {
    /// The element type, as TensorRT names it.
    pub fn dtype(&self) -> DataType {
        match self {
            HostTensor::F32(_) => DataType::Float,
            HostTensor::F16(_) => DataType::Half,
            HostTensor::I32(_) => DataType::Int32,
            HostTensor::I64(_) => DataType::Int64,
            HostTensor::I8(_) => DataType::Int8,
            HostTensor::U8(_) => DataType::Uint8,
            HostTensor::Bool(_) => DataType::Bool,
        }
    }

    /// The shape (one length per dimension).
    pub fn shape(&self) -> &[usize] {
        each!(HostTensor, self, a => a.shape())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        each!(HostTensor, self, a => a.len())
    }

    /// Whether it has no elements (a dimension of length 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A borrowed view of the same data.
    pub fn view(&self) -> HostTensorView<'_> {
        each!(HostTensor, self, a => TensorElement::wrap_view(a.view()))
    }

    /// The array, when the tensor holds `T`s.
    pub fn as_array<T: TensorElement>(&self) -> Option<&ArrayD<T>> {
        T::unwrap_ref(self)
    }

    /// The array, or an error naming both element types when the tensor does not hold `T`s.
    pub fn into_array<T: TensorElement>(self) -> Result<ArrayD<T>> {
        T::unwrap(self).map_err(|t| {
            Error::Invalid(format!(
                "host tensor is {} {:?}, not {}",
                dtype_name(t.dtype()),
                t.shape(),
                dtype_name(T::DTYPE)
            ))
        })
    }

    /// The elements' bytes in memory order, when the array is in standard (row-major,
    /// contiguous) layout: what a device buffer of the tensor's type holds.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        each!(HostTensor, self, a => a.as_slice().map(slice_bytes))
    }

    /// The same tensor in standard layout (a copy only when it is not already).
    pub fn into_standard_layout(self) -> HostTensor {
        each!(HostTensor, self, a => TensorElement::wrap(if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() }))
    }

    /// Whether host data of type `host` can feed an engine input of type `engine`: the same
    /// type, `int64` into `int32` (range-checked) or `int32` into `int64`.
    pub fn can_feed(host: DataType, engine: DataType) -> bool {
        feed(host, engine).is_some()
    }

    /// This tensor in the type of engine input `name` of type `engine`: unchanged when the
    /// types match, `int64` narrowed to `int32` (an error names the index and value of the first
    /// value out of range), `int32` widened to `int64`; any other pair is an error naming both.
    pub fn convert_for(self, name: &str, engine: DataType) -> Result<HostTensor> {
        match (feed(self.dtype(), engine), self) {
            (Some(Feed::Copy), t) => Ok(t),
            (Some(Feed::NarrowI64), HostTensor::I64(a)) => {
                let mut bytes = Vec::new();
                narrow_i64(name, &a.view(), &mut bytes)?;
                let values = bytes
                    .chunks_exact(4)
                    .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Ok(HostTensor::I32(
                    ArrayD::from_shape_vec(IxDyn(a.shape()), values).expect("same element count"),
                ))
            }
            (Some(Feed::WidenI32), HostTensor::I32(a)) => Ok(HostTensor::I64(a.mapv(i64::from))),
            (_, t) => Err(mismatch(name, t.dtype(), engine)),
        }
    }

    /// Seeded values of `dtype` in `shape`: floats uniform in [-1, 1) (24 random bits, exact in
    /// f32), integers in 0..16 (valid indices for small embeddings, in range for every integer
    /// type), bools 0/1.
    pub(crate) fn seeded(
        name: &str,
        dtype: DataType,
        shape: &[usize],
        rng: &mut trt_calib_data::SplitMix64,
    ) -> Result<HostTensor> {
        let shape = IxDyn(shape);
        let mut float = || ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        Ok(match dtype {
            DataType::Float => HostTensor::F32(ArrayD::from_shape_simple_fn(shape, float)),
            DataType::Half => HostTensor::F16(ArrayD::from_shape_simple_fn(shape, || {
                f16::from_f32(float())
            })),
            DataType::Int32 => HostTensor::I32(ArrayD::from_shape_simple_fn(shape, || {
                (rng.next_u64() % 16) as i32
            })),
            DataType::Int64 => HostTensor::I64(ArrayD::from_shape_simple_fn(shape, || {
                (rng.next_u64() % 16) as i64
            })),
            DataType::Int8 => HostTensor::I8(ArrayD::from_shape_simple_fn(shape, || {
                (rng.next_u64() % 16) as i8
            })),
            DataType::Uint8 => HostTensor::U8(ArrayD::from_shape_simple_fn(shape, || {
                (rng.next_u64() % 16) as u8
            })),
            DataType::Bool => HostTensor::Bool(ArrayD::from_shape_simple_fn(shape, || {
                rng.next_u64() >> 63 == 1
            })),
            other => {
                return Err(Error::Shape {
                    name: name.into(),
                    message: format!(
                        "no seeded host data for {} inputs: give this input's data",
                        dtype_name(other)
                    ),
                })
            }
        })
    }

    /// Compares two tensors element by element: `None` when type or shape differ, else
    /// `(elements, elements whose bits differ, max |a - b|)`.
    pub(crate) fn diff(&self, other: &HostTensor) -> Option<(usize, usize, f64)> {
        fn count<T: Copy>(
            a: &ArrayD<T>,
            b: &ArrayD<T>,
            same: impl Fn(T, T) -> bool,
            value: impl Fn(T) -> f64,
        ) -> Option<(usize, usize, f64)> {
            if a.shape() != b.shape() {
                return None;
            }
            let (mut differing, mut max) = (0, 0.0f64);
            for (&x, &y) in a.iter().zip(b.iter()) {
                if !same(x, y) {
                    differing += 1;
                    max = max.max((value(x) - value(y)).abs());
                }
            }
            Some((a.len(), differing, max))
        }
        match (self, other) {
            (HostTensor::F32(a), HostTensor::F32(b)) => {
                count(a, b, |x, y| x.to_bits() == y.to_bits(), f64::from)
            }
            (HostTensor::F16(a), HostTensor::F16(b)) => {
                count(a, b, |x, y| x.to_bits() == y.to_bits(), f64::from)
            }
            (HostTensor::I32(a), HostTensor::I32(b)) => count(a, b, |x, y| x == y, f64::from),
            (HostTensor::I64(a), HostTensor::I64(b)) => count(a, b, |x, y| x == y, |x| x as f64),
            (HostTensor::I8(a), HostTensor::I8(b)) => count(a, b, |x, y| x == y, f64::from),
            (HostTensor::U8(a), HostTensor::U8(b)) => count(a, b, |x, y| x == y, f64::from),
            (HostTensor::Bool(a), HostTensor::Bool(b)) => {
                count(a, b, |x, y| x == y, |x| f64::from(u8::from(x)))
            }
            _ => None,
        }
    }
}

impl<'a> HostTensorView<'a> {
    /// The element type, as TensorRT names it.
    pub fn dtype(&self) -> DataType {
        match self {
            HostTensorView::F32(_) => DataType::Float,
            HostTensorView::F16(_) => DataType::Half,
            HostTensorView::I32(_) => DataType::Int32,
            HostTensorView::I64(_) => DataType::Int64,
            HostTensorView::I8(_) => DataType::Int8,
            HostTensorView::U8(_) => DataType::Uint8,
            HostTensorView::Bool(_) => DataType::Bool,
        }
    }

    /// The shape (one length per dimension).
    pub fn shape(&self) -> &[usize] {
        each!(HostTensorView, self, a => a.shape())
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        each!(HostTensorView, self, a => a.len())
    }

    /// Whether it has no elements (a dimension of length 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The view, when it holds `T`s.
    pub fn as_array<T: TensorElement>(&self) -> Option<ArrayViewD<'a, T>> {
        T::unwrap_view(self)
    }

    /// An owned copy of the data.
    pub fn to_owned(&self) -> HostTensor {
        each!(HostTensorView, self, a => TensorElement::wrap(a.to_owned()))
    }

    /// Calls `f` with the elements' bytes in standard layout (borrowed when the view already is,
    /// else from a temporary copy).
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        each!(HostTensorView, self, a => {
            let data = a.as_standard_layout();
            f(slice_bytes(data.as_slice().expect("standard layout is contiguous")))
        })
    }
}

/// A calibration batch's input goes into [`crate::ExecutionContext::run`] as it is (evaluating
/// an engine on calibration-style data), in its own element type.
impl<'a> From<trt_calib_data::TypedView<'a>> for HostTensorView<'a> {
    fn from(v: trt_calib_data::TypedView<'a>) -> Self {
        use trt_calib_data::TypedView as T;
        match v {
            T::F32(a) => HostTensorView::F32(a),
            T::F16(a) => HostTensorView::F16(a),
            T::I32(a) => HostTensorView::I32(a),
            T::I64(a) => HostTensorView::I64(a),
            T::I8(a) => HostTensorView::I8(a),
            T::U8(a) => HostTensorView::U8(a),
            T::Bool(a) => HostTensorView::Bool(a),
        }
    }
}

impl<'a> From<&'a HostTensor> for HostTensorView<'a> {
    fn from(t: &'a HostTensor) -> Self {
        t.view()
    }
}

impl<T: TensorElement, D: Dimension> From<ndarray::Array<T, D>> for HostTensor {
    fn from(a: ndarray::Array<T, D>) -> Self {
        T::wrap(a.into_dyn())
    }
}

impl<'a, T: TensorElement, D: Dimension> From<ArrayView<'a, T, D>> for HostTensorView<'a> {
    fn from(a: ArrayView<'a, T, D>) -> Self {
        T::wrap_view(a.into_dyn())
    }
}

impl<'a, T, S, D> From<&'a ArrayBase<S, D>> for HostTensorView<'a>
where
    T: TensorElement,
    S: Data<Elem = T>,
    D: Dimension,
{
    fn from(a: &'a ArrayBase<S, D>) -> Self {
        T::wrap_view(a.view().into_dyn())
    }
}

impl<T: TensorElement> TryFrom<HostTensor> for ArrayD<T> {
    type Error = Error;
    fn try_from(t: HostTensor) -> Result<Self> {
        t.into_array()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, ShapeBuilder};

    #[test]
    fn typed_access_and_conversions() {
        let t = HostTensor::from(arr2(&[[1u8, 2], [3, 4]]));
        assert_eq!(t.dtype(), DataType::Uint8);
        assert_eq!(t.shape(), &[2, 2]);
        assert_eq!(t.len(), 4);
        assert_eq!(t.as_bytes(), Some(&[1u8, 2, 3, 4][..]));
        assert!(t.as_array::<i8>().is_none());
        assert_eq!(
            t.clone().into_array::<f32>().unwrap_err().to_string(),
            "host tensor is uint8 [2, 2], not float32"
        );
        let a: ArrayD<u8> = t.clone().try_into().unwrap();
        assert_eq!(a[[1, 0]], 3);
        let v: HostTensorView<'_> = (&t).into();
        assert_eq!(v.as_array::<u8>().unwrap()[[0, 1]], 2);
        assert_eq!(v.to_owned(), t);
        let h = HostTensor::from(ndarray::arr1(&[f16::from_f32(1.5), f16::from_f32(-2.0)]));
        assert_eq!(h.dtype(), DataType::Half);
        assert_eq!(h.as_bytes(), Some(&[0x00, 0x3e, 0x00, 0xc0][..]));
        let f = HostTensor::from(
            ArrayD::from_shape_vec(IxDyn(&[2, 2]).f(), vec![1i32, 3, 2, 4]).unwrap(),
        );
        assert_eq!(f.as_bytes(), None);
        let s = f.into_standard_layout();
        assert_eq!(s.as_bytes(), Some(slice_bytes(&[1i32, 2, 3, 4])));
        assert_eq!(dtype_name(DataType::Half), "float16");
        assert_eq!(dtype_name(DataType::Bool), "bool");
    }

    #[test]
    fn seeded_values_respect_the_type() {
        let mut rng = trt_calib_data::SplitMix64(7);
        let ids = HostTensor::seeded("ids", DataType::Int32, &[4, 64], &mut rng).unwrap();
        let ids = ids.as_array::<i32>().unwrap();
        assert!(ids.iter().all(|&v| (0..16).contains(&v)));
        assert!(ids.iter().any(|&v| v >= 8), "values use the whole range");
        let mask = HostTensor::seeded("mask", DataType::Bool, &[256], &mut rng).unwrap();
        let mask = mask.as_array::<bool>().unwrap();
        assert!(mask.iter().any(|&b| b) && mask.iter().any(|&b| !b));
        let x = HostTensor::seeded("x", DataType::Float, &[1000], &mut rng).unwrap();
        assert!(x
            .as_array::<f32>()
            .unwrap()
            .iter()
            .all(|&v| (-1.0..1.0).contains(&v)));
        for (dtype, name) in [
            (DataType::Int64, DataType::Int64),
            (DataType::Int8, DataType::Int8),
            (DataType::Uint8, DataType::Uint8),
            (DataType::Half, DataType::Half),
        ] {
            let t = HostTensor::seeded("t", dtype, &[3], &mut rng).unwrap();
            assert_eq!(t.dtype(), name);
            assert_eq!(t.shape(), &[3]);
        }
        // The f32 sequence is the one `repro::compare_outputs` always used (24 random bits).
        let mut a = trt_calib_data::SplitMix64(3);
        let mut b = trt_calib_data::SplitMix64(3);
        let t = HostTensor::seeded("x", DataType::Float, &[2], &mut a).unwrap();
        let first = ((b.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
        assert_eq!(t.as_array::<f32>().unwrap()[0], first);
        let err = HostTensor::seeded("q", DataType::Fp8, &[1], &mut rng).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `q`: no seeded host data for fp8 inputs: give this input's data"
        );
    }

    #[test]
    fn diff_counts_differing_bits() {
        let a = HostTensor::from(ndarray::arr1(&[1.0f32, 0.0, 2.0]));
        let b = HostTensor::from(ndarray::arr1(&[1.0f32, -0.0, 2.5]));
        assert_eq!(a.diff(&a), Some((3, 0, 0.0)));
        assert_eq!(a.diff(&b), Some((3, 2, 0.5)));
        let i = HostTensor::from(ndarray::arr1(&[1i32, 5, 2]));
        assert_eq!(a.diff(&i), None);
        let j = HostTensor::from(ndarray::arr1(&[1i32, 2, 2]));
        assert_eq!(i.diff(&j), Some((3, 1, 3.0)));
        assert_eq!(i.diff(&HostTensor::from(ndarray::arr1(&[1i32]))), None);
    }
}
