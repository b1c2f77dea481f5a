//! `trt run`: run an engine on .npy inputs of any element type the engine takes, write the
//! outputs in their own types, and time it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, ReadableElement, WriteNpyExt};
use serde::Serialize;
use trt::cudarc::driver::sys::CUevent_flags;
use trt::cudarc::driver::CudaSlice;
use trt::half::f16;
use trt::{dtype_name, DataType, HostTensor};

use crate::common;
use crate::exit::Outcome;

/// Run an engine on .npy inputs, write each output as `<name>.npy`, and optionally time it.
///
/// Inputs may be float32, float16, int32, int64, int8, uint8 or bool, as the engine's input
/// takes them: int64 data feeds an int32 input after a range check (TensorRT 8.5 has no int64
/// I/O); float64 is refused (save it as float32). Inputs not given get seeded values in their
/// own type (see --seed). Outputs are written in their own type.
///
/// Timing uses device buffers bound once (no host copies in the loop): wall time per
/// enqueue + synchronize, and GPU time from CUDA events recorded around the enqueue.
/// Needs TensorRT and a GPU.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    trt run model.engine --input image=batch.npy --output-dir out/\n  \
    trt run model.engine --input image=batch.npy --iterations 200 --warmup 20\n  \
    trt run bert.engine --input input_ids=ids.npy --input attention_mask=mask.npy --device 1\n  \
    trt run model.engine --iterations 100 --seed 7 --json")]
pub struct RunArgs {
    /// The engine file.
    pub engine: PathBuf,
    /// An input: NAME=FILE.npy (with the batch dimension). Repeat for each input; inputs not
    /// given get seeded values.
    #[arg(long = "input", value_name = "NAME=FILE.npy", value_parser = parse_input)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Seed of the inputs not given with --input: floats uniform in [-1, 1), integers in
    /// 0..16, bools 0/1; dynamic inputs take profile 0's opt shape.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Where to write `<output>.npy` (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Timed runs (0: just run once and write the outputs).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub iterations: usize,
    /// Untimed runs before timing.
    #[arg(long, value_name = "K", default_value_t = 10)]
    pub warmup: usize,
    /// CUDA device (checked against the device count).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Print JSON: {inputs: [{name, dtype, shape, file, seeded}], outputs: [{name, dtype, shape, file}], timing: {...}}.
    #[arg(long)]
    pub json: bool,
}

fn parse_input(s: &str) -> std::result::Result<(String, PathBuf), String> {
    let (n, p) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected NAME=FILE.npy"))?;
    if n.is_empty() || p.is_empty() {
        return Err(format!("`{s}`: expected NAME=FILE.npy"));
    }
    Ok((n.to_string(), PathBuf::from(p)))
}

/// Latency statistics in milliseconds.
#[derive(Serialize, Debug, PartialEq)]
pub struct Timing {
    pub iterations: usize,
    pub batch: usize,
    pub wall_median_ms: f64,
    pub wall_p90_ms: f64,
    pub wall_p99_ms: f64,
    pub gpu_median_ms: f64,
    pub gpu_p90_ms: f64,
    pub gpu_p99_ms: f64,
    /// Samples per second (batch / mean wall time per iteration).
    pub throughput: f64,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn timing(mut wall: Vec<f64>, mut gpu: Vec<f64>, batch: usize) -> Timing {
    wall.sort_by(f64::total_cmp);
    gpu.sort_by(f64::total_cmp);
    let mean = wall.iter().sum::<f64>() / wall.len().max(1) as f64;
    Timing {
        iterations: wall.len(),
        batch,
        wall_median_ms: percentile(&wall, 50.0),
        wall_p90_ms: percentile(&wall, 90.0),
        wall_p99_ms: percentile(&wall, 99.0),
        gpu_median_ms: percentile(&gpu, 50.0),
        gpu_p90_ms: percentile(&gpu, 90.0),
        gpu_p99_ms: percentile(&gpu, 99.0),
        throughput: if mean > 0.0 {
            batch as f64 * 1000.0 / mean
        } else {
            0.0
        },
    }
}

/// The element types `trt run` reads and writes.
const TYPES: &str = "float32, float16, int32, int64, int8, uint8, bool";

/// The descriptor of a .npy file (`<f4`, `|b1`...) and where it starts in `bytes`.
fn npy_descr(bytes: &[u8]) -> Result<(usize, String)> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("not a .npy file (no \\x93NUMPY magic)");
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => bail!("unsupported .npy version {v}"),
    };
    let header = bytes
        .get(start..start + len)
        .context("truncated .npy header")?;
    let header = std::str::from_utf8(header).context(".npy header is not text")?;
    let key = header
        .find("'descr'")
        .or_else(|| header.find("\"descr\""))
        .context(".npy header has no descr")?;
    let rest = &header[key + 7..];
    let value = rest
        .trim_start()
        .strip_prefix(':')
        .context(".npy header: descr has no value")?;
    let value_at = key + 7 + (rest.len() - value.trim_start().len());
    let value = value.trim_start();
    let quote = value.chars().next().filter(|c| *c == '\'' || *c == '"');
    let Some(quote) = quote else {
        bail!("structured (record) .npy arrays are not supported");
    };
    let end = value[1..]
        .find(quote)
        .context(".npy header: unterminated descr")?;
    Ok((start + value_at + 1, value[1..1 + end].to_string()))
}

fn read_as<T: ReadableElement>(bytes: &[u8]) -> Result<ArrayD<T>> {
    Ok(ArrayD::<T>::read_npy(bytes)?)
}

/// Reads a .npy array of any type `trt run` takes, in standard layout.
fn read_npy_any(path: &Path) -> Result<HostTensor> {
    let mut bytes =
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let read = |bytes: &mut Vec<u8>| -> Result<HostTensor> {
        let (at, descr) = npy_descr(bytes)?;
        Ok(match descr.trim_start_matches(['<', '>', '|', '=']) {
            "f4" => read_as::<f32>(bytes)?.into(),
            "f2" => {
                // ndarray-npy has no f16: read the bits as u16 (the descriptors have one length).
                let f = at + descr.find('f').expect("matched f2");
                bytes[f] = b'u';
                HostTensor::F16(read_as::<u16>(bytes)?.mapv(f16::from_bits))
            }
            "i4" => read_as::<i32>(bytes)?.into(),
            "i8" => read_as::<i64>(bytes)?.into(),
            "i1" => read_as::<i8>(bytes)?.into(),
            "u1" => read_as::<u8>(bytes)?.into(),
            "b1" => read_as::<bool>(bytes)?.into(),
            "f8" => bail!(
                "float64 data: trt run takes {TYPES}; save it as float32 (x.astype(np.float32))"
            ),
            _ => bail!("element type `{descr}` is not one trt run takes ({TYPES})"),
        })
    };
    let tensor = read(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(tensor.into_standard_layout())
}

/// Writes a tensor as .npy in its own element type.
fn write_npy_any(path: &Path, tensor: &HostTensor) -> Result<()> {
    let mut bytes = Vec::new();
    match tensor {
        HostTensor::F32(a) => a.write_npy(&mut bytes)?,
        HostTensor::F16(a) => {
            a.mapv(f16::to_bits).write_npy(&mut bytes)?;
            let (at, descr) = npy_descr(&bytes)?;
            let u = at + descr.find('u').context("u2 descriptor")?;
            bytes[u] = b'f';
        }
        HostTensor::I32(a) => a.write_npy(&mut bytes)?,
        HostTensor::I64(a) => a.write_npy(&mut bytes)?,
        HostTensor::I8(a) => a.write_npy(&mut bytes)?,
        HostTensor::U8(a) => a.write_npy(&mut bytes)?,
        HostTensor::Bool(a) => a.write_npy(&mut bytes)?,
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// File data for engine input `name` of type `engine`, in that type: refused with a message
/// naming the input, the file, both types and what the input takes; int64 into int32 is
/// range-checked.
fn fit_input(name: &str, file: &Path, tensor: HostTensor, engine: DataType) -> Result<HostTensor> {
    if !HostTensor::can_feed(tensor.dtype(), engine) {
        let takes: Vec<&str> = [
            DataType::Float,
            DataType::Half,
            DataType::Int32,
            DataType::Int64,
            DataType::Int8,
            DataType::Uint8,
            DataType::Bool,
        ]
        .into_iter()
        .filter(|&h| HostTensor::can_feed(h, engine))
        .map(dtype_name)
        .collect();
        let takes = if takes.is_empty() {
            "no host type trt run has".to_string()
        } else {
            takes.join(" or ")
        };
        bail!(
            "input `{name}`: {} holds {} data, the engine's input is {} (it takes {takes})",
            file.display(),
            dtype_name(tensor.dtype()),
            dtype_name(engine),
        );
    }
    tensor
        .convert_for(name, engine)
        .with_context(|| format!("input `{name}` from {}", file.display()))
}

#[derive(Serialize)]
struct InputInfo {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    file: Option<PathBuf>,
    seeded: bool,
}

#[derive(Serialize)]
struct OutputFile {
    name: String,
    dtype: &'static str,
    shape: Vec<usize>,
    file: PathBuf,
}

pub fn run(args: RunArgs, out: &mut dyn Write) -> Result<Outcome> {
    for (k, (name, _)) in args.inputs.iter().enumerate() {
        if args.inputs[..k].iter().any(|(n, _)| n == name) {
            bail!("input `{name}` given twice");
        }
    }
    common::require_tensorrt()?;
    // The device first: a bad index is one clear error before anything is loaded.
    let runtime = trt::Runtime::on_device(args.device)?;
    let mut files = Vec::new();
    for (name, path) in &args.inputs {
        files.push((name.as_str(), path.as_path(), read_npy_any(path)?));
    }
    let engine = runtime
        .load(&args.engine)
        .with_context(|| format!("cannot load {}", args.engine.display()))?;
    for (name, _, _) in &files {
        let t = engine.tensor(name)?;
        if t.mode != trt::IoMode::Input {
            bail!(
                "`{name}` is an output of {}, not an input",
                args.engine.display()
            );
        }
    }
    // Every input in the engine's order: from its file, in the input's type, or seeded.
    let seeded = engine.seeded_inputs(args.seed)?;
    let mut inputs: Vec<(String, HostTensor)> = Vec::new();
    let mut input_info = Vec::new();
    for ((name, seeded), t) in seeded.into_iter().zip(engine.inputs()) {
        let (tensor, file) = match files.iter().position(|(n, _, _)| *n == name) {
            Some(k) => {
                let (_, path, tensor) = files.swap_remove(k);
                (fit_input(&name, path, tensor, t.dtype)?, Some(path))
            }
            None => (seeded, None),
        };
        input_info.push(InputInfo {
            name: name.clone(),
            dtype: dtype_name(tensor.dtype()),
            shape: tensor.shape().to_vec(),
            file: file.map(Path::to_path_buf),
            seeded: file.is_none(),
        });
        inputs.push((name, tensor.into_standard_layout()));
    }
    let stream = runtime.cuda_context().new_stream()?;
    let mut context = engine.create_context(stream.clone())?;

    let views: Vec<(&str, trt::HostTensorView<'_>)> =
        inputs.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let outputs = context.run(&views)?;
    let dir = args
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, tensor) in &outputs {
        let file = dir.join(common::tensor_file_name(name));
        write_npy_any(&file, tensor)?;
        written.push(OutputFile {
            name: name.clone(),
            dtype: dtype_name(tensor.dtype()),
            shape: tensor.shape().to_vec(),
            file,
        });
    }

    let mut timed = None;
    if args.iterations > 0 {
        // Device buffers bound once: the loop measures the engine, not host copies. The
        // inputs are already in the engines' types (converted above), so bytes are enough.
        let mut device_inputs: Vec<(&str, CudaSlice<u8>)> = Vec::new();
        for (name, tensor) in &inputs {
            let bytes = tensor.as_bytes().expect("standard layout");
            device_inputs.push((name.as_str(), stream.clone_htod(bytes)?));
        }
        let mut device_outputs: Vec<(String, CudaSlice<u8>)> = Vec::new();
        for t in engine.outputs() {
            let shape = context.tensor_shape(&t.name)?;
            let n = shape.iter().product::<usize>() * t.dtype.size();
            device_outputs.push((t.name.clone(), stream.alloc_zeros::<u8>(n.max(1))?));
        }
        let mut bound = context.bindings();
        for (name, buf) in &device_inputs {
            bound.input_bytes(name, buf)?;
        }
        for (name, buf) in &mut device_outputs {
            bound.output_bytes(name, buf)?;
        }
        for _ in 0..args.warmup {
            bound.enqueue()?;
        }
        stream.synchronize()?;
        let cuda = runtime.cuda_context();
        let start = cuda.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        let end = cuda.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        let (mut wall, mut gpu) = (
            Vec::with_capacity(args.iterations),
            Vec::with_capacity(args.iterations),
        );
        let pb = common::progress(Some(args.iterations as u64), "timing");
        for _ in 0..args.iterations {
            let t = Instant::now();
            start.record(&stream)?;
            bound.enqueue()?;
            end.record(&stream)?;
            stream.synchronize()?;
            wall.push(t.elapsed().as_secs_f64() * 1000.0);
            gpu.push(f64::from(start.elapsed_ms(&end)?));
            pb.inc(1);
        }
        pb.finish_and_clear();
        drop(bound);
        let batch = inputs
            .first()
            .and_then(|(_, a)| a.shape().first().copied())
            .unwrap_or(1);
        timed = Some(timing(wall, gpu, batch));
        drop(context);
    }

    if args.json {
        common::write_json(
            out,
            &serde_json::json!({ "inputs": input_info, "outputs": written, "timing": timed }),
        )?;
        return Ok(Outcome::Success);
    }
    let dims = |shape: &[usize]| -> String {
        let d: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        d.join("x")
    };
    for i in input_info.iter().filter(|i| i.seeded) {
        writeln!(
            out,
            "input `{}`  {} {}  <- seeded (--seed {})",
            i.name,
            i.dtype,
            dims(&i.shape),
            args.seed
        )?;
    }
    for f in &written {
        writeln!(
            out,
            "output `{}`  {} {}  -> {}",
            f.name,
            f.dtype,
            dims(&f.shape),
            f.file.display()
        )?;
    }
    if let Some(t) = timed {
        writeln!(out, "\n{} iterations, batch {}", t.iterations, t.batch)?;
        common::write_columns(
            out,
            &["", "MEDIAN ms", "P90 ms", "P99 ms"],
            &[
                vec![
                    "wall".into(),
                    format!("{:.4}", t.wall_median_ms),
                    format!("{:.4}", t.wall_p90_ms),
                    format!("{:.4}", t.wall_p99_ms),
                ],
                vec![
                    "GPU".into(),
                    format!("{:.4}", t.gpu_median_ms),
                    format!("{:.4}", t.gpu_p90_ms),
                    format!("{:.4}", t.gpu_p99_ms),
                ],
            ],
        )?;
        writeln!(out, "throughput {:.1} samples/s", t.throughput)?;
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_throughput() {
        let wall: Vec<f64> = (1..=100).map(f64::from).collect();
        let t = timing(wall.iter().rev().copied().collect(), wall.clone(), 8);
        assert_eq!(
            (t.wall_median_ms, t.wall_p90_ms, t.wall_p99_ms),
            (50.0, 90.0, 99.0)
        );
        assert_eq!(t.gpu_p99_ms, 99.0);
        // mean 50.5 ms per batch of 8.
        assert!((t.throughput - 8000.0 / 50.5).abs() < 1e-9);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(
            parse_input("image=a=b.npy").unwrap(),
            ("image".to_string(), PathBuf::from("a=b.npy"))
        );
        assert!(parse_input("image").is_err());
    }

    /// `np.save(f, np.array([[1.0, -2.5, 65504.0]], np.float16))` with numpy 2.4.
    const NUMPY_F16: &str = "934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028312c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003c00c1ff7b";
    /// `np.save(f, np.array([1.0, -2.5], np.float16).astype(">f2"))`.
    const NUMPY_F16_BIG_ENDIAN: &str = "934e554d5059010076007b276465736372273a20273e6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a3c00c100";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn h(v: f32) -> f16 {
        f16::from_f32(v)
    }

    #[test]
    fn npy_files_of_every_type_read_in_their_own_type() {
        use ndarray::{arr1, arr2, ShapeBuilder};
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        ndarray_npy::write_npy(p("f32.npy"), &arr2(&[[1.5f32, -2.0]])).unwrap();
        ndarray_npy::write_npy(p("i32.npy"), &arr2(&[[7i32, -1]])).unwrap();
        ndarray_npy::write_npy(p("i64.npy"), &arr1(&[5_000_000_000i64, -3])).unwrap();
        ndarray_npy::write_npy(p("i8.npy"), &arr1(&[-128i8, 127])).unwrap();
        ndarray_npy::write_npy(p("u8.npy"), &arr1(&[0u8, 255])).unwrap();
        ndarray_npy::write_npy(p("bool.npy"), &arr2(&[[true, false, true]])).unwrap();
        std::fs::write(p("f16.npy"), unhex(NUMPY_F16)).unwrap();
        std::fs::write(p("f16be.npy"), unhex(NUMPY_F16_BIG_ENDIAN)).unwrap();
        let cases = [
            ("f32.npy", HostTensor::from(arr2(&[[1.5f32, -2.0]]))),
            ("i32.npy", HostTensor::from(arr2(&[[7i32, -1]]))),
            ("i64.npy", HostTensor::from(arr1(&[5_000_000_000i64, -3]))),
            ("i8.npy", HostTensor::from(arr1(&[-128i8, 127]))),
            ("u8.npy", HostTensor::from(arr1(&[0u8, 255]))),
            ("bool.npy", HostTensor::from(arr2(&[[true, false, true]]))),
            (
                "f16.npy",
                HostTensor::from(arr2(&[[h(1.0), h(-2.5), h(65504.0)]])),
            ),
            ("f16be.npy", HostTensor::from(arr1(&[h(1.0), h(-2.5)]))),
        ];
        for (file, want) in cases {
            assert_eq!(read_npy_any(&p(file)).unwrap(), want, "{file}");
        }
        // Fortran-order files come back in standard layout (ready for byte copies).
        let f = ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 2]).f(), vec![1i32, 3, 2, 4]).unwrap();
        ndarray_npy::write_npy(p("fortran.npy"), &f).unwrap();
        let t = read_npy_any(&p("fortran.npy")).unwrap();
        assert_eq!(t.as_bytes().unwrap().len(), 16);
        assert_eq!(t, HostTensor::from(arr2(&[[1i32, 2], [3, 4]])));
    }

    #[test]
    fn outputs_are_written_in_their_own_type() {
        use ndarray::{arr1, arr2};
        let dir = tempfile::tempdir().unwrap();
        let f16s = HostTensor::from(arr2(&[[h(1.0), h(-2.5), h(65504.0)]]));
        write_npy_any(&dir.path().join("y.npy"), &f16s).unwrap();
        // numpy's descriptor and numpy's data bytes (the headers differ only in spacing).
        let written = std::fs::read(dir.path().join("y.npy")).unwrap();
        let numpy = unhex(NUMPY_F16);
        assert_eq!(npy_descr(&written).unwrap().1, "<f2");
        assert_eq!(written.len(), numpy.len());
        assert_eq!(written[written.len() - 6..], numpy[numpy.len() - 6..]);
        for t in [
            HostTensor::from(arr1(&[1.25f32, -0.5])),
            HostTensor::from(arr2(&[[2i32, -9]])),
            HostTensor::from(arr1(&[i64::MAX])),
            HostTensor::from(arr1(&[-5i8])),
            HostTensor::from(arr1(&[200u8])),
            HostTensor::from(arr1(&[false, true])),
            f16s,
        ] {
            let file = dir.path().join("t.npy");
            write_npy_any(&file, &t).unwrap();
            assert_eq!(read_npy_any(&file).unwrap(), t);
        }
        let bools = std::fs::read(dir.path().join("t.npy")).unwrap();
        assert!(npy_descr(&bools).is_ok());
        let i32s = dir.path().join("i.npy");
        write_npy_any(&i32s, &HostTensor::from(arr1(&[1i32]))).unwrap();
        assert_eq!(npy_descr(&std::fs::read(&i32s).unwrap()).unwrap().1, "<i4");
    }

    #[test]
    fn unsupported_npy_files_are_refused_with_the_fix() {
        use ndarray::arr1;
        let dir = tempfile::tempdir().unwrap();
        let f64s = dir.path().join("x64.npy");
        ndarray_npy::write_npy(&f64s, &arr1(&[1.0f64])).unwrap();
        let err = format!("{:#}", read_npy_any(&f64s).unwrap_err());
        assert_eq!(
            err,
            format!(
                "cannot read {}: float64 data: trt run takes float32, float16, int32, int64, int8, uint8, bool; save it as float32 (x.astype(np.float32))",
                f64s.display()
            )
        );
        let u32s = dir.path().join("u32.npy");
        ndarray_npy::write_npy(&u32s, &arr1(&[1u32])).unwrap();
        let err = format!("{:#}", read_npy_any(&u32s).unwrap_err());
        assert!(
            err.ends_with("element type `<u4` is not one trt run takes (float32, float16, int32, int64, int8, uint8, bool)"),
            "{err}"
        );
        let text = dir.path().join("x.npy");
        std::fs::write(&text, "1,2,3\n").unwrap();
        let err = format!("{:#}", read_npy_any(&text).unwrap_err());
        assert!(
            err.ends_with("not a .npy file (no \\x93NUMPY magic)"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            read_npy_any(&dir.path().join("none.npy")).unwrap_err()
        );
        assert!(err.starts_with("cannot read "), "{err}");
    }

    #[test]
    fn file_types_are_fitted_to_the_engine_input() {
        use ndarray::arr2;
        let file = Path::new("ids.npy");
        let f32s = HostTensor::from(arr2(&[[1.0f32, 2.0]]));
        let err = fit_input("ids", file, f32s.clone(), DataType::Int32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `ids`: ids.npy holds float32 data, the engine's input is int32 (it takes int32 or int64)"
        );
        let err = fit_input("image", file, f32s.clone(), DataType::Half).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `image`: ids.npy holds float32 data, the engine's input is float16 (it takes float16)"
        );
        let err = fit_input("q", file, f32s.clone(), DataType::Fp8).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("(it takes no host type trt run has)"),
            "{err}"
        );
        assert_eq!(
            fit_input("x", file, f32s.clone(), DataType::Float).unwrap(),
            f32s
        );
        let ids = HostTensor::from(arr2(&[[1i64, -2], [3, 2_147_483_647]]));
        assert_eq!(
            fit_input("ids", file, ids, DataType::Int32).unwrap(),
            HostTensor::from(arr2(&[[1i32, -2], [3, i32::MAX]]))
        );
        let big = HostTensor::from(arr2(&[[1i64, 3_000_000_000]]));
        let err = format!(
            "{:#}",
            fit_input("ids", file, big, DataType::Int32).unwrap_err()
        );
        assert_eq!(
            err,
            "input `ids` from ids.npy: tensor `ids`: int64 value 3000000000 at index [0, 1] does not fit the engine's int32 input (-2147483648..=2147483647)"
        );
    }
}
