//! One and three SGD steps in train mode equal PyTorch's: logits, loss, every parameter
//! gradient, BN running statistics and every parameter afterwards, in both memory modes.

mod common;
use common::*;
use densenet_core::{DenseNet, Float, MemoryMode, SgdConfig};
use std::collections::HashMap;

/// Fixture masks are NCHW [N, k, H, W]; the core wants CNHW.
fn mask_to_cnhw<T: Float>(mask: &[f64], shape: &[usize]) -> Vec<T> {
    let (n, c, hw) = (shape[0], shape[1], shape[2] * shape[3]);
    let mut out = vec![T::ZERO; mask.len()];
    for ni in 0..n {
        for ci in 0..c {
            for i in 0..hw {
                out[(ci * n + ni) * hw + i] = T::from_f64(mask[(ni * c + ci) * hw + i]);
            }
        }
    }
    out
}

struct Report {
    worst: f64,
    worst_name: String,
}

impl Report {
    fn new() -> Self {
        Report { worst: 0.0, worst_name: String::new() }
    }
    fn check(&mut self, what: &str, err: f64, tol: f64) {
        assert!(err <= tol, "{what}: relative error {err:e} > {tol:e}");
        if err > self.worst {
            self.worst = err;
            self.worst_name = what.to_string();
        }
    }
}

/// Compares tensor `name` (full or fingerprinted) under `prefix` ("grad", "after1", "after3").
fn compare(fx: &Fixture, prefix: &str, name: &str, ours: &[f64], tol: f64, r: &mut Report) {
    let full = format!("{prefix}.{name}");
    let fp = format!("fp.{prefix}.{name}");
    if fx.has(&full) {
        r.check(&full, rel_error(ours, fx.get(&full)), tol);
    } else {
        let mine = fingerprint(name, ours);
        r.check(&fp, fingerprint_error(&mine, fx.get(&fp), ours.len()), tol);
    }
}

fn run_case<T: Float>(case: &str, mode: MemoryMode, tol: f64, steps_to_check: &[usize]) {
    let fx = Fixture::load(&format!("train_{case}.safetensors"));
    let mut model: DenseNet<T> = fixture_model(fx.config(), fx.meta_f64("seed") as u64);
    model.mode = mode;
    model.optimizer.config = SgdConfig {
        lr: fx.meta_f64("lr"),
        momentum: fx.meta_f64("momentum"),
        nesterov: fx.metadata["nesterov"] == "true",
        weight_decay: fx.meta_f64("weight_decay"),
    };
    let mask_layers: Vec<String> = fx.metadata.get("mask_layers").map(|j| serde_json::from_str(j).unwrap()).unwrap_or_default();
    let mut r = Report::new();
    let last = *steps_to_check.iter().max().unwrap();
    for s in 0..last {
        if !mask_layers.is_empty() {
            let masks: HashMap<String, Vec<T>> = mask_layers
                .iter()
                .map(|l| {
                    let key = format!("mask.{s}.{l}");
                    (l.clone(), mask_to_cnhw(fx.get(&key), fx.shape(&key)))
                })
                .collect();
            model.mask_overrides = Some(masks);
        }
        let input = fx.get(&format!("input.{s}"));
        let labels: Vec<i64> = fx.get(&format!("labels.{s}")).iter().map(|&v| v as i64).collect();
        let out = model.train_step(input, fx.shape(&format!("input.{s}")), &labels).unwrap();
        if s == 0 {
            r.check("logits", rel_error(&out.logits, fx.get("logits")), tol);
            r.check("loss", rel_error(&[out.loss], fx.get("loss")), tol);
            for (spec, g) in model.plan.specs.iter().zip(&model.grads.tensors) {
                if spec.kind.trainable() {
                    compare(&fx, "grad", &spec.name, &to_f64(g), tol, &mut r);
                }
            }
        }
        if steps_to_check.contains(&(s + 1)) {
            let prefix = format!("after{}", s + 1);
            for (spec, p) in model.plan.specs.iter().zip(&model.params.tensors) {
                compare(&fx, &prefix, &spec.name, &to_f64(p), tol, &mut r);
            }
        }
    }
    eprintln!("{case} {} {mode:?}: worst relative error {:.2e} ({})", T::NAME, r.worst, r.worst_name);
}

fn both_modes<T: Float>(case: &str, tol: f64, steps: &[usize]) {
    run_case::<T>(case, MemoryMode::Efficient, tol, steps);
    run_case::<T>(case, MemoryMode::Naive, tol, steps);
}

#[test]
fn tiny_bc() {
    both_modes::<f64>("tiny_bc", 1e-9, &[1, 3]);
    both_modes::<f32>("tiny_bc", 1e-4, &[1, 3]);
}

#[test]
fn tiny_basic() {
    both_modes::<f64>("tiny_basic", 1e-9, &[1, 3]);
    both_modes::<f32>("tiny_basic", 1e-4, &[1, 3]);
}

#[test]
fn tiny_imagenet_stem_with_max_pool() {
    both_modes::<f64>("tiny_imagenet", 1e-9, &[1, 3]);
    both_modes::<f32>("tiny_imagenet", 1e-4, &[1, 3]);
}

#[test]
fn tiny_dropout_with_replayed_masks() {
    both_modes::<f64>("tiny_dropout", 1e-9, &[1, 3]);
    both_modes::<f32>("tiny_dropout", 1e-4, &[1, 3]);
}

#[test]
fn densenet_bc_100() {
    both_modes::<f64>("densenet-bc-100", 1e-9, &[1, 3]);
}

#[test]
fn densenet_40() {
    both_modes::<f64>("densenet-40", 1e-9, &[1, 3]);
}

#[test]
fn densenet121_64x64() {
    both_modes::<f64>("densenet121", 1e-9, &[1, 3]);
}
