//! How host data of one element type feeds an engine input of another (int64 narrowed to
//! int32 with a range check, int32 widened to int64), and the errors when it cannot.

use ndarray::ArrayViewD;

use crate::error::{Error, Result};
use crate::network::DataType;

/// How host data of one type reaches an engine input of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    /// Same element type: the bytes are copied as they are.
    Copy,
    /// `i64` into an `Int32` input, each value range-checked.
    NarrowI64,
    /// `i32` into an `Int64` input.
    WidenI32,
}

/// How `host` feeds an engine input of type `engine`, or `None` when it cannot.
pub(crate) fn feed(host: DataType, engine: DataType) -> Option<Feed> {
    match (host, engine) {
        (DataType::Int64, DataType::Int32) => Some(Feed::NarrowI64),
        (DataType::Int32, DataType::Int64) => Some(Feed::WidenI32),
        (h, e) if h == e && host_type(e) => Some(Feed::Copy),
        _ => None,
    }
}

/// Whether host tensors exist for this TensorRT type (what `run` can read back).
pub(crate) fn host_type(dtype: DataType) -> bool {
    matches!(
        dtype,
        DataType::Float
            | DataType::Half
            | DataType::Int32
            | DataType::Int64
            | DataType::Int8
            | DataType::Uint8
            | DataType::Bool
    )
}

/// What an engine input of type `engine` takes, for messages.
pub(crate) fn accepted(engine: DataType) -> String {
    match engine {
        DataType::Int32 => "int32, or int64 that fits in int32".into(),
        DataType::Int64 => "int64 or int32".into(),
        e if host_type(e) => dtype_name(e).into(),
        e => format!(
            "nothing: `run` has no host type for {}; bind device buffers instead",
            dtype_name(e)
        ),
    }
}

/// The error for host data of type `host` given to input `name` of type `engine`.
pub(crate) fn mismatch(name: &str, host: DataType, engine: DataType) -> Error {
    Error::Shape {
        name: name.into(),
        message: format!(
            "the engine's input is {}; got {} data (it takes {})",
            dtype_name(engine),
            dtype_name(host),
            accepted(engine)
        ),
    }
}

/// The multi-dimensional index of element `flat` (row-major) of an array of `shape`.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = flat % d;
            flat /= d;
        }
    }
    index
}

/// Appends the `i32` bytes of every value of `a` (logical order) to `out`; a value outside the
/// `i32` range is an error naming input `name`, the index and the value.
pub(crate) fn narrow_i64(name: &str, a: &ArrayViewD<'_, i64>, out: &mut Vec<u8>) -> Result<()> {
    out.reserve(a.len() * 4);
    for (k, &v) in a.iter().enumerate() {
        let Ok(v) = i32::try_from(v) else {
            return Err(Error::Shape {
                name: name.into(),
                message: format!(
                    "int64 value {v} at index {:?} does not fit the engine's int32 input ({}..={})",
                    unravel(k, a.shape()),
                    i32::MIN,
                    i32::MAX
                ),
            });
        };
        out.extend_from_slice(&v.to_ne_bytes());
    }
    Ok(())
}

/// Appends the `i64` bytes of every value of `a` (logical order) to `out`.
pub(crate) fn widen_i32(a: &ArrayViewD<'_, i32>, out: &mut Vec<u8>) {
    out.reserve(a.len() * 8);
    for &v in a.iter() {
        out.extend_from_slice(&i64::from(v).to_ne_bytes());
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::host::slice_bytes;
    use crate::tensor::{HostTensor, HostTensorView};
    use ndarray::{arr2, Array2, ArrayD, IxDyn, ShapeBuilder};

    #[test]
    fn int64_narrows_to_int32_with_a_range_check() {
        let ids: Array2<i64> = arr2(&[[0, 1, -7, 3], [1000, 2147483647, -2147483648, 5]]);
        let t = HostTensor::from(ids.clone())
            .convert_for("ids", DataType::Int32)
            .unwrap();
        assert_eq!(t.dtype(), DataType::Int32);
        assert_eq!(
            t.as_array::<i32>().unwrap(),
            &arr2(&[[0, 1, -7, 3], [1000, i32::MAX, i32::MIN, 5]]).into_dyn()
        );

        let mut bad = ids;
        bad[[1, 2]] = 3_000_000_000;
        bad[[1, 3]] = -3_000_000_000;
        let err = HostTensor::from(bad)
            .convert_for("ids", DataType::Int32)
            .unwrap_err();
        assert!(matches!(err, Error::Shape { ref name, .. } if name == "ids"));
        assert_eq!(
            err.to_string(),
            "tensor `ids`: int64 value 3000000000 at index [1, 2] does not fit the engine's int32 input (-2147483648..=2147483647)"
        );
        let low = ndarray::arr1(&[0i64, i32::MIN as i64 - 1]);
        let mut out = Vec::new();
        let err = narrow_i64("mask", &low.view().into_dyn(), &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `mask`: int64 value -2147483649 at index [1] does not fit the engine's int32 input (-2147483648..=2147483647)"
        );
    }

    #[test]
    fn narrowing_follows_the_logical_order_of_a_fortran_array() {
        // Column-major memory [0, 10, 1, 11, 2, 12], logical rows [0 1 2] [10 11 12].
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]).f(), vec![0i64, 10, 1, 11, 2, 12]).unwrap();
        let mut out = Vec::new();
        narrow_i64("ids", &a.view(), &mut out).unwrap();
        let values: Vec<i32> = out
            .chunks_exact(4)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(values, [0, 1, 2, 10, 11, 12]);
        let mut wide = Vec::new();
        widen_i32(&arr2(&[[-1i32, 7]]).into_dyn().view(), &mut wide);
        assert_eq!(wide, [(-1i64).to_ne_bytes(), 7i64.to_ne_bytes()].concat());
        // And the view's bytes come out in standard layout.
        let f = HostTensorView::from(&a);
        let bytes = f.with_bytes(|b| b.to_vec());
        assert_eq!(bytes, slice_bytes(&[0i64, 1, 2, 10, 11, 12]));
    }

    #[test]
    fn mismatched_types_are_refused_naming_both() {
        let x = HostTensor::from(arr2(&[[1.0f32, 2.0]]));
        let err = x.clone().convert_for("ids", DataType::Int32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `ids`: the engine's input is int32; got float32 data (it takes int32, or int64 that fits in int32)"
        );
        let err = HostTensor::from(arr2(&[[true]]))
            .convert_for("image", DataType::Float)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `image`: the engine's input is float32; got bool data (it takes float32)"
        );
        assert_eq!(
            mismatch("q", DataType::Float, DataType::Fp8).to_string(),
            "tensor `q`: the engine's input is fp8; got float32 data (it takes nothing: `run` has no host type for fp8; bind device buffers instead)"
        );
        assert_eq!(x.clone().convert_for("image", DataType::Float).unwrap(), x);
        let wide = HostTensor::from(arr2(&[[3i32, -4]]))
            .convert_for("ids", DataType::Int64)
            .unwrap();
        assert_eq!(wide, HostTensor::from(arr2(&[[3i64, -4]])));
        for (host, engine, ok) in [
            (DataType::Float, DataType::Float, true),
            (DataType::Half, DataType::Half, true),
            (DataType::Half, DataType::Float, false),
            (DataType::Int64, DataType::Int32, true),
            (DataType::Int32, DataType::Int64, true),
            (DataType::Uint8, DataType::Int8, false),
            (DataType::Uint8, DataType::Bool, false),
            (DataType::Bf16, DataType::Bf16, false),
        ] {
            assert_eq!(
                HostTensor::can_feed(host, engine),
                ok,
                "{host:?} -> {engine:?}"
            );
        }
    }
}
