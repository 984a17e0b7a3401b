//! Fine-tuning behaviour beyond the PyTorch parity: bit-exact resume from a checkpoint with a
//! frozen set, frozen-BN mode, groups and lr factor; a new classifier; the spec and group
//! errors; no gradient computed for a frozen parameter; a step with nothing trainable.

mod common;
use common::*;
use densenet_core::{DenseNetConfig, Error, FrozenBatchNorm, OptimizerSettings, SgdConfig};

fn tiny() -> DenseNetConfig {
    DenseNetConfig::from_json(r#"{"growthRate":4,"blockConfig":[2,2,2],"numInitFeatures":8,"numClasses":10,"smallInputs":true}"#).unwrap()
}

fn batch(step: u64, n: usize, classes: usize) -> (Vec<f32>, Vec<usize>, Vec<i64>) {
    let x: Vec<f32> = uniform(&format!("x{step}"), 7, n * 3 * 16 * 16).iter().map(|v| (2.0 * v - 1.0) as f32).collect();
    let y = uniform(&format!("y{step}"), 7, n).iter().map(|v| (v * classes as f64) as i64).collect();
    (x, vec![n, 3, 16, 16], y)
}

fn specs(s: &[&str]) -> Vec<String> {
    s.iter().map(|v| v.to_string()).collect()
}

fn bits(v: &[Vec<f64>]) -> Vec<Vec<u64>> {
    v.iter().map(|t| t.iter().map(|x| x.to_bits()).collect()).collect()
}

const GROUPS: &str = r#"{"lr":0.1,"momentum":0.9,"nesterov":true,"weightDecay":1e-4,"groups":[{"name":"backbone","prefixes":["features"],"lr":0.02,"weightDecay":5e-4}]}"#;

#[test]
fn checkpoint_resume_is_bit_exact_with_frozen_set_groups_and_lr_factor() {
    let mut a: Net<f64> = new_model(tiny(), 3);
    a.set_optimizer_settings(OptimizerSettings::from_json(GROUPS).unwrap()).unwrap();
    a.freeze(&specs(&["stem", "block1"])).unwrap();
    a.set_frozen_batch_norm(FrozenBatchNorm::Train);
    a.set_lr_factor(0.5).unwrap();
    for s in 0..2 {
        let (x, shape, y) = batch(s, 4, 10);
        a.train_step(&x, &shape, &y).unwrap();
    }
    let ckpt = a.checkpoint_bytes("{}").unwrap();
    let mut b: Net<f64> = new_model(tiny(), 99);
    b.load_checkpoint(&ckpt, "ckpt").unwrap();
    assert_eq!(b.parameters(), a.parameters());
    assert_eq!(b.frozen_batch_norm(), FrozenBatchNorm::Train);
    assert_eq!(b.lr_factor(), 0.5);
    assert_eq!(b.optimizer_settings(), a.optimizer_settings());
    for s in 2..4 {
        let (x, shape, y) = batch(s, 4, 10);
        let (oa, ob) = (a.train_step(&x, &shape, &y).unwrap(), b.train_step(&x, &shape, &y).unwrap());
        assert_eq!(oa.loss.to_bits(), ob.loss.to_bits(), "loss of step {s}");
    }
    assert_eq!(bits(&a.params_host()), bits(&b.params_host()), "parameters after the resumed steps");
}

#[test]
fn loading_a_checkpoint_replaces_the_frozen_set_and_lr_factor() {
    let mut a: Net<f64> = new_model(tiny(), 3);
    let ckpt = a.checkpoint_bytes("{}").unwrap();
    a.freeze(&specs(&["features"])).unwrap();
    a.set_lr_factor(0.1).unwrap();
    a.load_checkpoint(&ckpt, "ckpt").unwrap();
    assert!(a.parameters().iter().all(|p| p.trainable));
    assert_eq!(a.lr_factor(), 1.0);
}

#[test]
fn reset_classifier_keeps_features_and_reinitializes_the_head() {
    let mut m: Net<f64> = new_model(tiny(), 3);
    let (x, shape, y) = batch(0, 4, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let before = m.params_host();
    m.reset_classifier(3, 42).unwrap();
    assert_eq!(m.config().num_classes, 3);
    let after = m.params_host();
    let (w, b) = (m.plan().head.weight, m.plan().head.bias);
    for (i, spec) in m.plan().specs.iter().enumerate() {
        if i != w && i != b {
            assert_eq!(bits(&before[i..=i]), bits(&after[i..=i]), "'{}' changed", spec.name);
        }
    }
    assert_eq!(m.plan().specs[w].shape, vec![3, m.plan().head.features]);
    // The head a new 3-class model initialized from the same seed has.
    let fresh: Net<f64> = new_model(DenseNetConfig { num_classes: 3, ..tiny() }, 42);
    let fresh_params = fresh.params_host();
    assert_eq!(bits(&after[w..=b]), bits(&fresh_params[w..=b]));
    let momentum = m.momentum_host();
    assert!(momentum[w].is_none() && momentum[b].is_none(), "the classifier's momentum is dropped");
    assert!(momentum[0].is_some(), "the features keep theirs");
    let (x, shape, y) = batch(1, 4, 3);
    m.train_step(&x, &shape, &y).unwrap();
    assert!(m.train_step(&x, &shape, &[0, 1, 2, 3]).is_err(), "label 3 of 3 classes");
    assert!(matches!(m.reset_classifier(0, 1), Err(Error::InvalidArg(_))));
}

#[test]
fn specs_and_groups_that_name_nothing_or_overlap_are_invalid() {
    let mut m: Net<f64> = new_model(tiny(), 3);
    for bad in ["block4", "transition3", "features.denseblock1.denselayer9", "features.norm5.running_mean", "feat"] {
        match m.freeze(&specs(&["stem", bad])) {
            Err(Error::InvalidArg(msg)) => assert!(msg.contains(&format!("'{bad}'")), "{msg}"),
            other => panic!("freeze {bad}: {other:?}"),
        }
    }
    assert!(m.parameters().iter().all(|p| p.trainable), "a failed freeze changes nothing");
    assert!(matches!(m.freeze(&[]), Err(Error::InvalidArg(_))));
    let overlap = r#"{"groups":[{"name":"a","prefixes":["block1"]},{"name":"b","prefixes":["features.denseblock1.denselayer2"]}]}"#;
    match m.set_optimizer_settings(OptimizerSettings::from_json(overlap).unwrap()) {
        Err(Error::InvalidArg(msg)) => assert!(msg.contains("features.denseblock1.denselayer2.norm1.weight") && msg.contains("'a'") && msg.contains("'b'"), "{msg}"),
        other => panic!("overlap: {other:?}"),
    }
    let nothing = r#"{"groups":[{"name":"a","prefixes":["block7"]}]}"#;
    assert!(matches!(m.set_optimizer_settings(OptimizerSettings::from_json(nothing).unwrap()), Err(Error::InvalidArg(msg)) if msg.contains("block7")));
    assert!(OptimizerSettings::from_json(r#"{"groups":[{"name":"a","prefixes":["stem"],"lr":-1}]}"#).is_err());
    assert!(OptimizerSettings::from_json(r#"{"groups":[{"name":"a","prefixes":["stem"],"momentum":0.5}]}"#).is_err());
    assert!(m.set_lr_factor(f64::NAN).is_err());
    assert!(FrozenBatchNorm::parse("frozen").is_err());
}

#[test]
fn stage_aliases_resolve_to_torchvision_names() {
    let mut m: Net<f64> = new_model(tiny(), 3);
    let frozen = |m: &Net<f64>| m.parameters().into_iter().filter(|p| !p.trainable).map(|p| p.name).collect::<Vec<_>>();
    m.freeze(&specs(&["stem"])).unwrap();
    assert_eq!(frozen(&m), vec!["features.conv0.weight"]);
    m.freeze(&specs(&["head", "transition2"])).unwrap();
    assert_eq!(
        frozen(&m),
        vec![
            "features.conv0.weight",
            "features.transition2.norm.weight",
            "features.transition2.norm.bias",
            "features.transition2.conv.weight",
            "features.norm5.weight",
            "features.norm5.bias"
        ]
    );
    m.unfreeze(&specs(&["features"])).unwrap();
    assert!(frozen(&m).is_empty());
    m.freeze(&specs(&["features"])).unwrap();
    let trainable: Vec<_> = m.parameters().into_iter().filter(|p| p.trainable).map(|p| p.name).collect();
    assert_eq!(trainable, vec!["classifier.weight", "classifier.bias"]);
    assert_eq!(m.trainable_parameter_count(), 10 * m.plan().head.features + 10);
}

#[test]
fn frozen_features_get_no_gradient_and_top_level_lr_changes_keep_the_groups() {
    let mut m: Net<f64> = new_model(tiny(), 3);
    m.set_optimizer_settings(OptimizerSettings::from_json(GROUPS).unwrap()).unwrap();
    m.freeze(&specs(&["features"])).unwrap();
    let (x, shape, y) = batch(0, 4, 10);
    m.train_step(&x, &shape, &y).unwrap();
    let (w, b) = (m.plan().head.weight, m.plan().head.bias);
    for (i, (spec, g)) in m.plan().specs.iter().zip(m.grads_host()).enumerate() {
        let nonzero = g.iter().any(|v| *v != 0.0);
        assert_eq!(nonzero, i == w || i == b, "gradient of '{}'", spec.name);
    }
    m.set_optimizer(SgdConfig { lr: 0.3, ..m.optimizer() }).unwrap();
    assert_eq!(m.optimizer_settings().groups.len(), 1, "setting the top-level lr keeps the groups");
}

#[test]
fn a_step_with_nothing_trainable_changes_no_parameter() {
    let mut m: Net<f64> = new_model(tiny(), 3);
    m.freeze(&specs(&["features", "classifier"])).unwrap();
    let before = m.params_host();
    let (x, shape, y) = batch(0, 4, 10);
    let out = m.train_step(&x, &shape, &y).unwrap();
    assert!(out.loss.is_finite());
    assert_eq!(bits(&before), bits(&m.params_host()), "eval-mode frozen BNs: not even the running statistics move");
    assert_eq!(m.step(), 1);
}
