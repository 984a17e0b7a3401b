//! The data-parallel parts of a training step (the group is a [`DataParallel`]).
//!
//! Each rank computes its share of the global batch (n_r of N samples). The global loss is
//! Σ_r (n_r/N)·loss_r, so each rank scales d(logits) by n_r/N before its backward, and the
//! gradient of the global loss is then the plain sum of the ranks' gradients: one all-reduce
//! of all trainable gradients packed into one flat buffer, in plan order. Every rank gets the
//! same bits, so the numerics guard takes the same decision everywhere and the SGD update
//! keeps the weights bit-identical. With n_r = N/2^k the scaling is exact, so 2 ranks × 32
//! reproduce 1 rank × 64 up to the order of the sums.
//!
//! Running statistics: with synchronized BN they are already the global batch's; without it
//! (BN per replica) the pending updates use the n_r/N-weighted mean over ranks of each
//! replica's batch mean and unbiased variance, so the running statistics, too, stay identical
//! on every rank.

use crate::backend::{Backend, LossOut};
use crate::collective::DataParallel;
use crate::error::Result;
use crate::float::Float;
use crate::layers::context::PendingUpdate;
use crate::plan::Plan;

/// Makes `l` the global batch's (loss, correct count, d(logits) of the global mean loss).
/// Returns N, the global batch size.
pub fn global_loss<T: Float, B: Backend<T>>(be: &B, dp: &DataParallel<T, B>, n: usize, l: &mut LossOut<B::Buf>) -> Result<f64> {
    let mut v = [n as f64, l.loss * n as f64, l.correct as f64];
    dp.comm.all_reduce_sum_host(&mut v)?;
    let total = v[0];
    l.loss = v[1] / total;
    l.correct = v[2] as usize;
    let share = n as f64 / total;
    if share != 1.0 {
        let scaled: Vec<T> = be.download(B::src(&l.dlogits)).iter().map(|g| T::from_f64(g.to_f64() * share)).collect();
        be.take_error()?;
        l.dlogits = be.upload(&scaled)?;
    }
    Ok(total)
}

/// Sums the trainable gradients over the group (one flat buffer) and, without synchronized
/// BN, averages the pending running-statistics updates (`share` = n_r/N).
pub fn reduce_gradients<T: Float, B: Backend<T>>(
    be: &B,
    plan: &Plan,
    dp: &DataParallel<T, B>,
    grads: &mut [B::Buf],
    updates: &mut [PendingUpdate<B::Buf>],
    share: f64,
) -> Result<()> {
    let trainable: Vec<usize> = (0..plan.specs.len()).filter(|&i| plan.specs[i].kind.trainable()).collect();
    let total: usize = trainable.iter().map(|&i| B::len(&grads[i])).sum();
    let mut flat = be.alloc(total)?;
    let mut off = 0;
    for &i in &trainable {
        let len = B::len(&grads[i]);
        be.copy(B::src(&grads[i]), B::slice_mut(B::dst(&mut flat), off..off + len));
        off += len;
    }
    dp.comm.all_reduce_sum(be, &mut flat)?;
    let mut off = 0;
    for &i in &trainable {
        let len = B::len(&grads[i]);
        be.copy(B::slice(B::src(&flat), off..off + len), B::dst(&mut grads[i]));
        off += len;
    }
    if !dp.sync_bn && !updates.is_empty() {
        let mut host: Vec<f64> = Vec::new();
        for (_, mean, var) in updates.iter() {
            host.extend(be.download(B::src(mean)).iter().chain(&be.download(B::src(var))).map(|v| v.to_f64() * share));
        }
        be.take_error()?;
        dp.comm.all_reduce_sum_host(&mut host)?;
        let mut off = 0;
        for (_, mean, var) in updates.iter_mut() {
            let c = B::len(mean);
            let to_t = |s: &[f64]| s.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>();
            *mean = be.upload(&to_t(&host[off..off + c]))?;
            *var = be.upload(&to_t(&host[off + c..off + 2 * c]))?;
            off += 2 * c;
        }
    }
    Ok(())
}
