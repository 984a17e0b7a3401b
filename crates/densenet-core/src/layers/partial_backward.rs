//! Backward of a dense layer or a transition that is not trained whole (fine-tuning): some of
//! its parameters frozen, a frozen BN normalizing with its running statistics, or no gradient
//! wanted below it (the lowest trainable stage of the network).
//!
//! Unfused and straightforward: the weight gradient of a frozen conv is never computed, and the
//! input gradient only as far down as a trainable parameter or the stage's input needs it. A
//! frozen BN in eval mode has constant statistics, so its backward is the plain
//! `Backend::bn_backward_frozen` (no batch-statistics terms). Layers trained whole keep the fused
//! paths of `dense_layer.rs` and `transition.rs`.

use super::context::{bn_args, head, head_mut, Ctx};
use super::dense_layer::{self, mask_source};
use crate::backend::{Backend, BatchStats, BnArgs, GradOut};
use crate::error::Result;
use crate::float::Float;
use crate::geometry::ConvGeom;
use crate::plan::{BnRef, LayerPlan, TransitionPlan};

/// Every trainable-kind parameter of a dense layer.
pub fn layer_params(l: &LayerPlan) -> Vec<usize> {
    let mut v = vec![l.norm1.weight, l.norm1.bias, l.conv1.weight];
    if let Some((norm2, conv2)) = &l.bottleneck {
        v.extend([norm2.weight, norm2.bias, conv2.weight]);
    }
    v
}

/// Whether layer `l` can take the fused whole-layer backward: every parameter trains, every BN
/// uses batch statistics, and its input gradient is wanted.
pub fn layer_trains_whole<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, l: &LayerPlan, need_dx: bool) -> bool {
    need_dx && cx.trains_all(&layer_params(l)) && !cx.bn_frozen_eval(&l.norm1) && l.bottleneck.as_ref().is_none_or(|(n2, _)| !cx.bn_frozen_eval(n2))
}

/// [`layer_trains_whole`] for a transition.
pub fn transition_trains_whole<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, t: &TransitionPlan, need_dx: bool) -> bool {
    need_dx && cx.trains_all(&[t.conv.weight, t.norm.weight, t.norm.bias]) && !cx.bn_frozen_eval(&t.norm)
}

fn bn_trains<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, bn: &BnRef) -> bool {
    cx.trains(bn.weight) || cx.trains(bn.bias)
}

/// BN(-ReLU) backward of `bn` with the statistics its forward used: batch statistics (dγ, dβ
/// accumulated, synchronized over a data-parallel group if there is one) or, for a frozen BN in
/// eval mode, its running statistics.
#[allow(clippy::too_many_arguments)]
pub fn bn_backward<T: Float, B: Backend<T>>(
    cx: &mut Ctx<T, B>,
    bn: &BnRef,
    x: B::Src<'_>,
    dy: B::Dst<'_>,
    p: usize,
    args: &BnArgs<B::Src<'_>>,
    out: GradOut<B::Dst<'_>>,
) -> Result<()> {
    if cx.bn_frozen_eval(bn) {
        return cx.be.bn_backward_frozen(x, dy, bn.channels, p, args, out);
    }
    let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
    super::sync_bn::bn_backward(cx.be, cx.sync, grads, bn, x, dy, p, args, out)
}

/// dweight += conv weight gradient, when the conv trains.
fn weight_grad<T: Float, B: Backend<T>>(cx: &mut Ctx<T, B>, weight: usize, z: B::Src<'_>, dy: B::Src<'_>, g: &ConvGeom) {
    if cx.trains(weight) {
        let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
        cx.be.conv_backward_weight(z, dy, g, B::dst(&mut grads[weight]));
    }
}

/// Backward of layer `l` (see `dense_layer::backward` for the buffers); d(x) is accumulated into
/// the block gradient's prefix only when `need_dx`.
#[allow(clippy::too_many_arguments)]
pub fn dense_layer<T: Float, B: Backend<T>>(
    l: &LayerPlan,
    tape: dense_layer::Tape<B::Buf>,
    buf: &B::Buf,
    grad: &mut B::Buf,
    n: usize,
    h: usize,
    w: usize,
    need_dx: bool,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let (cin, k) = (l.cin, l.out_conv().cout);
    let (gx, mut gout) = B::split_mut(B::slice_mut(B::dst(grad), 0..(cin + k) * p), cin * p);
    cx.apply_deferred_bn(B::src(buf), B::reborrow(&mut gout), cin, k, p)?;
    let mut d = cx.scratch.d.take(be, k * p)?;
    be.copy(B::as_src(&gout), head_mut::<T, B>(&mut d, k * p));
    if cx.drop_rate > 0.0 {
        be.dropout(head_mut::<T, B>(&mut d, k * p), cx.drop_rate, mask_source(cx, l));
    }
    let dout = head::<T, B>(&d, k * p);
    let x = head::<T, B>(buf, cin * p);
    let args1 = bn_args::<T, B>(params, &l.norm1, &tape.s1, true);
    let g1 = ConvGeom::of(&l.conv1, n, h, w);
    let norm1_needed = need_dx || bn_trains(cx, &l.norm1);
    let conv1_needed = norm1_needed || cx.trains(l.conv1.weight);
    // z = BN1-ReLU1(x), recomputed; later d(BN1 output).
    let mut z = cx.scratch.z.take(be, cin * p)?;
    be.bn_forward(x, cin, p, &args1, head_mut::<T, B>(&mut z, cin * p));
    match (&l.bottleneck, &tape.s2) {
        (Some((norm2, conv2)), Some(s2)) => {
            let bw = l.conv1.cout;
            let g2 = ConvGeom::of(conv2, n, h, w);
            let args2 = bn_args::<T, B>(params, norm2, s2, true);
            let mut b = cx.scratch.b.take(be, bw * p)?;
            let mut z2 = cx.scratch.z2.take(be, bw * p)?;
            be.conv_forward(head::<T, B>(&z, cin * p), B::src(&params[l.conv1.weight]), &g1, head_mut::<T, B>(&mut b, bw * p), false);
            if cx.trains(conv2.weight) {
                be.bn_forward(head::<T, B>(&b, bw * p), bw, p, &args2, head_mut::<T, B>(&mut z2, bw * p));
                weight_grad(cx, conv2.weight, head::<T, B>(&z2, bw * p), dout, &g2);
            }
            if conv1_needed || bn_trains(cx, norm2) {
                // z2 = d(BN2 output), then d(b) in place.
                be.conv_backward_input(dout, B::src(&params[conv2.weight]), &g2, head_mut::<T, B>(&mut z2, bw * p), false);
                bn_backward(cx, norm2, head::<T, B>(&b, bw * p), head_mut::<T, B>(&mut z2, bw * p), p, &args2, GradOut::InPlace)?;
                if conv1_needed {
                    norm1_conv1(l, x, &args1, head::<T, B>(&z2, bw * p), &g1, &mut z, gx, need_dx, cx)?;
                }
            }
            cx.scratch.b.put(b);
            cx.scratch.z2.put(z2);
        }
        _ => norm1_conv1(l, x, &args1, dout, &g1, &mut z, gx, need_dx, cx)?,
    }
    cx.scratch.z.put(z);
    cx.scratch.d.put(d);
    Ok(())
}

/// The layer's first conv and BN1, from d(conv1 output) `d1`. `z` holds BN1-ReLU1(x) and
/// receives d(BN1 output) on the way.
#[allow(clippy::too_many_arguments)]
fn norm1_conv1<T: Float, B: Backend<T>>(
    l: &LayerPlan,
    x: B::Src<'_>,
    args1: &BnArgs<B::Src<'_>>,
    d1: B::Src<'_>,
    g1: &ConvGeom,
    z: &mut B::Buf,
    gx: B::Dst<'_>,
    need_dx: bool,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let (cin, p) = (g1.cin, g1.in_plane());
    weight_grad(cx, l.conv1.weight, head::<T, B>(z, cin * p), d1, g1);
    if !(need_dx || bn_trains(cx, &l.norm1)) {
        return Ok(());
    }
    cx.be.conv_backward_input(d1, B::src(&cx.params[l.conv1.weight]), g1, head_mut::<T, B>(z, cin * p), false);
    let out = if need_dx { GradOut::Accumulate(gx) } else { GradOut::InPlace };
    bn_backward(cx, &l.norm1, x, head_mut::<T, B>(z, cin * p), p, args1, out)
}

/// Backward of transition `t` (see `transition::backward` for the buffers); d(x) is accumulated
/// into `gx` only when `need_dx`.
#[allow(clippy::too_many_arguments)]
pub fn transition<T: Float, B: Backend<T>>(
    t: &TransitionPlan,
    s: &BatchStats<B::Buf>,
    x: B::Src<'_>,
    dnext: B::Src<'_>,
    gx: B::Dst<'_>,
    n: usize,
    h: usize,
    w: usize,
    need_dx: bool,
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
    if cx.trains(t.conv.weight) {
        be.bn_forward(x, cin, p, &args, head_mut::<T, B>(&mut z, cin * p));
        weight_grad(cx, t.conv.weight, head::<T, B>(&z, cin * p), head::<T, B>(&dout, cout * p), &g);
    }
    if need_dx || bn_trains(cx, &t.norm) {
        be.conv_backward_input(head::<T, B>(&dout, cout * p), B::src(&params[t.conv.weight]), &g, head_mut::<T, B>(&mut z, cin * p), false);
        let out = if need_dx { GradOut::Accumulate(gx) } else { GradOut::InPlace };
        bn_backward(cx, &t.norm, x, head_mut::<T, B>(&mut z, cin * p), p, &args, out)?;
    }
    cx.scratch.z.put(z);
    cx.scratch.t.put(dout);
    Ok(())
}
