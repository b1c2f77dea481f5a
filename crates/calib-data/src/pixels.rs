//! Decode, resample (OpenCV-exact), normalise into an f32 (or f16) slice.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::Path;

use image::DynamicImage;

use crate::error::{Error, Result};
use crate::spec::{ChannelOrder, Interpolation, Layout, Preprocess, Resize};

/// An 8-bit interleaved image with 1 or 3 channels (RGB order when 3).
pub(crate) struct U8Image<'a> {
    pub w: usize,
    pub h: usize,
    pub cn: usize,
    pub data: Cow<'a, [u8]>,
}

thread_local! {
    /// Per-thread decode buffer, reused from image to image: no zeroing or fresh pages per image.
    static DECODE_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Decode `path` and call `f` with its 8-bit pixels in the channel count `pre` wants.
/// 8-bit gray and RGB images are decoded straight into a per-thread buffer.
pub(crate) fn with_decoded<R>(
    path: &Path,
    input: &str,
    pre: &Preprocess,
    f: impl FnOnce(&U8Image<'_>) -> Result<R>,
) -> Result<R> {
    let mut buf = DECODE_BUF.take();
    let r = decode_into(path, &mut buf).and_then(|d| match d {
        Decoded::Buffer { w, h, cn } => {
            let img = U8Image {
                w,
                h,
                cn,
                data: Cow::Borrowed(&buf[..w * h * cn]),
            };
            f(&channels(img, path, input, pre)?)
        }
        Decoded::Image(img) => f(&decode_dynamic(img, path, input, pre)?),
    });
    // Keep it for the next image unless it is unusually large.
    if buf.capacity() <= 64 << 20 {
        DECODE_BUF.set(buf);
    }
    r
}

enum Decoded {
    /// 8-bit gray or RGB in the buffer.
    Buffer {
        w: usize,
        h: usize,
        cn: usize,
    },
    Image(DynamicImage),
}

fn decode_into(path: &Path, buf: &mut Vec<u8>) -> Result<Decoded> {
    use image::{ColorType, ImageDecoder};
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let err = |source| Error::Decode {
        path: path.to_path_buf(),
        source,
    };
    let reader = image::ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let is_jpeg = reader.format() == Some(image::ImageFormat::Jpeg);
    // The JPEG decoder accepts a file cut short (measured: the first 3000 bytes of a photo
    // decode to a full-size image, without an error or warning): check
    // that the data reaches its end-of-image marker (after decoding, so that data the decoder
    // rejects is reported as undecodable).
    let complete = || -> Result<()> {
        if is_jpeg {
            crate::check::jpeg_complete(&bytes).map_err(|message| Error::Truncated {
                path: path.to_path_buf(),
                message,
            })?;
        }
        Ok(())
    };
    let decoder = reader.into_decoder().map_err(err)?;
    // What `ImageReader::decode` checks before allocating (default limits).
    image::Limits::default()
        .reserve(decoder.total_bytes())
        .map_err(err)?;
    let (w, h) = decoder.dimensions();
    let cn = match decoder.color_type() {
        ColorType::L8 => 1,
        ColorType::Rgb8 => 3,
        _ => 0,
    };
    let n = usize::try_from(decoder.total_bytes()).unwrap_or(usize::MAX);
    if cn == 0 || n != w as usize * h as usize * cn {
        let img = DynamicImage::from_decoder(decoder).map_err(err)?;
        complete()?;
        return Ok(Decoded::Image(img));
    }
    if buf.len() < n {
        buf.try_reserve(n - buf.len())
            .map_err(|e| Error::Worker(format!("{}: {e}", path.display())))?;
        buf.resize(n, 0);
    }
    decoder.read_image(&mut buf[..n]).map_err(err)?;
    complete()?;
    Ok(Decoded::Buffer {
        w: w as usize,
        h: h as usize,
        cn,
    })
}

/// Colour channels the pipeline makes of a decoded image (alpha dropped): 1 or 3.
fn dynamic_channels(img: &DynamicImage) -> usize {
    match img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => 1,
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => 3,
        other if other.color().has_color() => 3,
        _ => 1,
    }
}

/// Decode `path` completely (truncation included) and return its size and colour channels.
/// What [`Pipeline::check`](crate::Pipeline::check) does for each image; uses the same
/// per-thread buffer as the batches.
pub(crate) fn probe(path: &Path) -> Result<(usize, usize, usize)> {
    let mut buf = DECODE_BUF.take();
    let r = decode_into(path, &mut buf).map(|d| match d {
        Decoded::Buffer { w, h, cn } => (w, h, cn),
        Decoded::Image(img) => (
            img.width() as usize,
            img.height() as usize,
            dynamic_channels(&img),
        ),
    });
    if buf.capacity() <= 64 << 20 {
        DECODE_BUF.set(buf);
    }
    r
}

fn decode_dynamic(
    img: DynamicImage,
    path: &Path,
    input: &str,
    pre: &Preprocess,
) -> Result<U8Image<'static>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (cn, data): (usize, Vec<u8>) = match img {
        DynamicImage::ImageLuma8(b) => (1, b.into_raw()),
        DynamicImage::ImageRgb8(b) => (3, b.into_raw()),
        DynamicImage::ImageLumaA8(b) => (1, b.into_raw().chunks_exact(2).map(|p| p[0]).collect()),
        DynamicImage::ImageRgba8(b) => (
            3,
            b.into_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
        ),
        other if other.color().has_color() => (3, other.to_rgb8().into_raw()),
        other => (1, other.to_luma8().into_raw()),
    };
    let img = channels(
        U8Image {
            w,
            h,
            cn,
            data: Cow::Owned(data),
        },
        path,
        input,
        pre,
    )?;
    Ok(U8Image {
        w: img.w,
        h: img.h,
        cn: img.cn,
        data: Cow::Owned(img.data.into_owned()),
    })
}

/// Convert to the channel count `pre` wants (or fail when it does not convert).
fn channels<'a>(
    img: U8Image<'a>,
    path: &Path,
    input: &str,
    pre: &Preprocess,
) -> Result<U8Image<'a>> {
    let U8Image { w, h, cn, data } = img;
    let want = pre.channels();
    if cn == want {
        return Ok(U8Image { w, h, cn, data });
    }
    if !pre.convert_channels {
        return Err(Error::Channels {
            path: path.to_path_buf(),
            input: input.to_string(),
            expected: want,
            found: cn,
        });
    }
    let data = if want == 3 {
        data.iter().flat_map(|&g| [g, g, g]).collect()
    } else {
        // OpenCV COLOR_RGB2GRAY for 8-bit: 14-bit fixed point 0.299/0.587/0.114.
        data.chunks_exact(3)
            .map(|p| {
                ((p[0] as u32 * 4899 + p[1] as u32 * 9617 + p[2] as u32 * 1868 + (1 << 13)) >> 14)
                    as u8
            })
            .collect()
    };
    Ok(U8Image {
        w,
        h,
        cn: want,
        data: Cow::Owned(data),
    })
}

/// Resized size and crop window (in resized coordinates): `(rw, rh, x0, y0, cw, ch)`.
pub(crate) fn geometry(
    resize: Resize,
    sw: usize,
    sh: usize,
) -> (usize, usize, usize, usize, usize, usize) {
    match resize {
        Resize::None => (sw, sh, 0, 0, sw, sh),
        Resize::Exact { width, height } => (
            width as usize,
            height as usize,
            0,
            0,
            width as usize,
            height as usize,
        ),
        Resize::ShortSideCrop {
            short_side,
            crop_width,
            crop_height,
        } => {
            let s = short_side as usize;
            let scaled = |long: usize, short: usize| {
                ((long as f64 * s as f64 / short as f64) + 0.5).floor() as usize
            };
            let (rw, rh) = if sw <= sh {
                (s, scaled(sh, sw))
            } else {
                (scaled(sw, sh), s)
            };
            let (cw, ch) = (crop_width as usize, crop_height as usize);
            (rw, rh, (rw - cw.min(rw)) / 2, (rh - ch.min(rh)) / 2, cw, ch)
        }
    }
}

/// Resample `src` to `rw` x `rh` and return the `cw` x `ch` window at `(x0, y0)`, interleaved.
/// Only the pixels inside the window are computed.
pub(crate) fn resample(
    src: &U8Image<'_>,
    interp: Interpolation,
    (rw, rh, x0, y0, cw, ch): (usize, usize, usize, usize, usize, usize),
) -> Vec<u8> {
    let cn = src.cn;
    if rw == src.w && rh == src.h {
        // cv2.resize copies when the size does not change; so do we.
        let mut out = Vec::with_capacity(cw * ch * cn);
        for y in y0..y0 + ch {
            let row = &src.data[(y * src.w + x0) * cn..(y * src.w + x0 + cw) * cn];
            out.extend_from_slice(row);
        }
        return out;
    }
    match interp {
        Interpolation::Linear => linear_cv(src, rw, rh, x0, y0, cw, ch),
        Interpolation::Nearest => nearest_cv(src, rw, rh, x0, y0, cw, ch),
        Interpolation::Antialias => antialias(src, rw, rh, x0, y0, cw, ch),
    }
}

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

/// OpenCV's `(float)((d + 0.5) * scale - 0.5)` split into integer and 11-bit weights.
fn linear_pos(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

fn weights(f: f32) -> [i32; 2] {
    [
        ((1.0 - f) * COEF_SCALE).round_ties_even() as i32,
        (f * COEF_SCALE).round_ties_even() as i32,
    ]
}

/// Bit-exact port of OpenCV's `resize(INTER_LINEAR)` for `CV_8U` (HResizeLinear / VResizeLinear
/// with `INTER_RESIZE_COEF_BITS = 11`).
fn linear_cv(
    src: &U8Image<'_>,
    rw: usize,
    rh: usize,
    x0: usize,
    y0: usize,
    cw: usize,
    ch: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(cw * ch * src.cn);
    linear_rows(src, (rw, rh, x0, y0, cw, ch), |_, row| {
        out.extend_from_slice(row)
    });
    out
}

/// One horizontal tap: output pixel = `row[o..o + cn] * a0 + row[o + cn..o + 2 cn] * a1`.
/// OpenCV's clamped right edge (`sx = sw - 1`, weights `(2048, 0)`) is stored as
/// `o = (sw - 2) * cn` with weights `(0, 2048)`: the same sum, and always two whole pixels.
#[derive(Clone, Copy)]
struct Tap {
    o: usize,
    a0: i32,
    a1: i32,
}

/// [`linear_cv`] row by row: calls `emit(oy, row)` with every interleaved 8-bit output row of
/// the window, in order. Horizontal sums are cached per source row and kept as `sum >> 4`
/// (OpenCV's VResizeLinear shifts them by 4 before the 16-bit multiply).
pub(crate) fn linear_rows(
    src: &U8Image<'_>,
    (rw, rh, x0, y0, cw, ch): (usize, usize, usize, usize, usize, usize),
    emit: impl FnMut(usize, &[u8]),
) {
    match src.cn {
        3 if src.w >= 2 => linear_rows_cn::<3>(src, rw, rh, x0, y0, cw, ch, emit),
        1 if src.w >= 2 => linear_rows_cn::<1>(src, rw, rh, x0, y0, cw, ch, emit),
        _ => linear_rows_generic(src, rw, rh, x0, y0, cw, ch, emit),
    }
}

#[allow(clippy::too_many_arguments)]
fn linear_rows_cn<const CN: usize>(
    src: &U8Image<'_>,
    rw: usize,
    rh: usize,
    x0: usize,
    y0: usize,
    cw: usize,
    ch: usize,
    mut emit: impl FnMut(usize, &[u8]),
) {
    let (sw, sh) = (src.w, src.h);
    debug_assert!(sw >= 2 && src.cn == CN);
    // cv::resize: inv_scale = dst/src, then hal::resize: scale = 1/inv_scale.
    let scale_x = 1.0 / (rw as f64 / sw as f64);
    let scale_y = 1.0 / (rh as f64 / sh as f64);
    let taps: Vec<Tap> = (x0..x0 + cw)
        .map(|dx| {
            let (mut sx, mut fx) = linear_pos(dx, scale_x);
            if sx < 0 {
                sx = 0;
                fx = 0.0;
            }
            if sx >= sw as i64 - 1 {
                // fx = 0: row[sw - 1] * 2048.
                return Tap {
                    o: (sw - 2) * CN,
                    a0: 0,
                    a1: 1 << COEF_BITS,
                };
            }
            let [a0, a1] = weights(fx);
            Tap {
                o: sx as usize * CN,
                a0,
                a1,
            }
        })
        .collect();
    let stride = sw * CN;
    let hrow = |y: usize, buf: &mut [i16]| {
        let row = &src.data[y * stride..(y + 1) * stride];
        for (d, t) in buf.chunks_exact_mut(CN).zip(&taps) {
            let p = &row[t.o..t.o + 2 * CN];
            for k in 0..CN {
                d[k] = ((p[k] as i32 * t.a0 + p[CN + k] as i32 * t.a1) >> 4) as i16;
            }
        }
    };
    let n = cw * CN;
    let mut line = vec![0u8; n];
    // Two cached horizontal rows, keyed by source row.
    let mut rows = [vec![0i16; n], vec![0i16; n]];
    let mut keys = [usize::MAX, usize::MAX];
    let clip = |y: i64| y.clamp(0, sh as i64 - 1) as usize;
    for (oy, dy) in (y0..y0 + ch).enumerate() {
        let (sy, fy) = linear_pos(dy, scale_y);
        let [b0, b1] = weights(fy);
        let (r0, r1) = (clip(sy), clip(sy + 1));
        // Reuse cached rows where possible (downscaling by < 2 shares rows between outputs).
        if keys[0] != r0 {
            if keys[1] == r0 {
                rows.swap(0, 1);
                keys.swap(0, 1);
            } else {
                hrow(r0, &mut rows[0]);
                keys[0] = r0;
            }
        }
        if keys[1] != r1 {
            if r1 == r0 {
                let (a, b) = rows.split_at_mut(1);
                b[0].copy_from_slice(&a[0]);
            } else {
                hrow(r1, &mut rows[1]);
            }
            keys[1] = r1;
        }
        vresize(&rows[0], &rows[1], b0, b1, &mut line);
        emit(oy, &line);
    }
}

/// OpenCV's VResizeLinear for 8-bit: `((b0 * s0) >> 16) + ((b1 * s1) >> 16) + 2) >> 2` with
/// 16-bit multiplies (`s = sum >> 4`, `b <= 2048`), saturated to u8.
#[inline]
fn vresize(s0: &[i16], s1: &[i16], b0: i32, b1: i32, dst: &mut [u8]) {
    let (b0, b1) = (b0 as i16, b1 as i16);
    for ((d, &x0), &x1) in dst.iter_mut().zip(s0).zip(s1) {
        let v = ((b0 as i32 * x0 as i32) >> 16) + ((b1 as i32 * x1 as i32) >> 16) + 2;
        *d = (v >> 2).clamp(0, 255) as u8;
    }
}

/// Any channel count and width (a 1-pixel-wide source has no second tap).
#[allow(clippy::too_many_arguments)]
fn linear_rows_generic(
    src: &U8Image<'_>,
    rw: usize,
    rh: usize,
    x0: usize,
    y0: usize,
    cw: usize,
    ch: usize,
    mut emit: impl FnMut(usize, &[u8]),
) {
    let (sw, sh, cn) = (src.w, src.h, src.cn);
    let scale_x = 1.0 / (rw as f64 / sw as f64);
    let scale_y = 1.0 / (rh as f64 / sh as f64);
    // Horizontal tables (per output column of the window).
    let mut xo = Vec::with_capacity(cw * 2);
    let mut xa = Vec::with_capacity(cw * 2);
    for dx in x0..x0 + cw {
        let (mut sx, mut fx) = linear_pos(dx, scale_x);
        if sx < 0 {
            sx = 0;
            fx = 0.0;
        }
        if sx >= sw as i64 - 1 {
            sx = sw as i64 - 1;
            fx = 0.0;
        }
        let sx = sx as usize;
        xo.push(sx * cn);
        xo.push((sx + 1).min(sw - 1) * cn);
        let [a0, a1] = weights(fx);
        xa.push(a0);
        xa.push(a1);
    }
    let hrow = |y: usize, buf: &mut [i16]| {
        let row = &src.data[y * sw * cn..(y + 1) * sw * cn];
        for i in 0..cw {
            let (o0, o1, a0, a1) = (xo[2 * i], xo[2 * i + 1], xa[2 * i], xa[2 * i + 1]);
            for k in 0..cn {
                buf[i * cn + k] = ((row[o0 + k] as i32 * a0 + row[o1 + k] as i32 * a1) >> 4) as i16;
            }
        }
    };
    let n = cw * cn;
    let mut line = vec![0u8; n];
    let (mut s0, mut s1) = (vec![0i16; n], vec![0i16; n]);
    let clip = |y: i64| y.clamp(0, sh as i64 - 1) as usize;
    for (oy, dy) in (y0..y0 + ch).enumerate() {
        let (sy, fy) = linear_pos(dy, scale_y);
        let [b0, b1] = weights(fy);
        hrow(clip(sy), &mut s0);
        hrow(clip(sy + 1), &mut s1);
        vresize(&s0, &s1, b0, b1, &mut line);
        emit(oy, &line);
    }
}

/// Bit-exact `cv2.INTER_NEAREST`: `min(floor(d * (1 / (dst / src))), src - 1)`.
fn nearest_cv(
    src: &U8Image<'_>,
    rw: usize,
    rh: usize,
    x0: usize,
    y0: usize,
    cw: usize,
    ch: usize,
) -> Vec<u8> {
    let (sw, sh, cn) = (src.w, src.h, src.cn);
    let ifx = 1.0 / (rw as f64 / sw as f64);
    let ify = 1.0 / (rh as f64 / sh as f64);
    let xs: Vec<usize> = (x0..x0 + cw)
        .map(|x| ((x as f64 * ifx).floor() as usize).min(sw - 1) * cn)
        .collect();
    let mut out = Vec::with_capacity(cw * ch * cn);
    for y in y0..y0 + ch {
        let sy = ((y as f64 * ify).floor() as usize).min(sh - 1);
        let row = &src.data[sy * sw * cn..(sy + 1) * sw * cn];
        for &o in &xs {
            out.extend_from_slice(&row[o..o + cn]);
        }
    }
    out
}

/// Antialiased bilinear through `fast_image_resize` (convolution, support widened on downscale).
fn antialias(
    src: &U8Image<'_>,
    rw: usize,
    rh: usize,
    x0: usize,
    y0: usize,
    cw: usize,
    ch: usize,
) -> Vec<u8> {
    use fast_image_resize::{
        images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
    };
    let pt = if src.cn == 3 {
        PixelType::U8x3
    } else {
        PixelType::U8
    };
    let fallback = || linear_cv(src, rw, rh, x0, y0, cw, ch);
    let Ok(src_img) = ImageRef::new(src.w as u32, src.h as u32, &src.data, pt) else {
        return fallback();
    };
    let mut dst = Image::new(cw as u32, ch as u32, pt);
    let (fx, fy) = (src.w as f64 / rw as f64, src.h as f64 / rh as f64);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(
            x0 as f64 * fx,
            y0 as f64 * fy,
            cw as f64 * fx,
            ch as f64 * fy,
        );
    match Resizer::new().resize(&src_img, &mut dst, &opts) {
        Ok(()) => dst.into_vec(),
        Err(e) => {
            log::warn!("fast_image_resize failed ({e}); using linear interpolation");
            fallback()
        }
    }
}

/// An output element of image preprocessing: f32, or f16 (the f32 result rounded to nearest).
pub(crate) trait Pixel: Copy + Send + Sync + 'static {
    const ZERO: Self;
    fn from_f32(v: f32) -> Self;
}
impl Pixel for f32 {
    const ZERO: Self = 0.0;
    fn from_f32(v: f32) -> Self {
        v
    }
}
impl Pixel for half::f16 {
    const ZERO: Self = half::f16::ZERO;
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
}

/// Per-channel lookup tables for `(x - mean) * scale` or `(x - mean) / std` and the output
/// channel order and layout: writes interleaved 8-bit rows into a sample's f32 (or f16) slice.
pub(crate) struct Normalizer<T: Pixel = f32> {
    cn: usize,
    /// `lut[c][v]`: output channel `c` for decoded value `v` (the same f32 arithmetic, then
    /// rounded to `T`).
    lut: Vec<[T; 256]>,
    /// Output channel `c` reads decoded channel `src_c[c]`.
    src_c: [usize; 3],
    layout: Layout,
}

impl<T: Pixel> Normalizer<T> {
    pub(crate) fn new(cn: usize, pre: &Preprocess) -> Self {
        let mut lut = vec![[T::ZERO; 256]; cn];
        for (c, table) in lut.iter_mut().enumerate() {
            let (m, f) = (pre.mean.get(c), pre.factor.get(c));
            for (v, t) in table.iter_mut().enumerate() {
                *t = T::from_f32(if pre.divide {
                    (v as f32 - m) / f
                } else {
                    (v as f32 - m) * f
                });
            }
        }
        let src_c = match pre.order {
            ChannelOrder::Bgr => [2, 1, 0],
            _ => [0, 1, 2],
        };
        Normalizer {
            cn,
            lut,
            src_c,
            layout: pre.layout,
        }
    }

    /// Write row `y` (`w` interleaved pixels) of a `w` x `h` image into `out` (`w * h * cn`).
    #[inline]
    pub(crate) fn row(&self, y: usize, pixels: &[u8], w: usize, h: usize, out: &mut [T]) {
        let cn = self.cn;
        match self.layout {
            Layout::Nchw => {
                for c in 0..cn {
                    let (sc, table) = (self.src_c[c], &self.lut[c]);
                    let plane = &mut out[c * w * h + y * w..c * w * h + (y + 1) * w];
                    if cn == 3 {
                        for (o, px) in plane.iter_mut().zip(pixels.chunks_exact(3)) {
                            *o = table[px[sc] as usize];
                        }
                    } else {
                        for (o, px) in plane.iter_mut().zip(pixels.chunks_exact(cn)) {
                            *o = table[px[sc] as usize];
                        }
                    }
                }
            }
            Layout::Nhwc => {
                let dst = &mut out[y * w * cn..(y + 1) * w * cn];
                for (o, px) in dst.chunks_exact_mut(cn).zip(pixels.chunks_exact(cn)) {
                    for c in 0..cn {
                        o[c] = self.lut[c][px[self.src_c[c]] as usize];
                    }
                }
            }
        }
    }
}

/// Normalise an interleaved 8-bit `w` x `h` window (RGB or gray) into `out` with the spec's
/// channel order, `(x - mean) * scale` or `(x - mean) / std`, and layout.
pub(crate) fn normalize_into<T: Pixel>(
    pixels: &[u8],
    (w, h): (usize, usize),
    norm: &Normalizer<T>,
    out: &mut [T],
) {
    let n = w * norm.cn;
    for (y, row) in pixels.chunks_exact(n).take(h).enumerate() {
        norm.row(y, row, w, h, out);
    }
}
