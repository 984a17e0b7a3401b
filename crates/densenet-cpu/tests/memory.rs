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

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
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
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    m.train_step(&x, &shape, &y).unwrap();
    PEAK.load(Ordering::SeqCst) - base
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
