//! The element types host tensors hold, their TensorRT types and their bytes.

use half::f16;
use ndarray::{ArrayD, ArrayViewD};

use super::{HostTensor, HostTensorView};
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

/// The numpy name of a TensorRT element type (`float32`, `int32`, `bool`...), for messages.
pub fn dtype_name(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Float => "float32",
        DataType::Half => "float16",
        DataType::Int8 => "int8",
        DataType::Int32 => "int32",
        DataType::Int64 => "int64",
        DataType::Bool => "bool",
        DataType::Uint8 => "uint8",
        DataType::Fp8 => "fp8",
        DataType::Bf16 => "bfloat16",
        DataType::Int4 => "int4",
        DataType::Unknown => "unknown",
    }
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
