//! The im2col + gemm convolution (`ops::conv`, the path of the WASM build and of CPUs without
//! AVX-512) against a direct loop-nest convolution in f64, with the batch in one chunk and in
//! several (the chunks then run on separate workers, each with its own columns), and the same
//! bits for every thread count in f32.

use densenet_core::geometry::ConvGeom;
use densenet_core::Float;
use densenet_cpu::ops::conv;

mod kernel_inputs;
use kernel_inputs::values;

/// The (input index, weight index) pairs output (co, n, oy, ox) sums over: every (ci, ky, kx)
/// whose input position lies inside the image.
fn taps(g: &ConvGeom, co: usize, n: usize, oy: usize, ox: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for ci in 0..g.cin {
        for ky in 0..g.kernel {
            for kx in 0..g.kernel {
                let iy = (oy * g.stride + ky) as isize - g.pad as isize;
                let ix = (ox * g.stride + kx) as isize - g.pad as isize;
                if iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize {
                    let xi = ((ci * g.n + n) * g.h + iy as usize) * g.w + ix as usize;
                    out.push((xi, ((co * g.cin + ci) * g.kernel + ky) * g.kernel + kx));
                }
            }
        }
    }
    out
}

/// y[co, n, oy, ox] = Σ w[co, ci, ky, kx] · x[ci, n, oy·s + ky − pad, ox·s + kx − pad].
fn direct_forward(x: &[f64], w: &[f64], g: &ConvGeom) -> Vec<f64> {
    let mut y = vec![0.0; g.cout * g.out_plane()];
    for co in 0..g.cout {
        for n in 0..g.n {
            for oy in 0..g.ho {
                for ox in 0..g.wo {
                    let mut acc = 0.0;
                    for (xi, wi) in taps(g, co, n, oy, ox) {
                        acc += w[wi] * x[xi];
                    }
                    y[((co * g.n + n) * g.ho + oy) * g.wo + ox] = acc;
                }
            }
        }
    }
    y
}

/// The input and weight gradients of [`direct_forward`] for output gradient dy.
fn direct_backward(x: &[f64], w: &[f64], dy: &[f64], g: &ConvGeom) -> (Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; g.cin * g.in_plane()];
    let mut dw = vec![0.0; w.len()];
    for co in 0..g.cout {
        for n in 0..g.n {
            for oy in 0..g.ho {
                for ox in 0..g.wo {
                    let d = dy[((co * g.n + n) * g.ho + oy) * g.wo + ox];
                    for (xi, wi) in taps(g, co, n, oy, ox) {
                        dx[xi] += w[wi] * d;
                        dw[wi] += x[xi] * d;
                    }
                }
            }
        }
    }
    (dx, dw)
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().map(|v| v.abs()).fold(1e-30, f64::max);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

fn geometries() -> Vec<ConvGeom> {
    vec![
        // One sample: one chunk, lowered and multiplied across the pool.
        ConvGeom::new(5, 4, 3, 1, 1, 1, 9, 7),
        // Several chunks of a small batch (13 samples → 7 chunks, the last one shorter).
        ConvGeom::new(6, 3, 3, 1, 1, 13, 6, 5),
        // A 3×3 dense-layer shape whose sample overflows the column budget (one sample a chunk).
        ConvGeom::new(48, 12, 3, 1, 1, 3, 32, 32),
        // Strided with padding (the col2im input gradient), several chunks.
        ConvGeom::new(3, 5, 3, 2, 1, 10, 9, 11),
        // A 7×7 stride-2 stem, two samples.
        ConvGeom::new(3, 4, 7, 2, 3, 2, 20, 18),
    ]
}

#[test]
fn im2col_convolution_matches_a_direct_convolution_in_f64() {
    for g in geometries() {
        let x = values::<f64>(g.cin * g.in_plane(), 11 + g.n as u64);
        let w = values::<f64>(g.cout * g.k(), 12);
        let dy = values::<f64>(g.cout * g.out_plane(), 13);
        let init = values::<f64>(g.cout * g.out_plane(), 14);
        let cols = conv::ColsPool::default();
        let want = direct_forward(&x, &w, &g);

        let mut y = vec![0.0; want.len()];
        conv::forward(&x, &w, &g, &mut y, &cols);
        assert!(max_rel(&y, &want) < 1e-12, "{g:?} forward: {:e}", max_rel(&y, &want));

        let mut acc = init.clone();
        conv::forward_into(&x, &w, &g, &mut acc, true, &cols);
        let want_acc: Vec<f64> = want.iter().zip(&init).map(|(a, b)| a + b).collect();
        assert!(max_rel(&acc, &want_acc) < 1e-12, "{g:?} accumulated forward: {:e}", max_rel(&acc, &want_acc));

        let (want_dx, want_dw) = direct_backward(&x, &w, &dy, &g);
        let mut dx = vec![f64::NAN; want_dx.len()];
        conv::backward_input(&dy, &w, &g, &mut dx, false, &cols);
        assert!(max_rel(&dx, &want_dx) < 1e-12, "{g:?} input gradient: {:e}", max_rel(&dx, &want_dx));

        let mut dw = vec![0.0; w.len()];
        conv::backward_weight(&x, &dy, &g, &mut dw, &conv::WgradScratch::default());
        assert!(max_rel(&dw, &want_dw) < 1e-12, "{g:?} weight gradient: {:e}", max_rel(&dw, &want_dw));
    }
}

#[test]
fn im2col_convolution_gives_the_same_bits_on_any_thread_count() {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for g in geometries() {
        let x = values::<f32>(g.cin * g.in_plane(), 21);
        let w = values::<f32>(g.cout * g.k(), 22);
        let dy = values::<f32>(g.cout * g.out_plane(), 23);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let cols = conv::ColsPool::default();
                let mut y = vec![0f32; g.cout * g.out_plane()];
                conv::forward(&x, &w, &g, &mut y, &cols);
                let mut dx = vec![0f32; g.cin * g.in_plane()];
                conv::backward_input(&dy, &w, &g, &mut dx, false, &cols);
                let mut dw = vec![0f32; w.len()];
                conv::backward_weight(&x, &dy, &g, &mut dw, &conv::WgradScratch::default());
                (bits(&y), bits(&dx), bits(&dw))
            })
        };
        let one = run(1);
        assert!(one.0.iter().any(|&b| f32::from_bits(b) != 0.0), "{g:?}: an all-zero output proves nothing");
        for threads in [2, 3, 4] {
            assert!(run(threads) == one, "{g:?}: {threads} threads gave other bits than one ({})", f32::NAME);
        }
    }
}
