//! GFLOP/s of the packed convolution (BN-ReLU fused but in the stem) on densenet121's layer
//! shapes, f32, as a
//! fraction of the machine's FMA peak (24 independent AVX-512 FMA chains per thread, all
//! threads; the bound of any f32 kernel here).
//!
//!   cargo run --release -p densenet-cpu --example conv_shapes -- [--batch 16] [--reps 5] [--threads N]

#[path = "common/bench_util.rs"]
mod bench_util;

use bench_util::*;
use densenet_core::geometry::ConvGeom;
use densenet_core::BnArgs;
use densenet_cpu::ops::gemm::MatRef;
use densenet_cpu::ops::packed_conv::{self, PackScratch};

fn main() {
    // Inside the pool with the workers kept awake, as the binding runs `predict` (the calling
    // thread is one of the workers).
    let threads: usize = arg_or("threads", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool").install(|| densenet_cpu::keep_workers_awake(run));
}

fn run() {
    let batch: usize = arg_or("batch", 16);
    let reps: usize = arg_or("reps", 5);
    let mut shapes = vec![("7x7/2", ConvGeom::new(3, 64, 7, 2, 3, batch, 224, 224))];
    for (side, cin) in [(56, 64), (56, 224), (28, 128), (28, 480), (14, 256), (14, 992), (7, 512), (7, 992)] {
        shapes.push(("1x1", ConvGeom::new(cin, 128, 1, 1, 0, batch, side, side)));
    }
    for side in [56, 28, 14, 7] {
        shapes.push(("3x3", ConvGeom::new(128, 32, 3, 1, 1, batch, side, side)));
    }
    let peak = fma_peak_gflops();
    println!("FMA peak: {peak:.1} GFLOP/s on {} threads", rayon::current_num_threads());
    let scratch = PackScratch::<f32>::default();
    let mut total = (0.0, 0.0);
    for (kind, g) in &shapes {
        let x = random_f32(g.cin * g.in_plane(), 3);
        let w = random_f32(g.cout * g.k(), 4);
        let ones = vec![1f32; g.cin];
        let zeros = vec![0f32; g.cin];
        let a = BnArgs { mean: &zeros[..], invstd: &ones[..], gamma: &ones[..], beta: &zeros[..], relu: true };
        // The stem reads the image as it is; every other conv normalizes its input.
        let a = (g.stride == 1).then_some(&a);
        let wp = packed_conv::pack(MatRef::rows(&w, g.k()), g);
        let mut y = vec![0f32; g.cout * g.out_plane()];
        packed_conv::forward_packed(&x, &wp, g, a, &mut y, false, &scratch);
        // Calls back to back, as a network runs them (a lone call also times the workers' wake-up).
        let calls = (64_000_000 / (g.cout * g.k() * g.out_plane())).clamp(1, 200);
        let times: Vec<f64> = densenet_cpu::keep_workers_awake(|| {
            packed_conv::forward_packed(&x, &wp, g, a, &mut y, false, &scratch);
            (0..reps).map(|_| time_ms(|| (0..calls).for_each(|_| packed_conv::forward_packed(&x, &wp, g, a, &mut y, false, &scratch))).0 / calls as f64).collect()
        });
        let ms = median(&times);
        let flop = 2.0 * (g.cout * g.k() * g.out_plane()) as f64;
        total.0 += ms;
        total.1 += flop;
        println!("{kind:5} cin {:4} {:3}² n {batch}: {:7.3} ms {:6.1} GFLOP/s ({:.0}% of peak)", g.cin, g.h, ms, flop / ms / 1e6, 100.0 * flop / ms / 1e6 / peak);
    }
    for (name, (secs, calls)) in densenet_cpu::ops::profile::take() {
        eprintln!("  {name:30} {secs:8.3} s {calls:6} calls");
    }
    let all = total.1 / total.0 / 1e6;
    println!("all: {:.2} ms {all:.1} GFLOP/s ({:.0}% of peak)", total.0, 100.0 * all / peak);
}

/// GFLOP/s of FMAs from L1 into 24 accumulators on every rayon thread (0 without AVX-512).
fn fma_peak_gflops() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
        let threads = rayon::current_num_threads();
        let iters = 40_000_000usize;
        // Best of three (the first also wakes the workers and lifts the clock).
        let best = (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                let sink: f32 = std::thread::scope(|s| {
                    let hs: Vec<_> = (0..threads).map(|i| s.spawn(move || unsafe { fma_chains(iters, &[1.0 + i as f32 * 1e-7; 64], &[0.999_999; 64]) })).collect();
                    hs.into_iter().map(|h| h.join().expect("FMA thread")).sum()
                });
                std::hint::black_box(sink);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        return (threads * iters * 24 * 16 * 2) as f64 / best / 1e9;
    }
    0.0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn fma_chains(iters: usize, w: &[f32; 64], b: &[f32; 64]) -> f32 {
    use std::arch::x86_64::*;
    // The micro-kernel's shape: 12 broadcast weights × 2 vectors into 24 accumulators.
    let mut acc = [_mm512_setzero_ps(); 24];
    for it in 0..iters {
        unsafe {
            let o = (it & 3) * 16;
            let b0 = _mm512_loadu_ps(b.as_ptr().add(o % 32));
            let b1 = _mm512_loadu_ps(b.as_ptr().add(o % 32 + 16));
            for m in 0..12 {
                let wv = _mm512_set1_ps(*w.get_unchecked(m + (it & 1)));
                acc[2 * m] = _mm512_fmadd_ps(wv, b0, acc[2 * m]);
                acc[2 * m + 1] = _mm512_fmadd_ps(wv, b1, acc[2 * m + 1]);
            }
        }
    }
    let mut s = _mm512_setzero_ps();
    for a in acc {
        s = _mm512_add_ps(s, a);
    }
    _mm512_reduce_add_ps(s)
}
