//! Inference benchmark: eval-mode forward (predict) of a preset on random data, f32.
//!
//!   cargo run --release -p densenet-core --example infer_bench -- \
//!       [--preset densenet121] [--batch 1] [--size 224] [--runs 10] [--warmup 2] [--threads N] [--awake 0|1]
//!
//! Prints one JSON line: images_per_s (batch / median latency), latency_ms (median), every run,
//! peak RSS (VmHWM) and the RSS before the first timed run.

#[path = "common/bench_util.rs"]
mod bench_util;

use bench_util::*;
use densenet_core::{DenseNet, DenseNetConfig};
use densenet_cpu::Cpu;

fn main() {
    let preset = arg("preset").unwrap_or_else(|| "densenet121".into());
    let batch: usize = arg_or("batch", 1);
    let runs: usize = arg_or("runs", 10);
    let warmup: usize = arg_or("warmup", 2);
    let threads: usize = arg_or("threads", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let config = DenseNetConfig::preset(&preset).expect("preset");
    let size: usize = arg_or("size", if config.small_inputs { 32 } else { 224 });
    let model = DenseNet::new(Cpu::<f32>::new(), config.clone(), 0).expect("model");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");

    let shape = [batch, config.in_channels, size, size];
    let x = random_f32(shape.iter().product(), 1);
    // As the binding runs it, the other workers kept awake (--awake 0: rayon's own sleep).
    let awake = arg_or("awake", 1usize) != 0;
    let predict = || if awake { densenet_cpu::keep_workers_awake(|| model.predict(&x, &shape)) } else { model.predict(&x, &shape) };
    for _ in 0..warmup {
        std::hint::black_box(pool.install(predict).expect("predict"));
    }
    let rss_before_kb = proc_status_kb("VmRSS:");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (ms, y) = time_ms(|| pool.install(predict).expect("predict"));
        std::hint::black_box(y);
        times.push(ms);
    }
    let latency_ms = median(&times);
    let out = serde_json::json!({
        "impl": "ours",
        "preset": preset,
        "dtype": "f32",
        "batch": batch,
        "size": size,
        "threads": threads,
        "warmup": warmup,
        "runs": runs,
        "latency_ms": latency_ms,
        "latency_ms_min": times.iter().cloned().fold(f64::INFINITY, f64::min),
        "latency_ms_all": times,
        "images_per_s": batch as f64 * 1e3 / latency_ms,
        "rss_before_kb": rss_before_kb,
        "peak_rss_kb": proc_status_kb("VmHWM:"),
    });
    println!("{out}");
    let prof = densenet_cpu::ops::profile::take();
    if !prof.is_empty() {
        eprintln!("profile over {} warm-up and {runs} timed runs:", warmup);
        for (name, (secs, calls)) in prof {
            eprintln!("  {name:<28} {secs:8.3} s  {calls} calls");
        }
    }
}
