//! One dense layer, the naive reference: it copies its concatenated input and stores every
//! intermediate for backward — the quadratic memory of a straightforward implementation, kept
//! to check the efficient layer against and to measure what it saves.

use super::context::{bn_args, head, Ctx};
use super::dense_layer::mask_source;
use crate::backend::{Backend, BatchStats, GradOut};
use crate::error::Result;
use crate::float::Float;
use crate::geometry::ConvGeom;
use crate::plan::LayerPlan;

/// Everything the layer computed, stored.
pub struct Tape<Buf> {
    pub s1: BatchStats<Buf>,
    /// Copy of the concatenated input [cin, P].
    pub cat: Buf,
    /// BN1-ReLU1 output.
    pub z: Buf,
    /// BC only: the bottleneck conv output, its statistics and its BN2-ReLU2 output.
    pub bottleneck: Option<(Buf, BatchStats<Buf>, Buf)>,
}

pub fn forward<T: Float, B: Backend<T>>(l: &LayerPlan, buf: &mut B::Buf, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<Tape<B::Buf>> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let (cin, k) = (l.cin, l.out_conv().cout);
    let (xd, mut out) = B::split_mut(B::slice_mut(B::dst(buf), 0..(cin + k) * p), cin * p);
    let mut cat = be.alloc(cin * p)?;
    be.copy(B::as_src(&xd), B::dst(&mut cat));
    let s1 = cx.stats(&l.norm1, B::src(&cat), p)?;
    let mut z = be.alloc(cin * p)?;
    be.bn_forward(B::src(&cat), cin, p, &bn_args::<T, B>(params, &l.norm1, &s1, true), B::dst(&mut z));
    let mut bottleneck = None;
    match &l.bottleneck {
        Some((norm2, conv2)) => {
            let bw = l.conv1.cout;
            let mut b = be.alloc(bw * p)?;
            be.conv_forward(B::src(&z), B::src(&params[l.conv1.weight]), &ConvGeom::of(&l.conv1, n, h, w), B::dst(&mut b), false);
            let s2 = cx.stats(norm2, B::src(&b), p)?;
            let mut z2 = be.alloc(bw * p)?;
            be.bn_forward(B::src(&b), bw, p, &bn_args::<T, B>(params, norm2, &s2, true), B::dst(&mut z2));
            be.conv_forward(B::src(&z2), B::src(&params[conv2.weight]), &ConvGeom::of(conv2, n, h, w), B::reborrow(&mut out), false);
            bottleneck = Some((b, s2, z2));
        }
        None => be.conv_forward(B::src(&z), B::src(&params[l.conv1.weight]), &ConvGeom::of(&l.conv1, n, h, w), B::reborrow(&mut out), false),
    }
    if cx.train && cx.drop_rate > 0.0 {
        be.dropout(out, cx.drop_rate, mask_source(cx, l));
    }
    Ok(Tape { s1, cat, z, bottleneck })
}

/// Backward from the stored intermediates; d(concatenated input) is materialized, then added
/// into the prefix of the block's gradient buffer.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, B: Backend<T>>(l: &LayerPlan, tape: Tape<B::Buf>, grad: &mut B::Buf, n: usize, h: usize, w: usize, cx: &mut Ctx<T, B>) -> Result<()> {
    let p = n * h * w;
    let (be, params) = (cx.be, cx.params);
    let (cin, k) = (l.cin, l.out_conv().cout);
    let (gx, gout) = B::split_mut(B::slice_mut(B::dst(grad), 0..(cin + k) * p), cin * p);
    let mut d = be.alloc(k * p)?;
    be.copy(B::as_src(&gout), B::dst(&mut d));
    if cx.drop_rate > 0.0 {
        be.dropout(B::dst(&mut d), cx.drop_rate, mask_source(cx, l));
    }
    let g1 = ConvGeom::of(&l.conv1, n, h, w);
    let mut dz = be.alloc(cin * p)?;
    let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
    match (&l.bottleneck, &tape.bottleneck) {
        (Some((norm2, conv2)), Some((b, s2, z2))) => {
            let bw = l.conv1.cout;
            let g2 = ConvGeom::of(conv2, n, h, w);
            be.conv_backward_weight(B::src(z2), B::src(&d), &g2, B::dst(&mut grads[conv2.weight]));
            let mut db_ = be.alloc(bw * p)?;
            be.conv_backward_input(B::src(&d), B::src(&params[conv2.weight]), &g2, B::dst(&mut db_), false);
            super::sync_bn::bn_backward(be, cx.sync, grads, norm2, B::src(b), B::dst(&mut db_), p, &bn_args::<T, B>(params, norm2, s2, true), GradOut::InPlace)?;
            be.conv_backward_weight(B::src(&tape.z), B::src(&db_), &g1, B::dst(&mut grads[l.conv1.weight]));
            be.conv_backward_input(B::src(&db_), B::src(&params[l.conv1.weight]), &g1, B::dst(&mut dz), false);
        }
        _ => {
            be.conv_backward_weight(B::src(&tape.z), B::src(&d), &g1, B::dst(&mut grads[l.conv1.weight]));
            be.conv_backward_input(B::src(&d), B::src(&params[l.conv1.weight]), &g1, B::dst(&mut dz), false);
        }
    }
    super::sync_bn::bn_backward(be, cx.sync, grads, &l.norm1, B::src(&tape.cat), B::dst(&mut dz), p, &bn_args::<T, B>(params, &l.norm1, &tape.s1, true), GradOut::InPlace)?;
    be.add_assign(head::<T, B>(&dz, cin * p), gx);
    Ok(())
}
