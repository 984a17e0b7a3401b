//! Pooling on planes of H×W (channel-major tensors are C*N consecutive planes).

use super::batchnorm::BnArgs;
use super::packed_conv::ChannelNorm;
use densenet_core::geometry::max3s2_out;
use densenet_core::Float;
use rayon::prelude::*;

/// 2×2 average pool, stride 2 (odd trailing rows/columns are dropped, as in PyTorch).
pub fn avg2_forward<T: Float>(x: &[T], planes: usize, h: usize, w: usize, y: &mut [T]) {
    let (ho, wo) = (h / 2, w / 2);
    let quarter = T::from_f64(0.25);
    x[..planes * h * w].par_chunks(h * w).zip(y[..planes * ho * wo].par_chunks_mut(ho * wo)).for_each(|(xp, yp)| {
        for oy in 0..ho {
            let r0 = &xp[2 * oy * w..];
            let r1 = &xp[(2 * oy + 1) * w..];
            for ox in 0..wo {
                yp[oy * wo + ox] = (r0[2 * ox] + r0[2 * ox + 1] + r1[2 * ox] + r1[2 * ox + 1]) * quarter;
            }
        }
    });
}

/// y = 2×2 average pool (stride 2) of BN(x)[ReLU], x [C, N·h·w] per channel, y [C, N·(h/2)·(w/2)]:
/// a pool-first transition's normalization and pool in one pass, with no normalized copy of x.
/// Each normalized value is `batchnorm::forward`'s, each average [`avg2_forward`]'s.
pub fn bn_avg2_forward<T: Float>(x: &[T], channels: usize, n: usize, h: usize, w: usize, a: &BnArgs<T>, y: &mut [T]) {
    let _p = super::profile::scope("pool.bn_avg2");
    let (ho, wo) = (h / 2, w / 2);
    x[..channels * n * h * w].par_chunks(n * h * w).zip(y[..channels * n * ho * wo].par_chunks_mut(n * ho * wo)).enumerate().for_each_init(
        || vec![T::ZERO; 2 * w],
        |rows, (c, (xc, yc))| {
            let norm = ChannelNorm::of(Some(a), c);
            super::simd::vectorized(|| {
                for (xp, yp) in xc.chunks(h * w).zip(yc.chunks_mut(ho * wo)) {
                    bn_avg2_plane(xp, w, norm, rows, yp);
                }
            });
        },
    );
}

/// One plane: each pair of input rows normalized whole (vector loops), then each output the
/// sum of its four in the order of [`avg2_forward`].
#[inline(always)]
fn bn_avg2_plane<T: Float>(xp: &[T], w: usize, norm: ChannelNorm<T>, rows: &mut [T], yp: &mut [T]) {
    let quarter = T::from_f64(0.25);
    let wo = w / 2;
    if wo == 0 {
        return;
    }
    let (r0, r1) = rows.split_at_mut(w);
    for (oy, yrow) in yp.chunks_mut(wo).enumerate() {
        for (r, src) in [(&mut *r0, &xp[2 * oy * w..(2 * oy + 1) * w]), (&mut *r1, &xp[(2 * oy + 1) * w..(2 * oy + 2) * w])] {
            for (d, &v) in r.iter_mut().zip(src) {
                *d = norm.apply::<true>(v);
            }
        }
        for ((out, a), b) in yrow.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
            *out = (a[0] + a[1] + b[0] + b[1]) * quarter;
        }
    }
}

/// dx = avg2 backward of dy (dx is overwritten; dropped rows/columns get zero).
pub fn avg2_backward<T: Float>(dy: &[T], planes: usize, h: usize, w: usize, dx: &mut [T]) {
    let (ho, wo) = (h / 2, w / 2);
    let quarter = T::from_f64(0.25);
    dx[..planes * h * w].par_chunks_mut(h * w).zip(dy[..planes * ho * wo].par_chunks(ho * wo)).for_each(|(dxp, dyp)| {
        dxp.fill(T::ZERO);
        for oy in 0..ho {
            for ox in 0..wo {
                let g = dyp[oy * wo + ox] * quarter;
                for (dy_, dx_) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    dxp[(2 * oy + dy_) * w + 2 * ox + dx_] = g;
                }
            }
        }
    });
}

/// 3×3 max pool, stride 2, padding 1. `argmax` receives the in-plane index of each maximum
/// (the first one in scan order on ties, as PyTorch).
/// Without `argmax` (inference) the indices are not kept.
pub fn max3s2_forward<T: Float>(x: &[T], planes: usize, h: usize, w: usize, y: &mut [T], argmax: Option<&mut [u32]>) {
    let (ho, wo) = (max3s2_out(h), max3s2_out(w));
    let mut none: Vec<u32> = Vec::new();
    let (argmax, stride) = match argmax {
        Some(a) => (&mut a[..planes * ho * wo], ho * wo),
        None => (&mut none[..], 0),
    };
    let mut idx: Vec<&mut [u32]> = if stride == 0 { (0..planes).map(|_| Default::default()).collect() } else { argmax.chunks_mut(stride).collect() };
    x[..planes * h * w].par_chunks(h * w).zip(y[..planes * ho * wo].par_chunks_mut(ho * wo)).zip(idx.par_iter_mut()).for_each(|((xp, yp), ap)| {
        for oy in 0..ho {
            let y0 = (2 * oy).saturating_sub(1);
            let y1 = (2 * oy + 2).min(h);
            for ox in 0..wo {
                let x0 = (2 * ox).saturating_sub(1);
                let x1 = (2 * ox + 2).min(w);
                let mut best = y0 * w + x0;
                let mut bv = xp[best];
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let v = xp[iy * w + ix];
                        if v > bv || v.is_nan() {
                            bv = v;
                            best = iy * w + ix;
                        }
                    }
                }
                yp[oy * wo + ox] = bv;
                if let Some(a) = ap.get_mut(oy * wo + ox) {
                    *a = best as u32;
                }
            }
        }
    });
}

/// y = 3×3 max pool (stride 2, padding 1) of BN(x)[ReLU], x [C, N·h·w] per channel: the
/// inference stem's normalization and pool in one pass, with no normalized copy of x. Each
/// normalized value is `batchnorm::forward`'s and each maximum [`max3s2_forward`]'s (NaN
/// propagates); a window's column maxima come first, then the maximum of three of them, so
/// the loops run over whole rows.
pub fn bn_max3s2_forward<T: Float>(x: &[T], channels: usize, n: usize, h: usize, w: usize, a: &BnArgs<T>, y: &mut [T]) {
    let _p = super::profile::scope("pool.bn_max3s2");
    let (ho, wo) = (max3s2_out(h), max3s2_out(w));
    let planes = channels * n;
    x[..planes * h * w].par_chunks(h * w).zip(y[..planes * ho * wo].par_chunks_mut(ho * wo)).enumerate().for_each_init(
        || PoolRows::new(w),
        |rows, (plane, (xp, yp))| {
            let c = plane / n;
            let norm = ChannelNorm::of(Some(a), c);
            super::simd::vectorized(|| bn_max3s2_plane(xp, h, w, norm, rows, yp));
        },
    );
}

/// A worker's rows for [`bn_max3s2_plane`]: the normalized row shared by two windows, one
/// other normalized row, and a window's column maxima.
struct PoolRows<T> {
    shared: Vec<T>,
    row: Vec<T>,
    cols: Vec<T>,
}

impl<T: Float> PoolRows<T> {
    fn new(w: usize) -> Self {
        PoolRows { shared: vec![T::ZERO; w], row: vec![T::ZERO; w], cols: vec![T::ZERO; w] }
    }
}

/// max(a, b), NaN when either is (as the scalar scan of [`max3s2_forward`]).
#[inline(always)]
fn nan_max<T: Float>(a: T, b: T) -> T {
    if b > a || b.is_nan() {
        b
    } else {
        a
    }
}

/// One plane. Output row oy's window is input rows 2·oy − 1, 2·oy, 2·oy + 1 (clipped), so row
/// 2·oy + 1 is also the first row of the next window: each row is normalized once. Every
/// maximum is taken in the order of [`max3s2_forward`]'s scan (rows, then columns, each from the
/// first), so the bits are the same.
#[inline(always)]
fn bn_max3s2_plane<T: Float>(xp: &[T], h: usize, w: usize, norm: ChannelNorm<T>, rows: &mut PoolRows<T>, yp: &mut [T]) {
    let wo = max3s2_out(w);
    let PoolRows { shared, row, cols } = rows;
    let normalize = |dst: &mut [T], r: usize| {
        for (d, &v) in dst.iter_mut().zip(&xp[r * w..(r + 1) * w]) {
            *d = norm.apply::<true>(v);
        }
    };
    for (oy, yrow) in yp.chunks_mut(wo).enumerate() {
        let (r0, r1) = ((2 * oy).saturating_sub(1), (2 * oy + 2).min(h));
        // The window's first row: row 0, or the previous window's last row (kept in `shared`).
        if oy == 0 {
            normalize(shared, 0);
        }
        cols.copy_from_slice(shared);
        for r in r0 + 1..r1 {
            // Row 2·oy + 1 starts the next window: it goes to `shared`.
            let dst: &mut [T] = if r == 2 * oy + 1 { shared } else { row };
            normalize(dst, r);
            for (m, &v) in cols.iter_mut().zip(dst.iter()) {
                *m = nan_max(*m, v);
            }
        }
        // Column 0's window is columns 0 and 1; column ox ≥ 1's is 2·ox − 1, 2·ox and, inside
        // the image, 2·ox + 1.
        yrow[0] = if w > 1 { nan_max(cols[0], cols[1]) } else { cols[0] };
        let full = (w / 2).min(wo);
        for ox in windows3_vectorized(cols, yrow, full)..full {
            yrow[ox] = nan_max(nan_max(cols[2 * ox - 1], cols[2 * ox]), cols[2 * ox + 1]);
        }
        for ox in full.max(1)..wo {
            yrow[ox] = nan_max(cols[2 * ox - 1], cols[2 * ox]);
        }
    }
}

/// The three-column windows of output columns [1, end) for f32 where the CPU has AVX-512 (16 at
/// a time while the loads stay inside `cols`; the same maxima as the scalar loop); returns the
/// first column left to the caller.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn windows3_vectorized<T: Float>(cols: &[T], yrow: &mut [T], end: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && super::packed_conv::has_avx512() {
        assert!(end <= yrow.len());
        // SAFETY: T is f32 (checked), so the casts are identities; the CPU has AVX-512F.
        unsafe {
            let cols = std::slice::from_raw_parts(cols.as_ptr() as *const f32, cols.len());
            return avx512::windows3(cols, yrow.as_mut_ptr() as *mut f32, end);
        }
    }
    1
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// [`super::nan_max`] on 16 lanes: b where b > a or b is NaN, else a.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn nan_max16(a: __m512, b: __m512) -> __m512 {
        let take_b = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(b, b);
        _mm512_mask_blend_ps(take_b, a, b)
    }

    /// y[ox] = max(max(cols[2·ox − 1], cols[2·ox]), cols[2·ox + 1]) for ox from 1, 16 at a time,
    /// while ox + 16 ≤ end and the loads (up to cols[2·ox + 33)) lie in `cols`; returns the
    /// first ox not done.
    ///
    /// # Safety
    /// `y` is valid for `end` values; the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn windows3(cols: &[f32], y: *mut f32, end: usize) -> usize {
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let mut ox = 1;
        while ox + 16 <= end && 2 * ox + 33 <= cols.len() {
            // SAFETY: the loads read cols[2·ox − 1 .. 2·ox + 33) (checked above), the store
            // y[ox .. ox + 16) with ox + 16 ≤ end.
            unsafe {
                let p = cols.as_ptr().add(2 * ox - 1);
                let (lo, hi) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
                let (lo2, hi2) = (_mm512_loadu_ps(p.add(2)), _mm512_loadu_ps(p.add(18)));
                let left = _mm512_permutex2var_ps(lo, evens, hi);
                let mid = _mm512_permutex2var_ps(lo, odds, hi);
                let right = _mm512_permutex2var_ps(lo2, evens, hi2);
                _mm512_storeu_ps(y.add(ox), nan_max16(nan_max16(left, mid), right));
            }
            ox += 16;
        }
        ox
    }
}

/// dx = scatter of dy onto the saved maxima (dx is overwritten).
pub fn max3s2_backward<T: Float>(dy: &[T], argmax: &[u32], planes: usize, h: usize, w: usize, dx: &mut [T]) {
    let (ho, wo) = (max3s2_out(h), max3s2_out(w));
    dx[..planes * h * w].par_chunks_mut(h * w).zip(dy[..planes * ho * wo].par_chunks(ho * wo)).zip(argmax[..planes * ho * wo].par_chunks(ho * wo)).for_each(|((dxp, dyp), ap)| {
        dxp.fill(T::ZERO);
        for (g, &i) in dyp.iter().zip(ap) {
            dxp[i as usize] += *g;
        }
    });
}

/// Mean of each plane into `out` [planes].
pub fn global_avg_forward<T: Float>(x: &[T], planes: usize, hw: usize, out: &mut [T]) {
    x[..planes * hw].par_chunks(hw).zip(out[..planes].par_iter_mut()).for_each(|(p, o)| *o = T::from_f64(p.iter().map(|v| v.to_f64()).sum::<f64>() / hw as f64));
}

/// dx[plane, i] = dpooled[plane] / hw.
pub fn global_avg_backward<T: Float>(dpooled: &[T], planes: usize, hw: usize, dx: &mut [T]) {
    let inv = T::from_f64(1.0 / hw as f64);
    dx[..planes * hw].par_chunks_mut(hw).zip(dpooled[..planes].par_iter()).for_each(|(plane, g)| plane.fill(*g * inv));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::batchnorm;

    /// The fused BN-ReLU-pool pass gives the bits of BN-ReLU into a buffer, then the pool; odd
    /// sides drop their last row/column the same way; NaN passes through.
    #[test]
    fn bn_avg2_is_bn_then_pool_bit_for_bit() {
        let (c, n, h, w) = (3, 2, 5, 7);
        let mut x: Vec<f32> = (0..c * n * h * w).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
        x[8] = f32::NAN;
        let (mean, invstd, gamma, beta) = (vec![0.1f32, -0.3, 0.7], vec![1.5f32, 0.8, 2.0], vec![1.0f32, -0.5, 0.25], vec![0.0f32, 0.2, -0.1]);
        for relu in [true, false] {
            let a = BnArgs { mean: &mean[..], invstd: &invstd[..], gamma: &gamma[..], beta: &beta[..], relu };
            let mut z = vec![0f32; x.len()];
            batchnorm::forward(&x, c, n * h * w, &a, &mut z);
            let mut want = vec![0f32; c * n * (h / 2) * (w / 2)];
            avg2_forward(&z, c * n, h, w, &mut want);
            let mut got = vec![1f32; want.len()];
            bn_avg2_forward(&x, c, n, h, w, &a, &mut got);
            assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "relu {relu}");
            assert!(got.iter().any(|v| v.is_nan()), "the NaN input reaches its pooled output");
        }
    }

    /// The fused BN-ReLU-max-pool pass gives BN-ReLU into a buffer, then the max pool: the
    /// same values (bits with ReLU; without it a ±0 tie may keep the other zero), NaN
    /// propagating, odd and even sides, a negative scale.
    /// f32 rows wide enough for the AVX-512 windows (16 outputs at a time) and their tails, NaN
    /// at a vector's first, middle and last lanes: the same bits as BN then the scalar pool.
    #[test]
    fn bn_max3s2_f32_wide_rows_are_bn_then_max_pool() {
        for (c, n, h, w) in [(2, 1, 9, 112), (1, 2, 5, 71), (1, 1, 3, 66), (2, 1, 4, 35)] {
            let mut x: Vec<f32> = (0..c * n * h * w).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
            for k in [1, 32, 47, w + 2, 3 * w - 1] {
                if k < x.len() {
                    x[k] = f32::NAN;
                }
            }
            let (mean, invstd, gamma, beta) = (vec![0.1f32, -0.3], vec![1.5f32, 0.8], vec![1.0f32, -0.5], vec![0.0f32, 0.2]);
            for relu in [true, false] {
                let a = BnArgs { mean: &mean[..c], invstd: &invstd[..c], gamma: &gamma[..c], beta: &beta[..c], relu };
                let mut z = vec![0f32; x.len()];
                batchnorm::forward(&x, c, n * h * w, &a, &mut z);
                let (ho, wo) = (max3s2_out(h), max3s2_out(w));
                let mut want = vec![0f32; c * n * ho * wo];
                max3s2_forward(&z, c * n, h, w, &mut want, None);
                let mut got = vec![1f32; want.len()];
                bn_max3s2_forward(&x, c, n, h, w, &a, &mut got);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), e.to_bits(), "{c}x{n}x{h}x{w} relu {relu}: output {i} is {g}, BN then pool gives {e}");
                }
            }
        }
    }

    #[test]
    fn bn_max3s2_is_bn_then_max_pool() {
        for (c, n, h, w) in [(3, 2, 7, 9), (2, 1, 8, 6), (1, 3, 1, 1), (2, 2, 2, 3)] {
            let mut x: Vec<f64> = (0..c * n * h * w).map(|i| ((i * 37 % 101) as f64 - 50.0) / 17.0).collect();
            x[c * n * h * w / 2] = f64::NAN;
            let (mean, invstd, gamma, beta) = (vec![0.1, -0.3, 0.7], vec![1.5, 0.8, 2.0], vec![1.0, -0.5, 0.25], vec![0.0, 0.2, -0.1]);
            for relu in [true, false] {
                let a = BnArgs { mean: &mean[..c], invstd: &invstd[..c], gamma: &gamma[..c], beta: &beta[..c], relu };
                let mut z = vec![0f64; x.len()];
                batchnorm::forward(&x, c, n * h * w, &a, &mut z);
                let (ho, wo) = (max3s2_out(h), max3s2_out(w));
                let mut want = vec![0f64; c * n * ho * wo];
                max3s2_forward(&z, c * n, h, w, &mut want, None);
                let mut got = vec![1f64; want.len()];
                bn_max3s2_forward(&x, c, n, h, w, &a, &mut got);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    let same = if relu { g.to_bits() == e.to_bits() } else { g == e || (g.is_nan() && e.is_nan()) };
                    assert!(same, "{c}x{n}x{h}x{w} relu {relu}: output {i} is {g}, BN then pool gives {e}");
                }
                assert!(got.iter().any(|v| v.is_nan()), "the NaN input reaches its pooled output");
            }
        }
    }
}
