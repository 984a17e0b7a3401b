//! One dense layer, memory-efficient. Its input is the prefix [0, cin) of the block's shared
//! feature buffer and its k output channels are written in place right after it, so
//! concatenation is free.
//!
//! BC:    x → BN1-ReLU1 → z → conv1 (1×1) → b → BN2-ReLU2 → z2 → conv2 (3×3) → [dropout] → out
//! basic: x → BN1-ReLU1 → z → conv1 (3×3) → [dropout] → out
//!
//! Backward recomputes z, b and z2 into shared scratch from x and the saved statistics, and
//! accumulates d(x) straight into the prefix of the block's shared gradient buffer.

use super::context::{bn_args, bn_relu_conv, head, head_mut, Ctx, DeferredBn};
use crate::backend::{Backend, BatchStats, BnArgs, GradOut, MaskSource};
use crate::error::Result;
use crate::float::Float;
use crate::geometry::ConvGeom;
use crate::plan::LayerPlan;

/// What backward needs: the per-channel statistics of BN1 (and BN2).
pub struct Tape<Buf> {
    pub s1: BatchStats<Buf>,
    pub s2: Option<BatchStats<Buf>>,
}

/// The layer's dropout mask: replayed when a test gave one, else hashed.
pub fn mask_source<'m, T: Float, B: Backend<T>>(cx: &'m Ctx<T, B>, l: &LayerPlan) -> MaskSource<B::Src<'m>> {
    match cx.masks.and_then(|m| m.get(&l.name)) {
        Some(mask) => MaskSource::Given(B::src(mask)),
        None => MaskSource::Hashed { seed: cx.dropout_seed, layer: l.id },
    }
}

/// Forward of layer `l` on the block buffer `buf` ([width, N, h, w]).
pub fn forward<T: Float, B: Backend<T>>(l: &LayerPlan, buf: &mut B::Buf, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<Tape<B::Buf>> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let k = l.out_conv().cout;
    let (xd, mut out) = B::split_mut(B::slice_mut(B::dst(buf), 0..(l.cin + k) * p), l.cin * p);
    let x = B::as_src(&xd);

    let s1 = cx.block_stats(&l.norm1, x, p)?;
    let args1 = bn_args::<T, B>(params, &l.norm1, &s1, true);
    let g1 = ConvGeom::of(&l.conv1, n, h, w);
    let mut s2 = None;
    match &l.bottleneck {
        Some((norm2, conv2)) => {
            let bw = l.conv1.cout;
            let mut b = cx.scratch.b.take(be, bw * p)?;
            let key1 = cx.weight_key(l.conv1.weight);
            bn_relu_conv(be, &mut cx.scratch.z, x, &args1, B::src(&params[l.conv1.weight]), key1, &g1, head_mut::<T, B>(&mut b, bw * p))?;
            let st = cx.stats(norm2, head::<T, B>(&b, bw * p), p)?;
            let args2 = bn_args::<T, B>(params, norm2, &st, true);
            let key2 = cx.weight_key(conv2.weight);
            bn_relu_conv(be, &mut cx.scratch.z2, head::<T, B>(&b, bw * p), &args2, B::src(&params[conv2.weight]), key2, &ConvGeom::of(conv2, n, h, w), B::reborrow(&mut out))?;
            s2 = Some(st);
            cx.scratch.b.put(b);
        }
        None => {
            let key1 = cx.weight_key(l.conv1.weight);
            bn_relu_conv(be, &mut cx.scratch.z, x, &args1, B::src(&params[l.conv1.weight]), key1, &g1, B::reborrow(&mut out))?
        }
    }
    if cx.train && cx.drop_rate > 0.0 {
        be.dropout(out, cx.drop_rate, mask_source(cx, l));
    }
    Ok(Tape { s1, s2 })
}

/// From d(conv1 output) `d1`: conv1's weight gradient, then BN1's backward, accumulating d(x)
/// into `gx`; `z` holds BN1-ReLU(x) when not `fused` and is the input gradient's scratch. One
/// backend call where the backend fuses and BN statistics are local (no synchronized BN).
#[allow(clippy::too_many_arguments)]
fn norm1_conv1_backward<T: Float, B: Backend<T>>(
    l: &LayerPlan,
    x: B::Src<'_>,
    args1: &BnArgs<B::Src<'_>>,
    d1: B::Src<'_>,
    g1: &ConvGeom,
    fused: bool,
    z: &mut B::Buf,
    gx: B::Dst<'_>,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let (be, params) = (cx.be, cx.params);
    let (cin, p) = (g1.cin, g1.in_plane());
    let w1 = B::src(&params[l.conv1.weight]);
    let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
    if fused && cx.sync.is_none() {
        let [dw, dg, db] = grads.get_disjoint_mut([l.conv1.weight, l.norm1.weight, l.norm1.bias]).expect("conv1 and norm1 have distinct parameters");
        let mut gx = gx;
        match cx.deferred_bn.as_mut() {
            Some(d) if d.a.len() >= cin => {
                let (a, b) = (&mut d.a[..cin], &mut d.b[..cin]);
                if be.bn_conv_backward_deferred(x, args1, d1, w1, g1, B::dst(dw), B::dst(dg), B::dst(db), B::reborrow(&mut gx), a, b)? {
                    return Ok(());
                }
            }
            Some(_) => {}
            None => {
                // The block's first layer in backward (the widest) starts the deferred terms, if
                // the backend defers at all.
                let (mut a, mut b) = (vec![0.0; cin], vec![0.0; cin]);
                if be.bn_conv_backward_deferred(x, args1, d1, w1, g1, B::dst(dw), B::dst(dg), B::dst(db), B::reborrow(&mut gx), &mut a, &mut b)? {
                    let (mut mean, mut invstd) = (be.alloc(cin)?, be.alloc(cin)?);
                    be.copy(B::slice(args1.mean, 0..cin), B::dst(&mut mean));
                    be.copy(B::slice(args1.invstd, 0..cin), B::dst(&mut invstd));
                    cx.deferred_bn = Some(DeferredBn { a, b, mean, invstd });
                    return Ok(());
                }
            }
        }
        return be.bn_conv_backward(x, args1, d1, w1, g1, B::dst(dw), B::dst(dg), B::dst(db), head_mut::<T, B>(z, cin * p), GradOut::Accumulate(gx));
    }
    if fused {
        be.bn_conv_backward_weight(x, args1, d1, g1, B::dst(&mut grads[l.conv1.weight]))?;
    } else {
        be.conv_backward_weight(head::<T, B>(z, cin * p), d1, g1, B::dst(&mut grads[l.conv1.weight]));
    }
    be.conv_backward_input(d1, w1, g1, head_mut::<T, B>(z, cin * p), false);
    super::sync_bn::bn_backward(be, cx.sync, grads, &l.norm1, x, head_mut::<T, B>(z, cin * p), p, args1, GradOut::Accumulate(gx))
}

/// Backward of layer `l`: reads d(out) from `grad[cin..cin+k)`, accumulates d(x) into
/// `grad[0..cin)` and the parameter gradients into `cx.grads`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, B: Backend<T>>(l: &LayerPlan, tape: Tape<B::Buf>, buf: &B::Buf, grad: &mut B::Buf, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<()> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let (cin, k) = (l.cin, l.out_conv().cout);
    let (gx, mut gout) = B::split_mut(B::slice_mut(B::dst(grad), 0..(cin + k) * p), cin * p);
    // d(out) is complete once the later layers' deferred BN terms for these channels are in.
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
    // A fusing backend reads BN-ReLU(x) (and BN2-ReLU2(b)) straight from x (and b) in the
    // recomputation and the weight gradients; otherwise they are recomputed into z (and z2).
    let fused = be.fuses_bn_conv(&g1);
    let mut z = cx.scratch.z.take(be, cin * p)?;
    if !fused {
        be.bn_forward(x, cin, p, &args1, head_mut::<T, B>(&mut z, cin * p));
    }
    // d(input of the layer's first conv) lands in `z` (z itself is no longer needed then).
    match (&l.bottleneck, &tape.s2) {
        (Some((norm2, conv2)), Some(s2)) => {
            let bw = l.conv1.cout;
            let g2 = ConvGeom::of(conv2, n, h, w);
            let args2 = bn_args::<T, B>(params, norm2, s2, true);
            let mut b = cx.scratch.b.take(be, bw * p)?;
            let mut z2 = cx.scratch.z2.take(be, bw * p)?;
            let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
            if fused {
                be.bn_conv_forward(x, &args1, B::src(&params[l.conv1.weight]), &g1, head_mut::<T, B>(&mut b, bw * p), false)?;
                be.bn_conv_backward_weight(head::<T, B>(&b, bw * p), &args2, dout, &g2, B::dst(&mut grads[conv2.weight]))?;
            } else {
                be.conv_forward(head::<T, B>(&z, cin * p), B::src(&params[l.conv1.weight]), &g1, head_mut::<T, B>(&mut b, bw * p), false);
                be.bn_forward(head::<T, B>(&b, bw * p), bw, p, &args2, head_mut::<T, B>(&mut z2, bw * p));
                be.conv_backward_weight(head::<T, B>(&z2, bw * p), dout, &g2, B::dst(&mut grads[conv2.weight]));
            }
            be.conv_backward_input(dout, B::src(&params[conv2.weight]), &g2, head_mut::<T, B>(&mut z2, bw * p), false);
            super::sync_bn::bn_backward(be, cx.sync, grads, norm2, head::<T, B>(&b, bw * p), head_mut::<T, B>(&mut z2, bw * p), p, &args2, GradOut::InPlace)?;
            norm1_conv1_backward(l, x, &args1, head::<T, B>(&z2, bw * p), &g1, fused, &mut z, gx, cx)?;
            cx.scratch.b.put(b);
            cx.scratch.z2.put(z2);
        }
        _ => norm1_conv1_backward(l, x, &args1, dout, &g1, fused, &mut z, gx, cx)?,
    }
    cx.scratch.z.put(z);
    cx.scratch.d.put(d);
    Ok(())
}
