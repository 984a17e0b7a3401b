//! Training-step behaviour beyond parity: running statistics updated once, the numerics guard,
//! determinism across thread counts, optimizer semantics, schedules and checkpoints.

mod common;
use common::*;
use densenet_core::{DenseNet, DenseNetConfig, Error, LrSchedule, MemoryMode, SgdConfig};

fn tiny(drop: f64) -> DenseNetConfig {
    let mut c = DenseNetConfig::from_json(r#"{"growthRate":6,"blockConfig":[3,3,3],"numInitFeatures":12,"numClasses":10,"smallInputs":true}"#).unwrap();
    c.drop_rate = drop;
    c
}

fn batch(seed: u64, n: usize, side: usize, classes: usize) -> (Vec<f32>, Vec<usize>, Vec<i64>) {
    let x: Vec<f32> = uniform(&format!("x{seed}"), seed, n * 3 * side * side).iter().map(|&u| (2.0 * u - 1.0) as f32).collect();
    let y: Vec<i64> = uniform(&format!("y{seed}"), seed, n).iter().map(|&u| (u * classes as f64) as i64).collect();
    (x, vec![n, 3, side, side], y)
}

#[test]
fn running_stats_are_updated_once_per_step() {
    // The fixture's after-1-step running statistics match only a single momentum update: the
    // efficient mode recomputes every BN-ReLU in backward and must not touch them again.
    let fx = Fixture::load("train_tiny_bc.safetensors");
    let seed = fx.meta_f64("seed") as u64;
    let mut m: DenseNet<f64> = fixture_model(fx.config(), seed);
    m.mode = MemoryMode::Efficient;
    let labels: Vec<i64> = fx.get("labels.0").iter().map(|&v| v as i64).collect();
    let before = m.params.tensors.clone();
    m.train_step(fx.get("input.0"), fx.shape("input.0"), &labels).unwrap();
    let mut checked = 0;
    for (i, spec) in m.plan.specs.iter().enumerate() {
        if spec.kind.trainable() {
            continue;
        }
        let reference = fx.get(&format!("after1.{}", spec.name));
        assert!(rel_error(&m.params.tensors[i], reference) < 1e-12, "{}", spec.name);
        // A second update with the same batch statistics would be detected.
        let batch_stat: Vec<f64> = reference.iter().zip(&before[i]).map(|(r, b)| (r - 0.9 * b) / 0.1).collect();
        let twice: Vec<f64> = reference.iter().zip(&batch_stat).map(|(r, s)| 0.9 * r + 0.1 * s).collect();
        assert!(rel_error(&twice, reference) > 1e-6, "{}: a double update would go unnoticed", spec.name);
        checked += 1;
    }
    assert!(checked > 10);
}

#[test]
fn non_finite_loss_refuses_the_update() {
    let mut m = DenseNet::<f32>::new(tiny(0.0), 3).unwrap();
    let (mut x, shape, y) = batch(1, 4, 16, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let params = m.params.tensors.clone();
    let momentum = m.optimizer.momentum.clone();
    x[17] = f32::NAN;
    let err = m.train_step(&x, &shape, &y).unwrap_err();
    assert!(matches!(err, Error::NonFinite(_)), "{err}");
    assert!(err.to_string().contains("the loss is NaN"), "{err}");
    assert_eq!(m.params.tensors, params, "parameters and running statistics unchanged");
    assert_eq!(m.optimizer.momentum, momentum, "optimizer state unchanged");
    assert_eq!(m.step, 1);
    // The model stays usable.
    x[17] = 0.0;
    m.train_step(&x, &shape, &y).unwrap();
    assert_eq!(m.step, 2);
}

#[test]
fn non_finite_gradient_names_the_first_offending_tensor() {
    let mut m = DenseNet::<f32>::new(tiny(0.0), 3).unwrap();
    let (x, shape, y) = batch(1, 4, 16, 10);
    let (_, out) = m.compute_gradients(&x, &shape, &y).unwrap();
    m.check_finite(out.loss).unwrap();
    let a = m.plan.index_of("features.denseblock2.denselayer1.conv2.weight").unwrap();
    let b = m.plan.index_of("features.transition2.conv.weight").unwrap();
    m.grads.tensors[b][0] = f32::INFINITY;
    m.grads.tensors[a][5] = f32::NAN;
    let err = m.check_finite(out.loss).unwrap_err().to_string();
    assert!(err.contains("'features.denseblock2.denselayer1.conv2.weight'") && err.contains("element 5"), "{err}");
}

fn train_params(threads: usize, cfg: DenseNetConfig, steps: usize) -> Vec<Vec<f32>> {
    let mut m = DenseNet::<f32>::new(cfg, 11).unwrap();
    m.set_threads(threads);
    for s in 0..steps {
        let (x, shape, y) = batch(s as u64, 8, 32, 10);
        m.train_step(&x, &shape, &y).unwrap();
    }
    m.params.tensors
}

#[test]
fn bit_identical_across_thread_counts() {
    let cfg = DenseNetConfig::from_json(r#"{"growthRate":12,"blockConfig":[4,4,4],"numInitFeatures":24,"numClasses":10,"smallInputs":true,"dropRate":0.2}"#).unwrap();
    let one = train_params(1, cfg.clone(), 3);
    let two = train_params(2, cfg.clone(), 3);
    assert!(one == two, "parameters differ between 1 and 2 threads");
    assert_eq!(one, train_params(2, cfg, 3), "same seed, same data: same result");
}

#[test]
fn dropout_changes_with_the_step_and_is_off_in_eval() {
    let mut m = DenseNet::<f32>::new(tiny(0.5), 3).unwrap();
    let (x, shape, y) = batch(1, 4, 16, 10);
    let a = m.predict(&x, &shape).unwrap();
    let b = m.predict(&x, &shape).unwrap();
    assert_eq!(a, b, "eval is deterministic (no dropout)");
    let (_, s1) = m.compute_gradients(&x, &shape, &y).unwrap();
    m.step += 1;
    let (_, s2) = m.compute_gradients(&x, &shape, &y).unwrap();
    assert_ne!(s1.logits, s2.logits, "a new mask each step");
}

#[test]
fn sgd_matches_pytorch_semantics() {
    // torch.optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1), no Nesterov, grad = 1 each step:
    // d1 = 1 + 0.1·p0; buf1 = d1; p1 = p0 − 0.5·buf1; d2 = 1 + 0.1·p1; buf2 = 0.9·buf1 + d2; p2 = p1 − 0.5·buf2.
    let cfg = tiny(0.0);
    let mut m = DenseNet::<f64>::new(cfg, 1).unwrap();
    let plan = m.plan.clone();
    m.optimizer.config = SgdConfig { lr: 0.5, momentum: 0.9, nesterov: false, weight_decay: 0.1 };
    let p0 = m.params.tensors[0][0];
    let grads: Vec<Vec<f64>> = plan.specs.iter().map(|s| vec![1.0; s.numel()]).collect();
    m.optimizer.step(&plan, &mut m.params.tensors, &grads);
    let d1 = 1.0 + 0.1 * p0;
    let p1 = p0 - 0.5 * d1;
    assert_eq!(m.params.tensors[0][0], p1);
    m.optimizer.step(&plan, &mut m.params.tensors, &grads);
    let buf2 = 0.9 * d1 + (1.0 + 0.1 * p1);
    assert!((m.params.tensors[0][0] - (p1 - 0.5 * buf2)).abs() < 1e-15);
    // Running statistics are not parameters: SGD leaves them alone.
    let rm = plan.index_of("features.norm5.running_mean").unwrap();
    assert!(m.params.tensors[rm].iter().all(|&v| v == 0.0));
}

#[test]
fn schedules_follow_pytorch() {
    let s = LrSchedule::reference(0.1, 300);
    let lr = |e: f64| s.lr_at(e);
    assert_eq!(lr(0.0), 0.1);
    assert_eq!(lr(149.0), 0.1);
    assert!((lr(150.0) - 0.01).abs() < 1e-15);
    assert!((lr(224.0) - 0.01).abs() < 1e-15);
    assert!((lr(225.0) - 0.001).abs() < 1e-15);
    let c = LrSchedule::Cosine { lr: 0.1, epochs: 100.0 };
    // CosineAnnealingLR(T_max=100, eta_min=0) at epoch 10: 0.1·(1 + cos(π/10))/2.
    assert!((c.lr_at(10.0) - 0.09755282581475769).abs() < 1e-15);
    assert!(c.lr_at(100.0).abs() < 1e-15);
}

#[test]
fn checkpoint_resumes_bit_identically() {
    let dir = std::env::temp_dir().join(format!("densenet-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ckpt.safetensors");
    let cfg = tiny(0.2);
    let mut a = DenseNet::<f32>::new(cfg.clone(), 5).unwrap();
    for s in 0..2 {
        let (x, shape, y) = batch(s, 4, 16, 10);
        a.train_step(&x, &shape, &y).unwrap();
    }
    a.save_checkpoint(&path, r#"{"epoch":1}"#).unwrap();
    let mut b = DenseNet::<f32>::new(cfg, 99).unwrap();
    assert_eq!(b.load_checkpoint(&path).unwrap(), r#"{"epoch":1}"#);
    assert_eq!(b.step, 2);
    for s in 2..4 {
        let (x, shape, y) = batch(s, 4, 16, 10);
        a.train_step(&x, &shape, &y).unwrap();
        b.train_step(&x, &shape, &y).unwrap();
    }
    assert!(a.params.tensors == b.params.tensors);
    assert!(a.optimizer.momentum == b.optimizer.momentum);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn weight_files_report_clear_errors() {
    let dir = std::env::temp_dir().join(format!("densenet-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = DenseNet::<f32>::new(tiny(0.0), 1).unwrap();
    let missing = dir.join("nope.safetensors");
    let e = m.load(&missing).unwrap_err().to_string();
    assert!(e.starts_with("[ERR_IO]") && e.contains("nope.safetensors"), "{e}");

    let good = dir.join("good.safetensors");
    m.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let e = m.load(&corrupt).unwrap_err().to_string();
    assert!(e.starts_with("[ERR_WEIGHTS]") && e.contains("corrupt.safetensors"), "{e}");

    let mut other_cfg = tiny(0.0);
    other_cfg.growth_rate = 8;
    let mut other = DenseNet::<f32>::new(other_cfg, 1).unwrap();
    let before = other.params.tensors.clone();
    let e = other.load(&good).unwrap_err().to_string();
    assert!(e.contains("'features.denseblock1.denselayer1.conv1.weight' has shape [24, 12, 1, 1], expected [32, 12, 1, 1]"), "{e}");
    assert!(other.params.tensors == before, "a failed load changes nothing");

    let mut f64_model = DenseNet::<f64>::new(tiny(0.0), 1).unwrap();
    f64_model.load(&good).unwrap();
    assert_eq!(f64_model.params.tensors[0][3], m.params.tensors[0][3] as f64, "f32 files load into f64 models");
    std::fs::remove_dir_all(&dir).ok();
}
