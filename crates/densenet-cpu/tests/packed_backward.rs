//! The fused backward of a 1×1 conv reading BN-ReLU(x) (`ops::packed_backward`) against the
//! unfused sequence it replaces: BN forward, im2col + gemm weight and input gradients, BN
//! backward's channel sums. Both element types (f64: the portable micro-kernel; f32: the
//! AVX-512 one where the CPU has it), ragged spans, strips and chunks, with and without ReLU.

use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use densenet_cpu::ops::{batchnorm, conv, packed_backward};

mod kernel_inputs;
use kernel_inputs::values;

/// Largest |a − b| relative to the largest |b|.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().map(|v| v.abs()).fold(1e-30, f64::max);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

fn f64s<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

struct Fused<T> {
    dweight: Vec<T>,
    g: Vec<T>,
    sums: Vec<(f64, f64)>,
}

fn fused<T: Float>(x: &[T], dy: &[T], w: &[T], g: &ConvGeom, args: &BnArgs<&[T]>, init: &[T]) -> Fused<T> {
    let mut dweight = init.to_vec();
    let mut out = vec![T::from_f64(f64::NAN); g.cin * g.in_plane()];
    let sums = packed_backward::bn_conv1x1_backward(x, dy, w, g, args, &mut dweight, &mut out, None, &Default::default(), &Default::default());
    Fused { dweight, g: out, sums }
}

fn check<T: Float>(g: ConvGeom, relu: bool, tol: f64) {
    let p = g.in_plane();
    let x = values::<T>(g.cin * p, 41 + g.cin as u64);
    let dy = values::<T>(g.cout * p, 42 + g.cout as u64);
    let w = values::<T>(g.cout * g.cin, 43);
    let (gamma, beta, mean) = (values::<T>(g.cin, 44), values::<T>(g.cin, 45), values::<T>(g.cin, 46));
    let invstd = vec![T::from_f64(1.25); g.cin];
    let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu };
    let init = values::<T>(g.cout * g.cin, 47);
    // The unfused sequence.
    let mut z = vec![T::ZERO; x.len()];
    batchnorm::forward(&x, g.cin, p, &args, &mut z);
    let mut want_dw = init.clone();
    conv::backward_weight(&z, &dy, &g, &mut want_dw, &conv::WgradScratch::default());
    let mut dz = vec![T::ZERO; x.len()];
    conv::backward_input(&dy, &w, &g, &mut dz, false, &conv::ColsPool::default());
    let want_sums = batchnorm::backward_sums(&x, &dz, g.cin, p, &args);
    let want_g: Vec<f64> = (0..x.len())
        .map(|i| {
            let c = i / p;
            let t = (x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
            let positive = t > T::ZERO;
            if relu && !positive {
                0.0
            } else {
                dz[i].to_f64()
            }
        })
        .collect();
    let got = fused(&x, &dy, &w, &g, &args, &init);
    let name = T::NAME;
    let d = rel_diff(&f64s(&got.dweight), &f64s(&want_dw));
    assert!(d <= tol, "{name} {g:?} relu={relu}: weight gradient off by {d:e}");
    let d = rel_diff(&f64s(&got.g), &want_g);
    assert!(d <= tol, "{name} {g:?} relu={relu}: input gradient off by {d:e}");
    let (sg, sgx): (Vec<f64>, Vec<f64>) = got.sums.iter().copied().unzip();
    let (wg, wgx): (Vec<f64>, Vec<f64>) = want_sums.iter().copied().unzip();
    let d = rel_diff(&sg, &wg).max(rel_diff(&sgx, &wgx));
    assert!(d <= tol, "{name} {g:?} relu={relu}: channel sums off by {d:e}");
    // Accumulating scale·g into an existing gradient instead of storing g.
    let scale = values::<T>(g.cin, 48);
    let start = values::<T>(g.cin * p, 49);
    let mut acc = start.clone();
    let mut dw = init.clone();
    let sums = packed_backward::bn_conv1x1_backward(&x, &dy, &w, &g, &args, &mut dw, &mut acc, Some(&scale), &Default::default(), &Default::default());
    let want_acc: Vec<f64> = (0..x.len()).map(|i| start[i].to_f64() + scale[i / p].to_f64() * want_g[i]).collect();
    let d = rel_diff(&f64s(&acc), &want_acc);
    assert!(d <= tol, "{name} {g:?} relu={relu}: accumulated scale·g off by {d:e}");
    assert!(sums == got.sums && dw == got.dweight, "{name} {g:?}: the scaled call's sums and weight gradient differ");
    // A second call (reused scratch) gives the same bits.
    let again = fused(&x, &dy, &w, &g, &args, &init);
    assert!(again.dweight.iter().zip(&got.dweight).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
    assert!(again.sums == got.sums);
}

fn geometries() -> Vec<ConvGeom> {
    vec![
        // Cin and Cout off every strip and tile size, a ragged span.
        ConvGeom::new(5, 12, 1, 1, 0, 3, 7, 5),
        ConvGeom::new(13, 25, 1, 1, 0, 2, 9, 9),
        // Channels in several chunks (the last one ragged), several items.
        ConvGeom::new(500, 10, 1, 1, 0, 2, 40, 40),
        // A dense layer's bottleneck and a transition.
        ConvGeom::new(168, 48, 1, 1, 0, 4, 8, 8),
        ConvGeom::new(216, 108, 1, 1, 0, 2, 16, 16),
    ]
}

#[test]
fn fused_bn_conv1x1_backward_matches_the_unfused_ops_in_f64() {
    for g in geometries() {
        if packed_backward::supports::<f64>(&g) {
            check::<f64>(g, true, 1e-12);
            check::<f64>(g, false, 1e-12);
        }
    }
}

#[test]
fn fused_bn_conv1x1_backward_matches_the_unfused_ops_in_f32() {
    for g in geometries() {
        if packed_backward::supports::<f32>(&g) {
            check::<f32>(g, true, 1e-4);
            check::<f32>(g, false, 1e-4);
        }
    }
}

#[test]
fn fused_bn_conv1x1_backward_is_independent_of_the_thread_count() {
    let g = ConvGeom::new(130, 14, 1, 1, 0, 40, 6, 6);
    let p = g.in_plane();
    let x = values::<f32>(g.cin * p, 51);
    let dy = values::<f32>(g.cout * p, 52);
    let w = values::<f32>(g.cout * g.cin, 53);
    let (gamma, beta, mean) = (values::<f32>(g.cin, 54), values::<f32>(g.cin, 55), values::<f32>(g.cin, 56));
    let invstd = vec![1.5f32; g.cin];
    let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu: true };
    let init = vec![0f32; g.cout * g.cin];
    let run = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| fused(&x, &dy, &w, &g, &args, &init));
    let (a, b) = (run(1), run(3));
    assert!(a.dweight.iter().zip(&b.dweight).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(a.g.iter().zip(&b.g).all(|(x, y)| x.to_bits() == y.to_bits()));
    assert!(a.sums == b.sums);
}
