//! The CUDA device itself (feature `cuda`). Without a GPU (no libcuda, as in CI) these check
//! that asking for one is a typed ERR_DEVICE error, not a crash; on a GPU machine they also run
//! a few training steps against the CPU backend.
#![cfg(feature = "cuda")]

use densenet_core::{DenseNet, DenseNetConfig, MemoryMode};
use densenet_cpu::Cpu;
use densenet_cuda::cuda;

#[test]
fn a_missing_device_is_err_device() {
    let e = cuda::<f32>(1000).err().expect("there is no cuda:1000");
    assert_eq!(e.code(), "ERR_DEVICE", "{e}");
    eprintln!("cuda:1000 -> {e}");
}

#[test]
fn training_on_the_gpu_matches_the_cpu_backend() {
    let gpu = match cuda::<f64>(0) {
        Ok(b) => b,
        Err(e) => {
            assert_eq!(e.code(), "ERR_DEVICE", "{e}");
            eprintln!("no GPU here, skipped: {e}");
            return;
        }
    };
    let cfg = DenseNetConfig::from_json(r#"{"growthRate":6,"blockConfig":[2,2,2],"numInitFeatures":12,"numClasses":10,"smallInputs":true}"#).unwrap();
    let mut c = DenseNet::new(Cpu::<f64>::new(), cfg.clone(), 5).unwrap();
    let mut g = DenseNet::new(gpu, cfg, 5).unwrap();
    for mode in [MemoryMode::Efficient, MemoryMode::Naive] {
        c.set_memory_mode(mode);
        g.set_memory_mode(mode);
        let x: Vec<f32> = (0..4 * 3 * 16 * 16).map(|i| ((i * 7919 % 1000) as f32) / 500.0 - 1.0).collect();
        let y = [1i64, 3, 5, 7];
        let (oc, og) = (c.train_step(&x, &[4, 3, 16, 16], &y).unwrap(), g.train_step(&x, &[4, 3, 16, 16], &y).unwrap());
        assert!((oc.loss - og.loss).abs() < 1e-10, "{mode:?}: loss {} vs {}", og.loss, oc.loss);
        for (a, b) in c.params_host().iter().zip(g.params_host()) {
            let e = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(e < 1e-10, "{mode:?}: parameters differ by {e}");
        }
    }
}

/// NCCL in a world of one on GPU 0: the f32/f64 device buffers and host values all-reduced in
/// place. Skipped (printed) only where there is no GPU; with a GPU a missing libnccl fails.
#[test]
fn nccl_all_reduces_in_a_world_of_one() {
    if let Err(e) = cuda::<f32>(0) {
        assert_eq!(e.code(), "ERR_DEVICE", "{e}");
        eprintln!("no GPU here, NCCL smoke skipped: {e}");
        return;
    }
    let s = densenet_cuda::nccl_smoke(0).unwrap_or_else(|e| panic!("NCCL smoke on a GPU machine: {e}"));
    eprintln!("{s:?}");
    assert_eq!(s.ranks, 1);
    assert!(s.ok && s.sum == s.expected, "{s:?}");
}
