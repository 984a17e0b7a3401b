//! Training-step behaviour beyond parity: running statistics updated once, the numerics guard,
//! determinism across thread counts, optimizer semantics, schedules and checkpoints.

mod common;
use common::*;
use densenet_core::{Backend, DenseNetConfig, Error, LrSchedule, MemoryMode, SgdConfig};
use std::collections::HashMap;

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
    let mut m: Net<f64> = fixture_model(fx.config(), seed);
    m.set_memory_mode(MemoryMode::Efficient);
    let labels: Vec<i64> = fx.get("labels.0").iter().map(|&v| v as i64).collect();
    let before = m.params_host().clone();
    m.train_step(fx.get("input.0"), fx.shape("input.0"), &labels).unwrap();
    let mut checked = 0;
    for (i, spec) in m.plan().specs.iter().enumerate() {
        if spec.kind.trainable() {
            continue;
        }
        let reference = fx.get(&format!("after1.{}", spec.name));
        assert!(rel_error(&m.params_host()[i], reference) < 1e-12, "{}", spec.name);
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
    let mut m = new_model::<f32>(tiny(0.0), 3);
    let (mut x, shape, y) = batch(1, 4, 16, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let params = m.params_host().clone();
    let momentum = m.momentum_host();
    x[17] = f32::NAN;
    let err = m.train_step(&x, &shape, &y).unwrap_err();
    assert!(matches!(err, Error::NonFinite(_)), "{err}");
    assert!(err.to_string().contains("the loss is NaN"), "{err}");
    assert_eq!(m.params_host(), params, "parameters and running statistics unchanged");
    assert_eq!(m.momentum_host(), momentum, "optimizer state unchanged");
    assert_eq!(m.step(), 1);
    // The model stays usable.
    x[17] = 0.0;
    m.train_step(&x, &shape, &y).unwrap();
    assert_eq!(m.step(), 2);
}

#[test]
fn non_finite_gradient_names_the_first_offending_tensor() {
    let mut m = new_model::<f32>(tiny(0.0), 3);
    let (x, shape, y) = batch(1, 4, 16, 10);
    let out = m.compute_gradients(&x, &shape, &y).unwrap().output;
    m.check_finite(out.loss).unwrap();
    let a = m.plan().index_of("features.denseblock2.denselayer1.conv2.weight").unwrap();
    let b = m.plan().index_of("features.transition2.conv.weight").unwrap();
    let mut grads = m.grads_host();
    grads[b][0] = f32::INFINITY;
    grads[a][5] = f32::NAN;
    m.set_grads_host(&grads).unwrap();
    let err = m.check_finite(out.loss).unwrap_err().to_string();
    assert!(err.contains("'features.denseblock2.denselayer1.conv2.weight'") && err.contains("element 5"), "{err}");
}

fn train_params(threads: usize, cfg: DenseNetConfig, steps: usize) -> Vec<Vec<f32>> {
    with_threads(threads, || {
        let mut m = new_model::<f32>(cfg, 11);
        for s in 0..steps {
            let (x, shape, y) = batch(s as u64, 8, 32, 10);
            m.train_step(&x, &shape, &y).unwrap();
        }
        m.params_host()
    })
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
    let mut m = new_model::<f32>(tiny(0.5), 3);
    let (x, shape, y) = batch(1, 4, 16, 10);
    let a = m.predict(&x, &shape).unwrap();
    let b = m.predict(&x, &shape).unwrap();
    assert_eq!(a, b, "eval is deterministic (no dropout)");
    let s1 = m.compute_gradients(&x, &shape, &y).unwrap().output;
    m.set_step(m.step() + 1);
    let s2 = m.compute_gradients(&x, &shape, &y).unwrap().output;
    assert_ne!(s1.logits, s2.logits, "a new mask each step");
}

#[test]
fn sgd_matches_pytorch_semantics() {
    // torch.optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1), no Nesterov, grad = 1 each step:
    // d1 = 1 + 0.1·p0; buf1 = d1; p1 = p0 − 0.5·buf1; d2 = 1 + 0.1·p1; buf2 = 0.9·buf1 + d2; p2 = p1 − 0.5·buf2.
    let be = backend::<f64>();
    let cfg = SgdConfig { lr: 0.5, momentum: 0.9, nesterov: false, weight_decay: 0.1 };
    let p0 = 0.3;
    let mut p = be.upload(&[p0, -1.0]).unwrap();
    let g = be.upload(&[1.0, 1.0]).unwrap();
    let mut buf = be.alloc(2).unwrap();
    be.sgd_step(TestBackend::<f64>::dst(&mut p), TestBackend::<f64>::src(&g), Some((TestBackend::<f64>::dst(&mut buf), false)), &cfg);
    let d1 = 1.0 + 0.1 * p0;
    let p1 = p0 - 0.5 * d1;
    assert_eq!(be.download(TestBackend::<f64>::src(&p))[0], p1);
    be.sgd_step(TestBackend::<f64>::dst(&mut p), TestBackend::<f64>::src(&g), Some((TestBackend::<f64>::dst(&mut buf), true)), &cfg);
    let buf2 = 0.9 * d1 + (1.0 + 0.1 * p1);
    assert!((be.download(TestBackend::<f64>::src(&p))[0] - (p1 - 0.5 * buf2)).abs() < 1e-15);
    // Nesterov: d = g + m·buf.
    let nes = SgdConfig { nesterov: true, ..cfg };
    let mut q = be.upload(&[p0]).unwrap();
    let g1 = be.upload(&[1.0]).unwrap();
    let mut qb = be.alloc(1).unwrap();
    be.sgd_step(TestBackend::<f64>::dst(&mut q), TestBackend::<f64>::src(&g1), Some((TestBackend::<f64>::dst(&mut qb), false)), &nes);
    assert!((be.download(TestBackend::<f64>::src(&q))[0] - (p0 - 0.5 * (d1 + 0.9 * d1))).abs() < 1e-15);
    // Running statistics are not parameters: a step with zero learning rate leaves the
    // trainable tensors alone and moves only the running statistics.
    let mut m = new_model::<f64>(tiny(0.0), 1);
    m.set_optimizer(SgdConfig { lr: 0.0, ..SgdConfig::default() }).unwrap();
    let before = m.params_host();
    let (x, shape, y) = batch(1, 4, 16, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let after = m.params_host();
    for (i, spec) in m.plan().specs.iter().enumerate() {
        assert_eq!(spec.kind.trainable(), before[i] == after[i], "{}", spec.name);
    }
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
    let mut a = new_model::<f32>(cfg.clone(), 5);
    for s in 0..2 {
        let (x, shape, y) = batch(s, 4, 16, 10);
        a.train_step(&x, &shape, &y).unwrap();
    }
    std::fs::write(&path, a.checkpoint_bytes(r#"{"epoch":1}"#).unwrap()).unwrap();
    let mut b = new_model::<f32>(cfg, 99);
    assert_eq!(b.load_checkpoint(&std::fs::read(&path).unwrap(), "ckpt").unwrap(), r#"{"epoch":1}"#);
    assert_eq!(b.step(), 2);
    for s in 2..4 {
        let (x, shape, y) = batch(s, 4, 16, 10);
        a.train_step(&x, &shape, &y).unwrap();
        b.train_step(&x, &shape, &y).unwrap();
    }
    assert!(a.params_host() == b.params_host());
    assert!(a.momentum_host() == b.momentum_host());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn weight_files_report_clear_errors() {
    let dir = std::env::temp_dir().join(format!("densenet-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = new_model::<f32>(tiny(0.0), 1);
    let missing = dir.join("nope.safetensors");
    let e = load_file(&mut m, &missing).unwrap_err().to_string();
    assert!(e.starts_with("[ERR_IO]") && e.contains("nope.safetensors"), "{e}");

    let good = dir.join("good.safetensors");
    std::fs::write(&good, m.weights_bytes(HashMap::new()).unwrap()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_file(&mut m, &corrupt).unwrap_err().to_string();
    assert!(e.starts_with("[ERR_WEIGHTS]") && e.contains("corrupt.safetensors"), "{e}");

    let mut other_cfg = tiny(0.0);
    other_cfg.growth_rate = 8;
    let mut other = new_model::<f32>(other_cfg, 1);
    let before = other.params_host().clone();
    let e = load_file(&mut other, &good).unwrap_err().to_string();
    assert!(e.contains("'features.denseblock1.denselayer1.conv1.weight' has shape [24, 12, 1, 1], expected [32, 12, 1, 1]"), "{e}");
    assert!(other.params_host() == before, "a failed load changes nothing");

    let mut f64_model = new_model::<f64>(tiny(0.0), 1);
    load_file(&mut f64_model, &good).unwrap();
    assert_eq!(f64_model.params_host()[0][3], m.params_host()[0][3] as f64, "f32 files load into f64 models");
    std::fs::remove_dir_all(&dir).ok();
}

/// Weights or running statistics with NaN/Inf, a negative variance, or integer dtypes are
/// refused at load, naming the tensor and the first bad index; the model is unchanged.
#[test]
fn invalid_weight_values_are_refused() {
    use safetensors::tensor::{Dtype, TensorView};
    let mut m = new_model::<f32>(tiny(0.0), 1);
    let good = m.weights_bytes(HashMap::new()).unwrap();
    let before = m.params_host();
    let specs = m.plan().specs.clone();
    let original = m.params_host();
    let with = |name: &str, f: &dyn Fn(&mut Vec<f32>)| -> Vec<u8> {
        let tensors = &original;
        let bytes: Vec<Vec<u8>> = specs
            .iter()
            .zip(tensors)
            .map(|(s, t)| {
                let mut t = t.clone();
                if s.name == name {
                    f(&mut t);
                }
                t.iter().flat_map(|v| v.to_le_bytes()).collect()
            })
            .collect();
        let views: Vec<(String, TensorView)> = specs.iter().zip(&bytes).map(|(s, b)| (s.name.clone(), TensorView::new(Dtype::F32, s.shape.clone(), b).unwrap())).collect();
        safetensors::serialize(views, None).unwrap()
    };
    let nan = with("features.denseblock2.denselayer1.conv1.weight", &|t| t[7] = f32::NAN);
    let e = m.load_weights(&nan, "nan.safetensors").unwrap_err().to_string();
    assert!(e.contains("nan.safetensors") && e.contains("'features.denseblock2.denselayer1.conv1.weight'") && e.contains("index 7"), "{e}");
    let var = with("features.norm5.running_var", &|t| t[2] = -0.5);
    let e = m.load_weights(&var, "var.safetensors").unwrap_err().to_string();
    assert!(e.contains("'features.norm5.running_var'") && e.contains("negative variance") && e.contains("index 2"), "{e}");
    assert!(m.params_host() == before, "a refused load changes nothing");

    // An integer tensor is refused, not cast.
    let tensors = m.params_host();
    let ints: Vec<u8> = tensors[0].iter().flat_map(|v| (*v as i32).to_le_bytes()).collect();
    let floats: Vec<Vec<u8>> = tensors.iter().map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView)> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (s.name.clone(), if i == 0 { TensorView::new(Dtype::I32, s.shape.clone(), &ints).unwrap() } else { TensorView::new(Dtype::F32, s.shape.clone(), &floats[i]).unwrap() })
        })
        .collect();
    let e = m.load_weights(&safetensors::serialize(views, None).unwrap(), "int.safetensors").unwrap_err().to_string();
    assert!(e.contains("I32") && e.contains(&specs[0].name), "{e}");
    m.load_weights(&good, "good").unwrap();
}

/// A memory budget refuses a pass before allocating, naming the bytes; the model stays usable.
#[test]
fn memory_budget_refuses_a_batch_that_does_not_fit() {
    let mut m = new_model::<f32>(tiny(0.0), 1);
    let (x, shape, y) = batch(1, 8, 32, 10);
    let est = m.memory_estimate(&shape).unwrap();
    assert!(est.inference_total() < est.training_total(MemoryMode::Efficient));
    assert!(est.training_total(MemoryMode::Efficient) < est.training_total(MemoryMode::Naive));
    m.set_memory_budget(Some(est.inference_total() - 1));
    let e = m.predict(&x, &shape).unwrap_err();
    assert_eq!(e.code(), "ERR_MEMORY", "{e}");
    assert!(e.message().contains(&format!("{} bytes", est.inference_total())), "{e}");
    m.set_memory_budget(Some(est.inference_total()));
    m.predict(&x, &shape).unwrap();
    let e = m.train_step(&x, &shape, &y).unwrap_err();
    assert!(e.message().contains("training step on a batch of 8"), "{e}");
    assert_eq!(m.step(), 0, "nothing was done");
    m.set_memory_budget(None);
    m.train_step(&x, &shape, &y).unwrap();
    // The estimate refuses impossible sizes without overflowing.
    let big = densenet_core::memory::estimate(&DenseNetConfig::preset("densenet264").unwrap(), &[1 << 20, 3, 4096, 4096], 4).unwrap();
    assert!(big.training_naive > big.training_efficient && big.training_efficient > 1 << 50);
}

/// An input that overflows gives a NonFinite error naming the sample, not NaN logits.
#[test]
fn overflowing_logits_are_an_error() {
    let m = new_model::<f32>(tiny(0.0), 1);
    let (mut x, shape, y) = batch(1, 4, 16, 10);
    let per_sample = x.len() / 4;
    for v in &mut x[2 * per_sample..3 * per_sample] {
        *v = 3e38;
    }
    let e = m.predict(&x, &shape).unwrap_err();
    assert_eq!(e.code(), "ERR_NONFINITE");
    assert!(e.message().contains("sample 2"), "{e}");
    assert_eq!(m.eval_step(&x, &shape, &y).unwrap_err().code(), "ERR_NONFINITE");
}

/// A checkpoint given where weights are expected says so and names the right call; a checkpoint
/// with a broken config names the file and the metadata field. Nothing changes on either.
#[test]
fn checkpoints_and_weights_are_told_apart() {
    let mut m = new_model::<f32>(tiny(0.0), 1);
    let (x, shape, y) = batch(1, 4, 16, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let ckpt = m.checkpoint_bytes("{}").unwrap();
    let before = m.params_host();
    let e = m.load_weights(&ckpt, "run/checkpoint.safetensors").unwrap_err();
    assert!(e.message().contains("run/checkpoint.safetensors is a training checkpoint") && e.message().contains("loadCheckpoint"), "{e}");
    // The same checkpoint with its config metadata damaged.
    let mut broken = ckpt.clone();
    let at = broken.windows(10).position(|w| w == b"growthRate").expect("the config is in the header");
    broken[at + 9] = b'x';
    let e = m.load_checkpoint(&broken, "bad.safetensors").unwrap_err();
    assert!(e.message().starts_with("bad.safetensors: metadata 'densenet.config'"), "{e}");
    assert!(m.params_host() == before);
}
