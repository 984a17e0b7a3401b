//! The whole network on the CUDA backend's code path (host-emulated kernels) against the CPU
//! backend: train steps in both memory modes (logits, loss, every gradient, every parameter and
//! running statistic after the SGD steps), eval and predict, for a CIFAR BC net with dropout and
//! an ImageNet-stem net (7×7/2 conv, 3×3/2 max pool).

use densenet_core::{DenseNet, DenseNetConfig, Float, MemoryMode, SgdConfig};
use densenet_cpu::Cpu;
use densenet_cuda_kernels_host::backend;

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

fn to64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn batch(seed: u64, n: usize, side: usize, classes: usize) -> (Vec<f32>, Vec<usize>, Vec<i64>) {
    let u = |i: u64| (densenet_core::backend::splitmix64(seed * 7919 + i) >> 11) as f64 / (1u64 << 53) as f64;
    let x = (0..n * 3 * side * side).map(|i| (2.0 * u(i as u64) - 1.0) as f32).collect();
    let y = (0..n).map(|i| (u(1_000_000 + i as u64) * classes as f64) as i64).collect();
    (x, vec![n, 3, side, side], y)
}

/// `grad_tol`: for gradients, looser than `tol` where a max pool follows a ReLU: in f32 a value that
/// is a hair above 0 on one backend and 0 on the other moves an argmax among tied zeros.
fn parity<T: Float + densenet_cuda::Elem>(json: &str, side: usize, mode: MemoryMode, tol: f64, grad_tol: f64) {
    let cfg = DenseNetConfig::from_json(json).unwrap();
    let classes = cfg.num_classes;
    let mut cpu = DenseNet::new(Cpu::<T>::new(), cfg.clone(), 11).unwrap();
    // A small column budget: the convs run in several chunks of samples.
    let mut gpu = DenseNet::new(backend::<T>(4096), cfg, 11).unwrap();
    let sgd = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 };
    cpu.set_optimizer(sgd).unwrap();
    gpu.set_optimizer(sgd).unwrap();
    cpu.set_memory_mode(mode);
    gpu.set_memory_mode(mode);
    for step in 0..2 {
        let (x, shape, y) = batch(step, 3, side, classes);
        let pc = cpu.train_step(&x, &shape, &y).unwrap();
        let pg = gpu.train_step(&x, &shape, &y).unwrap();
        let what = format!("{} {mode:?} step {step}", T::NAME);
        assert!((pc.loss - pg.loss).abs() <= tol * pc.loss.abs(), "{what}: loss {} vs {}", pg.loss, pc.loss);
        assert_eq!(pc.correct, pg.correct, "{what}: correct");
        assert!(rel(&pg.logits, &pc.logits) <= tol, "{what}: logits {:e}", rel(&pg.logits, &pc.logits));
        for (i, (gc, gg)) in cpu.grads_host().iter().zip(gpu.grads_host()).enumerate() {
            let e = rel(&to64(&gg), &to64(gc));
            assert!(e <= grad_tol || gc.iter().all(|v| v.to_f64() == 0.0), "{what}: gradient of {}: {e:e}", cpu.plan().specs[i].name);
        }
        for (i, (a, b)) in cpu.params_host().iter().zip(gpu.params_host()).enumerate() {
            let e = rel(&to64(&b), &to64(a));
            assert!(e <= tol, "{what}: parameter {} after the step: {e:e}", cpu.plan().specs[i].name);
        }
    }
    let (x, shape, y) = batch(9, 2, side, classes);
    let (ec, eg) = (cpu.eval_step(&x, &shape, &y).unwrap(), gpu.eval_step(&x, &shape, &y).unwrap());
    assert!(rel(&eg.logits, &ec.logits) <= tol, "eval logits");
    let (pc, pg) = (cpu.predict(&x, &shape).unwrap(), gpu.predict(&x, &shape).unwrap());
    assert!(rel(&to64(&pg), &to64(&pc)) <= tol, "predict");
}

const CIFAR_BC: &str = r#"{"growthRate":4,"blockConfig":[2,2,2],"numInitFeatures":8,"numClasses":10,"smallInputs":true,"dropRate":0.2}"#;
const IMAGENET: &str = r#"{"growthRate":4,"blockConfig":[2,2],"numInitFeatures":8,"numClasses":7,"smallInputs":false}"#;

#[test]
fn cifar_bc_training_matches_the_cpu_backend() {
    for mode in [MemoryMode::Efficient, MemoryMode::Naive] {
        parity::<f64>(CIFAR_BC, 8, mode, 1e-10, 1e-10);
        parity::<f32>(CIFAR_BC, 8, mode, 2e-4, 2e-4);
    }
}

#[test]
fn imagenet_stem_training_matches_the_cpu_backend() {
    parity::<f64>(IMAGENET, 19, MemoryMode::Efficient, 1e-10, 1e-10);
    parity::<f32>(IMAGENET, 19, MemoryMode::Efficient, 2e-4, 5e-2);
}
