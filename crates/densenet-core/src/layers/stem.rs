//! The stem. CIFAR: 3×3 conv, stride 1. ImageNet: 7×7/2 conv → BN → ReLU → 3×3/2 pad-1 max pool.
//! Its output is written into the prefix of the first block's buffer.

use super::context::{bn_args, two_mut, Ctx};
use crate::float::Float;
use crate::geometry::Geometry;
use crate::ops::batchnorm::{self, BatchStats, GradOut};
use crate::ops::conv::{self, ConvGeom};
use crate::ops::pool;
use crate::plan::StemPlan;

pub struct StemTape<T> {
    pub conv_out: Vec<T>,
    pub stats: Option<BatchStats<T>>,
    pub argmax: Vec<u32>,
}

fn conv_geom(s: &StemPlan, geo: &Geometry) -> ConvGeom {
    let c = &s.conv0;
    ConvGeom::new(c.cin, c.cout, c.kernel, c.stride, c.pad, geo.n, geo.h, geo.w)
}

pub fn forward<T: Float>(s: &StemPlan, input: &[T], geo: &Geometry, out: &mut [T], cx: &mut Ctx<T>) -> StemTape<T> {
    let params = cx.params;
    let g = conv_geom(s, geo);
    match &s.norm0 {
        None => {
            conv::forward(input, &params[s.conv0.weight], &g, out, &mut cx.scratch.cols);
            StemTape { conv_out: Vec::new(), stats: None, argmax: Vec::new() }
        }
        Some(norm0) => {
            let c0 = s.conv0.cout;
            let p = g.out_plane();
            let mut conv_out = vec![T::ZERO; c0 * p];
            conv::forward(input, &params[s.conv0.weight], &g, &mut conv_out, &mut cx.scratch.cols);
            let stats = cx.stats(norm0, &conv_out, p);
            let mut y = vec![T::ZERO; c0 * p];
            batchnorm::forward(&conv_out, c0, p, bn_args(params, norm0, &stats, true), &mut y);
            let (h1, w1) = geo.blocks[0];
            let mut argmax = vec![0u32; c0 * geo.n * h1 * w1];
            pool::max3s2_forward(&y, c0 * geo.n, g.ho, g.wo, out, &mut argmax);
            StemTape { conv_out, stats: Some(stats), argmax }
        }
    }
}

/// Accumulates conv0's (and norm0's) parameter gradients from d(stem output).
pub fn backward<T: Float>(s: &StemPlan, tape: StemTape<T>, input: &[T], geo: &Geometry, dout: &[T], cx: &mut Ctx<T>) {
    let params = cx.params;
    let g = conv_geom(s, geo);
    match (&s.norm0, &tape.stats) {
        (Some(norm0), Some(stats)) => {
            let c0 = s.conv0.cout;
            let p = g.out_plane();
            let mut dy = vec![T::ZERO; c0 * p];
            pool::max3s2_backward(dout, &tape.argmax, c0 * geo.n, g.ho, g.wo, &mut dy);
            let grads = cx.grads.as_deref_mut().unwrap();
            let (dg, db) = two_mut(grads, norm0.weight, norm0.bias);
            batchnorm::backward(&tape.conv_out, &mut dy, c0, p, bn_args(params, norm0, stats, true), dg, db, GradOut::InPlace);
            conv::backward_weight(input, &dy, &g, &mut grads[s.conv0.weight]);
        }
        _ => {
            let grads = cx.grads.as_deref_mut().unwrap();
            conv::backward_weight(input, dout, &g, &mut grads[s.conv0.weight]);
        }
    }
}
