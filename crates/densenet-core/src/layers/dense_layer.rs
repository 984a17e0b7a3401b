//! One dense layer. Its input is the prefix [0, cin) of the block's shared feature buffer and
//! its k output channels are written in place right after it, so concatenation is free.
//!
//! BC:    x → BN1-ReLU1 → z → conv1 (1×1) → b → BN2-ReLU2 → z2 → conv2 (3×3) → [dropout] → out
//! basic: x → BN1-ReLU1 → z → conv1 (3×3) → [dropout] → out
//!
//! Efficient backward recomputes z, b and z2 into shared scratch from x and the saved
//! statistics, and accumulates dx straight into the prefix of the block's shared gradient buffer.

use super::context::{bn_args, ensure, two_mut, Ctx, MemoryMode};
use crate::float::Float;
use crate::ops::batchnorm::{self, GradOut};
use crate::ops::conv::{self, ConvGeom};
use crate::ops::dropout::{self, MaskSource};
use crate::plan::{ConvRef, LayerPlan};
use crate::tape::{LayerTape, NaiveLayer};

fn geom(c: &ConvRef, n: usize, h: usize, w: usize) -> ConvGeom {
    ConvGeom::new(c.cin, c.cout, c.kernel, c.stride, c.pad, n, h, w)
}

fn mask_source<'m, T: Float>(cx: &'m Ctx<T>, l: &LayerPlan) -> MaskSource<'m, T> {
    match cx.masks.and_then(|m| m.get(&l.name)) {
        Some(mask) => MaskSource::Given(mask),
        None => MaskSource::Hashed { seed: cx.dropout_seed, layer: l.id },
    }
}

/// Forward of layer `l` on the block buffer `buf` ([width, N, h, w]); returns what backward needs.
pub fn forward<T: Float>(l: &LayerPlan, buf: &mut [T], n: usize, h: usize, w: usize, cx: &mut Ctx<T>) -> LayerTape<T> {
    let p = n * h * w;
    let params = cx.params;
    let k = l.out_conv().cout;
    let (x, rest) = buf.split_at_mut(l.cin * p);
    let out = &mut rest[..k * p];
    let naive = cx.mode == MemoryMode::Naive && cx.train;

    let s1 = cx.stats(&l.norm1, x, p);
    let mut z = if naive { vec![T::ZERO; l.cin * p] } else { std::mem::take(&mut cx.scratch.z) };
    ensure(&mut z, l.cin * p);
    batchnorm::forward(x, l.cin, p, bn_args(params, &l.norm1, &s1, true), &mut z);

    let mut tape = LayerTape { s1, s2: None, naive: None };
    match &l.bottleneck {
        Some((norm2, conv2)) => {
            let bw = l.conv1.cout;
            let mut b = if naive { vec![T::ZERO; bw * p] } else { std::mem::take(&mut cx.scratch.b) };
            let mut z2 = if naive { vec![T::ZERO; bw * p] } else { std::mem::take(&mut cx.scratch.z2) };
            ensure(&mut b, bw * p);
            ensure(&mut z2, bw * p);
            conv::forward(&z, &params[l.conv1.weight], &geom(&l.conv1, n, h, w), &mut b, &mut cx.scratch.cols);
            let s2 = cx.stats(norm2, &b, p);
            batchnorm::forward(&b, bw, p, bn_args(params, norm2, &s2, true), &mut z2);
            conv::forward(&z2, &params[conv2.weight], &geom(conv2, n, h, w), out, &mut cx.scratch.cols);
            tape.s2 = Some(s2);
            if naive {
                tape.naive = Some(NaiveLayer { cat: x.to_vec(), z, b, z2 });
            } else {
                cx.scratch.z = z;
                cx.scratch.b = b;
                cx.scratch.z2 = z2;
            }
        }
        None => {
            conv::forward(&z, &params[l.conv1.weight], &geom(&l.conv1, n, h, w), out, &mut cx.scratch.cols);
            if naive {
                tape.naive = Some(NaiveLayer { cat: x.to_vec(), z, b: Vec::new(), z2: Vec::new() });
            } else {
                cx.scratch.z = z;
            }
        }
    }
    if cx.train && cx.drop_rate > 0.0 {
        dropout::apply(out, cx.drop_rate, &mask_source(cx, l));
    }
    tape
}

/// Backward of layer `l`: reads d(out) from `grad[cin..cin+k)`, accumulates d(x) into
/// `grad[0..cin)` and the parameter gradients into `cx.grads`.
pub fn backward<T: Float>(l: &LayerPlan, tape: LayerTape<T>, buf: &[T], grad: &mut [T], n: usize, h: usize, w: usize, cx: &mut Ctx<T>) {
    let p = n * h * w;
    let params = cx.params;
    let k = l.out_conv().cout;
    let naive = tape.naive.is_some();
    let (gx, gout) = grad.split_at_mut(l.cin * p);
    let mut d = std::mem::take(&mut cx.scratch.d);
    ensure(&mut d, k * p);
    d[..k * p].copy_from_slice(&gout[..k * p]);
    if cx.drop_rate > 0.0 {
        dropout::apply(&mut d[..k * p], cx.drop_rate, &mask_source(cx, l));
    }
    let LayerTape { s1, s2, naive: stored } = tape;
    let (x, mut z, mut b, mut z2) = match stored {
        Some(s) => (s.cat, s.z, s.b, s.z2),
        None => {
            let x = &buf[..l.cin * p];
            let mut z = std::mem::take(&mut cx.scratch.z);
            ensure(&mut z, l.cin * p);
            batchnorm::forward(x, l.cin, p, bn_args(params, &l.norm1, &s1, true), &mut z);
            (Vec::new(), z, std::mem::take(&mut cx.scratch.b), std::mem::take(&mut cx.scratch.z2))
        }
    };
    let x: &[T] = if naive { &x } else { &buf[..l.cin * p] };

    // d(conv input) of the layer's first conv lands in `z` (z itself is no longer needed then).
    match (&l.bottleneck, &s2) {
        (Some((norm2, conv2)), Some(s2)) => {
            let bw = l.conv1.cout;
            let g1 = geom(&l.conv1, n, h, w);
            let g2 = geom(conv2, n, h, w);
            if !naive {
                ensure(&mut b, bw * p);
                ensure(&mut z2, bw * p);
                conv::forward(&z, &params[l.conv1.weight], &g1, &mut b, &mut cx.scratch.cols);
                batchnorm::forward(&b, bw, p, bn_args(params, norm2, s2, true), &mut z2);
            }
            let grads = cx.grads.as_deref_mut().unwrap();
            conv::backward_weight(&z2, &d, &g2, &mut grads[conv2.weight]);
            conv::backward_input(&d, &params[conv2.weight], &g2, &mut z2, false, &mut cx.scratch.cols);
            let (dg, db) = two_mut(grads, norm2.weight, norm2.bias);
            batchnorm::backward(&b, &mut z2, bw, p, bn_args(params, norm2, s2, true), dg, db, GradOut::InPlace);
            conv::backward_weight(&z, &z2, &g1, &mut grads[l.conv1.weight]);
            conv::backward_input(&z2, &params[l.conv1.weight], &g1, &mut z, false, &mut cx.scratch.cols);
        }
        _ => {
            let g1 = geom(&l.conv1, n, h, w);
            let grads = cx.grads.as_deref_mut().unwrap();
            conv::backward_weight(&z, &d, &g1, &mut grads[l.conv1.weight]);
            conv::backward_input(&d, &params[l.conv1.weight], &g1, &mut z, false, &mut cx.scratch.cols);
        }
    }
    let grads = cx.grads.as_deref_mut().unwrap();
    let (dg, db) = two_mut(grads, l.norm1.weight, l.norm1.bias);
    let args = bn_args(params, &l.norm1, &s1, true);
    if naive {
        // The naive path materializes d(concatenated input), then scatters it into the block gradient.
        batchnorm::backward(x, &mut z, l.cin, p, args, dg, db, GradOut::InPlace);
        gx.iter_mut().zip(&z[..l.cin * p]).for_each(|(g, v)| *g += *v);
    } else {
        batchnorm::backward(x, &mut z, l.cin, p, args, dg, db, GradOut::Accumulate(gx));
        cx.scratch.z = z;
        cx.scratch.b = b;
        cx.scratch.z2 = z2;
    }
    cx.scratch.d = d;
}
