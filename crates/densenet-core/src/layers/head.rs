//! The head: BN → ReLU → global average pool → linear.

use super::context::{bn_args, ensure, two_mut, Ctx};
use crate::float::Float;
use crate::ops::batchnorm::{self, BatchStats, GradOut};
use crate::ops::{linear, pool};
use crate::plan::HeadPlan;

pub struct HeadOut<T> {
    pub stats: BatchStats<T>,
    pub pooled: Vec<T>,
    pub logits: Vec<T>,
}

/// `x` is the last block buffer [C, N, h, w]; returns logits [N, classes].
pub fn forward<T: Float>(hd: &HeadPlan, x: &[T], n: usize, hw: usize, cx: &mut Ctx<T>) -> HeadOut<T> {
    let p = n * hw;
    let params = cx.params;
    let c = hd.features;
    let stats = cx.stats(&hd.norm, x, p);
    let mut z = std::mem::take(&mut cx.scratch.z);
    ensure(&mut z, c * p);
    batchnorm::forward(x, c, p, bn_args(params, &hd.norm, &stats, true), &mut z);
    let pooled = pool::global_avg_forward(&z, c * n, hw);
    cx.scratch.z = z;
    let logits = linear::forward(&pooled, &params[hd.weight], &params[hd.bias], n, c, hd.classes);
    HeadOut { stats, pooled, logits }
}

/// From d(logits), accumulates the classifier and norm5 gradients and d(x) into `gx`.
pub fn backward<T: Float>(hd: &HeadPlan, out: &HeadOut<T>, x: &[T], dlogits: &[T], gx: &mut [T], n: usize, hw: usize, cx: &mut Ctx<T>) {
    let p = n * hw;
    let params = cx.params;
    let c = hd.features;
    let grads = cx.grads.as_deref_mut().unwrap();
    let (dw, db) = two_mut(grads, hd.weight, hd.bias);
    let dpooled = linear::backward(&out.pooled, &params[hd.weight], dlogits, n, c, hd.classes, dw, db);
    let mut dz = std::mem::take(&mut cx.scratch.z);
    ensure(&mut dz, c * p);
    let inv = T::from_f64(1.0 / hw as f64);
    for (plane, g) in dz[..c * p].chunks_mut(hw).zip(&dpooled) {
        plane.fill(*g * inv);
    }
    let (dg, dbeta) = two_mut(grads, hd.norm.weight, hd.norm.bias);
    batchnorm::backward(x, &mut dz, c, p, bn_args(params, &hd.norm, &out.stats, true), dg, dbeta, GradOut::Accumulate(gx));
    cx.scratch.z = dz;
}
