//! BatchNorm (+ optional ReLU) on channel-major tensors: each channel is one contiguous run of
//! P = N*H*W values. Statistics, the fused forward and the fused backward sit side by side.
//!
//! Backward never needs the forward's output: the ReLU mask is recomputed from x and the saved
//! per-channel mean and inverse std, which is what lets the training pass drop BN outputs.

use densenet_core::backend::{BN_EPS as EPS, BN_MOMENTUM as MOMENTUM};
use densenet_core::Float;
use densenet_core::{BnArgs as CoreBnArgs, GradOut};
use rayon::prelude::*;

/// Per-channel batch statistics of one BN call in a training step.
#[derive(Debug, Clone, Default)]
pub struct BatchStats<T> {
    pub mean: Vec<T>,
    pub invstd: Vec<T>,
    /// Unbiased variance, for the running-variance update.
    pub var_unbiased: Vec<T>,
}

/// The arguments of one BN call as host slices.
pub type BnArgs<'a, T> = CoreBnArgs<&'a [T]>;

/// Independent accumulators per reduction: the sums vectorize, and the order is fixed (the
/// same result whatever the thread count).
const LANES: usize = 16;

/// Σ f(x) over a channel, accumulated in f64 across LANES partial sums.
#[inline(always)]
fn lane_sum<T: Float>(xc: &[T], f: impl Fn(T) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = xc.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += f(c[j]);
        }
    }
    for (j, v) in rest.iter().enumerate() {
        acc[j] += f(*v);
    }
    acc.iter().sum()
}

/// Mean and biased variance per channel (two passes, accumulated in f64 as PyTorch's CPU kernel).
pub fn batch_stats<T: Float>(x: &[T], channels: usize, p: usize) -> BatchStats<T> {
    let _p = super::profile::scope("bn.stats");
    let per: Vec<(T, T, T)> = x[..channels * p]
        .par_chunks(p)
        .map(|xc| {
            let (mean, ss) = super::simd::vectorized(|| {
                let mean = lane_sum(xc, |v| v.to_f64()) / p as f64;
                let ss = lane_sum(xc, |v| {
                    let d = v.to_f64() - mean;
                    d * d
                });
                (mean, ss)
            });
            let var = ss / p as f64;
            let unbiased = if p > 1 { ss / (p - 1) as f64 } else { f64::NAN };
            (T::from_f64(mean), T::from_f64(1.0 / (var + EPS).sqrt()), T::from_f64(unbiased))
        })
        .collect();
    BatchStats { mean: per.iter().map(|t| t.0).collect(), invstd: per.iter().map(|t| t.1).collect(), var_unbiased: per.iter().map(|t| t.2).collect() }
}

/// Eval-mode statistics: the running mean and 1/sqrt(running_var + eps).
pub fn running_stats<T: Float>(running_mean: &[T], running_var: &[T]) -> (Vec<T>, Vec<T>) {
    let invstd = running_var.iter().map(|v| T::from_f64(1.0 / (v.to_f64() + EPS).sqrt())).collect();
    (running_mean.to_vec(), invstd)
}

/// running = (1 - momentum) * running + momentum * batch (PyTorch's rule).
pub fn update_running<T: Float>(mean: &[T], var_unbiased: &[T], running_mean: &mut [T], running_var: &mut [T]) {
    let m = T::from_f64(MOMENTUM);
    let keep = T::from_f64(1.0 - MOMENTUM);
    for c in 0..running_mean.len() {
        running_mean[c] = keep * running_mean[c] + m * mean[c];
        running_var[c] = keep * running_var[c] + m * var_unbiased[c];
    }
}

/// y = relu(gamma * (x - mean) * invstd + beta) for the first `channels` channels.
pub fn forward<T: Float>(x: &[T], channels: usize, p: usize, a: &BnArgs<T>, y: &mut [T]) {
    let _p = super::profile::scope("bn.forward");
    x[..channels * p].par_chunks(p).zip(y[..channels * p].par_chunks_mut(p)).enumerate().for_each(|(c, (xc, yc))| {
        super::simd::vectorized(|| {
            let (mean, invstd, gamma, beta) = (a.mean[c], a.invstd[c], a.gamma[c], a.beta[c]);
            for (xv, yv) in xc.iter().zip(yc.iter_mut()) {
                let v = (*xv - mean) * invstd * gamma + beta;
                // NaN propagates (as torch.relu), so the numerics guard sees it in the loss:
                // keep v unless it is <= 0 (a NaN compares false and is kept).
                let non_positive = v <= T::ZERO;
                *yv = v.zero_unless(!a.relu | !non_positive);
            }
        })
    });
}

/// Per-channel backward: returns (Σ g, Σ g·x̂) where g is dy masked by the recomputed ReLU.
/// Branch-free: LANES partial sums in T over blocks of BLOCK elements (so the inner loop is
/// plain SIMD in T), each block's total added in f64. Fixed order, independent of threads.
#[inline(always)]
fn channel_sums<T: Float, const RELU: bool>(xc: &[T], dyc: &[T], mean: T, invstd: T, gamma: T, beta: T) -> (f64, f64) {
    const BLOCK: usize = 512;
    let (mut sg, mut sgx) = (0f64, 0f64);
    for (xb, db) in xc.chunks(BLOCK).zip(dyc.chunks(BLOCK)) {
        let mut ag = [T::ZERO; LANES];
        let mut agx = [T::ZERO; LANES];
        let mut xs = xb.chunks_exact(LANES);
        let mut ds = db.chunks_exact(LANES);
        for (xv, dv) in (&mut xs).zip(&mut ds) {
            let xv: &[T; LANES] = xv.try_into().unwrap();
            let dv: &[T; LANES] = dv.try_into().unwrap();
            for j in 0..LANES {
                let xhat = (xv[j] - mean) * invstd;
                let g = dv[j].zero_unless(!RELU || xhat * gamma + beta > T::ZERO);
                ag[j] += g;
                agx[j] += g * xhat;
            }
        }
        for (j, (x, d)) in xs.remainder().iter().zip(ds.remainder()).enumerate() {
            let xhat = (*x - mean) * invstd;
            let g = d.zero_unless(!RELU || xhat * gamma + beta > T::ZERO);
            ag[j] += g;
            agx[j] += g * xhat;
        }
        sg += ag.iter().map(|v| v.to_f64()).sum::<f64>();
        sgx += agx.iter().map(|v| v.to_f64()).sum::<f64>();
    }
    (sg, sgx)
}

/// Training-mode backward of BN(+ReLU) given x and dy (gradient w.r.t. the output).
/// dgamma and dbeta are accumulated; dx goes where `out` says.
/// dx = gamma·invstd·(g − Σg/P − x̂·Σg x̂/P).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(x: &[T], dy: &mut [T], channels: usize, p: usize, a: &BnArgs<T>, dgamma: &mut [T], dbeta: &mut [T], out: GradOut<&mut [T]>) {
    let _p = super::profile::scope("bn.backward");
    let sums = backward_sums(x, dy, channels, p, a);
    backward_with_sums(x, dy, channels, p, a, &sums, dgamma, dbeta, out);
}

/// Per channel (Σ g, Σ g·x̂), g = dy masked by the recomputed ReLU: what [`backward`] needs
/// besides x and dy.
pub fn backward_sums<T: Float>(x: &[T], dy: &[T], channels: usize, p: usize, a: &BnArgs<T>) -> Vec<(f64, f64)> {
    let _p = super::profile::scope("bn.backward.sums");
    let n = channels * p;
    x[..n]
        .par_chunks(p)
        .zip(dy[..n].par_chunks(p))
        .enumerate()
        .map(|(c, (xc, dyc))| {
            let (m, i, g, b) = (a.mean[c], a.invstd[c], a.gamma[c], a.beta[c]);
            super::simd::vectorized(|| if a.relu { channel_sums::<T, true>(xc, dyc, m, i, g, b) } else { channel_sums::<T, false>(xc, dyc, m, i, g, b) })
        })
        .collect()
}

/// [`backward`] given its channel sums (from [`backward_sums`], or computed where dy was made).
#[allow(clippy::too_many_arguments)]
pub fn backward_with_sums<T: Float>(
    x: &[T],
    dy: &mut [T],
    channels: usize,
    p: usize,
    a: &BnArgs<T>,
    sums: &[(f64, f64)],
    dgamma: &mut [T],
    dbeta: &mut [T],
    out: GradOut<&mut [T]>,
) {
    let _p = super::profile::scope("bn.backward.dx");
    let n = channels * p;
    assert!(sums.len() >= channels, "one (Σg, Σg·x̂) per channel");
    for (c, &(sg, sgx)) in sums.iter().take(channels).enumerate() {
        dgamma[c] += T::from_f64(sgx);
        dbeta[c] += T::from_f64(sg);
    }
    match out {
        GradOut::Accumulate(dx) => {
            x[..n].par_chunks(p).zip(dy[..n].par_chunks(p)).zip(dx[..n].par_chunks_mut(p)).enumerate().for_each(|(c, ((xc, dyc), dxc))| {
                let f = DxFormula::new(a, c, sums[c], p);
                super::simd::vectorized(|| {
                    for i in 0..p {
                        dxc[i] += f.dx(xc[i], dyc[i]);
                    }
                })
            });
        }
        GradOut::InPlace => {
            x[..n].par_chunks(p).zip(dy[..n].par_chunks_mut(p)).enumerate().for_each(|(c, (xc, dyc))| {
                let f = DxFormula::new(a, c, sums[c], p);
                super::simd::vectorized(|| {
                    for i in 0..p {
                        dyc[i] = f.dx(xc[i], dyc[i]);
                    }
                })
            });
        }
    }
}

/// grad[c] += a[c] + b[c]·x̂, x̂ = (x[c] − mean[c])·invstd[c]: the per-channel affine part of BN
/// backward's d(x) that dense layers defer (`Backend::bn_conv_backward_deferred`).
#[allow(clippy::too_many_arguments)]
pub fn apply_affine_terms<T: Float>(x: &[T], mean: &[T], invstd: &[T], a: &[f64], b: &[f64], channels: usize, p: usize, grad: &mut [T]) {
    let _p = super::profile::scope("bn.deferred");
    let n = channels * p;
    assert!(x.len() >= n && grad.len() >= n && mean.len() >= channels && invstd.len() >= channels && a.len() >= channels && b.len() >= channels, "deferred BN operands too small");
    x[..n].par_chunks(p).zip(grad[..n].par_chunks_mut(p)).enumerate().for_each(|(c, (xc, gc))| {
        let (m, i, ac, bc) = (mean[c], invstd[c], T::from_f64(a[c]), T::from_f64(b[c]));
        super::simd::vectorized(|| {
            for (g, &v) in gc.iter_mut().zip(xc) {
                *g += ac + bc * ((v - m) * i);
            }
        })
    });
}

/// The per-element input-gradient formula of one channel.
struct DxFormula<T> {
    mean: T,
    invstd: T,
    gamma: T,
    beta: T,
    coef: T,
    mean_g: T,
    mean_gx: T,
    relu: bool,
}

impl<T: Float> DxFormula<T> {
    fn new(a: &BnArgs<T>, c: usize, (sg, sgx): (f64, f64), p: usize) -> Self {
        DxFormula {
            mean: a.mean[c],
            invstd: a.invstd[c],
            gamma: a.gamma[c],
            beta: a.beta[c],
            coef: a.gamma[c] * a.invstd[c],
            mean_g: T::from_f64(sg / p as f64),
            mean_gx: T::from_f64(sgx / p as f64),
            relu: a.relu,
        }
    }
    #[inline(always)]
    fn dx(&self, x: T, dy: T) -> T {
        let xhat = (x - self.mean) * self.invstd;
        let g = dy.zero_unless(!self.relu | (xhat * self.gamma + self.beta > T::ZERO));
        self.coef * (g - self.mean_g - xhat * self.mean_gx)
    }
}
