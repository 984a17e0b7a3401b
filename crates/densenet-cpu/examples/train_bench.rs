//! Training-step benchmark: a DenseNet preset on random data, f32, one process.
//!
//!   cargo run --release -p densenet-core --example train_bench -- \
//!       [--preset densenet-bc-100] [--batch 64] [--size 32] [--steps 10] [--warmup 2] \
//!       [--mode efficient|naive] [--threads N] [--one-step]
//!
//! Prints one JSON line: images_per_s (batch / median step time), step_ms (median), every step
//! time, the minor page faults of every timed step, and the process's peak RSS (VmHWM) beside
//! its RSS before the first step.
//! `--one-step` runs exactly one step with no warm-up (for the peak memory of a single step).

#[path = "common/bench_util.rs"]
mod bench_util;

use bench_util::*;
use densenet_core::geometry::Geometry;
use densenet_core::plan::{ConvRef, Plan};
use densenet_core::{DenseNet, DenseNetConfig, MemoryMode};
use densenet_cpu::Cpu;

/// Forward convolution FLOPs of one batch: Σ 2·Cout·Cin·k²·Ho·Wo·N over every conv.
fn forward_conv_flops(plan: &Plan, geo: &Geometry) -> f64 {
    let f = |c: &ConvRef, (h, w): (usize, usize)| {
        let ho = (h + 2 * c.pad - c.kernel) / c.stride + 1;
        let wo = (w + 2 * c.pad - c.kernel) / c.stride + 1;
        2.0 * (c.cout * c.cin * c.kernel * c.kernel * ho * wo * geo.n) as f64
    };
    let mut total = f(&plan.stem.conv0, (geo.h, geo.w));
    for (bi, block) in plan.blocks.iter().enumerate() {
        for l in &block.layers {
            total += f(&l.conv1, geo.blocks[bi]);
            if let Some((_, c2)) = &l.bottleneck {
                total += f(c2, geo.blocks[bi]);
            }
        }
        if let Some(t) = plan.transitions.get(bi) {
            total += f(&t.conv, geo.blocks[bi]);
        }
    }
    total
}

/// A preset, or "densenet-bc-40": the seed's configuration (DenseNet-BC, depth 40, k 12: 6 layers
/// per block, otherwise densenet-bc-100's), benchmarked beside the presets.
fn bench_config(name: &str) -> DenseNetConfig {
    if name == "densenet-bc-40" {
        let mut c = DenseNetConfig::preset("densenet-bc-100").expect("preset");
        c.block_config = vec![6, 6, 6];
        return c;
    }
    DenseNetConfig::preset(name).expect("preset")
}

fn main() {
    let preset = arg("preset").unwrap_or_else(|| "densenet-bc-100".into());
    let batch: usize = arg_or("batch", 64);
    let one_step = flag("one-step");
    let steps: usize = if one_step { 1 } else { arg_or("steps", 10) };
    let warmup: usize = if one_step { 0 } else { arg_or("warmup", 2) };
    let mode_name = arg("mode").unwrap_or_else(|| "efficient".into());
    let mode = match mode_name.as_str() {
        "efficient" => MemoryMode::Efficient,
        "naive" => MemoryMode::Naive,
        other => panic!("--mode must be efficient or naive, got {other}"),
    };
    let threads: usize = arg_or("threads", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

    let config = bench_config(&preset);
    let size: usize = arg_or("size", if config.small_inputs { 32 } else { 224 });
    let mut model = DenseNet::new(Cpu::<f32>::new(), config.clone(), 0).expect("model");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    model.set_memory_mode(mode);

    let shape = [batch, config.in_channels, size, size];
    let x = random_f32(shape.iter().product(), 1);
    let labels = random_labels(batch, config.num_classes, 2);

    for _ in 0..warmup {
        pool.install(|| densenet_cpu::keep_workers_awake(|| model.train_step(&x, &shape, &labels))).expect("train step");
    }
    let rss_before_kb = proc_status_kb("VmRSS:");
    let hwm_before_kb = proc_status_kb("VmHWM:");
    let mut times = Vec::with_capacity(steps);
    let mut faults = Vec::with_capacity(steps);
    let mut last_loss = f64::NAN;
    for _ in 0..steps {
        let f0 = minor_faults();
        let (ms, out) = time_ms(|| pool.install(|| densenet_cpu::keep_workers_awake(|| model.train_step(&x, &shape, &labels))).expect("train step"));
        faults.push(minor_faults() - f0);
        times.push(ms);
        last_loss = out.loss;
    }
    let step_ms = median(&times);
    let geo = Geometry::new(&config, &shape).expect("geometry");
    let fwd_flops = forward_conv_flops(model.plan(), &geo);
    // backward ≈ 2× forward (input and weight gradients); recomputation is not counted.
    let train_flops = 3.0 * fwd_flops;
    let out = serde_json::json!({
        "impl": "ours",
        "mode": mode_name,
        "preset": preset,
        "dtype": "f32",
        "batch": batch,
        "size": size,
        "threads": threads,
        "warmup": warmup,
        "steps": steps,
        "step_ms": step_ms,
        "step_ms_min": times.iter().cloned().fold(f64::INFINITY, f64::min),
        "step_ms_all": times,
        "minflt_all": faults,
        "images_per_s": batch as f64 * 1e3 / step_ms,
        "fwd_conv_gflop": fwd_flops / 1e9,
        "train_conv_gflop": train_flops / 1e9,
        "achieved_gflops": train_flops / 1e9 / (step_ms / 1e3),
        "loss": last_loss,
        "params": model.parameter_count(),
        "rss_before_kb": rss_before_kb,
        "hwm_before_kb": hwm_before_kb,
        "peak_rss_kb": proc_status_kb("VmHWM:"),
    });
    println!("{out}");
    let prof = densenet_cpu::ops::profile::take();
    if !prof.is_empty() {
        let total: f64 = times.iter().sum::<f64>() / 1000.0;
        eprintln!("profile over {} measured steps ({total:.2} s):", steps);
        for (name, (secs, calls)) in prof {
            eprintln!("  {name:<28} {secs:8.3} s  {:5.1}%  {calls} calls", 100.0 * secs / total);
        }
    }
}
