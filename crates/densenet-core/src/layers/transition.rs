//! Transition between blocks: BN-ReLU → 1×1 conv (⌊θ·m⌋ channels) → 2×2 average pool.
//! Its input is a whole block buffer; its output is written into the prefix of the next one.

use super::context::{bn_args, bn_relu_conv, head, head_mut, Ctx};
use crate::backend::{Backend, BatchStats, GradOut};
use crate::error::Result;
use crate::float::Float;
use crate::geometry::ConvGeom;
use crate::plan::TransitionPlan;

/// `x` is [cin, N, h, w]; the pooled result goes to `next` ([cout, N, h/2, w/2]).
pub fn forward<T: Float, B: Backend<T>>(t: &TransitionPlan, x: B::Src<'_>, next: B::Dst<'_>, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<BatchStats<B::Buf>> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let cout = t.conv.cout;
    let s = cx.block_stats(&t.norm, x, p)?;
    let mut out = cx.scratch.t.take(be, cout * p)?;
    let args = bn_args::<T, B>(params, &t.norm, &s, true);
    let key = cx.weight_key(t.conv.weight);
    bn_relu_conv(be, &mut cx.scratch.z, x, &args, B::src(&params[t.conv.weight]), key, &ConvGeom::of(&t.conv, n, h, w), head_mut::<T, B>(&mut out, cout * p))?;
    be.avg_pool2_forward(head::<T, B>(&out, cout * p), cout * n, h, w, next);
    cx.scratch.t.put(out);
    Ok(s)
}

/// Inference: the 2×2 average pool first, then the 1×1 conv on the pooled map straight into
/// `next`. A 1×1 conv and the pool commute (each output is the same weighted sum of the four
/// inputs, regrouped), so this is the forward's result up to rounding, at a quarter of its
/// conv's work. `x` is [cin, N, h, w].
pub fn infer<T: Float, B: Backend<T>>(t: &TransitionPlan, x: B::Src<'_>, next: B::Dst<'_>, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<()> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let cin = t.conv.cin;
    let pooled_len = cin * n * (h / 2) * (w / 2);
    let s = cx.block_stats(&t.norm, x, p)?;
    let args = bn_args::<T, B>(params, &t.norm, &s, true);
    let mut pooled = cx.scratch.t.take(be, pooled_len)?;
    if !be.bn_avg_pool2_forward(x, cin, n, h, w, &args, head_mut::<T, B>(&mut pooled, pooled_len)) {
        let mut z = cx.scratch.z.take(be, cin * p)?;
        be.bn_forward(x, cin, p, &args, head_mut::<T, B>(&mut z, cin * p));
        be.avg_pool2_forward(head::<T, B>(&z, cin * p), cin * n, h, w, head_mut::<T, B>(&mut pooled, pooled_len));
        cx.scratch.z.put(z);
    }
    let g = ConvGeom::of(&t.conv, n, h / 2, w / 2);
    let weight = B::src(&params[t.conv.weight]);
    match cx.weight_key(t.conv.weight) {
        Some(key) => be.conv_forward_keyed(key, head::<T, B>(&pooled, pooled_len), weight, &g, next)?,
        None => be.conv_forward(head::<T, B>(&pooled, pooled_len), weight, &g, next, false),
    }
    cx.scratch.t.put(pooled);
    Ok(())
}

/// Takes d(next prefix), accumulates d(x) into `gx` ([cin, N, h, w]) and the weight gradients.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, B: Backend<T>>(
    t: &TransitionPlan,
    s: &BatchStats<B::Buf>,
    x: B::Src<'_>,
    dnext: B::Src<'_>,
    gx: B::Dst<'_>,
    n: usize,
    h: usize,
    w: usize,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let (cin, cout) = (t.conv.cin, t.conv.cout);
    let g = ConvGeom::of(&t.conv, n, h, w);
    let mut dout = cx.scratch.t.take(be, cout * p)?;
    let mut z = cx.scratch.z.take(be, cin * p)?;
    be.avg_pool2_backward(dnext, cout * n, h, w, head_mut::<T, B>(&mut dout, cout * p));
    let args = bn_args::<T, B>(params, &t.norm, s, true);
    let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
    let fused = be.fuses_bn_conv(&g);
    if fused && cx.sync.is_none() {
        // One backend call: weight gradient, input gradient and BN backward.
        let [dw, dg, db] = grads.get_disjoint_mut([t.conv.weight, t.norm.weight, t.norm.bias]).expect("the conv and its norm have distinct parameters");
        let w = B::src(&params[t.conv.weight]);
        be.bn_conv_backward(x, &args, head::<T, B>(&dout, cout * p), w, &g, B::dst(dw), B::dst(dg), B::dst(db), head_mut::<T, B>(&mut z, cin * p), GradOut::Accumulate(gx))?;
        cx.scratch.z.put(z);
        cx.scratch.t.put(dout);
        return Ok(());
    }
    if fused {
        be.bn_conv_backward_weight(x, &args, head::<T, B>(&dout, cout * p), &g, B::dst(&mut grads[t.conv.weight]))?;
    } else {
        be.bn_forward(x, cin, p, &args, head_mut::<T, B>(&mut z, cin * p));
        be.conv_backward_weight(head::<T, B>(&z, cin * p), head::<T, B>(&dout, cout * p), &g, B::dst(&mut grads[t.conv.weight]));
    }
    be.conv_backward_input(head::<T, B>(&dout, cout * p), B::src(&params[t.conv.weight]), &g, head_mut::<T, B>(&mut z, cin * p), false);
    super::sync_bn::bn_backward(be, cx.sync, grads, &t.norm, x, head_mut::<T, B>(&mut z, cin * p), p, &args, GradOut::Accumulate(gx))?;
    cx.scratch.z.put(z);
    cx.scratch.t.put(dout);
    Ok(())
}
