//! Peak memory of a training step and of inference, measured by a counting global allocator:
//! linear in depth in the efficient mode, inference below training. (One test in this binary,
//! so no other test allocates meanwhile.)

use densenet_core::{DenseNet, DenseNetConfig, MemoryMode};
use densenet_cpu::Cpu;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Allocations (and reallocations that grow) of at least `LARGE` bytes, and all bytes allocated.
/// (The gemm crate packs its operands into buffers it allocates per call, up to a few hundred
/// KiB, which malloc serves from its free lists; everything larger is ours and is reused.)
static LARGE_COUNT: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);
const LARGE: usize = 1 << 20;

fn note(size: usize) {
    COUNT.fetch_add(1, Ordering::Relaxed);
    ALLOCATED.fetch_add(size, Ordering::Relaxed);
    if size >= LARGE {
        LARGE_COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note(layout.size());
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size > layout.size() {
                note(new_size);
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn model(layers: usize) -> DenseNet<f32, Cpu<f32>> {
    let cfg =
        DenseNetConfig::from_json(&format!(r#"{{"growthRate":12,"blockConfig":[{layers},{layers},{layers}],"numInitFeatures":24,"numClasses":10,"smallInputs":true}}"#)).unwrap();
    DenseNet::new(Cpu::new(), cfg, 1).unwrap()
}

/// Bytes allocated during one predict call beyond what the model held before it.
fn predict_peak(layers: usize) -> usize {
    let m = model(layers);
    let n = 16;
    let x: Vec<f32> = (0..n * 3 * 32 * 32).map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5).collect();
    let shape = [n, 3, 32, 32];
    m.predict(&x, &shape).unwrap();
    m.release_cached(); // measure a cold pass: every buffer allocated afresh
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    m.predict(&x, &shape).unwrap();
    PEAK.load(Ordering::SeqCst) - base
}

/// Bytes allocated during one training step beyond what the model held before it.
fn step_peak(layers: usize, mode: MemoryMode) -> usize {
    let mut m = model(layers);
    m.set_memory_mode(mode);
    let n = 16;
    let x: Vec<f32> = (0..n * 3 * 32 * 32).map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5).collect();
    let y: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let shape = [n, 3, 32, 32];
    m.train_step(&x, &shape, &y).unwrap(); // creates the optimizer state
    m.release_cached(); // measure a cold step: every buffer allocated afresh
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    m.train_step(&x, &shape, &y).unwrap();
    let cold = PEAK.load(Ordering::SeqCst) - base;
    // A warm step reuses the buffers the cold one left: what is held between steps plus what
    // the step allocates stays within the cold step's peak (+10%).
    PEAK.store(CURRENT.load(Ordering::SeqCst), Ordering::SeqCst);
    m.train_step(&x, &shape, &y).unwrap();
    let warm = PEAK.load(Ordering::SeqCst) - base;
    eprintln!(
        "  {mode:?}, {layers} layers: cold step {cold} bytes, held between steps + warm step {warm} bytes ({:.3}×), cached {} bytes",
        warm as f64 / cold as f64,
        m.cached_bytes()
    );
    assert!(warm as f64 <= cold as f64 * 1.10, "{mode:?} at {layers} layers: held + warm step {warm} > 1.1 × cold step {cold}");
    cold
}

/// Allocations during `steps` training steps (and predicts) after two warm-up steps of the same
/// shape: (allocations of at least `LARGE` bytes, bytes allocated, allocations).
fn warm_allocations(layers: usize, mode: MemoryMode, steps: usize) -> (usize, usize, usize) {
    let mut m = model(layers);
    m.set_memory_mode(mode);
    let n = 16;
    let x: Vec<f32> = (0..n * 3 * 32 * 32).map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5).collect();
    let y: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let shape = [n, 3, 32, 32];
    for _ in 0..2 {
        m.train_step(&x, &shape, &y).unwrap();
        m.predict(&x, &shape).unwrap();
    }
    let before = (LARGE_COUNT.load(Ordering::SeqCst), ALLOCATED.load(Ordering::SeqCst), COUNT.load(Ordering::SeqCst));
    for _ in 0..steps {
        m.train_step(&x, &shape, &y).unwrap();
        m.predict(&x, &shape).unwrap();
    }
    (LARGE_COUNT.load(Ordering::SeqCst) - before.0, ALLOCATED.load(Ordering::SeqCst) - before.1, COUNT.load(Ordering::SeqCst) - before.2)
}

#[test]
fn efficient_training_memory_is_linear_in_depth() {
    let depths = [4, 8, 16, 32];
    let mut rows = Vec::new();
    for mode in [MemoryMode::Efficient, MemoryMode::Naive] {
        let peaks: Vec<usize> = depths.iter().map(|&l| step_peak(l, mode)).collect();
        rows.push((mode, peaks));
    }
    eprintln!("peak bytes of one training step (BC, k=12, batch 16, 32x32), layers per block {depths:?}:");
    for (mode, peaks) in &rows {
        let mib: Vec<String> = peaks.iter().map(|p| format!("{:.1} MiB", *p as f64 / (1 << 20) as f64)).collect();
        eprintln!("  {mode:?}: {} ; peak(32)/peak(16) = {:.3}", mib.join(", "), peaks[3] as f64 / peaks[2] as f64);
    }
    let eff = &rows[0].1;
    let naive = &rows[1].1;
    let ratio = eff[3] as f64 / eff[2] as f64;
    assert!(ratio <= 2.2, "efficient peak(32)/peak(16) = {ratio:.3} > 2.2");
    for i in 0..4 {
        assert!(eff[i] < naive[i], "efficient must use less than naive at {} layers", depths[i]);
    }
    assert!(naive[3] as f64 / naive[2] as f64 > ratio, "naive grows faster than efficient");

    // Inference keeps no tape: at most linear growth, and below the training step's peak.
    let infer: Vec<usize> = depths.iter().map(|&l| predict_peak(l)).collect();
    let mib: Vec<String> = infer.iter().map(|p| format!("{:.1} MiB", *p as f64 / (1 << 20) as f64)).collect();
    let iratio = infer[3] as f64 / infer[2] as f64;
    eprintln!("  predict: {} ; peak(32)/peak(16) = {iratio:.3}", mib.join(", "));
    assert!(iratio <= 2.2, "inference peak(32)/peak(16) = {iratio:.3} > 2.2");
    for i in 0..4 {
        assert!(infer[i] < eff[i], "inference must use less than a training step at {} layers", depths[i]);
    }

    // No large allocation inside a warm step or predict: every block, gradient and scratch
    // buffer, the uploaded batch and the kernels' workspace come from the previous step's
    // (what remains is small: per-channel statistics, tapes, the gemm crate's packing buffers).
    for mode in [MemoryMode::Efficient, MemoryMode::Naive] {
        let steps = 3;
        let (large, bytes, count) = warm_allocations(16, mode, steps);
        eprintln!("  {mode:?}, 16 layers, {steps} warm steps + predicts: {large} allocations of >= {LARGE} bytes, {bytes} bytes in {count} allocations");
        assert_eq!(large, 0, "{mode:?}: {large} allocations of at least {LARGE} bytes in warm steps");
    }

    // The plan's estimate (what a memory budget is checked against) follows the measurement.
    for (i, &l) in depths.iter().enumerate() {
        let est = model(l).memory_estimate(&[16, 3, 32, 32]).unwrap();
        let ratios = [est.training_efficient as f64 / eff[i] as f64, est.training_naive as f64 / naive[i] as f64, est.inference as f64 / infer[i] as f64];
        eprintln!("  estimate/measured at {l} layers: efficient {:.2}, naive {:.2}, predict {:.2}", ratios[0], ratios[1], ratios[2]);
        for r in ratios {
            assert!((0.8..=1.6).contains(&r), "estimate off by {r:.2} at {l} layers: {est:?}");
        }
    }
}
