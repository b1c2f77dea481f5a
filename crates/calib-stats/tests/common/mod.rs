//! SplitMix64 and the samples built from it, bit for bit as `tests/ref/make_reference.py`
//! builds them with numpy (shared by the tests and the benchmark).
#![allow(dead_code)]

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: output k (from 1) mixes `seed + k * GAMMA`.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `[0, 1)`: the top 53 bits.
    pub fn uniform01(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (2.0f64).powi(-53)
    }
}

/// Box-Muller on consecutive pairs, as float32: `sqrt(-2 ln(1 - u1)) cos(2 pi u2)`.
pub fn gaussian(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let u1 = 1.0 - rng.uniform01();
            let u2 = rng.uniform01();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}

/// Uniform on `[low, high)`, as float32: `u * (high - low) + low`.
pub fn uniform(seed: u64, n: usize, low: f64, high: f64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| (rng.uniform01() * (high - low) + low) as f32)
        .collect()
}
