//! The stem. CIFAR: 3×3 conv, stride 1. ImageNet: 7×7/2 conv → BN → ReLU → 3×3/2 pad-1 max pool.
//! Its output is written into the prefix of the first block's buffer.

use super::context::{bn_args, Ctx};
use crate::backend::{Backend, BatchStats, GradOut};
use crate::error::Result;
use crate::float::Float;
use crate::geometry::{ConvGeom, Geometry};
use crate::plan::StemPlan;

/// What the ImageNet stem keeps for backward (training only): conv output, BN statistics and
/// the max pool's argmax. The CIFAR stem keeps nothing.
pub struct Tape<Buf, Idx> {
    pub imagenet: Option<(Buf, BatchStats<Buf>, Idx)>,
}

fn conv_geom(s: &StemPlan, geo: &Geometry) -> ConvGeom {
    ConvGeom::of(&s.conv0, geo.n, geo.h, geo.w)
}

/// `input` is the CNHW batch; `out` the first block buffer's prefix [c0, N, h1, w1]. `keep`:
/// keep what backward needs (a training pass that trains the stem).
pub fn forward<T: Float, B: Backend<T>>(s: &StemPlan, input: B::Src<'_>, geo: &Geometry, mut out: B::Dst<'_>, keep: bool, cx: &mut Ctx<T, B>) -> Result<Tape<B::Buf, B::Idx>> {
    let (be, params) = (cx.be, cx.params);
    let g = conv_geom(s, geo);
    let Some(norm0) = &s.norm0 else {
        be.conv_forward(input, B::src(&params[s.conv0.weight]), &g, out, false);
        return Ok(Tape { imagenet: None });
    };
    let c0 = s.conv0.cout;
    let p = g.out_plane();
    let mut conv_out = be.alloc_for_overwrite(c0 * p)?;
    be.conv_forward(input, B::src(&params[s.conv0.weight]), &g, B::dst(&mut conv_out), false);
    let stats = cx.stats(norm0, B::src(&conv_out), p)?;
    let args = bn_args::<T, B>(params, norm0, &stats, true);
    let keep = cx.train && keep;
    // Without an argmax to keep, BN-ReLU and the pool are one pass where the backend has it.
    if !keep && be.bn_max_pool3s2_forward(B::src(&conv_out), c0, geo.n, g.ho, g.wo, &args, B::reborrow(&mut out)) {
        return Ok(Tape { imagenet: None });
    }
    let mut y = be.alloc_for_overwrite(c0 * p)?;
    be.bn_forward(B::src(&conv_out), c0, p, &args, B::dst(&mut y));
    let (h1, w1) = geo.blocks[0];
    if keep {
        let mut argmax = be.alloc_idx(c0 * geo.n * h1 * w1)?;
        be.max_pool3s2_forward(B::src(&y), c0 * geo.n, g.ho, g.wo, out, Some(&mut argmax));
        Ok(Tape { imagenet: Some((conv_out, stats, argmax)) })
    } else {
        be.max_pool3s2_forward(B::src(&y), c0 * geo.n, g.ho, g.wo, out, None);
        Ok(Tape { imagenet: None })
    }
}

/// Accumulates conv0's (and norm0's) parameter gradients, those that train, from d(stem output).
pub fn backward<T: Float, B: Backend<T>>(s: &StemPlan, tape: Tape<B::Buf, B::Idx>, input: B::Src<'_>, geo: &Geometry, dout: B::Src<'_>, cx: &mut Ctx<T, B>) -> Result<()> {
    let (be, params) = (cx.be, cx.params);
    let g = conv_geom(s, geo);
    let conv0_trains = cx.trains(s.conv0.weight);
    match (&s.norm0, tape.imagenet) {
        (Some(norm0), Some((conv_out, stats, argmax))) => {
            let c0 = s.conv0.cout;
            let p = g.out_plane();
            let mut dy = be.alloc(c0 * p)?;
            be.max_pool3s2_backward(dout, &argmax, c0 * geo.n, g.ho, g.wo, B::dst(&mut dy));
            let args = bn_args::<T, B>(params, norm0, &stats, true);
            super::partial_backward::bn_backward(cx, norm0, B::src(&conv_out), B::dst(&mut dy), p, &args, GradOut::InPlace)?;
            if conv0_trains {
                let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
                be.conv_backward_weight(input, B::src(&dy), &g, B::dst(&mut grads[s.conv0.weight]));
            }
        }
        _ if conv0_trains => {
            let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
            be.conv_backward_weight(input, dout, &g, B::dst(&mut grads[s.conv0.weight]))
        }
        _ => {}
    }
    Ok(())
}
