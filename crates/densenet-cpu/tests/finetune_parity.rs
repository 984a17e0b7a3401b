//! Fine-tuning against PyTorch (fixtures/finetune_*.safetensors, scripts/fixtures/make_finetune_fixtures.py):
//! frozen parameters (`requires_grad=False`), frozen BNs in eval or train mode, two parameter
//! groups with their own lr and weight decay, Nesterov momentum and a per-step lr factor (a
//! LambdaLR schedule). Float64 within 1e-9: the loss and logits of the first step, every
//! trainable gradient, every parameter and running statistic after 1 and 3 steps; and the frozen
//! parameters and the running statistics of the frozen eval-mode BNs bit-identical after training.
//! In both memory modes.

// `!(err <= tol)` on purpose: a NaN error must fail the comparison.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod common;
use common::*;
use densenet_core::{FrozenBatchNorm, MemoryMode, OptimizerSettings};

const TOL: f64 = 1e-9;

fn json_list(fx: &Fixture, key: &str) -> Vec<String> {
    serde_json::from_str(&fx.metadata[key]).unwrap_or_else(|e| panic!("metadata {key}: {e}"))
}

fn run_case(case: &str, mode: MemoryMode) {
    let fx = Fixture::load(&format!("finetune_{case}.safetensors"));
    let mut model: Net<f64> = fixture_model(fx.config(), fx.meta_f64("seed") as u64);
    model.set_memory_mode(mode);
    model.set_optimizer_settings(OptimizerSettings::from_json(&fx.metadata["optimizer"]).unwrap()).unwrap();
    model.freeze(&json_list(&fx, "freeze")).unwrap();
    model.set_frozen_batch_norm(FrozenBatchNorm::parse(&fx.metadata["frozen_bn"]).unwrap());
    let factors: Vec<f64> = serde_json::from_str(&fx.metadata["lr_factors"]).unwrap();
    let label = format!("finetune_{case} {mode:?}");

    // The specs resolve to the parameters PyTorch froze.
    let frozen: Vec<String> = model.parameters().into_iter().filter(|p| !p.trainable).map(|p| p.name).collect();
    assert_eq!(frozen, json_list(&fx, "frozen_params"), "{label}: frozen parameters");

    let before = model.params_host();
    let mut failures = Vec::new();
    let mut check = |what: String, ours: &[f64], reference: &[f64]| {
        let err = rel_error(ours, reference);
        if !(err <= TOL) {
            failures.push(format!("{what}: relative error {err:e}"));
        }
    };
    for (s, &factor) in factors.iter().enumerate() {
        model.set_lr_factor(factor).unwrap();
        let labels: Vec<i64> = fx.get(&format!("labels.{s}")).iter().map(|&v| v as i64).collect();
        let input = format!("input.{s}");
        let out = model.train_step(fx.get(&input), fx.shape(&input), &labels).unwrap();
        check(format!("loss {s}"), &[out.loss], &fx.get("losses")[s..s + 1]);
        if s == 0 {
            check("logits".into(), &out.logits, fx.get("logits"));
            for (spec, g) in model.plan().specs.iter().zip(model.grads_host()) {
                let key = format!("grad.{}", spec.name);
                if fx.has(&key) {
                    check(key.clone(), &g, fx.get(&key));
                }
            }
        }
        if s == 0 || s + 1 == factors.len() {
            for (spec, p) in model.plan().specs.iter().zip(model.params_host()) {
                let key = format!("after{}.{}", s + 1, spec.name);
                check(key.clone(), &p, fx.get(&key));
            }
        }
    }
    assert!(failures.is_empty(), "{label}: {} tensors out of bounds:\n{}", failures.len(), failures.join("\n"));

    // Bit-identical: every frozen parameter and, in eval mode, the statistics of the BNs whose
    // affine parameters are both frozen.
    let after = model.params_host();
    let eval_bn = fx.metadata["frozen_bn"] == "eval";
    let mut still = 0;
    for (i, spec) in model.plan().specs.iter().enumerate() {
        let stat_of_frozen_bn = ["running_mean", "running_var"]
            .iter()
            .any(|stat| spec.name.strip_suffix(stat).is_some_and(|bn| frozen.contains(&format!("{bn}weight")) && frozen.contains(&format!("{bn}bias"))));
        if frozen.contains(&spec.name) || (eval_bn && stat_of_frozen_bn) {
            let same = before[i].iter().zip(&after[i]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{label}: '{}' changed although frozen", spec.name);
            still += 1;
        }
    }
    assert!(still >= frozen.len(), "{label}: checked {still} tensors");
    eprintln!("{label}: ok ({} frozen tensors and {} frozen-BN statistics bit-identical)", frozen.len(), still - frozen.len());
}

fn both_modes(case: &str) {
    run_case(case, MemoryMode::Efficient);
    run_case(case, MemoryMode::Naive);
}

#[test]
fn stem_and_block1_frozen_bn_eval_two_groups() {
    both_modes("stem_block1");
}

#[test]
fn whole_feature_extractor_frozen() {
    both_modes("features");
}

#[test]
fn frozen_stages_between_trainable_ones_imagenet_stem() {
    both_modes("imagenet_middle");
}

#[test]
fn frozen_batch_norm_in_train_mode() {
    both_modes("stem_block1_bn_train");
}
