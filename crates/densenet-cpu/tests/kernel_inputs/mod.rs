//! Deterministic kernel inputs shared by the kernel tests.

use densenet_core::Float;

/// `len` values in [-1, 1] on a grid of 1e-4 (xorshift from `seed`): exact in f32 and f64.
pub fn values<T: Float>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            T::from_f64((s % 20001) as f64 / 10000.0 - 1.0)
        })
        .collect()
}
