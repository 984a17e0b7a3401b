//! Transition between blocks: BN-ReLU → 1×1 conv (⌊θ·m⌋ channels) → 2×2 average pool.
//! Its input is a whole block buffer; its output is written into the prefix of the next one.

use super::context::{bn_args, ensure, two_mut, Ctx};
use crate::float::Float;
use crate::ops::batchnorm::{self, BatchStats, GradOut};
use crate::ops::conv::{self, ConvGeom};
use crate::ops::pool;
use crate::plan::TransitionPlan;

/// `x` is [cin, N, h, w]; the pooled result goes to `next[..cout * N*(h/2)*(w/2)]`.
pub fn forward<T: Float>(t: &TransitionPlan, x: &[T], next: &mut [T], n: usize, h: usize, w: usize, cx: &mut Ctx<T>) -> BatchStats<T> {
    let p = n * h * w;
    let params = cx.params;
    let (cin, cout) = (t.conv.cin, t.conv.cout);
    let s = cx.stats(&t.norm, x, p);
    let mut z = std::mem::take(&mut cx.scratch.z);
    let mut out = std::mem::take(&mut cx.scratch.t);
    ensure(&mut z, cin * p);
    ensure(&mut out, cout * p);
    batchnorm::forward(x, cin, p, bn_args(params, &t.norm, &s, true), &mut z);
    conv::forward(&z, &params[t.conv.weight], &ConvGeom::new(cin, cout, 1, 1, 0, n, h, w), &mut out, &mut cx.scratch.cols);
    pool::avg2_forward(&out, cout * n, h, w, next);
    cx.scratch.z = z;
    cx.scratch.t = out;
    s
}

/// Takes d(next prefix), accumulates d(x) into `gx` ([cin, N, h, w]) and the weight gradients.
pub fn backward<T: Float>(t: &TransitionPlan, s: &BatchStats<T>, x: &[T], dnext: &[T], gx: &mut [T], n: usize, h: usize, w: usize, cx: &mut Ctx<T>) {
    let p = n * h * w;
    let params = cx.params;
    let (cin, cout) = (t.conv.cin, t.conv.cout);
    let g = ConvGeom::new(cin, cout, 1, 1, 0, n, h, w);
    let mut dout = std::mem::take(&mut cx.scratch.t);
    let mut z = std::mem::take(&mut cx.scratch.z);
    ensure(&mut dout, cout * p);
    ensure(&mut z, cin * p);
    pool::avg2_backward(dnext, cout * n, h, w, &mut dout);
    let args = bn_args(params, &t.norm, s, true);
    batchnorm::forward(x, cin, p, args, &mut z);
    let grads = cx.grads.as_deref_mut().unwrap();
    conv::backward_weight(&z, &dout, &g, &mut grads[t.conv.weight]);
    conv::backward_input(&dout, &params[t.conv.weight], &g, &mut z, false, &mut cx.scratch.cols);
    let (dg, db) = two_mut(grads, t.norm.weight, t.norm.bias);
    batchnorm::backward(x, &mut z, cin, p, args, dg, db, GradOut::Accumulate(gx));
    cx.scratch.z = z;
    cx.scratch.t = dout;
}
