//! Pooling on planes of H×W (channel-major tensors are C*N consecutive planes).

use crate::float::Float;
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

/// Output side of the 3×3, stride-2, pad-1 max pool.
pub fn max3s2_out(side: usize) -> usize {
    (side + 2 - 3) / 2 + 1
}

/// 3×3 max pool, stride 2, padding 1. `argmax` receives the in-plane index of each maximum
/// (the first one in scan order on ties, as PyTorch).
pub fn max3s2_forward<T: Float>(x: &[T], planes: usize, h: usize, w: usize, y: &mut [T], argmax: &mut [u32]) {
    let (ho, wo) = (max3s2_out(h), max3s2_out(w));
    x[..planes * h * w]
        .par_chunks(h * w)
        .zip(y[..planes * ho * wo].par_chunks_mut(ho * wo))
        .zip(argmax[..planes * ho * wo].par_chunks_mut(ho * wo))
        .for_each(|((xp, yp), ap)| {
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
                            if v > bv || v != v {
                                bv = v;
                                best = iy * w + ix;
                            }
                        }
                    }
                    yp[oy * wo + ox] = bv;
                    ap[oy * wo + ox] = best as u32;
                }
            }
        });
}

/// dx = scatter of dy onto the saved maxima (dx is overwritten).
pub fn max3s2_backward<T: Float>(dy: &[T], argmax: &[u32], planes: usize, h: usize, w: usize, dx: &mut [T]) {
    let (ho, wo) = (max3s2_out(h), max3s2_out(w));
    dx[..planes * h * w]
        .par_chunks_mut(h * w)
        .zip(dy[..planes * ho * wo].par_chunks(ho * wo))
        .zip(argmax[..planes * ho * wo].par_chunks(ho * wo))
        .for_each(|((dxp, dyp), ap)| {
            dxp.fill(T::ZERO);
            for (g, &i) in dyp.iter().zip(ap) {
                dxp[i as usize] += *g;
            }
        });
}

/// Mean of each plane: [planes].
pub fn global_avg_forward<T: Float>(x: &[T], planes: usize, hw: usize) -> Vec<T> {
    x[..planes * hw].par_chunks(hw).map(|p| T::from_f64(p.iter().map(|v| v.to_f64()).sum::<f64>() / hw as f64)).collect()
}
