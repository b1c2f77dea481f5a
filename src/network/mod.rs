//! A network definition parsed from ONNX, with introspection and per-layer precision control.

use std::sync::Arc;

use tensorrt_sys as sys;

use crate::build::inner::BuilderInner;
use crate::error::{Error, Result};
use crate::ffi::{self, out};
use crate::handle::{create, Handle};

mod types;

pub use types::{DataType, LayerInfo, Quantization, TensorInfo};

/// A network definition. Keeps its builder (and the ONNX parser that owns its weights) alive.
pub struct Network {
    // Fields drop in declaration order: the parser (which refers to the network and owns its
    // weights) first, then the network, then the builder it came from.
    parser: Option<Handle<sys::trt_parser>>,
    pub(crate) raw: Handle<sys::trt_network>,
    pub(crate) builder: Arc<BuilderInner>,
    source: String,
    /// Tensors given a dynamic range through [`Network::set_dynamic_range`]: they have an INT8
    /// scale without a calibration table.
    ranged: std::collections::HashSet<String>,
    /// Layers whose output types strict mode set (and has not reset since): a later plan that
    /// leaves such a layer alone clears them. Output types you set yourself are not recorded.
    strict_outputs: std::collections::HashSet<usize>,
}

// SAFETY: a network is only touched through &mut self or &self by one thread at a time (it is not Sync).
unsafe impl Send for Network {}

impl Network {
    pub(crate) fn from_onnx(builder: Arc<BuilderInner>, model: OnnxModel<'_>) -> Result<Network> {
        let raw = create!(sys::trt_builder_create_network, builder.raw(); sys::trt_network_destroy, "network")?;
        let mut network = Network {
            parser: None,
            raw,
            builder,
            source: model.label(),
            ranged: Default::default(),
            strict_outputs: Default::default(),
        };
        let factory = network.builder.lib.parser_factory()?;
        let parser = create!(sys::trt_parser_create, factory, network.raw.as_ptr(), network.builder.logger.raw(); sys::trt_parser_destroy, "ONNX parser")?;
        let parser_ptr = parser.as_ptr();
        network.parser = Some(parser);
        let mut ok = 0;
        let status = match &model {
            OnnxModel::File(path) => {
                let c = ffi::cstring(&path.to_string_lossy())?;
                if !path.is_file() {
                    return Err(Error::io(
                        path,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "ONNX model not found"),
                    ));
                }
                // SAFETY: `parser` is the live parser just created for this network (owned by
                // `network`, non-null after a successful create); `c` is a NUL-terminated path
                // that outlives the call; `ok` is a valid out-pointer.
                unsafe { sys::trt_parser_parse_file(parser_ptr, c.as_ptr(), &mut ok) }
            }
            // SAFETY: `parser` as above; `bytes` is `bytes.len()` readable bytes borrowed for
            // the call (IParser::parse documents that they may be freed after it returns); a
            // null model path is allowed (no external weights); `ok` is a valid out-pointer.
            OnnxModel::Bytes(bytes, _) => unsafe {
                sys::trt_parser_parse(
                    parser_ptr,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    std::ptr::null(),
                    &mut ok,
                )
            },
        };
        ffi::check(status)?;
        if ok == 0 {
            return Err(Error::Onnx {
                model: network.source.clone(),
                errors: network.parser_errors()?,
            });
        }
        Ok(network)
    }

    fn parser_errors(&self) -> Result<Vec<String>> {
        let Some(parser) = &self.parser else {
            return Ok(vec![]);
        };
        let n = out!(sys::trt_parser_nb_errors, parser.as_ptr(); i32)?;
        let mut errors = Vec::new();
        for i in 0..n {
            let (mut code, mut node, mut desc) = (0, 0, std::ptr::null());
            // SAFETY: `parser` is this network's live parser and `0 <= i < n` its error count
            // (the shim checks the range too); the three out-pointers are valid locals. `desc`
            // then points at a string owned by the parser, copied by `ffi::string` below.
            ffi::check(unsafe {
                sys::trt_parser_error(parser.as_ptr(), i, &mut code, &mut node, &mut desc)
            })?;
            let at = if node >= 0 {
                format!("node {node}")
            } else {
                "model".to_string()
            };
            errors.push(format!(
                "  {at}: {} (parser error code {code})",
                ffi::string(desc)
            ));
        }
        if errors.is_empty() {
            errors.push("  (the parser gave no details; see the TensorRT log)".into());
        }
        Ok(errors)
    }

    /// Where the network came from (the ONNX file, or a label for bytes).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn tensor(&self, t: *mut sys::trt_tensor) -> Result<TensorInfo> {
        let name = ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?);
        let dims = out!(sys::trt_tensor_dims, t; sys::trt_dims)?;
        let dtype = DataType::from_raw(out!(sys::trt_tensor_type, t; i32)?);
        Ok(TensorInfo {
            name,
            shape: ffi::dims_to_vec(&dims),
            dtype,
        })
    }

    /// The network's inputs, in definition order.
    pub fn inputs(&self) -> Result<Vec<TensorInfo>> {
        let n = out!(sys::trt_network_nb_inputs, self.raw.as_ptr(); i32)?;
        (0..n)
            .map(|i| {
                self.tensor(
                    out!(sys::trt_network_input, self.raw.as_ptr(), i; *mut sys::trt_tensor)?,
                )
            })
            .collect()
    }

    /// The network's outputs, in definition order.
    pub fn outputs(&self) -> Result<Vec<TensorInfo>> {
        let n = out!(sys::trt_network_nb_outputs, self.raw.as_ptr(); i32)?;
        (0..n)
            .map(|i| {
                self.tensor(
                    out!(sys::trt_network_output, self.raw.as_ptr(), i; *mut sys::trt_tensor)?,
                )
            })
            .collect()
    }

    /// How many layers the network definition has (valid indices are `0..layer_count`).
    pub fn layer_count(&self) -> Result<usize> {
        Ok(out!(sys::trt_network_nb_layers, self.raw.as_ptr(); i32)? as usize)
    }

    fn layer_raw(&self, index: usize) -> Result<*mut sys::trt_layer> {
        out!(sys::trt_network_layer, self.raw.as_ptr(), c_index(index, "layer")?; *mut sys::trt_layer)
    }

    /// One layer's description.
    pub fn layer(&self, index: usize) -> Result<LayerInfo> {
        let l = self.layer_raw(index)?;
        let name = ffi::string(out!(sys::trt_layer_name, l; *const std::ffi::c_char)?);
        let kind = ffi::string(out!(sys::trt_layer_type, l; *const std::ffi::c_char)?);
        let precision = DataType::from_raw(out!(sys::trt_layer_precision, l; i32)?);
        let precision_is_set = out!(sys::trt_layer_precision_is_set, l; i32)? != 0;
        let nin = out!(sys::trt_layer_nb_inputs, l; i32)?;
        let mut inputs = Vec::with_capacity(nin as usize);
        for i in 0..nin {
            let t = out!(sys::trt_layer_input, l, i; *mut sys::trt_tensor)?;
            inputs.push(if t.is_null() {
                None
            } else {
                Some(ffi::string(
                    out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?,
                ))
            });
        }
        let nout = out!(sys::trt_layer_nb_outputs, l; i32)?;
        let mut outputs = Vec::with_capacity(nout as usize);
        for i in 0..nout {
            let t = out!(sys::trt_layer_output, l, i; *mut sys::trt_tensor)?;
            let tname = ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?);
            outputs.push((
                tname,
                DataType::from_raw(out!(sys::trt_tensor_type, t; i32)?),
            ));
        }
        Ok(LayerInfo {
            index,
            name,
            kind,
            precision,
            precision_is_set,
            inputs,
            outputs,
        })
    }

    /// The largest |value| of CONSTANT layer `index`'s weights, read from the weights the
    /// network holds (no build, no GPU). `None` for weights that are not FLOAT or HALF (shape
    /// and index constants); an error for a layer that is not CONSTANT.
    pub fn constant_absmax(&self, index: usize) -> Result<Option<f32>> {
        let l = self.layer_raw(index)?;
        let (mut absmax, mut count) = (0f32, 0i64);
        if out!(sys::trt_layer_type, l; *const std::ffi::c_char).map(ffi::string)? != "CONSTANT" {
            return Err(Error::Invalid(format!(
                "layer {index} is not a CONSTANT layer"
            )));
        }
        // The weights it reads are owned by the network's parser, alive while `self` is.
        // SAFETY: `l` is a live layer of this network (`layer_raw`); valid out-pointers.
        let status = unsafe { sys::trt_layer_constant_absmax(l, &mut absmax, &mut count) };
        if status == sys::TRT_ERR_UNSUPPORTED as sys::trt_status {
            // SAFETY: only clears this thread's shim message (an expected "not float" here).
            unsafe { sys::trt_clear_last_error() };
            return Ok(None);
        }
        ffi::check(status)?;
        Ok(Some(absmax))
    }

    /// Every layer, in definition order.
    pub fn layers(&self) -> Result<Vec<LayerInfo>> {
        (0..self.layer_count()?).map(|i| self.layer(i)).collect()
    }

    /// Where the network's INT8 scales come from: [`Quantization::Explicit`] when it has Q/DQ
    /// layers (`QUANTIZE` / `DEQUANTIZE`, parsed from QuantizeLinear / DequantizeLinear).
    pub fn quantization(&self) -> Result<Quantization> {
        let layers = self.layers()?;
        Ok(Quantization::from_layer_kinds(
            layers.iter().map(|l| l.kind.as_str()),
        ))
    }

    /// Constrains a layer's compute precision (honoured with precision constraints on).
    pub fn set_layer_precision(&mut self, index: usize, dtype: DataType) -> Result<()> {
        // SAFETY: `layer_raw` returns a layer of this live network (the shim range-checks the
        // index), valid while the network is, which `&mut self` keeps alive and unshared; an
        // unmapped type is refused by the shim.
        ffi::check(unsafe { sys::trt_layer_set_precision(self.layer_raw(index)?, dtype.to_raw()) })
    }

    /// Removes a precision constraint.
    pub fn reset_layer_precision(&mut self, index: usize) -> Result<()> {
        // SAFETY: a layer of this live network, as in `set_layer_precision`.
        ffi::check(unsafe { sys::trt_layer_reset_precision(self.layer_raw(index)?) })
    }

    /// Constrains the type of a layer's output.
    pub fn set_output_type(&mut self, index: usize, output: usize, dtype: DataType) -> Result<()> {
        // SAFETY: a layer of this live network, as in `set_layer_precision`; the shim checks
        // `output` against the layer's output count.
        ffi::check(unsafe {
            sys::trt_layer_set_output_type(
                self.layer_raw(index)?,
                c_index(output, "output")?,
                dtype.to_raw(),
            )
        })
    }

    /// Removes an output-type constraint.
    pub fn reset_output_type(&mut self, index: usize, output: usize) -> Result<()> {
        // SAFETY: a layer of this live network, as in `set_layer_precision`; the shim checks
        // `output` against the layer's output count.
        ffi::check(unsafe {
            sys::trt_layer_reset_output_type(self.layer_raw(index)?, c_index(output, "output")?)
        })
    }

    /// Strict mode's output type on layer `index`, remembered so a later plan can clear it.
    pub(crate) fn set_strict_output_type(
        &mut self,
        index: usize,
        output: usize,
        dtype: DataType,
    ) -> Result<()> {
        self.set_output_type(index, output, dtype)?;
        self.strict_outputs.insert(index);
        Ok(())
    }

    /// Whether strict mode set output types on layer `index` that are still in place.
    pub(crate) fn has_strict_output_types(&self, index: usize) -> bool {
        self.strict_outputs.contains(&index)
    }

    /// Resets every output type of layer `index` (`outputs` of them).
    pub(crate) fn reset_output_types(&mut self, index: usize, outputs: usize) -> Result<()> {
        for o in 0..outputs {
            self.reset_output_type(index, o)?;
        }
        self.strict_outputs.remove(&index);
        Ok(())
    }

    /// The tensor named `name`: a network input or a layer output.
    fn find_tensor(&self, name: &str) -> Result<Option<*mut sys::trt_tensor>> {
        for i in 0..out!(sys::trt_network_nb_inputs, self.raw.as_ptr(); i32)? {
            let t = out!(sys::trt_network_input, self.raw.as_ptr(), i; *mut sys::trt_tensor)?;
            if ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?) == name {
                return Ok(Some(t));
            }
        }
        for l in 0..self.layer_count()? {
            let layer = self.layer_raw(l)?;
            for o in 0..out!(sys::trt_layer_nb_outputs, layer; i32)? {
                let t = out!(sys::trt_layer_output, layer, o; *mut sys::trt_tensor)?;
                if ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?) == name {
                    return Ok(Some(t));
                }
            }
        }
        Ok(None)
    }

    /// The tensor named `name`, or [`Error::UnknownTensor`] listing the network's tensors.
    fn tensor_named(&self, name: &str) -> Result<*mut sys::trt_tensor> {
        if let Some(t) = self.find_tensor(name)? {
            return Ok(t);
        }
        let mut known: Vec<String> = self.inputs()?.into_iter().map(|t| t.name).collect();
        for l in self.layers()? {
            known.extend(l.outputs.into_iter().map(|(n, _)| n));
        }
        Err(Error::UnknownTensor {
            name: name.into(),
            what: "network",
            known,
        })
    }

    /// Marks the tensor `name` as a network output (appended to [`Network::outputs`]), so an
    /// engine built from the network hands it back. Fails for an unknown tensor or one that is
    /// already an output. [`Network::unmark_output`] undoes it.
    pub fn mark_output(&mut self, name: &str) -> Result<()> {
        let t = self.tensor_named(name)?;
        // SAFETY: `t` is a tensor of this live network (found in its inputs or layer outputs,
        // owned by it); `&mut self` keeps the network alive and unshared for the call.
        ffi::check(unsafe { sys::trt_network_mark_output(self.raw.as_ptr(), t) })
    }

    /// Takes the output mark off the tensor `name` (the tensor stays in the network). Fails for
    /// an unknown tensor or one that is not an output.
    pub fn unmark_output(&mut self, name: &str) -> Result<()> {
        let t = self.tensor_named(name)?;
        // SAFETY: as in `mark_output`: a tensor of this live network, which `&mut self` holds.
        ffi::check(unsafe { sys::trt_network_unmark_output(self.raw.as_ptr(), t) })
    }

    /// Tensors given a dynamic range through [`Network::set_dynamic_range`].
    pub fn ranged_tensors(&self) -> &std::collections::HashSet<String> {
        &self.ranged
    }

    /// Sets a tensor's INT8 dynamic range by name (explicit ranges instead of calibration).
    pub fn set_dynamic_range(&mut self, tensor: &str, min: f32, max: f32) -> Result<()> {
        for l in 0..self.layer_count()? {
            let layer = self.layer_raw(l)?;
            let n = out!(sys::trt_layer_nb_outputs, layer; i32)?;
            for o in 0..n {
                let t = out!(sys::trt_layer_output, layer, o; *mut sys::trt_tensor)?;
                if ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?) == tensor {
                    // SAFETY: `t` is an output tensor of a layer of this live network.
                    ffi::check(unsafe { sys::trt_tensor_set_dynamic_range(t, min, max) })?;
                    self.ranged.insert(tensor.to_string());
                    return Ok(());
                }
            }
        }
        for i in 0..out!(sys::trt_network_nb_inputs, self.raw.as_ptr(); i32)? {
            let t = out!(sys::trt_network_input, self.raw.as_ptr(), i; *mut sys::trt_tensor)?;
            if ffi::string(out!(sys::trt_tensor_name, t; *const std::ffi::c_char)?) == tensor {
                // SAFETY: `t` is an input tensor of this live network, owned by it.
                ffi::check(unsafe { sys::trt_tensor_set_dynamic_range(t, min, max) })?;
                self.ranged.insert(tensor.to_string());
                return Ok(());
            }
        }
        let mut known: Vec<String> = self.inputs()?.into_iter().map(|t| t.name).collect();
        for l in self.layers()? {
            known.extend(l.outputs.into_iter().map(|(n, _)| n));
        }
        Err(Error::UnknownTensor {
            name: tensor.into(),
            what: "network",
            known,
        })
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

pub(crate) enum OnnxModel<'a> {
    File(&'a std::path::Path),
    Bytes(&'a [u8], &'a str),
}

impl OnnxModel<'_> {
    fn label(&self) -> String {
        match self {
            OnnxModel::File(p) => p.display().to_string(),
            OnnxModel::Bytes(_, label) => label.to_string(),
        }
    }
}

/// An index as the shim takes it: a number past `i32::MAX` is an error, never wrapped onto
/// another layer or output.
fn c_index(index: usize, what: &str) -> Result<i32> {
    i32::try_from(index)
        .map_err(|_| Error::Invalid(format!("{what} index {index} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marking_outputs_refuses_null_handles_without_tensorrt() {
        for (f, name) in [
            (
                sys::trt_network_mark_output as unsafe extern "C" fn(_, _) -> _,
                "trt_network_mark_output",
            ),
            (sys::trt_network_unmark_output, "trt_network_unmark_output"),
        ] {
            // SAFETY: the shim checks both pointers before touching TensorRT; null is refused.
            let e = ffi::check(unsafe { f(std::ptr::null_mut(), std::ptr::null_mut()) })
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("{name}: argument `network` is null")),
                "{e}"
            );
        }
    }

    #[test]
    fn indices_past_i32_are_refused_not_wrapped() {
        assert_eq!(c_index(7, "layer").unwrap(), 7);
        let e = c_index((1usize << 32) + 1, "layer")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "layer index 4294967297 is out of range");
    }
}
