//! Kernel and step benchmarks at the shapes densenet-bc-100 uses at batch 64 on 32×32 inputs
//! (P = N·H·W = 64·32·32 = 65 536 values per channel in block 1).
//!
//!   cargo bench -p densenet-cpu --bench kernels                 # everything (a few minutes)
//!   cargo bench -p densenet-cpu --bench kernels -- conv3x3      # one group (criterion filter)
//!   DENSENET_BENCH_SKIP_STEPS=1 cargo bench -p densenet-cpu     # kernels only, no block/step
//!
//! Throughput: BN in bytes of minimum memory traffic, convolutions and sgemm in FLOPs (criterion
//! shows them as "elem/s": 1 elem = 1 FLOP), blocks and steps in images. After each conv/sgemm
//! benchmark a line `GFLOP/s <name>: ...` gives the rate from the median per-iteration time.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use densenet_core::geometry::ConvGeom;
use densenet_core::{BnArgs, DenseNet, DenseNetConfig, GradOut, MemoryMode, SgdConfig};
use densenet_cpu::ops::gemm::MatRef;
use densenet_cpu::ops::{batchnorm, conv, packed_backward, packed_conv, packed_wgrad};
use densenet_cpu::Cpu;
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

const N: usize = 64;
const HW: usize = 32;
const P: usize = N * HW * HW;
/// Criterion samples per benchmark (its minimum; keeps the whole run to a few minutes).
const SAMPLES: usize = 10;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic values in [-1, 1) (no denormals, no zeros to speak of).
fn random(len: usize, seed: u64) -> Vec<f32> {
    (0..len).map(|i| ((splitmix64(seed ^ (i as u64)) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
}

/// Times `f` through `iter_custom` and remembers every sample's per-iteration time, so the
/// median can be turned into GFLOP/s after the benchmark.
struct Rate {
    per_iter_s: RefCell<Vec<f64>>,
}

impl Rate {
    fn new() -> Self {
        Rate { per_iter_s: RefCell::new(Vec::new()) }
    }
    fn run(&self, iters: u64, mut f: impl FnMut()) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        let d = t.elapsed();
        self.per_iter_s.borrow_mut().push(d.as_secs_f64() / iters as f64);
        d
    }
    /// Prints GFLOP/s from the median per-iteration time of the last `SAMPLES` calls: the
    /// measurement samples (criterion's warm-up calls come first).
    fn report(&self, name: &str, flops: f64) {
        let mut all = self.per_iter_s.borrow_mut();
        if all.is_empty() {
            return; // filtered out
        }
        let mut v = all[all.len().saturating_sub(SAMPLES)..].to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = v[v.len() / 2];
        println!("GFLOP/s {name}: {:.1} ({:.3} GFLOP in {:.3} ms, median of {} samples)", flops / med / 1e9, flops / 1e9, med * 1e3, v.len());
        all.clear();
    }
}

fn conv_flops(g: &ConvGeom) -> f64 {
    2.0 * (g.cout * g.cin * g.kernel * g.kernel * g.n * g.ho * g.wo) as f64
}

fn bench_batchnorm(c: &mut Criterion) {
    let mut group = c.benchmark_group("bn_relu");
    group.sample_size(SAMPLES).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for &ch in &[48usize, 168, 342] {
        let x = random(ch * P, 1);
        let dy = random(ch * P, 2);
        let gamma = random(ch, 3).iter().map(|v| 1.0 + 0.5 * v).collect::<Vec<_>>();
        let beta = random(ch, 4).iter().map(|v| 0.1 * v).collect::<Vec<_>>();
        let stats = batchnorm::batch_stats(&x, ch, P);
        let args: BnArgs<&[f32]> = BnArgs { gamma: &gamma, beta: &beta, mean: &stats.mean, invstd: &stats.invstd, relu: true };
        let mut y = vec![0f32; ch * P];
        // forward: read x, write y
        group.throughput(Throughput::Bytes((8 * ch * P) as u64));
        group.bench_with_input(BenchmarkId::new("forward", format!("{ch}x64x32x32")), &ch, |b, _| b.iter(|| batchnorm::forward(black_box(&x), ch, P, &args, &mut y)));
        // batch statistics (train-mode forward reads x twice)
        group.throughput(Throughput::Bytes((8 * ch * P) as u64));
        group.bench_with_input(BenchmarkId::new("batch_stats", format!("{ch}x64x32x32")), &ch, |b, _| b.iter(|| black_box(batchnorm::batch_stats(black_box(&x), ch, P))));
        // backward, dx accumulated (as norm1 into the block gradient): pass 1 reads x, dy;
        // pass 2 reads x, dy, dx and writes dx.
        let mut dyb = dy.clone();
        let mut dx = vec![0f32; ch * P];
        let (mut dg, mut db) = (vec![0f32; ch], vec![0f32; ch]);
        group.throughput(Throughput::Bytes((24 * ch * P) as u64));
        group.bench_with_input(BenchmarkId::new("backward_accumulate", format!("{ch}x64x32x32")), &ch, |b, _| {
            b.iter(|| batchnorm::backward(black_box(&x), &mut dyb, ch, P, &args, &mut dg, &mut db, GradOut::Accumulate(&mut dx)))
        });
    }
    group.finish();
}

fn bench_conv(c: &mut Criterion, group_name: &str, g: ConvGeom) {
    let x = random(g.cin * g.in_plane(), 5);
    let w = random(g.cout * g.cin * g.kernel * g.kernel, 6).iter().map(|v| v * 0.1).collect::<Vec<_>>();
    let dy = random(g.cout * g.out_plane(), 7);
    let mut y = vec![0f32; g.cout * g.out_plane()];
    let mut dx = vec![0f32; g.cin * g.in_plane()];
    let mut dw = vec![0f32; w.len()];
    let scratch = conv::ColsPool::default();
    let ws = conv::WgradScratch::default();
    let flops = conv_flops(&g);
    let mut group = c.benchmark_group(group_name);
    group.sample_size(SAMPLES).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(flops as u64));
    let rate = Rate::new();
    group.bench_function("forward", |b| b.iter_custom(|it| rate.run(it, || conv::forward(black_box(&x), &w, &g, &mut y, &scratch))));
    rate.report(&format!("{group_name}/forward"), flops);
    // The implicit GEMM (no im2col buffer) and, below, BN-ReLU fused into its operand packing
    // beside normalizing into a buffer first.
    let packs = packed_conv::PackScratch::default();
    let wv = MatRef::rows(&w, g.k());
    group.bench_function("packed_forward", |b| b.iter_custom(|it| rate.run(it, || packed_conv::forward(black_box(&x), wv, &g, None, &mut y, false, &packs))));
    rate.report(&format!("{group_name}/packed_forward"), flops);
    let (gamma, beta, mean) = (random(g.cin, 11), random(g.cin, 12), random(g.cin, 13));
    let invstd = vec![1.5f32; g.cin];
    let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu: true };
    let mut z = vec![0f32; x.len()];
    group.bench_function("bn_relu_then_forward", |b| {
        b.iter_custom(|it| {
            rate.run(it, || {
                batchnorm::forward(black_box(&x), g.cin, g.in_plane(), &args, &mut z);
                conv::forward(&z, &w, &g, &mut y, &scratch)
            })
        })
    });
    rate.report(&format!("{group_name}/bn_relu_then_forward"), flops);
    group.bench_function("packed_bn_relu_forward", |b| b.iter_custom(|it| rate.run(it, || packed_conv::forward(black_box(&x), wv, &g, Some(&args), &mut y, false, &packs))));
    rate.report(&format!("{group_name}/packed_bn_relu_forward"), flops);
    group.bench_function("backward_input", |b| b.iter_custom(|it| rate.run(it, || conv::backward_input(black_box(&dy), &w, &g, &mut dx, false, &scratch))));
    rate.report(&format!("{group_name}/backward_input"), flops);
    group.bench_function("backward_weight", |b| b.iter_custom(|it| rate.run(it, || conv::backward_weight(black_box(&x), &dy, &g, &mut dw, &ws))));
    rate.report(&format!("{group_name}/backward_weight"), flops);
    let wws = packed_wgrad::WgradScratch::default();
    group.bench_function("packed_backward_weight", |b| b.iter_custom(|it| rate.run(it, || packed_wgrad::backward_weight(black_box(&x), &dy, &g, None, &mut dw, &packs, &wws))));
    rate.report(&format!("{group_name}/packed_backward_weight"), flops);
    if packed_backward::supports::<f32>(&g) {
        // The backward of BN-ReLU → 1×1 conv: weight and input gradients (2 × the forward's
        // FLOPs) and BN's channel sums, unfused (packed weight gradient, gemm input gradient,
        // sums pass) beside the fused kernel.
        let (gamma, beta, mean) = (random(g.cin, 21), random(g.cin, 22), random(g.cin, 23));
        let invstd = vec![1.5f32; g.cin];
        let args = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu: true };
        group.bench_function("bn_backward_unfused", |b| {
            b.iter_custom(|it| {
                rate.run(it, || {
                    packed_wgrad::backward_weight(black_box(&x), &dy, &g, Some(&args), &mut dw, &packs, &wws);
                    conv::backward_input(&dy, &w, &g, &mut dx, false, &scratch);
                    black_box(batchnorm::backward_sums(&x, &dx, g.cin, g.in_plane(), &args));
                })
            })
        });
        rate.report(&format!("{group_name}/bn_backward_unfused"), 2.0 * flops);
        group.bench_function("packed_bn_backward", |b| {
            b.iter_custom(|it| {
                rate.run(it, || {
                    black_box(packed_backward::bn_conv1x1_backward(black_box(&x), &dy, &w, &g, &args, &mut dw, &mut dx, None, &packs, &wws));
                })
            })
        });
        rate.report(&format!("{group_name}/packed_bn_backward"), 2.0 * flops);
    }
    group.finish();
}

fn bench_convs(c: &mut Criterion) {
    // Block-1 bottleneck conv of densenet-bc-100's 13th layer: 1×1, 168 → 48 (= bn_size·k).
    bench_conv(c, "conv1x1_168to48_64x32x32", ConvGeom::new(168, 48, 1, 1, 0, N, HW, HW));
    // Every layer's 3×3 conv: 48 → 12 (= k), pad 1.
    bench_conv(c, "conv3x3_48to12_64x32x32", ConvGeom::new(48, 12, 3, 1, 1, N, HW, HW));
}

/// sgemm peak of the `gemm` crate (the GEMM every conv uses), f32, all rayon threads.
fn bench_sgemm(c: &mut Criterion) {
    let n = 2048usize;
    let a = random(n * n, 8);
    let b_ = random(n * n, 9);
    let mut d = vec![0f32; n * n];
    let threads = rayon::current_num_threads();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let flops = 2.0 * (n * n * n) as f64;
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(SAMPLES).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(flops as u64));
    let rate = Rate::new();
    let name = format!("{n}x{n}x{n}_t{threads}");
    group.bench_function(&name, |bch| {
        bch.iter_custom(|it| {
            rate.run(it, || unsafe {
                gemm::gemm(n, n, n, d.as_mut_ptr(), 1, n as isize, false, a.as_ptr(), 1, n as isize, b_.as_ptr(), 1, n as isize, 1.0f32, 1.0f32, false, false, false, par)
            })
        })
    });
    rate.report(&format!("sgemm/{name}"), flops);
    group.finish();
}

fn bc100() -> DenseNetConfig {
    DenseNetConfig::preset("densenet-bc-100").unwrap()
}

fn skip_steps() -> bool {
    std::env::var_os("DENSENET_BENCH_SKIP_STEPS").is_some()
}

/// Block 1 of densenet-bc-100 (16 layers, 24 → 216 channels at 32×32) as a one-block DenseNet
/// (stem conv + block + head): forward + backward (compute_gradients, no optimizer update).
fn bench_dense_block(c: &mut Criterion) {
    if skip_steps() {
        return;
    }
    let mut cfg = bc100();
    cfg.block_config = vec![16];
    let shape = [N, 3, HW, HW];
    let x = random(N * 3 * HW * HW, 12);
    let labels: Vec<i64> = (0..N as i64).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("dense_block1_bc100_64x32x32");
    group.sample_size(SAMPLES).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(5));
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(N as u64));
    for mode in [MemoryMode::Efficient, MemoryMode::Naive] {
        let mut model = DenseNet::new(Cpu::<f32>::new(), cfg.clone(), 0).unwrap();
        model.set_memory_mode(mode);
        let name = if mode == MemoryMode::Efficient { "forward_backward_efficient" } else { "forward_backward_naive" };
        group.bench_function(name, |b| b.iter(|| black_box(model.compute_gradients(&x, &shape, &labels).unwrap())));
    }
    group.finish();
}

/// A whole densenet-bc-100 training step (forward, backward, SGD update), batch 64, 32×32.
fn bench_train_step(c: &mut Criterion) {
    if skip_steps() {
        return;
    }
    let cfg = bc100();
    let shape = [N, 3, HW, HW];
    let x = random(N * 3 * HW * HW, 13);
    let labels: Vec<i64> = (0..N as i64).map(|i| i % 10).collect();
    let mut group = c.benchmark_group("train_step_bc100_64x32x32");
    group.sample_size(SAMPLES).warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(10));
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(N as u64));
    let mut model = DenseNet::new(Cpu::<f32>::new(), cfg, 0).unwrap();
    model.set_optimizer(SgdConfig { lr: 1e-3, ..SgdConfig::default() }).unwrap();
    group.bench_function("efficient", |b| b.iter(|| black_box(model.train_step(&x, &shape, &labels).unwrap())));
    group.finish();
}

criterion_group! {
    name = kernels;
    config = Criterion::default();
    targets = bench_sgemm, bench_batchnorm, bench_convs, bench_dense_block, bench_train_step
}
criterion_main!(kernels);
