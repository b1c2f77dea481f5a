//! The simple path: typed host arrays in, typed host arrays out, device buffers reused.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use ndarray::{ArrayD, IxDyn};

use super::bindings::Bindings;
use super::context::{context_shape, ExecutionContext};
use super::io::{check_declared, io_index, IoMode, IoTensor};
use crate::error::{Error, Result};
use crate::network::DataType;
use crate::tensor::{self, dtype_name, Feed, HostTensor, HostTensorView, Pod};

impl ExecutionContext {
    /// The simple path: typed host inputs by name in, typed host outputs out (synchronous:
    /// returns when the outputs are on the host), in the engine's output order.
    ///
    /// Before anything is copied, checks that every input is given once, with an element type
    /// the input takes (the same; int64 for an int32 input, range-checked; int32 for an int64
    /// input) and a shape the engine accepts, and that every output has a host type. Device
    /// buffers are kept and reused by the next call.
    ///
    /// ```no_run
    /// # fn f(ctx: &mut trt::ExecutionContext) -> trt::Result<()> {
    /// use ndarray::{ArrayD, IxDyn};
    /// use trt::HostTensorView;
    /// let image = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 8, 8]));
    /// let ids = ndarray::arr2(&[[1i64, 2, 3, 4], [5, 6, 7, 8]]); // int64 into an int32 input
    /// let outputs = ctx.run(&[
    ///     ("image", HostTensorView::from(&image)),
    ///     ("ids", HostTensorView::from(&ids)),
    /// ])?;
    /// let logits: &ArrayD<f32> = outputs[0].1.as_array().expect("f32 logits");
    /// // One f32 input: no conversion needed.
    /// let outputs = ctx.run(&[("image", image.view())])?;
    /// # Ok(()) }
    /// ```
    pub fn run<'v, V>(&mut self, inputs: &[(&str, V)]) -> Result<Vec<(String, HostTensor)>>
    where
        V: Clone + Into<HostTensorView<'v>>,
    {
        let engine = self.engine.clone();
        let io = engine.io_tensors();
        // 1. Every check, before any conversion or copy.
        let given = check_inputs(io, inputs)?;
        // 2. Conversions (range checks) into the reused host staging buffers.
        self.stage(io, &given)?;
        // 3. Shapes, then host-to-device copies into the reused device buffers.
        let shapes = self.upload(io, &given)?;
        // 4. Bind the context's own buffers and enqueue.
        self.enqueue_own_buffers()?;
        // 5. Device-to-host copies, one synchronization, typed arrays.
        self.download_outputs(io, &shapes)
    }

    /// Converts the inputs that need it (int64 to int32, range-checked; int32 to int64) into
    /// their staging buffers.
    fn stage(&mut self, io: &[IoTensor], given: &[Given<'_>]) -> Result<()> {
        for (i, g) in given.iter().enumerate() {
            let staging = &mut self.staging[i];
            staging.clear();
            match g {
                Some((HostTensorView::I64(a), Feed::NarrowI64)) => {
                    tensor::narrow_i64(&io[i].name, a, staging)?
                }
                Some((HostTensorView::I32(a), Feed::WidenI32)) => tensor::widen_i32(a, staging),
                _ => {}
            }
        }
        Ok(())
    }

    /// Sets every input's shape and copies it to its device buffer, then sizes the output
    /// buffers; returns every I/O tensor's shape in the context.
    fn upload(&mut self, io: &[IoTensor], given: &[Given<'_>]) -> Result<Vec<Vec<usize>>> {
        for (i, g) in given.iter().enumerate() {
            let Some((view, feed)) = g else { continue };
            self.set_input_shape_at(i, view.shape())?;
            let stream = self.stream.clone();
            let n = view.len() * io[i].dtype.size();
            let buf = buffer(&stream, &mut self.buffers[i], n)?;
            match feed {
                Feed::Copy => view.with_bytes(|bytes| stream.memcpy_htod(bytes, buf))?,
                Feed::NarrowI64 | Feed::WidenI32 => {
                    stream.memcpy_htod(self.staging[i].as_slice(), buf)?
                }
            }
        }
        let mut shapes = Vec::with_capacity(io.len());
        for (i, t) in io.iter().enumerate() {
            let shape = context_shape(&self.raw, &self.engine.inner.names[i], &t.name)?;
            if t.mode == IoMode::Output {
                let n = shape.iter().product::<usize>() * t.dtype.size();
                buffer(&self.stream, &mut self.buffers[i], n)?;
            }
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// Binds the context's own device buffers (all allocated by `upload`) and enqueues.
    fn enqueue_own_buffers(&mut self) -> Result<()> {
        let mut b = Bindings::new(&self.raw, &self.engine, &self.stream);
        for (i, slot) in self.buffers.iter_mut().enumerate() {
            let buf = slot.as_mut().expect("allocated by upload");
            match self.engine.inner.io[i].mode {
                IoMode::Input => b.bind_read(i, buf)?,
                IoMode::Output => b.bind_write(i, buf)?,
            }
        }
        b.enqueue()
    }

    /// Copies every output back (one synchronization) into a typed array of its `shapes` entry.
    fn download_outputs(
        &mut self,
        io: &[IoTensor],
        shapes: &[Vec<usize>],
    ) -> Result<Vec<(String, HostTensor)>> {
        let mut downloads = Vec::new();
        for (i, t) in io.iter().enumerate() {
            if t.mode == IoMode::Output {
                let buf = self.buffers[i].as_ref().expect("allocated by upload");
                let n = shapes[i].iter().product::<usize>();
                downloads.push((i, download(&self.stream, buf, t.dtype, n)?));
            }
        }
        self.stream.synchronize()?;
        downloads
            .into_iter()
            .map(|(i, values)| {
                let name = io[i].name.clone();
                let tensor = values.into_tensor(&shapes[i]).map_err(|e| Error::Shape {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
                Ok((name, tensor))
            })
            .collect()
    }
}

/// One input as `run` received it and how it feeds the engine; `None` for outputs.
type Given<'v> = Option<(HostTensorView<'v>, Feed)>;

/// Checks `run`'s inputs against the engine's I/O tensors `io`: each known, an input, given
/// once, of a type and shape it takes; every input given; every output with a host type.
fn check_inputs<'v, V>(io: &[IoTensor], inputs: &[(&str, V)]) -> Result<Vec<Given<'v>>>
where
    V: Clone + Into<HostTensorView<'v>>,
{
    let mut given: Vec<Given<'v>> = vec![None; io.len()];
    for (name, view) in inputs {
        let i = io_index(io, name, IoMode::Input)?;
        if given[i].is_some() {
            return Err(Error::Shape {
                name: name.to_string(),
                message: "input given twice".into(),
            });
        }
        let view: HostTensorView<'v> = view.clone().into();
        let feed = tensor::feed(view.dtype(), io[i].dtype)
            .ok_or_else(|| tensor::mismatch(name, view.dtype(), io[i].dtype))?;
        check_declared(&io[i], view.shape())?;
        given[i] = Some((view, feed));
    }
    for (t, g) in io.iter().zip(&given) {
        match t.mode {
            IoMode::Input if g.is_none() => {
                return Err(Error::Shape {
                    name: t.name.clone(),
                    message: "input not given".into(),
                })
            }
            IoMode::Output if !tensor::host_type(t.dtype) => {
                return Err(Error::Shape {
                    name: t.name.clone(),
                    message: format!(
                        "output type {} has no host type in run(): bind device buffers instead",
                        dtype_name(t.dtype)
                    ),
                })
            }
            _ => {}
        }
    }
    Ok(given)
}

/// `slot`'s buffer, (re)allocated on `stream` when it holds fewer than `bytes`.
fn buffer<'b>(
    stream: &Arc<CudaStream>,
    slot: &'b mut Option<CudaSlice<u8>>,
    bytes: usize,
) -> Result<&'b mut CudaSlice<u8>> {
    if slot.as_ref().is_none_or(|b| b.len() < bytes) {
        *slot = Some(stream.alloc_zeros::<u8>(bytes.max(1))?);
    }
    Ok(slot.as_mut().expect("allocated above"))
}

/// Output values copied to the host, before they get their shape.
enum Download {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    /// Bytes, checked to be 0 or 1 only once the copy is complete.
    Bool(Vec<u8>),
}

impl Download {
    fn into_tensor(self, shape: &[usize]) -> std::result::Result<HostTensor, ndarray::ShapeError> {
        let shape = IxDyn(shape);
        Ok(match self {
            Download::F32(v) => HostTensor::F32(ArrayD::from_shape_vec(shape, v)?),
            Download::F16(v) => HostTensor::F16(ArrayD::from_shape_vec(shape, v)?),
            Download::I32(v) => HostTensor::I32(ArrayD::from_shape_vec(shape, v)?),
            Download::I64(v) => HostTensor::I64(ArrayD::from_shape_vec(shape, v)?),
            Download::I8(v) => HostTensor::I8(ArrayD::from_shape_vec(shape, v)?),
            Download::U8(v) => HostTensor::U8(ArrayD::from_shape_vec(shape, v)?),
            Download::Bool(v) => HostTensor::Bool(ArrayD::from_shape_vec(
                shape,
                v.into_iter().map(|b| b != 0).collect(),
            )?),
        })
    }
}

/// Copies the first `n` elements of type `dtype` of `buf` into a host vector of that type.
fn download(
    stream: &Arc<CudaStream>,
    buf: &CudaSlice<u8>,
    dtype: DataType,
    n: usize,
) -> Result<Download> {
    fn typed<T: Pod>(stream: &Arc<CudaStream>, buf: &CudaSlice<u8>, n: usize) -> Result<Vec<T>> {
        let mut v = vec![T::default(); n];
        let bytes = tensor::slice_bytes_mut(&mut v);
        stream.memcpy_dtoh(&buf.slice(0..bytes.len()), bytes)?;
        Ok(v)
    }
    Ok(match dtype {
        DataType::Float => Download::F32(typed(stream, buf, n)?),
        DataType::Half => Download::F16(typed(stream, buf, n)?),
        DataType::Int32 => Download::I32(typed(stream, buf, n)?),
        DataType::Int64 => Download::I64(typed(stream, buf, n)?),
        DataType::Int8 => Download::I8(typed(stream, buf, n)?),
        DataType::Uint8 => Download::U8(typed(stream, buf, n)?),
        DataType::Bool => Download::Bool(typed(stream, buf, n)?),
        other => {
            return Err(Error::Invalid(format!(
                "output type {} has no host type in run()",
                dtype_name(other)
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    fn io(name: &str, mode: IoMode, shape: &[i64], dtype: DataType) -> IoTensor {
        IoTensor {
            name: name.into(),
            mode,
            shape: shape.to_vec(),
            dtype,
        }
    }

    fn message<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn run_checks_every_input_before_copying() {
        let tensors = [
            io("ids", IoMode::Input, &[-1, 2], DataType::Int32),
            io("x", IoMode::Input, &[1, 2], DataType::Float),
            io("y", IoMode::Output, &[-1, 2], DataType::Float),
        ];
        let ids = arr2(&[[1i64, 2], [3, 4]]);
        let x = arr2(&[[0.5f32, 1.5]]);
        let ok = check_inputs(
            &tensors,
            &[("x", HostTensorView::from(&x)), ("ids", (&ids).into())],
        )
        .unwrap();
        assert!(matches!(
            ok[0],
            Some((HostTensorView::I64(_), Feed::NarrowI64))
        ));
        assert!(matches!(ok[1], Some((HostTensorView::F32(_), Feed::Copy))));
        assert!(ok[2].is_none());

        let twice = [("x", HostTensorView::from(&x)), ("x", (&x).into())];
        assert_eq!(
            message(check_inputs(&tensors, &twice)),
            "tensor `x`: input given twice"
        );
        assert_eq!(
            message(check_inputs(&tensors, &[("x", HostTensorView::from(&x))])),
            "tensor `ids`: input not given"
        );
        assert_eq!(
            message(check_inputs(&tensors, &[("y", HostTensorView::from(&x))])),
            "tensor `y`: is not an Input tensor"
        );
        let wrong = [("x", HostTensorView::from(&ids)), ("ids", (&ids).into())];
        assert_eq!(
            message(check_inputs(&tensors, &wrong)),
            "tensor `x`: the engine's input is float32; got int64 data (it takes float32)"
        );
        let long = arr2(&[[0.5f32, 1.5, 2.5]]);
        let shape = [("x", HostTensorView::from(&long)), ("ids", (&ids).into())];
        assert_eq!(
            message(check_inputs(&tensors, &shape)),
            "tensor `x`: shape [1, 3] does not match the engine's [1, 2]"
        );
        let fp8 = [
            io("x", IoMode::Input, &[1, 2], DataType::Float),
            io("q", IoMode::Output, &[1, 2], DataType::Fp8),
        ];
        assert_eq!(
            message(check_inputs(&fp8, &[("x", HostTensorView::from(&x))])),
            "tensor `q`: output type fp8 has no host type in run(): bind device buffers instead"
        );
    }
}
