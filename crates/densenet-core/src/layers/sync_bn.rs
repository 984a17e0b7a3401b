//! Synchronized batch norm over a data-parallel group, on top of the backend's own BN ops.
//!
//! Forward: the per-rank statistics (count, mean, M2) are combined into the global batch's
//! (see [`combine_stats`]); every rank then normalizes with the same mean and invstd, and the
//! running statistics get the global unbiased variance.
//!
//! Backward: with g = d(y) masked by the ReLU and x̂ the normalized input,
//! d(x) = γ·invstd·(g − Σg/N − x̂·Σg·x̂/N), where the two sums and N run over the global
//! batch (PyTorch's SyncBatchNorm reduces the same two sums). The backend's `bn_backward` forms
//! them over the local batch (count p) and also accumulates them into dβ and dγ. So we run it
//! as is, read the local sums back from dβ/dγ, all-reduce them, and add the difference
//! γ·invstd·((Σg_r/p − Σg/N) + x̂·(Σg·x̂_r/p − Σg·x̂/N)), an affine function of x̂ per
//! channel: exactly a BN forward without ReLU, with γ' and β' set to those two terms.
//! dγ and dβ keep the local sums; the gradient all-reduce of the step makes them global.

use super::context::two_mut;
use crate::backend::{Backend, BatchStats, BnArgs, GradOut, BN_EPS};
use crate::collective::{combine_stats, DeviceCollective};
use crate::error::Result;
use crate::float::Float;
use crate::plan::BnRef;

fn host<T: Float, B: Backend<T>>(be: &B, src: B::Src<'_>) -> Vec<f64> {
    be.download(src).iter().map(|v| v.to_f64()).collect()
}

fn device<T: Float, B: Backend<T>>(be: &B, v: &[f64]) -> Result<B::Buf> {
    be.upload(&v.iter().map(|&x| T::from_f64(x)).collect::<Vec<_>>())
}

/// The global batch statistics from this rank's (over `p` values per channel).
pub fn global_stats<T: Float, B: Backend<T>>(be: &B, comm: &dyn DeviceCollective<T, B>, local: BatchStats<B::Buf>, p: usize) -> Result<BatchStats<B::Buf>> {
    let mean = host(be, B::src(&local.mean));
    let var = local.var_unbiased.as_ref().map(|v| host(be, B::src(v))).unwrap_or_else(|| vec![0.0; mean.len()]);
    be.take_error()?;
    let m2: Vec<f64> = var.iter().map(|v| if p > 1 { v * (p - 1) as f64 } else { 0.0 }).collect();
    let (n, gmean, gm2) = combine_stats(comm, p, &mean, &m2)?;
    let invstd: Vec<f64> = gm2.iter().map(|m| 1.0 / (m / n + BN_EPS).sqrt()).collect();
    let unbiased: Vec<f64> = gm2.iter().map(|m| if n > 1.0 { m / (n - 1.0) } else { f64::NAN }).collect();
    Ok(BatchStats { mean: device(be, &gmean)?, invstd: device(be, &invstd)?, var_unbiased: Some(device(be, &unbiased)?) })
}

/// A training-mode BN(-ReLU) backward of BN `bn` (dγ, dβ accumulated into `grads`); with a
/// group, synchronized over it (see the module notes).
#[allow(clippy::too_many_arguments)]
pub fn bn_backward<T: Float, B: Backend<T>>(
    be: &B,
    sync: Option<&dyn DeviceCollective<T, B>>,
    grads: &mut [B::Buf],
    bn: &BnRef,
    x: B::Src<'_>,
    mut dy: B::Dst<'_>,
    p: usize,
    args: &BnArgs<B::Src<'_>>,
    out: GradOut<B::Dst<'_>>,
) -> Result<()> {
    let c = bn.channels;
    let Some(comm) = sync else {
        let (dg, db) = two_mut(grads, bn.weight, bn.bias);
        be.bn_backward(x, dy, c, p, args, B::dst(dg), B::dst(db), out);
        return Ok(());
    };
    let before = (host(be, B::src(&grads[bn.weight])), host(be, B::src(&grads[bn.bias])));
    let (dg, db) = two_mut(grads, bn.weight, bn.bias);
    match out {
        GradOut::Accumulate(mut dx) => {
            be.bn_backward(x, dy, c, p, args, B::dst(dg), B::dst(db), GradOut::Accumulate(B::reborrow(&mut dx)));
            let delta = correction(be, comm, grads, bn, x, p, args, before)?;
            be.add_assign(B::src(&delta), B::slice_mut(dx, 0..c * p));
        }
        GradOut::InPlace => {
            be.bn_backward(x, B::reborrow(&mut dy), c, p, args, B::dst(dg), B::dst(db), GradOut::InPlace);
            let delta = correction(be, comm, grads, bn, x, p, args, before)?;
            be.add_assign(B::src(&delta), B::slice_mut(dy, 0..c * p));
        }
    }
    Ok(())
}

/// d(x)_global − d(x)_local of one BN call, from the local sums the backward just added into
/// dγ and dβ (their values `before` it are subtracted).
#[allow(clippy::too_many_arguments)]
fn correction<T: Float, B: Backend<T>>(
    be: &B,
    comm: &dyn DeviceCollective<T, B>,
    grads: &[B::Buf],
    bn: &BnRef,
    x: B::Src<'_>,
    p: usize,
    args: &BnArgs<B::Src<'_>>,
    (before_g, before_b): (Vec<f64>, Vec<f64>),
) -> Result<B::Buf> {
    let c = bn.channels;
    // [p, Σg (C), Σg·x̂ (C)] of this rank, then of the group.
    let mut sums = vec![0.0; 1 + 2 * c];
    sums[0] = p as f64;
    let after_b = host(be, B::src(&grads[bn.bias]));
    let after_g = host(be, B::src(&grads[bn.weight]));
    for ch in 0..c {
        sums[1 + ch] = after_b[ch] - before_b[ch];
        sums[1 + c + ch] = after_g[ch] - before_g[ch];
    }
    let local = sums.clone();
    comm.all_reduce_sum_host(&mut sums)?;
    let n = sums[0];
    let coef: Vec<f64> = host(be, args.gamma).iter().zip(host(be, args.invstd)).map(|(g, i)| g * i).collect();
    let beta: Vec<f64> = (0..c).map(|ch| coef[ch] * (local[1 + ch] / p as f64 - sums[1 + ch] / n)).collect();
    let gamma: Vec<f64> = (0..c).map(|ch| coef[ch] * (local[1 + c + ch] / p as f64 - sums[1 + c + ch] / n)).collect();
    let (gamma, beta) = (device(be, &gamma)?, device(be, &beta)?);
    let (mean, invstd) = (device(be, &host(be, args.mean))?, device(be, &host(be, args.invstd))?);
    let fix = BnArgs { gamma: B::src(&gamma), beta: B::src(&beta), mean: B::src(&mean), invstd: B::src(&invstd), relu: false };
    let mut delta = be.alloc(c * p)?;
    be.bn_forward(x, c, p, &fix, B::dst(&mut delta));
    Ok(delta)
}
