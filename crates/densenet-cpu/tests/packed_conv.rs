//! The implicit-GEMM convolution (`ops::packed_conv`) against the im2col + gemm reference, with
//! and without the BN(-ReLU) fused into its packing: every layout (1×1, padded stride-1 k×k,
//! gathered strided), ragged tiles and strips, accumulation, both element types (f64: the
//! portable micro-kernel; f32: the AVX-512 one where the CPU has it).

use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, Float};
use densenet_cpu::ops::gemm::MatRef;
use densenet_cpu::ops::{batchnorm, conv, packed_conv, packed_wgrad};

mod kernel_inputs;
use kernel_inputs::values;

/// Largest |a − b| relative to the largest |b|.
fn rel_diff<T: Float>(a: &[T], b: &[T]) -> f64 {
    let scale = b.iter().map(|v| v.to_f64().abs()).fold(1e-30, f64::max);
    a.iter().zip(b).map(|(x, y)| (x.to_f64() - y.to_f64()).abs()).fold(0.0, f64::max) / scale
}

fn check<T: Float>(g: ConvGeom, with_norm: bool, relu: bool, accumulate: bool, tol: f64) {
    let x = values::<T>(g.cin * g.in_plane(), 1 + g.cin as u64);
    let w = values::<T>(g.cout * g.k(), 2 + g.cout as u64);
    let (gamma, beta, mean) = (values::<T>(g.cin, 3), values::<T>(g.cin, 4), values::<T>(g.cin, 5));
    let invstd: Vec<T> = values::<T>(g.cin, 6).iter().map(|v| T::from_f64(1.0 + v.to_f64().abs())).collect();
    let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu };
    let init = values::<T>(g.cout * g.out_plane(), 7);

    // Reference: normalize into a buffer, then im2col + gemm.
    let mut z = x.clone();
    if with_norm {
        batchnorm::forward(&x, g.cin, g.in_plane(), &args, &mut z);
    }
    let mut want = init.clone();
    conv::forward_into(&z, &w, &g, &mut want, accumulate, &conv::ColsPool::default());

    let mut got = init.clone();
    let scratch = packed_conv::PackScratch::default();
    packed_conv::forward(&x, MatRef::rows(&w, g.k()), &g, with_norm.then_some(&args), &mut got, accumulate, &scratch);
    let d = rel_diff(&got, &want);
    assert!(d <= tol, "{} {g:?} norm={with_norm} relu={relu} acc={accumulate}: relative difference {d:e} > {tol:e}", T::NAME);
    // Twice through the same scratch (reused buffers) gives the same bits.
    let mut again = init.clone();
    packed_conv::forward(&x, MatRef::rows(&w, g.k()), &g, with_norm.then_some(&args), &mut again, accumulate, &scratch);
    assert!(got.iter().zip(&again).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()), "{g:?}: a second call differs");
}

fn geometries() -> Vec<ConvGeom> {
    vec![
        // 1×1: ragged last tile (P = 3·7·5 = 105), one and several strips, Cin past a span's budget.
        ConvGeom::new(5, 12, 1, 1, 0, 3, 7, 5),
        ConvGeom::new(13, 25, 1, 1, 0, 2, 9, 9),
        ConvGeom::new(300, 48, 1, 1, 0, 2, 8, 8),
        // Batch 1 (items cut for the workers, weights packed on several workers): densenet121's
        // 7² and 14² 1×1 and 3×3 shapes, narrowed.
        ConvGeom::new(1000, 40, 1, 1, 0, 1, 7, 7),
        ConvGeom::new(64, 30, 3, 1, 1, 1, 14, 14),
        // Padded stride-1 k×k: widths below and above a tile, bands of one row, pad 0 and 2.
        ConvGeom::new(48, 12, 3, 1, 1, 2, 8, 8),
        ConvGeom::new(7, 13, 3, 1, 1, 3, 5, 33),
        ConvGeom::new(3, 24, 3, 1, 1, 2, 32, 32),
        ConvGeom::new(1100, 5, 3, 1, 1, 1, 6, 40),
        ConvGeom::new(4, 6, 3, 1, 0, 2, 7, 9),
        ConvGeom::new(5, 7, 5, 1, 2, 2, 6, 11),
        ConvGeom::new(12, 1, 3, 1, 1, 1, 1, 1),
        // Gathered: strided stems and convs.
        ConvGeom::new(3, 16, 7, 2, 3, 2, 23, 19),
        // Output rows of 35 and 36 columns: the stem's vector stride-2 packing and its tail.
        ConvGeom::new(3, 13, 7, 2, 3, 1, 9, 70),
        ConvGeom::new(2, 5, 7, 2, 3, 2, 5, 71),
        ConvGeom::new(6, 14, 3, 2, 1, 2, 9, 10),
        ConvGeom::new(5, 9, 2, 2, 0, 1, 8, 8),
    ]
}

#[test]
fn packed_conv_matches_im2col_gemm_in_f64() {
    for g in geometries() {
        for (norm, relu, acc) in [(false, false, false), (true, true, false), (true, false, true), (false, false, true)] {
            check::<f64>(g, norm, relu, acc, 1e-13);
        }
    }
}

#[test]
fn packed_conv_matches_im2col_gemm_in_f32() {
    for g in geometries() {
        for (norm, relu, acc) in [(false, false, false), (true, true, false), (true, false, true)] {
            check::<f32>(g, norm, relu, acc, 2e-5);
        }
    }
}

/// A NaN in the input reaches the output through the fused BN-ReLU (it is not clamped to 0),
/// as it does through `batchnorm::forward` and PyTorch's relu.
#[test]
fn fused_bn_relu_propagates_nan() {
    let g = ConvGeom::new(2, 3, 3, 1, 1, 1, 4, 4);
    let mut x = vec![0.5f64; g.cin * g.in_plane()];
    x[5] = f64::NAN;
    let w = vec![0.1f64; g.cout * g.k()];
    let ones = [1.0f64; 2];
    let zeros = [0.0f64; 2];
    let args = BnArgs { gamma: &ones[..], beta: &zeros[..], mean: &zeros[..], invstd: &ones[..], relu: true };
    let mut y = vec![0.0f64; g.cout * g.out_plane()];
    packed_conv::forward(&x, MatRef::rows(&w, g.k()), &g, Some(&args), &mut y, false, &packed_conv::PackScratch::default());
    assert!(y[5].is_nan() && !y[15].is_nan());
}

/// Batch-1 shapes, where the items are cut by the number of workers and the weights are packed
/// on several: the same bits for 1, 2, 3 and 4 threads, and through a transposed weight view (the
/// input gradient's Wᵀ) the same bits as through the stored transpose. The 1×1 shapes of few
/// tiles take the shared-pack path on 2+ threads (one packed input, (strip, tile) units) and the
/// item path on one, with and without the fused BN-ReLU and accumulating: the same bits.
#[test]
fn packed_conv_at_batch_one_is_independent_of_the_thread_count_and_the_weight_view() {
    for g in [
        ConvGeom::new(1000, 40, 1, 1, 0, 1, 7, 7),
        ConvGeom::new(512, 128, 1, 1, 0, 1, 14, 14),
        ConvGeom::new(128, 32, 3, 1, 1, 1, 14, 14),
        ConvGeom::new(64, 30, 3, 1, 1, 1, 56, 56),
        // One band of several tiles (fewer bands than workers): its tiles are cut into parts.
        ConvGeom::new(128, 32, 3, 1, 1, 1, 7, 7),
        ConvGeom::new(16, 20, 3, 1, 1, 1, 9, 13),
        // 1×1 with a ragged last tile (P = 45) and a last strip of 5 rows.
        ConvGeom::new(70, 29, 1, 1, 0, 1, 5, 9),
    ] {
        let x = values::<f32>(g.cin * g.in_plane(), 11);
        let w = values::<f32>(g.cout * g.k(), 12);
        let (gamma, beta, mean) = (values::<f32>(g.cin, 3), values::<f32>(g.cin, 4), values::<f32>(g.cin, 5));
        let invstd: Vec<f32> = values::<f32>(g.cin, 6).iter().map(|v| 1.0 + v.abs()).collect();
        let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu: true };
        let init = values::<f32>(g.cout * g.out_plane(), 7);
        let fused = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut y = init.clone();
            pool.install(|| packed_conv::forward(&x, MatRef::rows(&w, g.k()), &g, Some(&args), &mut y, true, &packed_conv::PackScratch::default()));
            y
        };
        let one = fused(1);
        for threads in [2, 3, 4] {
            let y = fused(threads);
            assert!(one.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()), "{g:?}: BN-ReLU fused, accumulating, {threads} threads differ from 1");
        }
        // wt = Wᵀ stored row-major [K, Cout]; rows_t(wt, Cout) views it as W again.
        let mut wt = vec![0f32; w.len()];
        for co in 0..g.cout {
            for r in 0..g.k() {
                wt[r * g.cout + co] = w[co * g.k() + r];
            }
        }
        let run = |threads: usize, transposed: bool| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut y = vec![0f32; g.cout * g.out_plane()];
            pool.install(|| {
                let view = if transposed { MatRef::rows_t(&wt, g.cout) } else { MatRef::rows(&w, g.k()) };
                packed_conv::forward(&x, view, &g, None, &mut y, false, &packed_conv::PackScratch::default())
            });
            y
        };
        let one = run(1, false);
        let mut want = vec![0f32; one.len()];
        conv::forward_into(&x, &w, &g, &mut want, false, &conv::ColsPool::default());
        assert!(rel_diff(&one, &want) <= 2e-5, "{g:?}: packed vs im2col + gemm");
        for (threads, transposed) in [(2, false), (3, false), (4, false), (2, true)] {
            let y = run(threads, transposed);
            assert!(one.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()), "{g:?}: {threads} threads (transposed view: {transposed}) differ from 1");
        }
    }
}

/// The same bits for 1 and 3 threads (each output is one ordered sum).
#[test]
fn packed_conv_is_independent_of_the_thread_count() {
    let g = ConvGeom::new(40, 30, 3, 1, 1, 4, 12, 12);
    let x = values::<f32>(g.cin * g.in_plane(), 9);
    let w = values::<f32>(g.cout * g.k(), 10);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut y = vec![0f32; g.cout * g.out_plane()];
        pool.install(|| packed_conv::forward(&x, MatRef::rows(&w, g.k()), &g, None, &mut y, false, &packed_conv::PackScratch::default()));
        y
    };
    let (a, b) = (run(1), run(3));
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
}

fn check_wgrad<T: Float>(g: ConvGeom, with_norm: bool, tol: f64) {
    let x = values::<T>(g.cin * g.in_plane(), 21 + g.cin as u64);
    let dy = values::<T>(g.cout * g.out_plane(), 22 + g.cout as u64);
    let (gamma, beta, mean) = (values::<T>(g.cin, 23), values::<T>(g.cin, 24), values::<T>(g.cin, 25));
    let invstd = vec![T::from_f64(1.25); g.cin];
    let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu: true };
    let init = values::<T>(g.cout * g.k(), 26);
    let mut z = x.clone();
    if with_norm {
        batchnorm::forward(&x, g.cin, g.in_plane(), &args, &mut z);
    }
    let mut want = init.clone();
    conv::backward_weight(&z, &dy, &g, &mut want, &conv::WgradScratch::default());
    let (pack, ws) = (packed_conv::PackScratch::default(), packed_wgrad::WgradScratch::default());
    let mut got = init.clone();
    packed_wgrad::backward_weight(&x, &dy, &g, with_norm.then_some(&args), &mut got, &pack, &ws);
    let d = rel_diff(&got, &want);
    assert!(d <= tol, "{} wgrad {g:?} norm={with_norm}: relative difference {d:e} > {tol:e}", T::NAME);
    let mut again = init.clone();
    packed_wgrad::backward_weight(&x, &dy, &g, with_norm.then_some(&args), &mut again, &pack, &ws);
    assert!(got.iter().zip(&again).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()), "{g:?}: a second call differs");
}

#[test]
fn packed_weight_gradient_matches_im2col_gemm() {
    for g in geometries().into_iter().filter(packed_wgrad::supports::<f64>) {
        check_wgrad::<f64>(g, false, 1e-13);
        check_wgrad::<f64>(g, true, 1e-13);
        if packed_wgrad::supports::<f32>(&g) {
            check_wgrad::<f32>(g, false, 2e-5);
            check_wgrad::<f32>(g, true, 2e-5);
        }
    }
    // More items than groups (uneven groups), one-row bands.
    check_wgrad::<f64>(ConvGeom::new(9, 7, 3, 1, 1, 37, 5, 6), false, 1e-13);
    check_wgrad::<f64>(ConvGeom::new(3000, 4, 1, 1, 0, 3, 11, 13), false, 1e-13);
    // 1×1 with its channels packed in several chunks, the last one ragged.
    let chunked = ConvGeom::new(1030, 10, 1, 1, 0, 2, 40, 40);
    check_wgrad::<f64>(chunked, true, 1e-13);
    if packed_wgrad::supports::<f32>(&chunked) {
        check_wgrad::<f32>(chunked, true, 2e-5);
    }
}

#[test]
fn packed_weight_gradient_is_independent_of_the_thread_count() {
    for g in [ConvGeom::new(20, 14, 3, 1, 1, 40, 6, 6), ConvGeom::new(130, 14, 1, 1, 0, 40, 6, 6)] {
        weight_gradient_thread_independence(g);
    }
}

fn weight_gradient_thread_independence(g: ConvGeom) {
    let x = values::<f32>(g.cin * g.in_plane(), 31);
    let dy = values::<f32>(g.cout * g.out_plane(), 32);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut dw = vec![0f32; g.cout * g.k()];
        pool.install(|| packed_wgrad::backward_weight(&x, &dy, &g, None, &mut dw, &Default::default(), &Default::default()));
        dw
    };
    let (a, b) = (run(1), run(3));
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
}
