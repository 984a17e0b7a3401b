//! The classifier: logits[N, K] = pooled[C, N]ᵀ × weight[K, C]ᵀ + bias.

use super::gemm::{matmul, MatRef};
use crate::float::Float;

pub fn forward<T: Float>(pooled: &[T], weight: &[T], bias: &[T], n: usize, c: usize, k: usize) -> Vec<T> {
    let mut logits = vec![T::ZERO; n * k];
    for row in logits.chunks_mut(k) {
        row.copy_from_slice(bias);
    }
    matmul(n, k, c, &mut logits, k, true, MatRef::rows_t(pooled, n), MatRef::rows_t(weight, c));
    logits
}

/// Accumulates dweight and dbias; returns dpooled [C, N].
pub fn backward<T: Float>(pooled: &[T], weight: &[T], dlogits: &[T], n: usize, c: usize, k: usize, dweight: &mut [T], dbias: &mut [T]) -> Vec<T> {
    matmul(k, c, n, dweight, c, true, MatRef::rows_t(dlogits, k), MatRef::rows_t(pooled, n));
    for o in 0..k {
        let s: f64 = (0..n).map(|i| dlogits[i * k + o].to_f64()).sum();
        dbias[o] += T::from_f64(s);
    }
    let mut dpooled = vec![T::ZERO; c * n];
    matmul(c, n, k, &mut dpooled, n, false, MatRef::rows_t(weight, c), MatRef::rows_t(dlogits, k));
    dpooled
}
