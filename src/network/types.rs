//! The network's value types: element types, quantization mode, tensor and layer descriptions.

use tensorrt_sys as sys;

/// Element types, as TensorRT names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DataType {
    /// 32-bit IEEE float (`kFLOAT`).
    Float,
    /// 16-bit IEEE float (`kHALF`).
    Half,
    /// Signed 8-bit integer (`kINT8`); as an activation, a quantized float with a per-tensor
    /// scale from calibration or a dynamic range.
    Int8,
    /// Signed 32-bit integer (`kINT32`).
    Int32,
    /// Boolean, one byte per element (`kBOOL`).
    Bool,
    /// Unsigned 8-bit integer (`kUINT8`).
    Uint8,
    /// 8-bit float, E4M3 (`kFP8`; TensorRT >= 8.6).
    Fp8,
    /// bfloat16 (`kBF16`; TensorRT >= 9.0).
    Bf16,
    /// Signed 64-bit integer (`kINT64`; TensorRT >= 9.0).
    Int64,
    /// Signed 4-bit integer, two per byte (`kINT4`; TensorRT >= 10.0); [`DataType::size`] is 0.
    Int4,
    /// A type the shim does not map (newer TensorRT types such as FP4); the shim refuses it
    /// where a call takes a type.
    Unknown,
}

impl DataType {
    pub(crate) fn from_raw(v: i32) -> DataType {
        match v as u32 {
            sys::TRT_DATA_TYPE_FLOAT => DataType::Float,
            sys::TRT_DATA_TYPE_HALF => DataType::Half,
            sys::TRT_DATA_TYPE_INT8 => DataType::Int8,
            sys::TRT_DATA_TYPE_INT32 => DataType::Int32,
            sys::TRT_DATA_TYPE_BOOL => DataType::Bool,
            sys::TRT_DATA_TYPE_UINT8 => DataType::Uint8,
            sys::TRT_DATA_TYPE_FP8 => DataType::Fp8,
            sys::TRT_DATA_TYPE_BF16 => DataType::Bf16,
            sys::TRT_DATA_TYPE_INT64 => DataType::Int64,
            sys::TRT_DATA_TYPE_INT4 => DataType::Int4,
            _ => DataType::Unknown,
        }
    }

    pub(crate) fn to_raw(self) -> i32 {
        (match self {
            DataType::Float => sys::TRT_DATA_TYPE_FLOAT,
            DataType::Half => sys::TRT_DATA_TYPE_HALF,
            DataType::Int8 => sys::TRT_DATA_TYPE_INT8,
            DataType::Int32 => sys::TRT_DATA_TYPE_INT32,
            DataType::Bool => sys::TRT_DATA_TYPE_BOOL,
            DataType::Uint8 => sys::TRT_DATA_TYPE_UINT8,
            DataType::Fp8 => sys::TRT_DATA_TYPE_FP8,
            DataType::Bf16 => sys::TRT_DATA_TYPE_BF16,
            DataType::Int64 => sys::TRT_DATA_TYPE_INT64,
            DataType::Int4 => sys::TRT_DATA_TYPE_INT4,
            DataType::Unknown => sys::TRT_DATA_TYPE_UNKNOWN,
        }) as i32
    }

    /// Bytes per element (0 for sub-byte or unknown types).
    pub fn size(self) -> usize {
        match self {
            DataType::Float | DataType::Int32 => 4,
            DataType::Half | DataType::Bf16 => 2,
            DataType::Int8 | DataType::Bool | DataType::Uint8 | DataType::Fp8 => 1,
            DataType::Int64 => 8,
            DataType::Int4 | DataType::Unknown => 0,
        }
    }

    /// Floating-point activations (what INT8 quantizes).
    pub fn is_float(self) -> bool {
        matches!(self, DataType::Float | DataType::Half | DataType::Bf16)
    }
}

/// Where a network's INT8 scales come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Quantization {
    /// No Q/DQ layers: INT8 scales come from calibration (a calibrator, a table, or dynamic
    /// ranges).
    Implicit,
    /// The network has `qdq_layers` Q/DQ layers: the model's own scales, no calibration.
    Explicit {
        /// How many `QUANTIZE` and `DEQUANTIZE` layers the network definition has.
        qdq_layers: usize,
    },
}

impl Quantization {
    /// Decides from TensorRT layer type names (`LayerInfo::kind`: `QUANTIZE`, `DEQUANTIZE`, ...).
    ///
    /// ```
    /// use trt::Quantization;
    /// let q = Quantization::from_layer_kinds(["QUANTIZE", "DEQUANTIZE", "CONVOLUTION"]);
    /// assert_eq!(q, Quantization::Explicit { qdq_layers: 2 });
    /// assert_eq!(Quantization::from_layer_kinds(["CONVOLUTION"]), Quantization::Implicit);
    /// ```
    pub fn from_layer_kinds<'a>(kinds: impl IntoIterator<Item = &'a str>) -> Quantization {
        let n = kinds
            .into_iter()
            .filter(|k| matches!(*k, "QUANTIZE" | "DEQUANTIZE"))
            .count();
        if n == 0 {
            Quantization::Implicit
        } else {
            Quantization::Explicit { qdq_layers: n }
        }
    }

    /// The network has Q/DQ layers.
    pub fn is_explicit(self) -> bool {
        matches!(self, Quantization::Explicit { .. })
    }
}

/// A network input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name in the network (the ONNX value name), unique within it.
    pub name: String,
    /// `-1` marks a dynamic dimension.
    pub shape: Vec<i64>,
    /// The element type the network declares for it.
    pub dtype: DataType,
}

/// A layer of the network definition (before the builder fuses anything).
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Position in the network definition: the index [`Network::layer`] and the precision
    /// setters take.
    pub index: usize,
    /// The layer's name (from the ONNX node; `(Unnamed Layer* N) [Type]` when it has none).
    pub name: String,
    /// TensorRT's `LayerType` name: `CONVOLUTION`, `CONSTANT`, `SHAPE`, ...
    pub kind: String,
    /// The layer's compute precision as TensorRT reports it: the one set on it, else TensorRT's
    /// default (`Float`), which the builder is then free to change.
    pub precision: DataType,
    /// A compute precision was set on the layer ([`Network::set_layer_precision`]).
    pub precision_is_set: bool,
    /// Input tensor names (`None` for an absent optional input).
    pub inputs: Vec<Option<String>>,
    /// `(output tensor name, type)`.
    pub outputs: Vec<(String, DataType)>,
}
