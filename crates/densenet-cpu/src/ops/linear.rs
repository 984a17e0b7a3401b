//! The classifier: logits[N, K] = pooled[C, N]ᵀ × weight[K, C]ᵀ + bias.

use super::gemm::{matmul, MatRef};
use densenet_core::Float;

pub fn forward<T: Float>(pooled: &[T], weight: &[T], bias: &[T], n: usize, c: usize, k: usize, logits: &mut [T]) {
    for row in logits[..n * k].chunks_mut(k) {
        row.copy_from_slice(bias);
    }
    matmul(n, k, c, logits, k, true, MatRef::rows_t(pooled, n), MatRef::rows_t(weight, c));
}

/// Accumulates dweight and dbias; writes dpooled [C, N].
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(pooled: &[T], weight: &[T], dlogits: &[T], n: usize, c: usize, k: usize, dweight: &mut [T], dbias: &mut [T], dpooled: &mut [T]) {
    matmul(k, c, n, dweight, c, true, MatRef::rows_t(dlogits, k), MatRef::rows_t(pooled, n));
    for o in 0..k {
        let s: f64 = (0..n).map(|i| dlogits[i * k + o].to_f64()).sum();
        dbias[o] += T::from_f64(s);
    }
    matmul(c, n, k, dpooled, n, false, MatRef::rows_t(weight, c), MatRef::rows_t(dlogits, k));
}
